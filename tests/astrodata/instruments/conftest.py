"""Raw-header builders for the instrument-class tests: real Gemini layouts, tiny pixel arrays.

Each ``*_hdulist`` function returns an ``HDUList`` shaped like a raw file of
that instrument (PHU keywords and extension layout from
``/work/shared/reference/gemini-headers.md``) for one kind of frame
(science, dark, flat...). Pixel arrays are tiny unless a test asks for a real
shape; section keywords still describe the full-size detector, which is what
the descriptors read. ``write_raw`` writes one under a raw Gemini file name so
the tests go through ``astrodata.open``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata.instruments.gmos import lookup as gmos_lookup
from astrodata.instruments.gsaoi import lookup as gsaoi_lookup


def gemini_phu(
    instrument: str,
    site: str,
    kind: str,
    date: str,
    ut: str,
    *,
    object_name: str = "NGC5128",
    progid: str = "GS-2017A-Q-29",
    obsnum: int = 13,
    dlnum: int = 4,
) -> fits.Header:
    """The facility PHU keywords common to every Gemini raw file.

    ``kind`` decides the observation type/class and the telescope frame:
    science and standard frames are sidereal (FK5, zero tracking rates);
    ``azel`` calibrations are taken in AZEL_TOPO with a tracking frame
    (NON_SIDEREAL); ``plain`` calibrations carry no frame keywords at all.
    """
    north = site == "N"
    phu = fits.Header()
    phu["TELESCOP"] = "Gemini-North" if north else "Gemini-South"
    phu["OBSERVAT"] = phu["TELESCOP"]
    phu["INSTRUME"] = instrument
    phu["OBJECT"] = object_name
    phu["GEMPRGID"] = progid
    phu["OBSID"] = f"{progid}-{obsnum}"
    phu["DATALAB"] = f"{progid}-{obsnum}-{dlnum:03d}"
    phu["RA"] = 201.365063
    phu["DEC"] = -43.019112
    phu["EPOCH"] = 2000.0
    phu["EQUINOX"] = 2000.0
    phu["PMRA"] = 0.0
    phu["PMDEC"] = 0.0
    phu["DATE-OBS"] = date
    phu["DATE"] = date
    phu["UT"] = ut
    phu["TIME-OBS"] = ut
    phu["UTSTART"] = ut
    phu["LT"] = "20:12:33.5"
    phu["ELEVATIO"] = 61.5
    phu["AZIMUTH"] = 211.2
    phu["CRPA"] = -101.3
    phu["PA"] = 0.0
    phu["IAA"] = 359.9
    phu["AIRMASS"] = 1.137
    for key in ("RAWIQ", "RAWCC", "RAWBG", "RAWWV"):
        phu[key] = "Any"
    for key in ("REQIQ", "REQCC", "REQBG", "REQWV"):
        phu[key] = "Any"
    phu["RAWIQ"] = "70-percentile"
    phu["RAWPIREQ"] = "YES"
    phu["RAWGEMQA"] = "USABLE"
    phu["RELEASE"] = "2018-05-04"
    phu["SSA"] = "Observer"
    phu["XOFFSET"] = 0.0
    phu["YOFFSET"] = 0.0
    phu["POFFSET"] = 0.0
    phu["QOFFSET"] = 0.0
    phu["RAOFFSET"] = 0.0
    phu["DECOFFSE"] = 0.0
    phu["INPORT"] = 5
    phu["AOFOLD"] = "park-pos."
    for key in ("PWFS1_ST", "PWFS2_ST", "AOWFS_ST"):
        phu[key] = "parked"
    phu["OIWFS_ST"] = "guiding" if kind in ("science", "standard") else "parked"
    if kind in ("science", "standard", "twilight", "acquisition"):
        phu["FRAME"] = "FK5"
        phu["TRKFRAME"] = "FK5"
        phu["RATRACK"] = 0.0
        phu["DECTRACK"] = 0.0
        phu["TRKEPOCH"] = 2000.0
    elif kind == "azel":
        phu["FRAME"] = "AZEL_TOPO"
        phu["TRKFRAME"] = "FK5"
        phu["TRKEPOCH"] = 2000.0
    return phu


def celestial_wcs(
    header: fits.Header,
    scale_arcsec: float,
    ra: float,
    dec: float,
    crpix: tuple[float, float],
    rotation_deg: float = 0.0,
) -> None:
    """Add a TAN WCS with the given pixel scale and rotation to an extension header."""
    s = scale_arcsec / 3600.0
    theta = math.radians(rotation_deg)
    header["CTYPE1"] = "RA---TAN"
    header["CTYPE2"] = "DEC--TAN"
    header["CRPIX1"] = crpix[0]
    header["CRPIX2"] = crpix[1]
    header["CRVAL1"] = ra
    header["CRVAL2"] = dec
    header["CD1_1"] = -s * math.cos(theta)
    header["CD1_2"] = s * math.sin(theta)
    header["CD2_1"] = s * math.sin(theta)
    header["CD2_2"] = s * math.cos(theta)
    header["RADECSYS"] = "FK5"


def _drop(header: fits.Header, keys: Iterable[str]) -> None:
    for key in keys:
        header.remove(key, ignore_missing=True, remove_all=True)


# ---------------------------------------------------------------------------
# Flamingos-2


F2_KINDS = ("dark", "dark_2020", "flat_on", "flat_off", "twilight", "science", "standard")


def f2_hdulist(
    kind: str = "science",
    *,
    lnrs: int = 1,
    shape: tuple[int, ...] = (1, 4, 4),
    exptime: float = 120.0,
    coadds: int = 1,
    drop: Iterable[str] = (),
    **phu_values: Any,
) -> fits.HDUList:
    """A raw F2 imaging file: 1 extension, 3-D int32 pixels, no EXTNAME."""
    frame = {"dark": "azel", "dark_2020": "plain", "flat_on": "azel", "flat_off": "azel",
             "twilight": "twilight", "science": "science", "standard": "standard"}[kind]
    date, ut = ("2020-01-05", "21:10:02.3") if kind == "dark_2020" else ("2013-11-21", "03:13:05.1")
    phu = gemini_phu("F2", "S", frame, date, ut, progid="GS-2013B-Q-15", obsnum=39)
    phu["OBSTYPE"] = "OBJECT"
    phu["OBSCLASS"] = "science"
    phu["FILTER1"] = "Open"
    phu["FILTER2"] = "Y_G0811"
    phu["GRISM"] = "Open"
    phu["DECKER"] = "Open"
    phu["MOSPOS"] = "Open"
    phu["MASKNAME"] = "None"
    phu["LYOT"] = "f/16_G5830"
    phu["FOCUS"] = "f/16"
    phu["WAVELENG"] = 10200.0
    phu["READMODE"] = "Bright" if lnrs == 1 else "Faint"
    phu["LNRS"] = lnrs
    phu["NREADS"] = lnrs
    phu["COADDS"] = coadds
    phu["EXPTIME"] = exptime
    phu["GAIN"] = 4.44
    phu["RDNOISE"] = 0.0
    phu["PIXSCALE"] = 0.18124
    phu["DETTYPE"] = "Hawaii-2 2048"
    phu["DHSLABEL"] = "S20131121S0115"
    if kind in ("dark", "dark_2020"):
        phu["OBJECT"] = "Dark"
        phu["OBSTYPE"] = "DARK"
        phu["OBSCLASS"] = "dayCal"
        phu["FILTER1"] = "J_G0802"
        phu["FILTER2"] = "DK_G0807"
        phu["AIRMASS"] = 1.0 if kind == "dark" else -9999.0
        phu["MOSPOS"] = "2-pix_grid"
    elif kind in ("flat_on", "flat_off"):
        phu["OBJECT"] = "GCALflat"
        phu["OBSTYPE"] = "FLAT"
        phu["OBSCLASS"] = "dayCal"
        phu["GCALLAMP"] = "IRhigh"
        phu["GCALSHUT"] = "OPEN" if kind == "flat_on" else "CLOSED"
    elif kind == "twilight":
        phu["OBJECT"] = "Twilight"
        phu["OBSCLASS"] = "dayCal"
    elif kind == "standard":
        phu["OBJECT"] = "S8983-W"
        phu["OBSCLASS"] = "partnerCal"
    phu.update(phu_values)
    _drop(phu, drop)
    ext = fits.ImageHDU(np.zeros(shape, dtype=np.int32))
    ext.header["EXTVER"] = 1
    celestial_wcs(ext.header, 0.17974, 201.365, -43.019, (1023.9, 1024.0), rotation_deg=90.0)
    ext.header["CD3_3"] = 1.0
    ext.header["MJD-OBS"] = 56617.13409
    ext.header["FRMNAME"] = " 1 of 1 "
    ext.header["DATATYP"] = "Intensity"
    ext.header.remove("EXTNAME", ignore_missing=True)
    return fits.HDUList([fits.PrimaryHDU(header=phu), ext])


# ---------------------------------------------------------------------------
# GSAOI


GSAOI_KINDS = ("domeflat_on", "domeflat_off", "science", "standard", "dark")


def gsaoi_hdulist(
    kind: str = "science",
    *,
    lnrs: int = 8,
    coadds: int = 1,
    exptime: float = 60.0,
    shape: tuple[int, int] = (4, 4),
    drop: Iterable[str] = (),
    **phu_values: Any,
) -> fits.HDUList:
    """A raw GSAOI file: 4 extensions with the ARRAYID/DETSEC layout of S20150110S0142."""
    frame = {"domeflat_on": "azel", "domeflat_off": "azel", "science": "science",
             "standard": "standard", "dark": "plain"}[kind]
    phu = gemini_phu("GSAOI", "S", frame, "2017-05-05", "04:32:10.4", progid="GS-2017A-Q-29")
    phu["OBSTYPE"] = "OBJECT"
    phu["OBSCLASS"] = "science"
    phu["FILTER1"] = "Kshort_G1105"
    phu["FILTER2"] = "Clear"
    phu["UTLWHEEL"] = "Clear"
    phu["LNRS"] = lnrs
    phu["READMODE"] = "FOWLER"
    phu["COADDS"] = coadds
    phu["EXPTIME"] = exptime
    phu["DETECTOR"] = "GSAOI"
    phu["WAVELENG"] = 21500.0
    phu["AOFOLD"] = "IN"
    phu["GWFS1CFG"] = "ASTERISM"
    if kind in ("domeflat_on", "domeflat_off"):
        phu["OBJECT"] = "Domeflat" if kind == "domeflat_on" else "Domeflat OFF"
        phu["OBSCLASS"] = "dayCal"
        phu["AOFOLD"] = "park-pos."
        del phu["GWFS1CFG"]
    elif kind == "standard":
        phu["OBJECT"] = "9132"
        phu["OBSCLASS"] = "partnerCal"
    elif kind == "dark":
        phu["OBJECT"] = "Dark"
        phu["OBSTYPE"] = "DARK"
        phu["OBSCLASS"] = "dayCal"
        phu["FILTER1"] = "Blocked_G1121"
    phu.update(phu_values)
    _drop(phu, drop)
    hdus: list[Any] = [fits.PrimaryHDU(header=phu)]
    for extver, (array, detsec) in gsaoi_lookup.ARRAY_LAYOUT.items():
        ext = fits.ImageHDU(np.zeros(shape, dtype=np.float32), name="SCI", ver=extver)
        ext.header["ARRAYID"] = array
        ext.header["DETSEC"] = detsec
        ext.header["CCDSEC"] = "[1:2048,1:2048]"
        ext.header["DATASEC"] = "[1:2048,1:2048]"
        ext.header["CCDSIZE"] = "[1:2048,1:2048]"
        ext.header["CCDSUM"] = "1 1"
        ext.header["DATATYP"] = "Intensity"
        x0 = 0 if detsec.startswith("[1:") else 2048 + 145
        y0 = 0 if detsec.endswith(",1:2048]") else 2048 + 140
        celestial_wcs(ext.header, 0.0196558, 201.365, -43.019, (2120.0 - x0, 2115.0 - y0))
        hdus.append(ext)
    return fits.HDUList(hdus)


# ---------------------------------------------------------------------------
# GMOS


GMOS_KINDS = ("bias_2017", "bias_2022", "science", "twilight", "acquisition", "bpm")

GMOS_S_HAMAMATSU = gmos_lookup.CCDS["GMOS-S Hamamatsu"]
GMOS_N_HAMAMATSU = gmos_lookup.CCDS["GMOS-N Hamamatsu"]


def gmos_hdulist(
    kind: str = "science",
    *,
    site: str = "S",
    detector: str = "hamamatsu",
    binning: tuple[int, int] = (2, 2),
    date: str = "2015-11-20",
    ut: str = "05:20:11.7",
    ampinteg: float = 5000.0,
    raw_gain: float = 1.6,
    ccds: tuple[str, str, str] | None = None,
    drop: Iterable[str] = (),
    ext_drop: dict[int, Iterable[str]] | None = None,
    **phu_values: Any,
) -> fits.HDUList:
    """A raw full-frame GMOS file: 12 Hamamatsu or 6 e2vDD amps, uint16 (BZERO 32768)."""
    frame = {"bias_2017": "azel", "bias_2022": "plain", "science": "science",
             "twilight": "twilight", "acquisition": "acquisition", "bpm": "bpm"}[kind]
    instrument = "GMOS-N" if site == "N" else "GMOS-S"
    phu = gemini_phu(instrument, site, frame, date, ut, object_name="NGC1851",
                     progid=f"G{site}-2015B-Q-54", obsnum=30)
    phu["OBSTYPE"] = "OBJECT"
    phu["OBSCLASS"] = "science"
    phu["OBSMODE"] = "IMAGE"
    phu["FILTER1"] = "open1-6"
    phu["FILTER2"] = "r_G0326"
    phu["GRATING"] = "MIRROR"
    phu["GRWLEN"] = 0.0
    phu["CENTWAVE"] = 0.0
    phu["MASKID"] = -99
    phu["MASKNAME"] = "None"
    phu["MASKTYP"] = 0
    phu["EXPTIME"] = 30.0
    phu["AMPINTEG"] = ampinteg
    phu["NCCDS"] = 3
    phu["DETNROI"] = 1
    phu["DETRO1X"] = 1
    phu["DETRO1Y"] = 1
    if detector == "hamamatsu":
        ccds = ccds or (GMOS_N_HAMAMATSU if site == "N" else GMOS_S_HAMAMATSU)
        layout = gmos_lookup.hamamatsu_layout(ccds, *binning)
        phu["DETECTOR"] = "GMOS-N + Hamamatsu" if site == "N" else "GMOS + Hamamatsu_new"
        phu["DETTYPE"] = "S10892-N" if site == "N" else "S10892"
        phu["DETSIZE"] = "[1:6144,1:4224]"
        phu["NAMPS"] = 4
        phu["DETRO1XS"] = 6144 // binning[0]
        phu["DETRO1YS"] = 4224 // binning[1]
        phu["PIXSCALE"] = 0.0807 if site == "N" else 0.08
    else:
        ccds = ccds or gmos_lookup.CCDS["GMOS-N e2vDD"]
        layout = gmos_lookup.e2vdd_layout(ccds, *binning)
        phu["DETECTOR"] = "GMOS + e2v DD CCD42-90"
        phu["DETTYPE"] = "SDSU II e2v DD CCD42-90"
        phu["DETSIZE"] = "[1:6144,1:4644]"
        phu["NAMPS"] = 2
        phu["DETRO1XS"] = 6144 // binning[0]
        phu["DETRO1YS"] = 4608 // binning[1]
        phu["PIXSCALE"] = 0.07288
    phu["DETID"] = ",".join(ccds)
    if kind in ("bias_2017", "bias_2022"):
        phu["OBJECT"] = "Bias"
        phu["OBSTYPE"] = "BIAS"
        phu["OBSCLASS"] = "dayCal"
        phu["EXPTIME"] = 0.0
        phu["AIRMASS"] = 1.0
    elif kind == "twilight":
        phu["OBJECT"] = "Twilight"
        phu["OBSCLASS"] = "dayCal"
    elif kind == "acquisition":
        phu["OBSCLASS"] = "acq"
    elif kind == "bpm":
        phu["OBJECT"] = "BPM"
        phu["OBSTYPE"] = "BPM"
        phu["OBSCLASS"] = "dayCal"
        phu["BPMASK"] = "2017-03-06T10:00:00"
        phu["PREPARE"] = "2017-03-06T10:00:00"
        phu["TRIMOVER"] = "2017-03-06T10:00:00"
        phu["GEM-TLM"] = "2017-03-06T10:00:00"
    phu.update(phu_values)
    _drop(phu, drop)
    hdus: list[Any] = [fits.PrimaryHDU(header=phu)]
    for extver, amp in enumerate(layout, start=1):
        ext = fits.ImageHDU(np.full((4, 6), 1000, dtype=np.uint16), name="SCI", ver=extver)
        for key in ("CCDNAME", "AMPNAME", "CCDSEC", "DETSEC", "DATASEC", "BIASSEC", "CCDSUM",
                    "CCDSIZE"):
            ext.header[key] = amp[key]
        ext.header["GAIN"] = raw_gain
        ext.header["RDNOISE"] = 4.0
        ext.header["FRMNAME"] = f"FRAME-1 ROI-0, CHIP-r<{(extver - 1) // 4 + 1}>"
        celestial_wcs(ext.header, 0.08 * binning[1], 78.528, -40.046,
                      (511.86 - 256 * (extver - 1), 1067.0))
        for key in (ext_drop or {}).get(extver, ()):
            ext.header.remove(key, ignore_missing=True)
        hdus.append(ext)
    return fits.HDUList(hdus)


# ---------------------------------------------------------------------------
# NIRI


NIRI_KINDS = ("dark", "flat_on", "flat_off", "twilight", "science")


def niri_hdulist(
    kind: str = "science",
    *,
    lnrs: int = 1,
    ndavgs: int = 16,
    coadds: int = 5,
    exptime: float = 2.001,
    well: str = "Shallow",
    size: int = 4,
    rows: tuple[int, int] = (0, 1023),
    cols: tuple[int, int] = (0, 1023),
    drop: Iterable[str] = (),
    **phu_values: Any,
) -> fits.HDUList:
    """A raw NIRI file: 1 extension (``size`` x ``size`` float32), LOWROW..HICOL window."""
    frame = {"dark": "plain", "flat_on": "azel", "flat_off": "azel", "twilight": "twilight",
             "science": "science"}[kind]
    phu = gemini_phu("NIRI", "N", frame, "2016-01-02", "05:41:15.2", object_name="SN2014J",
                     progid="GN-2016A-Q-11", obsnum=25)
    phu["OBSTYPE"] = "OBJECT"
    phu["OBSCLASS"] = "science"
    phu["CAMERA"] = "f6"
    phu["FILTER1"] = "Kprime_G0206"
    phu["FILTER2"] = "open"
    phu["FILTER3"] = "pupil38_G5218"
    phu["FPMASK"] = "f6-cam_G5208"
    phu["BEAMSPLT"] = "f6"
    phu["LNRS"] = lnrs
    phu["NDAVGS"] = ndavgs
    phu["COADDS"] = coadds
    phu["EXPTIME"] = exptime
    phu["A_VDDUC"] = -3.49 if well == "Shallow" else -3.48
    phu["A_VDET"] = -2.89 if well == "Shallow" else -2.61
    phu["INPORT"] = 3
    phu["IAA"] = 270.56
    if kind == "dark":
        phu["OBJECT"] = "Dark"
        phu["OBSTYPE"] = "DARK"
        phu["OBSCLASS"] = "dayCal"
        phu["FILTER1"] = "blank"
    elif kind in ("flat_on", "flat_off"):
        phu["OBJECT"] = "GCALflat"
        phu["OBSTYPE"] = "FLAT"
        phu["OBSCLASS"] = "dayCal"
        phu["GCALLAMP"] = "IRhigh"
        phu["GCALSHUT"] = "OPEN" if kind == "flat_on" else "CLOSED"
    elif kind == "twilight":
        phu["OBJECT"] = "Twilight"
        phu["OBSCLASS"] = "dayCal"
    phu.update(phu_values)
    _drop(phu, drop)
    ext = fits.ImageHDU(np.zeros((size, size), dtype=np.float32))
    ext.header["LOWROW"], ext.header["HIROW"] = rows
    ext.header["LOWCOL"], ext.header["HICOL"] = cols
    celestial_wcs(ext.header, 0.1171, 166.5, 47.7, (size / 2 + 0.5, size / 2 + 0.5), 0.56)
    ext.header.remove("EXTNAME", ignore_missing=True)
    return fits.HDUList([fits.PrimaryHDU(header=phu), ext])


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture
def write_raw(tmp_path: Path) -> Callable[..., Path]:
    """Write an HDUList under a raw Gemini file name; returns the path."""
    counter = {"n": 0}

    def write(hdulist: fits.HDUList, name: str | None = None) -> Path:
        counter["n"] += 1
        phu = hdulist[0].header
        if name is None:
            site = "N" if str(phu.get("OBSERVAT", "")).upper().endswith("NORTH") else "S"
            date = "".join(c for c in str(phu.get("DATE-OBS", ""))[:10] if c.isdigit())
            date = date if len(date) == 8 else "20200101"
            name = f"{site}{date}S{counter['n']:04d}.fits"
        path = tmp_path / name
        hdulist.writeto(path)
        return path

    return write


@pytest.fixture
def raw() -> SimpleNamespace:
    """The header builders: ``raw.f2(kind, ...)``, ``raw.gsaoi``, ``raw.gmos``, ``raw.niri``."""
    return SimpleNamespace(
        f2=f2_hdulist,
        gsaoi=gsaoi_hdulist,
        gmos=gmos_hdulist,
        niri=niri_hdulist,
        phu=gemini_phu,
        wcs=celestial_wcs,
    )


@pytest.fixture
def open_raw(write_raw: Callable[..., Path]) -> Callable[..., Any]:
    """Write an HDUList as a raw file and open it with ``astrodata.open``."""

    def open_(hdulist: fits.HDUList, name: str | None = None) -> Any:
        return astrodata.open(write_raw(hdulist, name))

    return open_
