"""LMI (Lowell Discovery Telescope): a generic single-CCD imager, simulated, and its ``lmi-night``.

A plug-in simulator mode: importing this module adds the instrument's
detector axes to :data:`gempy.sim.pointing.DETECTOR_AXES` and the dataset
``lmi-night`` to :data:`gempy.sim.DATASETS` (no core module imports it)::

    import gempy.sim.instruments.lmi                      # registers 'lmi-night'
    from gempy.sim import make_dataset
    make_dataset("lmi-night", "lmidata", small=True)

or from the shell ``python -m gempy.sim.instruments.lmi lmi-night -o lmidata --small``
(the options of ``astroreduce-sim``).

The CCD is one e2v CCD231-C6 (6144 x 6160, 0.12 arcsec/pixel), read binned
2x2 through one amplifier with 32 binned overscan columns after the data:
raw frames are 16-bit (BZERO 32768), 3104 x 3080 (``--small``: the central
768 x 770 CCD pixels, 416 x 385 stored). The bias has a level of ~1000 ADU,
a 2-D structure that every frame shares (a ramp next to the readout side and
a slope along the rows, in ``truth_bias.fits``), a per-frame offset and row
noise that the overscan follows. Gain 2.89 e-/ADU, read noise 6 e-. The sky
is north up, east left. Header keywords: see
``astrodata/instruments/lmi/adclass.py``. The truth also records the
telescope offsets (``RAOFFSET``... in the PHU) of the dithers.

``lmi-night`` (UT 2023-03-05): 7 biases, 5 dome flats in SDSS-R, 5 evening
sky flats in SDSS-G (fading, dithered so that stars move), 5 dithered 60 s
science frames in each of SDSS-R and SDSS-G, and 3 morning darks of 300 s.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
from astropy.io import fits
from scipy import ndimage

from ..catalog import FieldSpec
from ..datasets import DATASETS, DatasetInfo, DatasetPlan
from ..detector import ArrayMaps, ArrayPhysics, ccd_readout
from ..headers import Pointing
from ..layout import ArrayPlacement, Readout
from ..observation import FrameSpec
from ..observatory import Site, mjd
from ..pointing import DETECTOR_AXES, offset_keywords
from .base import InstrumentModel

__all__ = ["LMI", "LDT", "build_lmi_night", "main"]

#: The Lowell Discovery Telescope at Happy Jack, Arizona (MST all year).
LDT = Site("LDT", "L", 34.74444, -111.42194, -7.0)

# Detector axes relative to the sky at position angle 0: north up, east left.
DETECTOR_AXES.setdefault("LMI", np.array([[1.0, 0.0], [0.0, -1.0]]))

_SHAPE = (6160, 6144)          # unbinned rows, columns
_OVERSCAN = 32                 # binned columns
_GAIN = 2.89
_READ_NOISE = 6.0
_BIAS_LEVEL = 1010.0
_ZEROPOINTS = {"r": 27.15, "g": 27.05, "i": 26.85}
_FILTERS = {"r": "SDSS-R", "g": "SDSS-G", "i": "SDSS-I"}
_WAVELENGTH = {"r": 6220.0, "g": 4750.0, "i": 7630.0}


def _sexagesimal(value: float, hours: bool) -> str:
    total = (value / 15.0 if hours else abs(value))
    sign = "" if hours else ("-" if value < 0 else "+")
    whole = int(total)
    minutes = int((total - whole) * 60.0)
    seconds = (total - whole - minutes / 60.0) * 3600.0
    if round(seconds, 3) >= 60.0:
        seconds, minutes = 0.0, minutes + 1
    if minutes == 60:
        minutes, whole = 0, whole + 1
    return f"{sign}{whole:02d}:{minutes:02d}:{seconds:06.3f}"


class LMI(InstrumentModel):
    """LMI imaging; ``spec.config``: ``binning`` (default (2, 2))."""

    name = "LMI"
    family = "LMI"
    pixel_scale = 0.12
    psf_beta = 3.0
    is_ccd = True
    dtype = np.uint16

    def __init__(self, small: bool = False):
        super().__init__(small)
        self._static_bias: dict[str, np.ndarray] = {}

    # -- geometry -------------------------------------------------------
    @property
    def ccd_shape(self) -> tuple[int, int]:
        return self.scaled(_SHAPE[0]), self.scaled(_SHAPE[1])

    @property
    def arrays(self) -> list[ArrayPlacement]:
        rows, cols = self.ccd_shape
        # under --small the central part of the CCD is read: DETSEC says where it lies
        origin = ((_SHAPE[1] - cols) // 2, (_SHAPE[0] - rows) // 2)
        return [ArrayPlacement("e2v CCD231-C6", (rows, cols),
                               ((cols - 1) / 2.0, (rows - 1) / 2.0), 0.0, origin)]

    def readouts(self, spec: FrameSpec) -> list[Readout]:
        rows, cols = self.ccd_shape
        return [Readout(0, (0, cols, 0, rows), self.binning(spec), _OVERSCAN, "right",
                        name="LMI amp 1")]

    def binning(self, spec: FrameSpec) -> tuple[int, int]:
        return tuple(spec.config.get("binning", (2, 2)))

    def illumination(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        """The whole CCD is illuminated; 3% vignetting at the corners of the full field."""
        rows, cols = self.ccd_shape
        cx, cy = (cols - 1) / 2.0, (rows - 1) / 2.0
        # the fall-off keeps its angular scale when the CCD shrinks under --small
        radius = 0.5 * np.hypot(*_SHAPE)
        return self.vignetting(fx - cx, fy - cy, 0.0, 0.0, radius, 0.03)

    # -- physics --------------------------------------------------------
    def physics(self, index: int) -> ArrayPhysics:
        return ArrayPhysics(dark_current=0.0005, well_depth=100000.0, linearity=None, qe=1.0,
                            response_rms=0.01, large_scale_rms=0.02, hot_fraction=2e-4,
                            cold_fraction=5e-5, dead_fraction=2e-5, hot_dark=(1.0, 20.0),
                            dead_columns=1, dust_rings=4, cosmic_rate=1.5e-7,
                            cosmic_track=4.0, cosmic_energy=3000.0)

    def electronics(self, readout: Readout, spec: FrameSpec) -> tuple[float, float]:
        return _GAIN, _READ_NOISE

    def bias_level(self, readout: Readout) -> float:
        return _BIAS_LEVEL

    def saturation_adu(self, readout: Readout, spec: FrameSpec) -> float:
        return 65535.0

    def zeropoint(self, band: str) -> float:
        return _ZEROPOINTS[band]

    def wavelength_angstrom(self, band: str) -> float:
        return _WAVELENGTH.get(band, 6220.0)

    def prepare_static(self, rng: np.random.Generator, frames: list[FrameSpec]) -> None:
        """Static bias: the level, a ramp on the columns next to the readout, a row slope."""
        for readout in self.readouts(frames[0]):
            ny, nx = readout.raw_shape
            bias = np.full((ny, nx), _BIAS_LEVEL, np.float32)
            dsl = readout.data_slice
            ndx = dsl[1].stop - dsl[1].start
            distance = (ndx - 1 - np.arange(ndx, dtype=np.float32))
            ramp = rng.uniform(3.0, 6.0) * np.exp(-distance / rng.uniform(10.0, 20.0))
            slope = rng.uniform(-2.0, 2.0) * (np.arange(ny, dtype=np.float32) / ny - 0.5)
            bias[dsl] += ramp[None, :] + slope[:, None]
            self._static_bias[readout.name] = bias

    def static_bias(self, readout: Readout) -> np.ndarray:
        return self._static_bias[readout.name]

    def digitize(self, rng: np.random.Generator, readout: Readout, spec: FrameSpec,
                 electrons: np.ndarray, maps: ArrayMaps) -> tuple[np.ndarray, dict]:
        ny, nx = readout.raw_shape
        charge = np.zeros((ny, nx), np.float32)
        charge[readout.data_slice] = electrons
        offset = float(rng.normal(0.0, 3.0))
        rows = ndimage.gaussian_filter1d(rng.standard_normal(ny), 12.0, mode="wrap")
        rows = (rows - rows.mean()) * (0.8 / max(rows.std(), 1e-6))
        bias = self.static_bias(readout) + np.float32(offset) + rows[:, None].astype(np.float32)
        xb, yb = readout.binning
        data = ccd_readout(rng, charge, _GAIN, _READ_NOISE,
                           self.physics(0).well_depth * xb * yb, bias)
        return data, {"bias_level_adu": round(_BIAS_LEVEL + offset, 4),
                      "bias_frame_offset_adu": round(offset, 4)}

    # -- headers --------------------------------------------------------
    def primary_header(self, spec: FrameSpec, pointing: Pointing) -> fits.Header:
        xb, yb = self.binning(spec)
        ra, dec = pointing.centre
        offsets = offset_keywords(*spec.offset, pa=spec.pa, iaa=0.0)
        band = spec.filter_band or "r"
        stamp = spec.ut_start.isoformat(timespec="milliseconds")
        cards = [
            ("OBSERVAT", "Lowell Observatory", "Observatory"),
            ("TELESCOP", "LDT", "Lowell Discovery Telescope"),
            ("INSTRUME", "LMI", "Large Monolithic Imager"),
            ("DETECTOR", "e2v CCD231-C6", "CCD"),
            ("OBSERVER", "Simulated Observer", "Observer"),
            ("PROPID", spec.program_id, "Proposal ID"),
            ("OBJECT", spec.object_name, "Object name"),
            ("OBSTYPE", spec.obstype, "Observation type"),
            ("IMAGETYP", spec.obstype, "Image type"),
            ("FILTERS", _FILTERS[band] if spec.filter_band else "OPEN",
             "Filter in the beam"),
            ("FILTER1", _FILTERS[band] if spec.filter_band else "OPEN", "Filter wheel 1"),
            ("FILTER2", "OPEN", "Filter wheel 2"),
            ("EXPTIME", float(spec.exptime), "Exposure time (s)"),
            ("DARKTIME", float(spec.exptime) + 3.5, "Dark time (s)"),
            ("DATE-OBS", stamp, "UT start of the exposure"),
            ("MJD-OBS", round(mjd(spec.ut_start), 8), "MJD at the start of the exposure"),
            ("TIMESYS", "UTC", "Time system"),
            ("RA", _sexagesimal(ra, hours=True), "Telescope right ascension"),
            ("DEC", _sexagesimal(dec, hours=False), "Telescope declination"),
            ("EQUINOX", 2000.0, "Equinox of RA/DEC"),
            ("RADESYS", "FK5", "Reference system of RA/DEC"),
            ("AIRMASS", pointing.airmass if pointing.airmass > 0 else 1.0, "Airmass"),
            ("ELEVATIO", round(pointing.elevation, 4), "Elevation (deg)"),
            ("AZIMUTH", round(pointing.azimuth, 4), "Azimuth (deg)"),
            ("CCDSUM", f"{xb} {yb}", "Binning (x y)"),
            ("PIXSCAL", round(self.pixel_scale * xb, 4), "Arcsec per binned pixel"),
            ("WAVELENG", self.wavelength_angstrom(band), "Filter central wavelength (A)"),
        ]
        # telescope offsets of the dithers from the target (arcsec)
        cards += [(key, round(offsets[key], 4), "Telescope offset (arcsec)")
                  for key in ("RAOFFSET", "DECOFFSE", "XOFFSET", "YOFFSET", "POFFSET",
                              "QOFFSET")]
        return fits.Header(cards)

    def extension_header(self, index: int, readout: Readout, spec: FrameSpec,
                         wcs: list[tuple[str, object, str]]) -> fits.Header:
        xb, yb = readout.binning
        section = readout.detsec(self.arrays[readout.array])
        cards = [("EXTNAME", "SCI", "Extension name"), ("EXTVER", index + 1, "Extension version"),
                 ("AMPNAME", readout.name, "Amplifier"),
                 ("CCDSUM", f"{xb} {yb}", "Binning (x y)"),
                 ("GAIN", _GAIN, "Gain (e-/ADU)"),
                 ("RDNOISE", _READ_NOISE, "Read noise (e-)"),
                 ("DATASEC", readout.datasec(), "Data section"),
                 ("TRIMSEC", readout.datasec(), "Section to keep after trimming"),
                 ("BIASSEC", readout.biassec(), "Overscan section"),
                 ("CCDSEC", section, "Region of the CCD read (unbinned)"),
                 ("DETSEC", section, "Region of the detector (unbinned)")]
        cards += wcs
        cards += [("EQUINOX", 2000.0, "Equinox of the WCS")]
        return fits.Header(cards)


# ---------------------------------------------------------------------------
# the night
# ---------------------------------------------------------------------------
def _sky_rate(mag_per_arcsec2: float, zeropoint: float, pixel_scale: float) -> float:
    """Sky in e-/s per unbinned pixel from its surface brightness."""
    return 10.0 ** (-0.4 * (mag_per_arcsec2 - zeropoint)) * pixel_scale ** 2


def _numbered(frames: list[FrameSpec], first: int) -> list[FrameSpec]:
    """Give the frames LMI file names ``lmi.20230305.NNNN.fits`` in time order."""
    ordered = sorted(frames, key=lambda f: f.ut_start)
    return [replace(f, filename=f"lmi.20230305.{first + i:04d}.fits",
                    data_label=f"lmi.20230305.{first + i:04d}")
            for i, f in enumerate(ordered)]


def _series(template: FrameSpec, start: datetime, count: int, overhead: float,
            **per_frame: list) -> list[FrameSpec]:
    frames, ut = [], start
    for i in range(count):
        changes = {key: values[i] for key, values in per_frame.items()}
        frames.append(replace(template, ut_start=ut, **changes))
        ut += timedelta(seconds=frames[-1].exptime + overhead)
    return frames


def build_lmi_night(small: bool, rng: np.random.Generator) -> DatasetPlan:
    """One LMI night: biases, r dome flats, g sky flats, dithered r and g science, darks."""
    lmi = LMI(small)
    program = "2023A-SIM01"
    target = (105.0, 30.0)
    twilight_field = (78.0, 36.0)
    bias = FrameSpec(filename="", role="bias", site=LDT, ut_start=datetime(2023, 3, 5),
                     exptime=0.0, obstype="BIAS", obsclass="calibration", object_name="Bias",
                     program_id=program, pointing="zenith")
    frames = _series(bias, datetime(2023, 3, 5, 0, 20, 5), 7, 12.0)
    dome = replace(bias, role="domeflat", exptime=10.0, obstype="DOME FLAT",
                   object_name="Dome flat", pointing="azel", altaz=(35.0, 180.0),
                   filter_band="r")
    lamp = 25000.0 * _GAIN / (4.0 * 10.0)
    frames += _series(dome, datetime(2023, 3, 5, 0, 35, 12), 5, 14.0,
                      lamp_rate=[round(lamp * (1.0 + 0.01 * g), 3)
                                 for g in rng.standard_normal(5)])
    sky_flat = replace(bias, role="skyflat", exptime=5.0, obstype="SKY FLAT",
                       object_name="Sky flat", pointing="sidereal", target=twilight_field,
                       filter_band="g", psf_fwhm=1.3)
    levels = [round(30000.0 * _GAIN / (4.0 * 5.0) * 0.75 ** i, 3) for i in range(5)]
    step = 8.0 if small else 20.0
    offsets = [(round(step * i, 1), round(-0.8 * step * i, 1)) for i in range(5)]
    frames += _series(sky_flat, datetime(2023, 3, 5, 1, 16, 40), 5, 25.0, sky_rate=levels,
                      offset=offsets)
    dither = 6.0 if small else 15.0
    pattern = [(0.0, 0.0), (dither, dither), (-dither, -dither), (dither, -dither),
               (-dither, dither)]
    science = replace(bias, role="science", exptime=60.0, obstype="OBJECT",
                      obsclass="science", object_name="Field_0700+3000", pointing="sidereal",
                      target=target)
    start = datetime(2023, 3, 5, 2, 31, 12)
    for band, sky_mag in (("r", 20.8), ("g", 21.7)):
        jitter = [(round(x + rng.uniform(-0.5, 0.5), 3), round(y + rng.uniform(-0.5, 0.5), 3))
                  for x, y in pattern]
        sky = _sky_rate(sky_mag, lmi.zeropoint(band), lmi.pixel_scale)
        frames += _series(replace(science, filter_band=band), start, 5, 20.0, offset=jitter,
                          sky_rate=[round(sky * (1.0 + 0.03 * g), 4)
                                    for g in rng.standard_normal(5)],
                          psf_fwhm=[round(1.1 * (1.0 + 0.05 * g), 3)
                                    for g in np.clip(rng.standard_normal(5), -2, 2)])
        start = frames[-1].ut_start + timedelta(seconds=300.0)
    # morning darks, dome closed: dark current and hot pixels only
    dark = replace(bias, role="dark", exptime=300.0, obstype="DARK", object_name="Dark")
    frames += _series(dark, datetime(2023, 3, 5, 12, 40, 7), 3, 12.0)
    frames = _numbered(frames, 1)
    rows, cols = lmi.ccd_shape
    half = 0.5 * max(rows, cols) * lmi.pixel_scale + 2 * dither + 5.0
    area = (rows * cols) / (_SHAPE[0] * _SHAPE[1])
    colours = {"g": (0.6, 0.3, 0.7, 0.2)}
    fields = [FieldSpec("target", *target, half, max(40, int(900 * area)),
                        max(20, int(1200 * area)), star_mags=(15.0, 23.5),
                        galaxy_mags=(18.0, 23.5), seeing_fwhm_arcsec=1.1, colours=colours,
                        count_slope=0.15 if small else 0.3),
              FieldSpec("twilight", *twilight_field, half + 5 * step, max(6, int(200 * area)),
                        0, star_mags=(13.0, 18.0), seeing_fwhm_arcsec=1.3, colours=colours)]
    notes = {"binning": "2x2", "overscan": f"{_OVERSCAN} binned columns after the data",
             "filters": {band: _FILTERS[band] for band in ("r", "g")},
             "flats": "r: dome flats (DOME FLAT); g: evening sky flats (SKY FLAT), fading by "
                      "25 percent per frame, dithered",
             "dither": f"5 points, {dither} arcsec steps, 0.5 arcsec jitter",
             "small": "the central 768 x 770 CCD pixels" if small else None}
    return DatasetPlan(lmi, frames, fields, {"r": _ZEROPOINTS["r"], "g": _ZEROPOINTS["g"]},
                       notes)


DATASETS.setdefault("lmi-night", DatasetInfo(
    "lmi-night", "LMI",
    "LDT/LMI 2x2 (plug-in): biases, r dome flats, g sky flats, dithered r/g science, darks",
    build_lmi_night))


def main(argv: list[str] | None = None) -> int:
    """``astroreduce-sim`` with the LMI datasets registered."""
    from ..cli import main as sim_main

    return sim_main(argv)


if __name__ == "__main__":
    sys.exit(main())
