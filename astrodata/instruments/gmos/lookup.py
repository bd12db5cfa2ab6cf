"""GMOS lookup tables: per-amplifier gain, read noise and bias by era; geometry; filters; field.

Values from ``/work/shared/reference/gemini-headers.md`` section 4 (the
Gemini GMOS tables, geometry configuration and raw headers).

**The per-amplifier gain, read-noise and bias values are representative.**
The reference gives, for each CCD, era and read mode, only the *range* of
the values over that CCD's amplifiers. The tables here spread each range
evenly over the CCD's amplifiers in amplifier order (amp 1 gets the low end,
the last amp the high end), so every value lies inside the documented range
but is not the measured value of that amplifier. Where the reference gives
no value (EEV read noise and bias in the fast modes, e2vDD read noise and
bias in slow/high, Hamamatsu slow/high, which Gemini does not support) the
entry is absent and the descriptors return None with a warning. The full
wells (``FULL_WELLS``) are spread the same way over the reference's range for
each detector.

Modes are keyed ``(read_speed_setting, gain_setting, AMPNAME)`` with
``read_speed_setting`` ``'slow'``/``'fast'`` and ``gain_setting``
``'low'``/``'high'``.

These tables are the single source of the GMOS detector numbers: the
simulator (``gempy.sim``) reads its gains, read noise, bias levels, wells,
geometry and imaging field from here, so simulated frames agree with the
descriptors exactly.

The imaging field (``imaging_field``, ``unilluminated_pixels``) describes
where light falls in imaging: the 5.5-arcmin square centred on CCD2, its
corners cut by a circle. Gemini's own illumination masks (maskdb
``GMOS-{N,S}_{EEV,e2v,Ham}_{11,22,44}_{3,6,12}amp_v1``) are not in the
reference; this geometric description stands in for them.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple

import numpy as np

from astrodata.section import Section

__all__ = [
    "AmpMode",
    "CCDS",
    "DETECTOR_CCDS",
    "amp_names",
    "ERA_BOUNDARIES",
    "era_index",
    "GAIN",
    "READ_NOISE",
    "BIAS_LEVEL",
    "amp_value",
    "FULL_WELLS",
    "ADC_LIMIT",
    "DETTYPE_FAMILY",
    "DETTYPE_PRETTY",
    "PIXEL_SCALES",
    "READ_SPEED_SLOW_ABOVE",
    "ROI_SETTINGS",
    "OVERSCAN_WIDTH",
    "BIAS_CONTAMINATED_COLUMNS",
    "HAMAMATSU_BAD_BOTTOM_ROWS",
    "TILE_GAPS",
    "MOSAIC_SHIFTS",
    "FILTER_WAVELENGTHS",
    "NOMINAL_ZEROPOINTS",
    "hamamatsu_layout",
    "e2vdd_layout",
    "NOMINAL_CCD_WIDTH",
    "CCD_ROWS",
    "imaging_ccd_shape",
    "IMAGING_FIELD_SIDE_ARCSEC",
    "IMAGING_FIELD_CORNER_RADIUS",
    "ImagingField",
    "detector_key",
    "imaging_field",
    "field_margin",
    "unilluminated_pixels",
]


class AmpMode(NamedTuple):
    """``(read_speed_setting, gain_setting)`` of an amplifier readout."""

    read_speed: str
    gain_setting: str


SLOW_LOW = AmpMode("slow", "low")
FAST_LOW = AmpMode("fast", "low")
FAST_HIGH = AmpMode("fast", "high")
SLOW_HIGH = AmpMode("slow", "high")

#: CCD names (``CCDNAME``/``DETID`` parts) of each detector, in ``DETSEC`` order.
CCDS = {
    "GMOS-N Hamamatsu": ("BI13-20-4k-1", "BI12-09-4k-2", "BI13-18-4k-2"),
    "GMOS-S Hamamatsu": ("BI5-36-4k-2", "BI11-33-4k-1", "BI12-34-4k-1"),
    "GMOS-S Hamamatsu 2023": ("BI11-41-4k-2", "BI13-19-4k-3", "BI12-34-4k-1"),
    "GMOS-N e2vDD": ("e2v 10031-23-05", "e2v 10031-01-03", "e2v 10031-18-04"),
    "GMOS-N EEV": ("EEV 9273-16-03", "EEV 9273-20-04", "EEV 9273-20-03"),
    "GMOS-S EEV": ("EEV 8056-20-03", "EEV 2037-06-03", "EEV 8194-19-04", "EEV 8261-07-04"),
}

#: PHU ``DETECTOR`` value -> the detector (key of ``CCDS``) it names.
DETECTOR_CCDS = {
    "GMOS-N + Hamamatsu": "GMOS-N Hamamatsu",
    "GMOS + Hamamatsu": "GMOS-S Hamamatsu",
    "GMOS + Hamamatsu_new": "GMOS-S Hamamatsu",
    "GMOS + Ham-2": "GMOS-S Hamamatsu 2023",
    "GMOS + e2v DD CCD42-90": "GMOS-N e2vDD",
}


def amp_names(ccd: str) -> tuple[str, ...]:
    """``AMPNAME`` values of a CCD's amplifiers, in amplifier order.

    Hamamatsu CCDs have amps ``'<CCD>, 1'`` .. ``'<CCD>, 4'``; e2vDD and EEV
    CCDs a ``'<CCD>, left'`` and a ``'<CCD>, right'`` amp.
    """
    if ccd.startswith("BI"):
        return tuple(f"{ccd}, {n}" for n in range(1, 5))
    return (f"{ccd}, left", f"{ccd}, right")


#: Dates on which the gain/read-noise/bias tables change. Gain and bias use
#: the newer table from the boundary day on (``>=``); read noise only from
#: the day after for the two latest boundaries (``>``).
ERA_BOUNDARIES = (
    dt.date(2006, 8, 31),
    dt.date(2015, 8, 26),
    dt.date(2017, 2, 24),
    dt.date(2023, 12, 14),
)
_STRICT_FOR_READ_NOISE = frozenset({dt.date(2017, 2, 24), dt.date(2023, 12, 14)})


def era_index(date: dt.date, read_noise: bool = False) -> int:
    """Index (0..4) of the table era in force on ``date``.

    Parameters
    ----------
    date : datetime.date
        UT date of the observation.
    read_noise : bool
        Use the read-noise convention (a new table applies only after the
        boundary day for the 2017-02-24 and 2023-12-14 boundaries).
    """
    index = 0
    for boundary in ERA_BOUNDARIES:
        strict = read_noise and boundary in _STRICT_FOR_READ_NOISE
        if date > boundary or (date == boundary and not strict):
            index += 1
    return index


# Ranges over a CCD's amps: mode -> ((gain lo, hi), (read noise lo, hi), (bias lo, hi));
# None where the reference gives no value.
_Range = tuple[float, float]
_ModeRanges = dict[AmpMode, tuple[_Range | None, _Range | None, _Range | None]]

_HAM_N_RANGES: dict[str, _ModeRanges] = {
    "BI13-20-4k-1": {
        SLOW_LOW: ((1.568, 1.675), (3.99, 4.12), (446, 456)),
        FAST_LOW: ((1.91, 2.01), (5.88, 8.02), (500, 500)),
        FAST_HIGH: ((5.04, 5.21), (8.17, 9.90), (500, 500)),
    },
    "BI12-09-4k-2": {
        SLOW_LOW: ((1.633, 1.69), (3.88, 4.20), (439, 452)),
        FAST_LOW: ((1.96, 2.03), (5.39, 6.71), (500, 500)),
        FAST_HIGH: ((5.13, 5.29), (8.19, 9.42), (500, 500)),
    },
    "BI13-18-4k-2": {
        SLOW_LOW: ((1.587, 1.654), (4.02, 4.55), (441, 456)),
        FAST_LOW: ((1.89, 1.95), (5.98, 6.79), (500, 500)),
        FAST_HIGH: ((4.86, 5.10), (8.03, 8.80), (501, 501)),
    },
}

_HAM_S_RANGES: dict[str, _ModeRanges] = {
    "BI5-36-4k-2": {
        SLOW_LOW: ((1.834, 1.878), (4.04, 4.28), (500, 897)),
        FAST_LOW: ((1.556, 1.593), (5.49, 7.10), (819, 1040)),
        FAST_HIGH: ((5.18, 5.33), (8.07, 9.13), (2811, 2932)),
    },
    "BI11-33-4k-1": {
        SLOW_LOW: ((1.84, 1.933), (3.90, 4.29), (495, 990)),
        FAST_LOW: ((1.582, 1.648), (5.19, 7.38), (2114, 2682)),
        FAST_HIGH: ((5.23, 5.46), (8.02, 8.62), (3091, 3334)),
    },
    "BI12-34-4k-1": {
        SLOW_LOW: ((1.652, 1.813), (3.53, 4.15), (230, 795)),
        FAST_LOW: ((1.445, 1.549), (6.36, 7.88), (893, 1856)),
        FAST_HIGH: ((4.83, 5.13), (7.94, 9.34), (3003, 3078)),
    },
}

# GMOS-S Hamamatsu from installation (2014) to 2015-08-26: the reference
# gives only the slow/low bias levels (about 2940-3360 ADU); gain and read
# noise are taken from the following era.
_HAM_S_2014_RANGES: dict[str, _ModeRanges] = {
    "BI5-36-4k-2": {**_HAM_S_RANGES["BI5-36-4k-2"],
                    SLOW_LOW: ((1.834, 1.878), (4.04, 4.28), (2940, 3080))},
    "BI11-33-4k-1": {**_HAM_S_RANGES["BI11-33-4k-1"],
                     SLOW_LOW: ((1.84, 1.933), (3.90, 4.29), (3080, 3220))},
    "BI12-34-4k-1": {**_HAM_S_RANGES["BI12-34-4k-1"],
                     SLOW_LOW: ((1.652, 1.813), (3.53, 4.15), (3220, 3360))},
}

_HAM_S_2023_RANGES: dict[str, _ModeRanges] = {
    "BI11-41-4k-2": {
        SLOW_LOW: ((1.943, 2.038), (4.05, 4.29), (312, 512)),
        FAST_LOW: ((1.652, 1.719), (5.19, 7.01), (547, 1033)),
        FAST_HIGH: ((5.52, 5.76), (9.06, 11.74), (2691, 2976)),
    },
    "BI13-19-4k-3": {
        SLOW_LOW: ((1.745, 1.798), (3.59, 4.22), (108, 1073)),
        FAST_LOW: ((1.498, 1.533), (5.20, 5.82), (1856, 3260)),
        FAST_HIGH: ((4.96, 5.10), (7.99, 11.27), (3020, 3584)),
    },
    "BI12-34-4k-1": {
        SLOW_LOW: ((1.594, 1.770), (3.39, 3.67), (497, 525)),
        FAST_LOW: ((1.445, 1.549), (4.66, 9.57), (920, 1890)),
        FAST_HIGH: ((4.58, 5.08), (7.83, 8.85), (2963, 3046)),
    },
}

_E2V_MODES: _ModeRanges = {
    SLOW_LOW: ((2.17, 2.33), (3.17, 3.46), (909, 1188)),
    FAST_LOW: ((2.41, 2.56), (4.1, 4.4), (757, 1099)),
    FAST_HIGH: ((5.10, 5.41), (5.7, 7.8), (429, 787)),
    SLOW_HIGH: ((4.33, 4.82), None, None),
}
_E2V_RANGES: dict[str, _ModeRanges] = {ccd: _E2V_MODES for ccd in CCDS["GMOS-N e2vDD"]}

_EEV_MODES: _ModeRanges = {
    SLOW_LOW: ((1.94, 2.40), (3.0, 4.3), (370, 784)),
    FAST_LOW: ((2.19, 2.58), None, None),
    FAST_HIGH: ((4.63, 5.43), None, None),
    SLOW_HIGH: ((4.1, 4.95), None, None),
}
_EEV_RANGES: dict[str, _ModeRanges] = {
    ccd: _EEV_MODES for ccd in CCDS["GMOS-N EEV"] + CCDS["GMOS-S EEV"]
}

#: The CCD ranges in force in each era (index as :func:`era_index`).
_ERA_RANGES: tuple[dict[str, _ModeRanges], ...] = (
    {**_EEV_RANGES},  # before 2006-08-31
    {**_EEV_RANGES, **_E2V_RANGES, **_HAM_S_2014_RANGES},  # to 2015-08-26
    {**_E2V_RANGES, **_HAM_S_RANGES},  # to 2017-02-24
    {**_HAM_N_RANGES, **_HAM_S_RANGES},  # to 2023-12-14
    {**_HAM_N_RANGES, **_HAM_S_2023_RANGES},  # current
)


def _spread(value_range: _Range, index: int, count: int) -> float:
    low, high = value_range
    if count == 1:
        return float(low)
    return round(low + (high - low) * index / (count - 1), 4)


def _build(quantity: int) -> tuple[dict[tuple[str, str, str], float], ...]:
    """One ``{(read_speed, gain_setting, AMPNAME): value}`` table per era."""
    tables = []
    for ranges in _ERA_RANGES:
        table: dict[tuple[str, str, str], float] = {}
        for ccd, modes in ranges.items():
            amps = amp_names(ccd)
            for mode, values in modes.items():
                value_range = values[quantity]
                if value_range is None:
                    continue
                for index, amp in enumerate(amps):
                    table[(mode.read_speed, mode.gain_setting, amp)] = _spread(
                        value_range, index, len(amps)
                    )
        tables.append(table)
    return tuple(tables)


#: Gain (electrons/ADU) per era: ``GAIN[era_index(date)][(speed, gain, AMPNAME)]``.
GAIN = _build(0)
#: Read noise (electrons) per era: ``READ_NOISE[era_index(date, read_noise=True)][...]``.
READ_NOISE = _build(1)
#: Typical bias level (ADU) per era, an estimate only: the real bias of a
#: frame is measured in its overscan.
BIAS_LEVEL = _build(2)


def amp_value(
    tables: tuple[dict[tuple[str, str, str], float], ...],
    date: dt.date,
    read_speed: str,
    gain_setting: str,
    amp: str,
) -> float | None:
    """Look up an amplifier's value in the era table in force on ``date``.

    Returns None if the amplifier or mode is not in that era's table.
    """
    index = era_index(date, read_noise=tables is READ_NOISE)
    return tables[index].get((read_speed, gain_setting, amp))


def _wells(detector: str, low: float, high: float, fixed: dict[str, float] | None = None
           ) -> dict[str, float]:
    ccds = CCDS[DETECTOR_CCDS[detector]]
    amps = [a for ccd in ccds for a in amp_names(ccd)]
    wells = {a: float(round(low + (high - low) * i / (len(amps) - 1))) for i, a in enumerate(amps)}
    for ccd, well in (fixed or {}).items():
        for amp in amp_names(ccd):
            wells[amp] = well
    return wells


#: Full well (electrons, 1x1 binning, slow/low) by PHU ``DETECTOR`` and
#: ``AMPNAME``. EEV detectors have none: they are limited by the ADC.
FULL_WELLS = {
    "GMOS-N + Hamamatsu": _wells(
        "GMOS-N + Hamamatsu", 121000, 129000, fixed={"BI13-20-4k-1": 129000.0}
    ),
    "GMOS + Hamamatsu": _wells("GMOS + Hamamatsu", 98813, 113986),
    "GMOS + Hamamatsu_new": _wells("GMOS + Hamamatsu_new", 106966, 125719),
    "GMOS + Ham-2": _wells("GMOS + Ham-2", 105466, 131823),
    "GMOS + e2v DD CCD42-90": _wells("GMOS + e2v DD CCD42-90", 105100, 115700),
}

#: Largest value of the 16-bit ADC, ADU.
ADC_LIMIT = 65535

#: ``DETTYPE`` -> detector family.
DETTYPE_FAMILY = {
    "SDSU II CCD": "EEV",
    "SDSU II e2v DD CCD42-90": "e2vDD",
    "S10892": "Hamamatsu",
    "S10892-N": "Hamamatsu",
}

#: ``DETTYPE`` -> ``detector_name(pretty=True)``.
DETTYPE_PRETTY = {
    "SDSU II CCD": "EEV",
    "SDSU II e2v DD CCD42-90": "e2vDD",
    "S10892": "Hamamatsu-S",
    "S10892-N": "Hamamatsu-N",
}

#: Unbinned pixel scale (arcsec/pixel) by (``INSTRUME``, detector family).
PIXEL_SCALES = {
    ("GMOS-N", "EEV"): 0.0727,
    ("GMOS-N", "e2vDD"): 0.07288,
    ("GMOS-N", "Hamamatsu"): 0.0807,
    ("GMOS-S", "EEV"): 0.073,
    ("GMOS-S", "Hamamatsu"): 0.0800,
}

#: ``AMPINTEG`` above which the readout is 'slow', by detector family.
READ_SPEED_SLOW_ABOVE = {"Hamamatsu": 8000, "e2vDD": 2000, "EEV": 2000}

#: Named detector ROIs: name -> the first-ROI sections (0-based, unbinned,
#: ``Section(x1, x2, y1, y2)``) that count as that setting.
ROI_SETTINGS = {
    "Full Frame": (Section(0, 6144, 0, 4608), Section(0, 6144, 0, 4224)),
    "CCD2": (Section(2048, 4096, 0, 4608), Section(2048, 4096, 0, 4224)),
    "Central Spectrum": (
        Section(0, 6144, 1792, 2816),
        Section(0, 6144, 1791, 2815),
        Section(0, 6144, 1624, 2648),
    ),
    "Central Stamp": (
        Section(2922, 3222, 2154, 2454),
        Section(2922, 3222, 1986, 2286),
        Section(2922, 3222, 1986, 2294),
    ),
}

#: Overscan columns per amplifier, in binned pixels, at every binning.
OVERSCAN_WIDTH = 32

#: Overscan columns next to the data (contaminated by the data) to skip when
#: measuring the bias, by family; one more column is skipped at the far edge.
BIAS_CONTAMINATED_COLUMNS = {"Hamamatsu": 4, "EEV": 4, "e2vDD": 5}

#: Bottom unbinned rows of the Hamamatsu CCDs left out of overscan fits.
HAMAMATSU_BAD_BOTTOM_ROWS = 48

#: Gap between CCDs when tiling, unbinned pixels, by (site, family).
TILE_GAPS = {
    ("GMOS-N", "Hamamatsu"): 67,
    ("GMOS-S", "Hamamatsu"): 61,
    ("GMOS-N", "e2vDD"): 37,
    ("GMOS-N", "EEV"): 37,
    ("GMOS-S", "EEV"): 37,
}

#: Mosaic geometry: shift (x, y) in unbinned pixels and rotation (degrees) of
#: CCD1 and CCD3 relative to CCD2, by detector (key of ``CCDS``).
MOSAIC_SHIFTS = {
    "GMOS-N Hamamatsu": {
        "CCD1": {"shift": (-2115.95, -0.217), "rotation": -0.004},
        "CCD3": {"shift": (2115.48, 0.173), "rotation": -0.00537},
    },
    "GMOS-S Hamamatsu": {
        "CCD1": {"shift": (-2110.2, 0.71), "rotation": 0.0},
        "CCD3": {"shift": (2109.0, -0.73), "rotation": 0.0},
    },
    "GMOS-S Hamamatsu 2023": {
        "CCD1": {"shift": (-2112.5, -1.1), "rotation": 0.0},
        "CCD3": {"shift": (2110.8, 1.05), "rotation": 0.0},
    },
    "GMOS-N e2vDD": {
        "CCD1": {"shift": (-2087.7, -0.749), "rotation": -0.009},
        "CCD3": {"shift": (2087.80, 2.05), "rotation": -0.003},
    },
    "GMOS-N EEV": {
        "CCD1": {"shift": (-2087.50, -1.58), "rotation": -0.004},
        "CCD3": {"shift": (2088.87, -1.86), "rotation": -0.046},
    },
}

#: Pretty filter name -> central wavelength in micrometres.
FILTER_WAVELENGTHS = {
    "u": 0.35,
    "g": 0.475,
    "r": 0.63,
    "i": 0.78,
    "z": 0.925,
    "HeII": 0.468,
    "HeIIC": 0.478,
    "OIII": 0.499,
    "OIIIC": 0.514,
    "Ha": 0.656,
    "HaC": 0.662,
    "SII": 0.672,
    "OVIC": 0.679,
    "OVI": 0.6838,
    "CaT": 0.86,
    "Z": 0.876,
    "DS920": 0.92,
    "Y": 1.01,
}

#: Nominal zeropoints (magnitude giving 1 electron/s) by (``DETID``, pretty filter).
NOMINAL_ZEROPOINTS = {
    **{
        (",".join(CCDS["GMOS-N Hamamatsu"]), f): z
        for f, z in {"g": 27.915, "r": 28.299, "i": 28.41, "z": 28.222}.items()
    },
    **{
        (",".join(CCDS["GMOS-S Hamamatsu"]), f): z
        for f, z in {"u": 24.1, "g": 27.99, "r": 28.23, "i": 28.21, "z": 28.02}.items()
    },
    **{
        (",".join(CCDS["GMOS-S Hamamatsu 2023"]), f): z
        for f, z in {"u": 24.09, "g": 27.84, "r": 28.05, "i": 28.18, "z": 28.08}.items()
    },
}


def hamamatsu_layout(
    ccds: tuple[str, str, str], xbin: int = 1, ybin: int = 1
) -> list[dict[str, str]]:
    """Extension keywords of a full-frame 12-amplifier Hamamatsu raw file.

    In each CCD the extensions read amps 4, 3, 2, 1 with increasing
    ``DETSEC``; every amp is 512 unbinned columns x 4224 rows plus 32 binned
    overscan columns, on the right of amps 4 and 2 and on the left of 3
    and 1.

    Parameters
    ----------
    ccds : tuple of str
        The three CCD names in ``DETSEC`` order (``CCDS[...]``).
    xbin, ybin : int
        Binning.

    Returns
    -------
    list of dict
        For each extension: ``CCDNAME``, ``AMPNAME``, ``CCDSEC``, ``DETSEC``
        (unbinned), ``DATASEC``, ``BIASSEC`` (binned), ``CCDSUM``,
        ``CCDSIZE``, ``NAXIS1``/``NAXIS2`` as strings.
    """
    width, rows = 512 // xbin, 4224 // ybin
    layout = []
    for k, ccd in enumerate(ccds):
        for j in range(4):
            amp = 4 - j
            x0 = 512 * j
            if j % 2 == 0:
                datasec = f"[1:{width},1:{rows}]"
                biassec = f"[{width + 1}:{width + OVERSCAN_WIDTH},1:{rows}]"
            else:
                datasec = f"[{OVERSCAN_WIDTH + 1}:{width + OVERSCAN_WIDTH},1:{rows}]"
                biassec = f"[1:{OVERSCAN_WIDTH},1:{rows}]"
            layout.append(
                {
                    "CCDNAME": ccd,
                    "AMPNAME": f"{ccd}, {amp}",
                    "CCDSEC": f"[{x0 + 1}:{x0 + 512},1:4224]",
                    "DETSEC": f"[{2048 * k + x0 + 1}:{2048 * k + x0 + 512},1:4224]",
                    "DATASEC": datasec,
                    "BIASSEC": biassec,
                    "CCDSUM": f"{xbin} {ybin}",
                    "CCDSIZE": "[1:2048,1:4224]",
                    "NAXIS1": str(width + OVERSCAN_WIDTH),
                    "NAXIS2": str(rows),
                }
            )
    return layout


def e2vdd_layout(
    ccds: tuple[str, str, str] = CCDS["GMOS-N e2vDD"], xbin: int = 1, ybin: int = 1
) -> list[dict[str, str]]:
    """Extension keywords of a full-frame 6-amplifier GMOS-N e2vDD raw file.

    Each CCD has a 'left' (columns 1-1024) and a 'right' (1025-2048) amp of
    1024 unbinned columns x 4608 rows, plus 32 binned overscan columns on
    the outer side. The extension order is not monotonic in ``DETSEC``:
    right, left (CCD1); right, left (CCD2); left, right (CCD3).

    Returns the same keys as :func:`hamamatsu_layout`.
    """
    width, rows = 1024 // xbin, 4608 // ybin
    order = (("right", "left"), ("right", "left"), ("left", "right"))
    layout = []
    for k, ccd in enumerate(ccds):
        serial = ccd.replace("e2v ", "")
        for side in order[k]:
            x0 = 0 if side == "left" else 1024
            if side == "left":
                datasec = f"[1:{width},1:{rows}]"
                biassec = f"[{width + 1}:{width + OVERSCAN_WIDTH},1:{rows}]"
            else:
                datasec = f"[{OVERSCAN_WIDTH + 1}:{width + OVERSCAN_WIDTH},1:{rows}]"
                biassec = f"[1:{OVERSCAN_WIDTH},1:{rows}]"
            layout.append(
                {
                    "CCDNAME": f"e2v DD ML2AR CCD42-90-1-F43 {serial}",
                    "AMPNAME": f"{ccd}, {side}",
                    "CCDSEC": f"[{x0 + 1}:{x0 + 1024},1:4608]",
                    "DETSEC": f"[{2048 * k + x0 + 1}:{2048 * k + x0 + 1024},1:4608]",
                    "DATASEC": datasec,
                    "BIASSEC": biassec,
                    "CCDSUM": f"{xbin} {ybin}",
                    "CCDSIZE": "[1:2048,1:4644]",
                    "NAXIS1": str(width + OVERSCAN_WIDTH),
                    "NAXIS2": str(rows),
                }
            )
    return layout


# ---------------------------------------------------------------------------
# Imaging field (illumination geometry)
# ---------------------------------------------------------------------------
#: Width (unbinned columns) of every GMOS CCD; narrower CCDs are simulated small ones.
NOMINAL_CCD_WIDTH = 2048

#: Unbinned rows of a CCD's imaging area (the ``CCDSEC`` rows of a full frame) by
#: family; the e2vDD and EEV ``CCDSIZE`` says 4644 rows, of which 4608 are read.
CCD_ROWS = {"Hamamatsu": 4224, "e2vDD": 4608, "EEV": 4608}

#: Side of the square GMOS imaging field, arcsec (5.5 arcmin).
IMAGING_FIELD_SIDE_ARCSEC = 330.0

#: The corners of the square field are cut by a circle of this radius, in units of
#: the half side (the unvignetted field of the instrument port, about 7.2 arcmin across).
IMAGING_FIELD_CORNER_RADIUS = 1.3


class ImagingField(NamedTuple):
    """The GMOS imaging field on one detector, in unbinned pixels about the CCD2 centre.

    Attributes
    ----------
    half_width : float
        Half side of the square field (unbinned pixels).
    corner_radius : float
        Radius of the circle cutting its corners (unbinned pixels).
    placements : tuple
        Per CCD in ``DETSEC`` order, ``(x, y, rotation_deg)``: the position of
        the CCD centre relative to the centre of CCD2 (the field centre) and
        its counter-clockwise rotation, as in ``MOSAIC_SHIFTS``.
    """

    half_width: float
    corner_radius: float
    placements: tuple[tuple[float, float, float], ...]


def detector_key(detector: str, instrument: str, family: str | None) -> str | None:
    """Key of ``CCDS`` (and ``MOSAIC_SHIFTS``) of a detector from its PHU ``DETECTOR``.

    EEV detectors, whose ``DETECTOR`` values are not tabulated, are keyed by
    instrument (``'GMOS-N EEV'``). None if unknown.
    """
    key = DETECTOR_CCDS.get(str(detector).strip())
    if key is None and family == "EEV" and f"{instrument} EEV" in CCDS:
        key = f"{instrument} EEV"
    return key


def _family_of(key: str) -> str:
    return "Hamamatsu" if "Hamamatsu" in key else key.split()[-1]


def imaging_ccd_shape(key: str, ccdsize: Section) -> tuple[int, int]:
    """Unbinned (rows, columns) of a CCD's imaging area from its ``CCDSIZE``.

    The columns are ``CCDSIZE``'s; the rows are ``CCD_ROWS`` of the family
    (scaled like the columns on narrower, simulated, CCDs), or ``CCDSIZE``'s
    if fewer.
    """
    columns = ccdsize.x2 - ccdsize.x1
    rows = round(CCD_ROWS[_family_of(key)] * columns / NOMINAL_CCD_WIDTH)
    return min(rows, ccdsize.y2 - ccdsize.y1), columns


def imaging_field(key: str, ccd_width: int = NOMINAL_CCD_WIDTH) -> ImagingField:
    """The imaging field of detector ``key`` (a key of ``CCDS``) with CCDs ``ccd_width`` wide.

    The field is the square of side ``IMAGING_FIELD_SIDE_ARCSEC`` centred on
    the centre of CCD2, its corners cut by the circle of radius
    ``IMAGING_FIELD_CORNER_RADIUS`` half sides; everything outside is
    unilluminated. On the full-size detectors the square covers, e.g., the
    middle 4125 of the 6266 unbinned columns of the GMOS-S Hamamatsu mosaic
    (CCD2, the gaps and a little under half of CCD1 and CCD3) and all but
    about 50 rows at the bottom and top (the CCDs are 5.63 arcmin tall); on
    the e2vDD mosaic 4528 of 6218 columns and all but about 40 rows.

    CCDs narrower than ``NOMINAL_CCD_WIDTH`` (simulated small detectors,
    pixel scale kept) keep the part of the ``MOSAIC_SHIFTS`` beyond one CCD
    width (the gap and its residual), and the field keeps its fraction of the
    mosaic width (three CCDs and two gaps), so the same CCD columns are lit.

    Raises
    ------
    KeyError
        If the pixel scale or chip gap of the detector is not tabulated.
    """
    instrument, family = key.split()[0], _family_of(key)
    scale = PIXEL_SCALES[(instrument, family)]
    gap = TILE_GAPS[(instrument, family)]
    nominal_half = 0.5 * IMAGING_FIELD_SIDE_ARCSEC / scale
    full_width = 3 * NOMINAL_CCD_WIDTH + 2 * gap
    half = nominal_half * min(1.0, (3 * ccd_width + 2 * gap) / full_width)
    shifts = MOSAIC_SHIFTS.get(key)
    placements = []
    for number, sign in ((1, -1.0), (2, 0.0), (3, 1.0)):
        if number == 2:
            placements.append((0.0, 0.0, 0.0))
            continue
        if shifts is None:
            # no measured geometry: CCDs side by side with the chip gap
            sx, sy, rot = sign * (NOMINAL_CCD_WIDTH + gap), 0.0, 0.0
        else:
            entry = shifts[f"CCD{number}"]
            (sx, sy), rot = entry["shift"], float(entry["rotation"])
        placements.append((sx - sign * (NOMINAL_CCD_WIDTH - ccd_width), sy, rot))
    return ImagingField(half, IMAGING_FIELD_CORNER_RADIUS * half, tuple(placements))


def field_margin(field: ImagingField, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Distance (unbinned pixels) of field positions inside the field edge; <= 0 outside.

    ``dx``, ``dy`` are positions relative to the field centre (the CCD2
    centre), unbinned pixels.
    """
    dx, dy = np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    square = np.minimum(field.half_width - np.abs(dx), field.half_width - np.abs(dy))
    return np.minimum(square, field.corner_radius - np.hypot(dx, dy))


def unilluminated_pixels(
    key: str,
    ccd_index: int,
    ccd_shape: tuple[int, int],
    origin: tuple[int, int],
    binning: tuple[int, int],
    shape: tuple[int, int],
) -> np.ndarray:
    """Boolean plane, True where the pixels of a CCD window lie outside the imaging field.

    Parameters
    ----------
    key : str
        Detector (key of ``CCDS``; see :func:`detector_key`).
    ccd_index : int
        0, 1, 2 for CCD1, CCD2, CCD3 (``DETSEC`` order).
    ccd_shape : tuple of int
        Unbinned (rows, columns) of a CCD's imaging area (:func:`imaging_ccd_shape`).
    origin : tuple of int
        0-based unbinned (x, y) of the first pixel read (``CCDSEC``).
    binning : tuple of int
        (xbin, ybin).
    shape : tuple of int
        Binned (ny, nx) of the window's data.

    Returns
    -------
    numpy.ndarray
        bool, ``shape``: True where a (binned) pixel centre is on or beyond the
        field edge.
    """
    rows, cols = ccd_shape
    field = imaging_field(key, cols)
    x_ccd, y_ccd, rot = field.placements[ccd_index]
    xbin, ybin = binning
    ny, nx = shape
    # unbinned CCD coordinates of the binned pixel centres, about the CCD centre
    u = origin[0] + xbin * np.arange(nx) + (xbin - 1) / 2.0 - (cols - 1) / 2.0
    v = origin[1] + ybin * np.arange(ny) + (ybin - 1) / 2.0 - (rows - 1) / 2.0
    uu, vv = np.meshgrid(u, v)
    cos, sin = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    dx = cos * uu - sin * vv + x_ccd
    dy = sin * uu + cos * vv + y_ccd
    return field_margin(field, dx, dy) <= 0.0
