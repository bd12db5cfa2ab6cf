"""GSAOI lookup tables: per-array detector properties, mosaic geometry, filters, zeropoints.

Values from ``/work/shared/reference/gemini-headers.md`` section 3 (the
Gemini GSAOI tables and mosaic geometry). GSAOI has four 2048x2048 HAWAII-2RG
arrays read in one of three Fowler modes chosen by ``LNRS``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ArrayProperties",
    "ARRAY_NAMES",
    "ARRAY_PROPERTIES",
    "READ_SPEED_BY_LNRS",
    "ARRAY_LAYOUT",
    "TILE_GAPS",
    "MOSAIC_GEOMETRY",
    "UNILLUMINATED_BORDER",
    "FILTER_WAVELENGTHS",
    "NOMINAL_ZEROPOINTS",
    "STATIC_BPM",
    "ROI_ROW_BUG_DATE",
]


class ArrayProperties(NamedTuple):
    """Properties of one GSAOI array in one read mode.

    Attributes
    ----------
    read_noise : float
        Read noise of one coadd, electrons.
    gain : float
        Electrons per ADU.
    well_depth : float
        Saturation level of the raw data, ADU.
    linear_limit : float
        Fraction of the saturation level up to which the array is linear
        (after correction): the non-linear level.
    coefficients : tuple of float
        ``(c0, c1, c2)`` of the non-linearity correction for electrons
        ``x``: linearised = ``x (c0 + c1 x + c2 x^2)``.
    nonlinear_limit : float
        Fraction of the saturation level up to which the correction holds.
    """

    read_noise: float
    gain: float
    well_depth: float
    linear_limit: float
    coefficients: tuple[float, float, float]
    nonlinear_limit: float


#: ``ARRAYID`` of the four arrays, in extension order of a raw file.
ARRAY_NAMES = ("H2RG-032-074", "H2RG-032-064", "H2RG-032-071", "H2RG-032-061")

#: ``LNRS`` (Fowler samples) -> ``read_speed_setting``.
READ_SPEED_BY_LNRS = {2: "Bright Objects", 8: "Faint Objects", 16: "Very Faint Objects"}

_READ_NOISE = {
    # array: (Bright Objects, Faint Objects, Very Faint Objects), electrons
    "H2RG-032-074": (26.53, 13.63, 10.22),
    "H2RG-032-064": (19.10, 9.85, 7.44),
    "H2RG-032-071": (27.24, 14.22, 10.61),
    "H2RG-032-061": (32.26, 16.78, 12.79),
}

_ARRAY_CONSTANTS = {
    # array: (gain e-/ADU, well ADU, linear limit, coefficients, non-linear limit)
    "H2RG-032-074": (2.434, 52400.0, 0.73, (0.9947237, 3.0403620e-7, 4.2870263e-12), 0.97),
    "H2RG-032-064": (2.010, 50250.0, 0.64, (0.9944842, 3.3573418e-7, 9.1085864e-12), 0.97),
    "H2RG-032-071": (2.411, 53700.0, 0.76, (0.9947278, 2.9311700e-7, 3.7454887e-12), 0.98),
    "H2RG-032-061": (2.644, 52300.0, 0.75, (0.9958842, 2.1448022e-7, 3.8885419e-12), 0.96),
}

#: ``(read_speed_setting, ARRAYID)`` -> array properties.
ARRAY_PROPERTIES = {
    (speed, array): ArrayProperties(
        _READ_NOISE[array][index],
        gain,
        well,
        linear_limit,
        coefficients,
        nonlinear_limit,
    )
    for index, speed in enumerate(("Bright Objects", "Faint Objects", "Very Faint Objects"))
    for array, (gain, well, linear_limit, coefficients, nonlinear_limit) in _ARRAY_CONSTANTS.items()
}

#: Raw file layout: ``EXTVER`` -> (``ARRAYID``, ``DETSEC``); each array's
#: ``CCDSEC`` and ``DATASEC`` are ``[1:2048,1:2048]``.
ARRAY_LAYOUT = {
    1: ("H2RG-032-074", "[2049:4096,1:2048]"),
    2: ("H2RG-032-064", "[1:2048,1:2048]"),
    3: ("H2RG-032-071", "[1:2048,2049:4096]"),
    4: ("H2RG-032-061", "[2049:4096,2049:4096]"),
}

#: Gaps between the arrays when tiling (x, y), unbinned pixels.
TILE_GAPS = (145, 140)

#: Mosaic geometry: array origin in ``DETSEC`` (x, y, 0-based) -> shift
#: (x, y) in pixels of the array centre from that of the array at (0, 0),
#: and rotation in degrees (counter-clockwise).
MOSAIC_GEOMETRY = {
    (0, 0): {"shift": (0.0, 0.0), "rotation": 0.0},
    (2048, 0): {"shift": (2198.604, -1.249), "rotation": 0.0336},
    (0, 2048): {"shift": (0.030, 2177.102), "rotation": -0.583},
    (2048, 2048): {"shift": (2192.421, 2175.723), "rotation": -0.770},
}

#: The first and last rows and columns of each array that are not illuminated.
UNILLUMINATED_BORDER = 4

#: Pretty filter name -> central wavelength in micrometres.
FILTER_WAVELENGTHS = {
    "Z": 1.015,
    "HeI1083": 1.083,
    "PaG": 1.094,
    "Jcont": 1.207,
    "PaB": 1.282,
    "Hcont": 1.570,
    "CH4short": 1.580,
    "CH4long": 1.690,
    "H2O": 2.000,
    "HeI-2p2s": 2.058,
    "Kcntshrt": 2.093,
    "Kprime": 2.120,
    "H2(1-0)": 2.122,
    "Kshort": 2.150,
    "BrG": 2.166,
    "H2(2-1)": 2.248,
    "Kcntlong": 2.270,
    "CO2360": 2.360,
    "J": 1.25,
    "H": 1.65,
    "K": 2.20,
}

_ZEROPOINTS_BY_FILTER = {
    # filter: zeropoints (mag for 1 electron/s) of arrays 074, 064, 071, 061
    "Z": (26.71, 26.71, 26.71, 26.71),
    "J": (26.857, 26.891, 26.774, 26.727),
    "H": (26.796, 26.931, 26.821, 26.796),
    "Kshort": (26.201, 26.287, 26.154, 26.192),
    "K": (26.199, 26.285, 26.152, 26.190),
    "Kprime": (26.42, 26.51, 26.37, 26.41),
}

#: Nominal zeropoints (magnitude giving 1 electron/s) by (pretty filter, ``ARRAYID``).
NOMINAL_ZEROPOINTS = {
    (name, array): zpt
    for name, values in _ZEROPOINTS_BY_FILTER.items()
    for array, zpt in zip(ARRAY_NAMES, values, strict=True)
}

#: File name of the Gemini static bad-pixel mask for GSAOI.
STATIC_BPM = "bpm_20121104_gsaoi_gsaoi_11_full_4amp.fits"

#: From this ``DATE-OBS`` on, central 1Kx1K ROI data (``CCDSEC``
#: ``[513:1536,513:1536]``) have their y range off by one in the header.
ROI_ROW_BUG_DATE = "2013-05-13"
