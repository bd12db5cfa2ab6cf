"""Frames for the calibration-service tests, built from real Gemini header layouts.

Frames are built with ``astrodata.create`` from PHU and extension headers that
follow ``shared/reference/gemini-headers.md`` (F2, GSAOI, GMOS-S Hamamatsu,
NIRI), with tiny pixel arrays except where a descriptor reads the array shape
(NIRI ``data_section``). Processed calibrations get the keywords the
``store*`` primitives write (``PROCMODE``, ``PROC*``, ``GEM-TLM``, data label
suffix) plus ``PREPARE`` (and the GMOS overscan keywords).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

import astrodata

_SUFFIX = {
    "processed_bias": ("PROCBIAS", "BIAS"),
    "processed_dark": ("PROCDARK", "DARK"),
    "processed_flat": ("PROCFLAT", "FLAT"),
    "processed_fringe": ("PROCFRNG", "FRINGE"),
    "processed_bpm": ("PROCBPM", "BPM"),
    "processed_standard": ("PROCSTND", "STANDARD"),
    "processed_science": ("PROCSCI", "IMAGE"),
}

T0 = dt.datetime(2013, 11, 21, 5, 0, 0)


# -- headers ------------------------------------------------------------------
def _common_phu(instrument: str, site: str, when: dt.datetime, obstype: str, obsclass: str,
                obj: str, label: str) -> fits.Header:
    phu = fits.Header()
    phu["INSTRUME"] = instrument
    phu["OBSERVAT"] = site
    phu["TELESCOP"] = site
    phu["OBSTYPE"] = obstype
    phu["OBSCLASS"] = obsclass
    phu["OBJECT"] = obj
    program = label.rsplit("-", 2)[0]
    phu["GEMPRGID"] = program
    phu["OBSID"] = label.rsplit("-", 1)[0]
    phu["DATALAB"] = label
    phu["DATE-OBS"] = when.strftime("%Y-%m-%d")
    phu["UT"] = when.strftime("%H:%M:%S.0")
    phu["RAWGEMQA"] = "USABLE"
    phu["RAWPIREQ"] = "YES"
    return phu


def f2_headers(when: dt.datetime, obstype: str = "OBJECT", exptime: float = 120.0,
               lnrs: int = 1, filter2: str = "Y_G0811", filter1: str = "Open",
               lyot: str = "f/16_G5830", label: str = "GS-2013B-Q-15-39-001",
               obsclass: str = "science") -> tuple[fits.Header, list[fits.Header]]:
    """PHU and extension header of an F2 imaging frame."""
    obj = {"DARK": "Dark", "FLAT": "GCALflat"}.get(obstype, "NGC 1234")
    phu = _common_phu("F2", "Gemini-South", when, obstype, obsclass, obj, label)
    phu["EXPTIME"] = exptime
    phu["COADDS"] = 1
    phu["LNRS"] = lnrs
    phu["READMODE"] = "Bright"
    phu["FILTER1"] = filter1
    phu["FILTER2"] = "DK_G0807" if obstype == "DARK" else filter2
    phu["LYOT"] = lyot
    phu["GRISM"] = "Open"
    phu["DECKER"] = "Open"
    phu["MOSPOS"] = "Open"
    phu["MASKNAME"] = "None"
    phu["FOCUS"] = "f/16"
    return phu, [fits.Header()]


_GSAOI_ARRAYS = (
    ("H2RG-032-074", (2048, 4096, 0, 2048)),
    ("H2RG-032-064", (0, 2048, 0, 2048)),
    ("H2RG-032-071", (0, 2048, 2048, 4096)),
    ("H2RG-032-061", (2048, 4096, 2048, 4096)),
)


def gsaoi_headers(when: dt.datetime, obstype: str = "OBJECT", obj: str = "9132",
                  filter1: str = "Kshort_G1105", exptime: float = 60.0,
                  roi: int | None = None, label: str = "GS-2017A-Q-29-13-001",
                  obsclass: str = "science") -> tuple[fits.Header, list[fits.Header]]:
    """PHU and 4 extension headers of a GSAOI frame; `roi` keeps a central square per array."""
    phu = _common_phu("GSAOI", "Gemini-South", when, obstype, obsclass, obj, label)
    phu["EXPTIME"] = exptime
    phu["COADDS"] = 1
    phu["LNRS"] = 2
    phu["READMODE"] = "FOWLER"
    phu["FILTER1"] = filter1
    phu["FILTER2"] = "Clear"
    phu["DETECTOR"] = "GSAOI"
    extensions = []
    for array, (x1, x2, y1, y2) in _GSAOI_ARRAYS:
        if roi:
            cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
            x1, x2, y1, y2 = cx - roi // 2, cx + roi // 2, cy - roi // 2, cy + roi // 2
        header = fits.Header()
        header["ARRAYID"] = array
        header["DETSEC"] = f"[{x1 + 1}:{x2},{y1 + 1}:{y2}]"
        header["CCDSEC"] = f"[{x1 % 2048 + 1}:{(x2 - 1) % 2048 + 1},{y1 % 2048 + 1}:" \
                           f"{(y2 - 1) % 2048 + 1}]"
        header["DATASEC"] = f"[1:{x2 - x1},1:{y2 - y1}]"
        extensions.append(header)
    return phu, extensions


_GMOS_S_CCDS = ("BI5-36-4k-2", "BI11-33-4k-1", "BI12-34-4k-1")


def gmos_headers(when: dt.datetime, obstype: str = "OBJECT", obj: str = "NGC 1234",
                 filter2: str = "r_G0326", binning: int = 2, speed: str = "slow",
                 gain: str = "low", roi: str = "Full Frame",
                 label: str = "GS-2015B-Q-54-30-001", obsclass: str = "science",
                 exptime: float = 100.0) -> tuple[fits.Header, list[fits.Header]]:
    """PHU and amplifier headers of a GMOS-S Hamamatsu frame (12 amps, or 4 for ``CCD2``)."""
    phu = _common_phu("GMOS-S", "Gemini-South", when, obstype, obsclass, obj, label)
    phu["DETTYPE"] = "S10892"
    phu["DETECTOR"] = "GMOS + Hamamatsu_new"
    phu["DETID"] = ",".join(_GMOS_S_CCDS)
    phu["AMPINTEG"] = 11880 if speed == "slow" else 5000
    phu["EXPTIME"] = exptime
    phu["FILTER1"] = "open1-6"
    phu["FILTER2"] = filter2
    phu["GRATING"] = "MIRROR"
    phu["MASKNAME"] = "None"
    phu["MASKTYP"] = 0
    phu["OBSMODE"] = "IMAGE"
    if roi == "Full Frame":
        phu["DETRO1X"], phu["DETRO1XS"] = 1, 6144 // binning
        ccds = (0, 1, 2)
    elif roi == "CCD2":
        phu["DETRO1X"], phu["DETRO1XS"] = 2049, 2048 // binning
        ccds = (1,)
    else:
        raise ValueError(roi)
    phu["DETRO1Y"], phu["DETRO1YS"] = 1, 4224 // binning
    extensions = []
    for k in ccds:
        for index, amp in enumerate((4, 3, 2, 1)):
            x1 = 2048 * k + 512 * index
            header = fits.Header()
            header["AMPNAME"] = f"{_GMOS_S_CCDS[k]}, {amp}"
            header["CCDNAME"] = _GMOS_S_CCDS[k]
            header["CCDSUM"] = f"{binning} {binning}"
            header["DETSEC"] = f"[{x1 + 1}:{x1 + 512},1:4224]"
            header["CCDSEC"] = f"[{512 * index + 1}:{512 * index + 512},1:4224]"
            header["DATASEC"] = f"[1:{512 // binning},1:{4224 // binning}]"
            header["BIASSEC"] = f"[{512 // binning + 1}:{512 // binning + 32}," \
                                f"1:{4224 // binning}]"
            header["GAIN"] = 1.8 if gain == "low" else 5.2
            extensions.append(header)
    return phu, extensions


def niri_headers(when: dt.datetime, obstype: str = "OBJECT", obj: str = "NGC 1234",
                 filter2: str = "Kprime_G0206", exptime: float = 20.0, coadds: int = 1,
                 size: int = 1024, well: str = "Shallow", lnrs: int = 1, ndavgs: int = 16,
                 label: str = "GN-2016A-Q-11-25-001", obsclass: str = "science",
                 camera: str = "f6") -> tuple[fits.Header, list[fits.Header]]:
    """PHU and extension header of a NIRI frame (a centred `size`-pixel square)."""
    phu = _common_phu("NIRI", "Gemini-North", when, obstype, obsclass, obj, label)
    phu["EXPTIME"] = exptime
    phu["COADDS"] = coadds
    phu["LNRS"] = lnrs
    phu["NDAVGS"] = ndavgs
    phu["A_VDDUC"] = -3.49 if well == "Shallow" else -3.48
    phu["A_VDET"] = -2.89 if well == "Shallow" else -2.61
    phu["CAMERA"] = camera
    phu["FILTER1"] = "open"
    phu["FILTER2"] = filter2
    phu["FILTER3"] = "open"
    phu["FPMASK"] = "f6-cam_G5208"
    header = fits.Header()
    # as read from a file (NIRI data_section reads the array size from the header)
    header["NAXIS1"] = size
    header["NAXIS2"] = size
    low = 512 - size // 2
    for key, value in (("LOWROW", low), ("HIROW", low + size - 1), ("LOWCOL", low),
                       ("HICOL", low + size - 1)):
        header[key] = value
    return phu, [header]


_BUILDERS = {"F2": f2_headers, "GSAOI": gsaoi_headers, "GMOS": gmos_headers,
             "NIRI": niri_headers}


def build_frame(instrument: str, when: dt.datetime, processed: str | None = None,
                procmode: str = "sq", phu_extra: dict | None = None,
                phu_remove: tuple[str, ...] = (), filename: str | None = None,
                **kwargs: Any) -> Any:
    """An AstroData frame of `instrument`.

    `processed` marks it as that calibration type (as the ``store*``
    primitives do, processed in `procmode`); `phu_extra` adds or replaces PHU
    keywords and `phu_remove` deletes some, after that; `filename` names it.
    """
    phu, extensions = _BUILDERS[instrument](when, **kwargs)
    if processed is not None:
        keyword, word = _SUFFIX[processed]
        stamp = "2024-01-01T00:00:00"
        phu[keyword] = stamp
        phu["GEM-TLM"] = stamp
        phu["PREPARE"] = stamp
        phu["PROCMODE"] = procmode
        phu["DATALAB"] = f"{phu['DATALAB']}-{procmode.upper()}-{word}"
        if instrument == "GMOS":
            phu["SUBOVER"] = stamp
            phu["TRIMOVER"] = stamp
            phu["GAINSET"] = kwargs.get("gain", "low")
    phu.update(phu_extra or {})
    for keyword in phu_remove:
        phu.remove(keyword, ignore_missing=True)
    ad = astrodata.create(phu)
    for header in extensions:
        if instrument == "NIRI":
            size = header["HIROW"] - header["LOWROW"] + 1
            data = np.zeros((size, size), dtype=np.uint8)
        else:
            data = np.zeros((4, 4), dtype=np.float32)
        ad.append(data, header=header)
    if filename:
        ad.filename = filename
    return ad


def write_frame(directory: Path, name: str, instrument: str, when: dt.datetime,
                processed: str | None = None, **kwargs: Any) -> Path:
    """Write a frame built by :func:`build_frame` as ``directory/name``; returns the path."""
    ad = build_frame(instrument, when, processed=processed, **kwargs)
    path = Path(directory) / name
    ad.write(str(path), overwrite=True)
    return path
