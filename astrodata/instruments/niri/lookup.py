"""NIRI lookup tables: read modes, well depths, non-linearity, filters, zeropoints, pixel scales.

Values from ``/work/shared/reference/gemini-headers.md`` section 5 (the
Gemini NIRI tables). NIRI has one 1024x1024 ALADDIN array (sub-arrays of
256, 512 or 768 pixels are possible).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "GAIN",
    "READ_MODES",
    "READ_NOISE",
    "DEFAULT_READ_NOISE",
    "WELL_DEPTH_VOLTAGES",
    "WELL_DEPTH_TOLERANCE",
    "WELL_DEPTHS",
    "LINEAR_LIMIT",
    "ARRAY_SIZE",
    "NonlinearityCoefficients",
    "NONLINEARITY_COEFFICIENTS",
    "FILTER_NAME_MAPPING",
    "FILTER_WAVELENGTHS",
    "NOMINAL_ZEROPOINTS",
    "PIXEL_SCALES",
    "PIXEL_SCALE_F32_AO_BOTTOM_PORT",
    "STATIC_BPM",
]

#: Electrons per ADU.
GAIN = 12.3

#: (``LNRS``, ``NDAVGS``) -> read mode.
READ_MODES = {
    (16, 16): "Low Background",
    (1, 16): "Medium Background",
    (1, 1): "High Background",
}

#: Read noise of one coadd (electrons) by read mode; other modes use
#: ``DEFAULT_READ_NOISE``.
READ_NOISE = {"Low Background": 12.3, "Medium Background": 35.0, "High Background": 70.0}
DEFAULT_READ_NOISE = 35.0

#: Bias voltage ``A_VDDUC - A_VDET`` (V) of each well-depth setting.
WELL_DEPTH_VOLTAGES = {"Shallow": -0.60, "Deep": -0.87}
#: How close (V) the bias voltage must be to a setting's.
WELL_DEPTH_TOLERANCE = 0.05

#: Full well (electrons) of each well-depth setting.
WELL_DEPTHS = {"Shallow": 200000.0, "Deep": 280000.0}

#: Fraction of the saturation level up to which NIRI is linear (after correction).
LINEAR_LIMIT = 0.7

#: Side of the full array, pixels.
ARRAY_SIZE = 1024


class NonlinearityCoefficients(NamedTuple):
    """Non-linearity correction of one NIRI configuration.

    With ``c`` the electrons per coadd (counts x gain / coadds), the
    corrected value is ``c (1 + c (gamma + c eta))``; it is valid up to
    ``max_counts`` electrons. ``time_delta`` (s) is listed by Gemini but not
    used by its correction.
    """

    max_counts: float
    time_delta: float
    gamma: float
    eta: float


#: (read mode, rows of the array ``NAXIS2``, well depth) -> coefficients.
NONLINEARITY_COEFFICIENTS = {
    ("Low Background", 1024, "Shallow"): NonlinearityCoefficients(
        12000 * GAIN, 1.2662732, 6.006310407e-7, 1.282732019e-12
    ),
    ("Medium Background", 1024, "Shallow"): NonlinearityCoefficients(
        12000 * GAIN, 0.09442515154, 2.787629143e-7, 3.178236042e-12
    ),
    ("Medium Background", 256, "Shallow"): NonlinearityCoefficients(
        12000 * GAIN, 0.01029262589, 5.540988347e-7, 1.404726339e-12
    ),
    ("High Background", 1024, "Shallow"): NonlinearityCoefficients(
        12000 * GAIN, 0.009697324059, 2.471574550e-7, 3.067478573e-12
    ),
    ("High Background", 1024, "Deep"): NonlinearityCoefficients(
        21000 * GAIN, 0.007680816203, 2.912125336e-7, 1.203254464e-12
    ),
}

#: Filter name(s) without component ID -> pretty name. A key is one name, or
#: the sorted tuple of the names in the beam when a narrow-band filter is
#: used with a blocker. Names not listed are kept as they are. The documented
#: entries are ``Kprime``, ``Kshort``, ``(PK50, Y)`` and ``(H2v=1-0S1, K)``;
#: the other raw names follow the same Gemini naming and are best effort.
FILTER_NAME_MAPPING = {
    "Y": "Y",
    "J": "J",
    "H": "H",
    "K": "K",
    ("PK50", "Y"): "Y",
    "Kprime": "K(prime)",
    "Kshort": "K(short)",
    "Lprime": "L(prime)",
    "Mprime": "M(prime)",
    "Jcon(1065)": "Jcon(1065)",
    "Jcont1065": "Jcon(1065)",
    "Jcont112": "Jcon(112)",
    "Jcont121": "Jcon(121)",
    "HeI": "HeI",
    "HeI(2p2s)": "HeI(2p2s)",
    "Pagamma": "Pa(gamma)",
    "Pabeta": "Pa(beta)",
    "Hcont157": "H-con(157)",
    "CH4short": "CH4(short)",
    "CH4long": "CH4(long)",
    "H2Oice2045": "H2Oice(2045)",
    "H2Oice": "H2Oice",
    "Kcont209": "Kcon(209)",
    "Kcont227": "Kcon(227)",
    "H2v=1-0S1": "H2 1-0 S1",
    ("H2v=1-0S1", "K"): "H2 1-0 S1",
    "H2v=2-1S1": "H2 2-1 S1",
    ("H2v=2-1S1", "K"): "H2 2-1 S1",
    "Brgamma": "Br(gamma)",
    ("Brgamma", "K"): "Br(gamma)",
    "CH4ice2275": "CH4ice(2275)",
    "CO2-0bh": "CO 2-0 (bh)",
    "hydrocarb": "hydrocarb",
    "Bracont": "Br(alpha)Con",
    "Bra": "Br(alpha)",
}

#: Pretty filter name -> central wavelength in micrometres.
FILTER_WAVELENGTHS = {
    "Y": 1.02,
    "J": 1.25,
    "H": 1.65,
    "K": 2.20,
    "Jcon(1065)": 1.065,
    "HeI": 1.083,
    "Pa(gamma)": 1.094,
    "Jcon(112)": 1.122,
    "Jcon(121)": 1.207,
    "Pa(beta)": 1.282,
    "H-con(157)": 1.570,
    "CH4(short)": 1.580,
    "CH4(long)": 1.690,
    "H2Oice(2045)": 2.045,
    "HeI(2p2s)": 2.059,
    "Kcon(209)": 2.0975,
    "K(prime)": 2.120,
    "H2 1-0 S1": 2.1239,
    "K(short)": 2.150,
    "Br(gamma)": 2.1686,
    "H2 2-1 S1": 2.2465,
    "Kcon(227)": 2.2718,
    "CH4ice(2275)": 2.275,
    "CO 2-0 (bh)": 2.289,
    "H2Oice": 3.05,
    "hydrocarb": 3.295,
    "L(prime)": 3.78,
    "Br(alpha)Con": 3.99,
    "Br(alpha)": 4.052,
    "M(prime)": 4.68,
}

#: Nominal zeropoints (magnitude giving 1 electron/s) by (pretty filter, camera).
NOMINAL_ZEROPOINTS = {
    ("Y", "f6"): 25.71,
    ("J", "f6"): 26.69,
    ("J", "f32"): 26.05,
    ("H", "f6"): 26.77,
    ("H", "f32"): 26.34,
    ("K", "f6"): 26.15,
    ("K", "f32"): 25.71,
    ("K(short)", "f6"): 26.12,
    ("K(short)", "f32"): 25.67,
    ("K(prime)", "f6"): 26.40,
    ("K(prime)", "f32"): 26.32,
}

#: Pixel scale (arcsec/pixel) by camera, used when the WCS and ``PIXSCALE``
#: are missing; f/32 with AO on the bottom port is 0.0214.
PIXEL_SCALES = {"f6": 0.1171, "f13.9": 0.04903, "f14": 0.04903, "f32": 0.0219}
PIXEL_SCALE_F32_AO_BOTTOM_PORT = 0.0214

#: File name of the Gemini static bad-pixel mask for NIRI.
STATIC_BPM = "bpm_20010317_niri_niri_11_full_1amp.fits"
