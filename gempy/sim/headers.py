"""Header cards shared by all Gemini instruments: PHU identity, time, pointing, offsets, WCS."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from . import observatory
from .observation import FrameSpec
from .pointing import offset_keywords, shift_pointing

__all__ = ["Pointing", "frame_pointing", "gemini_primary", "wcs_cards", "time_string",
           "wavefront_cards"]

# Keywords whose value comes from the observing conditions, in the reference's format.
_QUALITY = ("RAWIQ", "RAWCC", "RAWWV", "RAWBG")


def time_string(moment: datetime) -> str:
    """``hh:mm:ss.s`` as Gemini writes UT/LT/UTSTART/UTEND."""
    tenths = round(moment.microsecond / 1e5)
    base = moment.replace(microsecond=0) + timedelta(seconds=tenths // 10)
    return f"{base:%H:%M:%S}.{tenths % 10}"


class Pointing:
    """Where the telescope looked during a frame.

    Attributes
    ----------
    base : tuple of float
        PHU ``RA``/``DEC`` (degrees): the target, before offsets.
    centre : tuple of float
        Sky position at the focal-plane reference pixel (``CRVAL``).
    elevation, azimuth, hour_angle, airmass : float
    """

    def __init__(self, base, centre, elevation, azimuth, hour_angle, airmass_value):
        self.base = base
        self.centre = centre
        self.elevation = elevation
        self.azimuth = azimuth
        self.hour_angle = hour_angle
        self.airmass = airmass_value


def frame_pointing(spec: FrameSpec) -> Pointing:
    """Compute the pointing of ``spec`` at its mid-exposure time."""
    mid = spec.ut_start + timedelta(seconds=spec.total_exptime / 2.0)
    if spec.pointing in ("azel", "zenith", "unrecorded"):
        el, az = (90.0, 0.0) if spec.pointing in ("zenith", "unrecorded") else spec.altaz
        ra, dec = observatory.radec_of_altaz(el, az, mid, spec.site)
        _, _, ha = observatory.altaz(ra, dec, mid, spec.site)
        am = 1.0 if spec.pointing == "zenith" else round(observatory.airmass(el), 3)
        return Pointing((ra, dec), (ra, dec), el, az, ha, am)
    ra, dec = spec.target
    centre = shift_pointing(ra, dec, *spec.offset)
    el, az, ha = observatory.altaz(ra, dec, mid, spec.site)
    return Pointing((ra, dec), centre, el, az, ha, round(observatory.airmass(el), 3))


def _hms(hours: float) -> str:
    sign = "-" if hours < 0 else ""
    h = abs(hours)
    hh = int(h)
    mm = int((h - hh) * 60)
    ss = (h - hh - mm / 60.0) * 3600.0
    return f"{sign}{hh:02d}:{mm:02d}:{ss:05.2f}"


def gemini_primary(spec: FrameSpec, instrument: str, iaa: float, inport: int,
                   wavelength_angstrom: float, pointing: Pointing,
                   readout_seconds: float = 5.0) -> list[tuple[str, object, str]]:
    """PHU cards common to every Gemini facility instrument (``fac-pdu`` set and friends)."""
    ut = spec.ut_start
    end = ut + timedelta(seconds=spec.total_exptime + readout_seconds)
    local = spec.site.local_time(ut)
    science = spec.obsclass == "science"
    release = (ut + timedelta(days=548)).date() if science else ut.date()
    offsets = offset_keywords(*spec.offset, pa=spec.pa, iaa=iaa)
    cards = [
        ("INSTRUME", instrument, "Instrument used to acquire data"),
        ("OBJECT", spec.object_name, "Object Name"),
        ("OBSTYPE", spec.obstype, "Observation type"),
        ("OBSCLASS", spec.obsclass, "Observe class"),
        ("GEMPRGID", spec.program_id, "Gemini programme ID"),
        ("OBSID", spec.observation_id, "Observation ID / Data label"),
        ("DATALAB", spec.data_label, "DHS Datalabel"),
        ("OBSERVER", "Simulated Observer", "Observer"),
        ("OBSERVAT", spec.site.name, "Name of telescope (Gemini-North|Gemini-South)"),
        ("TELESCOP", spec.site.name, ""),
        ("EPOCH", 2000.0, "Epoch for Target coordinates"),
        ("EQUINOX", 2000.0, "Equinox of coordinate system"),
        ("SSA", "Simulated SSA", "SSA"),
        ("RA", round(pointing.base[0], 7), "Target Right Ascension"),
        ("DEC", round(pointing.base[1], 7), "Target Declination"),
        ("ELEVATIO", round(pointing.elevation, 5), "Current Elevation"),
        ("AZIMUTH", round(pointing.azimuth, 5), "Current Azimuth"),
        ("CRPA", round(((spec.pa + 180.0) % 360.0) - 180.0, 5), "Current Cass Rotator PA"),
        ("HA", _hms(pointing.hour_angle), "Telescope hour angle"),
        ("LT", time_string(local), "Local time at start of exposure"),
    ]
    if spec.pointing == "unrecorded":
        cards += [("TRKFRAME", "AZEL_TOPO", "Tracking co-ordinate")]
    else:
        cards += [("TRKFRAME", "FK5", "Tracking co-ordinate")]
    tracking = 0.0 if spec.pointing in ("sidereal", "unrecorded") else -15.041
    cards += [
        ("DECTRACK", 0.0, "Differential tracking rate Dec"),
        ("TRKEPOCH", round(observatory.mjd(ut), 6), "Differential tracking reference epoch"),
        ("RATRACK", tracking, "Differential tracking rate RA"),
    ]
    if spec.pointing == "sidereal":
        cards += [("FRAME", "FK5", "Target coordinate system")]
    elif spec.pointing != "unrecorded":
        cards += [("FRAME", "AZEL_TOPO", "Target coordinate system")]
    cards += [
        ("PMDEC", 0.0, "Proper Motion in Declination"),
        ("PMRA", 0.0, "Proper Motion in RA"),
        ("WAVELENG", wavelength_angstrom, "Effective Target Wavelength"),
        ("RAWIQ", spec.raw_quality[0], "Raw Image Quality"),
        ("RAWCC", spec.raw_quality[1], "Raw Cloud Cover"),
        ("RAWWV", spec.raw_quality[2], "Raw Water Vapour/Transparency"),
        ("RAWBG", spec.raw_quality[3], "Raw Background"),
        ("RAWPIREQ", "YES" if science else "UNKNOWN", "PI Requirements Met"),
        ("RAWGEMQA", "USABLE" if science else "UNKNOWN", "Gemini Quality Assessment"),
        ("UT", time_string(ut), "UT at observation start"),
        ("DATE", f"{ut:%Y-%m-%d}", "UTC Date"),
    ]
    for key in ("XOFFSET", "YOFFSET", "POFFSET", "QOFFSET", "RAOFFSET", "DECOFFSE"):
        cards.append((key, round(offsets[key], 5), "Telescope offset (arcsec)"))
    cards += [
        ("RATRGOFF", 0.0, "Target offset in RA (arcsec)"),
        ("DECTRGOF", 0.0, "Target offset in Dec (arcsec)"),
        ("PA", round(spec.pa, 5), "Sky Position Angle at start of exposure"),
        ("IAA", iaa, "Instrument Alignment Angle"),
        ("INPORT", inport, "Number of ISS port where instrument is located"),
        ("GCALLAMP", spec.gcal[0], "GCAL lamp"),
        ("GCALFILT", "ND1.0" if spec.gcal[0] not in ("No Value", "") else "No Value",
         "GCAL filter"),
        ("GCALSHUT", spec.gcal[1], "GCAL shutter"),
        ("REQIQ", "Any", "Requested Image Quality"),
        ("REQCC", "Any", "Requested Cloud Cover"),
        ("REQBG", "Any", "Requested Background"),
        ("REQWV", "Any", "Requested Water Vapour"),
        ("DATE-OBS", f"{ut:%Y-%m-%d}", "UTC Date of observation"),
        ("TIME-OBS", time_string(ut), "Time of observation"),
        ("UTSTART", time_string(ut), "UT at observation start"),
        ("UTEND", time_string(end), "UT at observation end"),
        ("MJD-OBS", round(observatory.mjd(ut), 8), "MJD of start of observation"),
        ("TIMESYS", "UTC", "Time system"),
        ("AIRMASS", pointing.airmass, "Mean airmass for the observation"),
        ("RELEASE", f"{release:%Y-%m-%d}", "End of proprietary period YYYY-MM-DD"),
        ("DHSLABEL", spec.filename[:-5], "DHS file name"),
    ]
    return cards


def wcs_cards(crpix: tuple[float, float], crval: tuple[float, float],
              cd: np.ndarray) -> list[tuple[str, object, str]]:
    """Linear TAN WCS cards of one extension."""
    return [
        ("CTYPE1", "RA---TAN", "R.A. in tangent plane projection"),
        ("CRPIX1", round(crpix[0], 6), "Ref pix of axis 1"),
        ("CRVAL1", round(crval[0], 9), "RA at Ref pix in decimal degrees"),
        ("CTYPE2", "DEC--TAN", "DEC. in tangent plane projection"),
        ("CRPIX2", round(crpix[1], 6), "Ref pix of axis 2"),
        ("CRVAL2", round(crval[1], 9), "DEC at Ref pix in decimal degrees"),
        ("CD1_1", float(f"{cd[0, 0]:.9e}"), "WCS matrix element 1 1"),
        ("CD1_2", float(f"{cd[0, 1]:.9e}"), "WCS matrix element 1 2"),
        ("CD2_1", float(f"{cd[1, 0]:.9e}"), "WCS matrix element 2 1"),
        ("CD2_2", float(f"{cd[1, 1]:.9e}"), "WCS matrix element 2 2"),
        ("RADESYS", "FK5", "R.A./DEC. coordinate system reference"),
    ]


def wavefront_cards(guider: str | None, ao: bool = False) -> list[tuple[str, object, str]]:
    """``AOFOLD`` and wavefront-sensor states; ``guider`` is the one guiding (or None)."""
    states = {key: "parked" for key in ("PWFS1_ST", "PWFS2_ST", "OIWFS_ST", "AOWFS_ST")}
    if guider:
        states[guider] = "guiding"
    cards = [("AOFOLD", "IN" if ao else "park-pos.", "AO pick-off mirror position")]
    cards += [(key, value, "Wavefront sensor state") for key, value in states.items()]
    return cards
