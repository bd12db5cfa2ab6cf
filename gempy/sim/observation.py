"""Observation plans: one :class:`FrameSpec` per raw file, sequences, dither and sky patterns."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from .observatory import Site, file_date

__all__ = ["FrameSpec", "sequence", "grid_dither", "square_dither", "frame_filename"]


@dataclass(frozen=True)
class FrameSpec:
    """Everything that distinguishes one raw exposure.

    Rates are electrons per second per *unbinned* pixel for a pixel
    response of one; the exposure multiplies them by the binned pixel area.

    Attributes
    ----------
    filename, role : str
        Raw file name and the truth role (``'science'``, ``'dark'``...).
    site : Site
    ut_start : datetime
        UT at the start of the exposure.
    exptime : float
        Seconds per coadd (``EXPTIME``).
    coadds : int
    obstype, obsclass, object_name, program_id, observation_id, data_label : str
    pointing : str
        ``'sidereal'`` (tracking on ``target``), ``'azel'`` (fixed
        ``altaz``), ``'zenith'`` or ``'unrecorded'`` (no frame keywords).
    target : tuple of float
        Base RA, Dec in degrees (sidereal).
    altaz : tuple of float
        Elevation, azimuth in degrees (azel).
    offset : tuple of float
        On-sky offset (dRA, dDec) in arcsec from ``target``.
    pa : float
        Position angle keyword ``PA``.
    filters : tuple of str
        Raw filter wheel values, instrument order.
    filter_band : str
        Band name used for fluxes and the truth (``'Y'``, ``'Kshort'``...).
    gcal : tuple of str
        (``GCALLAMP``, ``GCALSHUT``).
    config : dict
        Instrument settings (read mode, binning, ROI...).
    sky_rate, lamp_rate, thermal_rate : float
        e-/s per unbinned pixel; lamp and thermal are not from the sky.
    psf_fwhm : float
        Seeing FWHM in arcsec.
    anomaly : str or None
        Name of a deliberate artefact (e.g. ``'first_frame'`` for NIRI).
    fringe_scale : float
        Strength of the night-sky emission lines relative to the continuum,
        relative to the instrument's nominal ratio (scales the fringes of
        CCDs that fringe in this filter; 1 = nominal).
    """

    filename: str
    role: str
    site: Site
    ut_start: datetime
    exptime: float
    coadds: int = 1
    obstype: str = "OBJECT"
    obsclass: str = "science"
    object_name: str = ""
    program_id: str = ""
    observation_id: str = ""
    data_label: str = ""
    pointing: str = "sidereal"
    target: tuple[float, float] = (0.0, 0.0)
    altaz: tuple[float, float] = (90.0, 0.0)
    offset: tuple[float, float] = (0.0, 0.0)
    pa: float = 0.0
    filters: tuple[str, ...] = ()
    filter_band: str = ""
    gcal: tuple[str, str] = ("No Value", "OPEN")
    config: dict = field(default_factory=dict)
    sky_rate: float = 0.0
    lamp_rate: float = 0.0
    thermal_rate: float = 0.0
    psf_fwhm: float = 0.8
    raw_quality: tuple[str, str, str, str] = ("Any", "Any", "Any", "Any")
    anomaly: str | None = None
    fringe_scale: float = 1.0

    @property
    def is_twilight(self) -> bool:
        """A twilight sky frame (``OBJECT`` 'Twilight', as Gemini tags TWILIGHT)."""
        return self.object_name.strip().upper() == "TWILIGHT"

    @property
    def total_exptime(self) -> float:
        """Total integration (EXPTIME x COADDS) in seconds."""
        return self.exptime * self.coadds

    @property
    def stream_key(self) -> int:
        """Stable integer from the file name, used to derive this frame's random stream."""
        return zlib.crc32(self.filename.encode())


def frame_filename(site: Site, day: str, number: int) -> str:
    """Raw file name ``[NS]YYYYMMDDSnnnn.fits`` for observing day ``day`` ('YYYYMMDD')."""
    return f"{site.letter}{day}S{number:04d}.fits"


def sequence(template: FrameSpec, day: str, first_number: int, count: int, start: datetime,
             overhead: float, first_label: int = 1, **changes_per_frame) -> list[FrameSpec]:
    """Consecutive frames from a template.

    Parameters
    ----------
    template : FrameSpec
        Values shared by all frames (``filename`` is replaced).
    day : str
        Observing day of the file names (``'YYYYMMDD'``); every frame's UT
        start must fall on that Gemini observing day.
    first_number : int
        File number of the first frame.
    count : int
    start : datetime
        UT of the first frame; the next starts after the total exposure plus
        ``overhead`` seconds.
    first_label : int
        Data-label number of the first frame.
    changes_per_frame : list
        Per-frame values for any FrameSpec field (e.g. ``offset=[...]``).

    Raises
    ------
    ValueError
        If a frame's UT does not belong to observing day ``day``.
    """
    frames = []
    ut = start
    for i in range(count):
        name = frame_filename(template.site, day, first_number + i)
        if file_date(ut, template.site).strftime("%Y%m%d") != day:
            raise ValueError(f"{name}: UT {ut:%Y-%m-%d %H:%M} is not on observing day {day}")
        changes = {key: values[i] for key, values in changes_per_frame.items()}
        label = f"{template.observation_id}-{first_label + i:03d}"
        frames.append(replace(template, filename=name, ut_start=ut, data_label=label, **changes))
        ut = ut + timedelta(seconds=frames[-1].total_exptime + overhead)
    return frames


def grid_dither(step: float, jitter: float = 0.0, rng=None) -> list[tuple[float, float]]:
    """Nine-point dither (centre, corners, edges) with ``step`` arcsec spacing."""
    order = [(0, 0), (1, 1), (-1, -1), (1, -1), (-1, 1), (0, 1), (0, -1), (1, 0), (-1, 0)]
    out = []
    for i, j in order:
        dx, dy = i * step, j * step
        if rng is not None and jitter:
            dx += float(rng.uniform(-jitter, jitter))
            dy += float(rng.uniform(-jitter, jitter))
        out.append((round(dx, 3), round(dy, 3)))
    return out


def square_dither(step: float) -> list[tuple[float, float]]:
    """Four-point square dither of side ``step`` arcsec centred on the target."""
    h = step / 2.0
    return [(-h, -h), (h, -h), (h, h), (-h, h)]
