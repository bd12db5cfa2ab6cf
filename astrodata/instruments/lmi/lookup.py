"""LMI lookup tables: detector, filters, zeropoints and the frame types of OBSTYPE/IMAGETYP.

The Large Monolithic Imager of the Lowell Discovery Telescope (LDT, 4.3 m)
is one e2v CCD231-C6 of 6144 x 6160 15-micron pixels (0.12 arcsec each,
12.3 arcmin field), usually read binned 2x2 through one amplifier with an
overscan strip after the data columns. The values below are nominal; the
raw files carry their own ``GAIN``/``RDNOISE`` keywords, which win.
"""

from __future__ import annotations

__all__ = [
    "DETECTOR_NAME",
    "DETECTOR_SHAPE",
    "PIXEL_SCALE",
    "NOMINAL_GAIN",
    "NOMINAL_READ_NOISE",
    "ADC_SATURATION",
    "NON_LINEAR_FRACTION",
    "OBSERVATION_TYPES",
    "FLAT_KINDS",
    "FILTER_NAMES",
    "OPEN_POSITIONS",
    "FILTER_WAVELENGTHS",
    "NOMINAL_ZEROPOINTS",
    "NOMINAL_EXTINCTION",
    "PROCESSED_KEYWORDS",
]

#: ``DETECTOR`` value of the LMI CCD.
DETECTOR_NAME = "e2v CCD231-C6"

#: Unbinned detector size (rows, columns): ``DETSEC`` of a full frame is [1:6144,1:6160].
DETECTOR_SHAPE = (6160, 6144)

#: Arcsec per unbinned pixel.
PIXEL_SCALE = 0.12

#: Electrons per ADU and read noise (electrons) when the header has none.
NOMINAL_GAIN = 2.89
NOMINAL_READ_NOISE = 6.0

#: The 16-bit ADC saturates before the CCD's full well (about 190 000 e- at
#: the nominal gain), so raw saturation is the top of the ADC range.
ADC_SATURATION = 65535

#: Fraction of the saturation level above which the response departs from
#: linearity by more than 1%.
NON_LINEAR_FRACTION = 0.9

#: ``OBSTYPE``/``IMAGETYP`` value (upper case) -> generic observation type.
OBSERVATION_TYPES = {
    "BIAS": "BIAS",
    "ZERO": "BIAS",
    "DARK": "DARK",
    "DOME FLAT": "FLAT",
    "DOMEFLAT": "FLAT",
    "SKY FLAT": "FLAT",
    "SKYFLAT": "FLAT",
    "TWILIGHT FLAT": "FLAT",
    "FLAT": "FLAT",
    "OBJECT": "OBJECT",
    "LIGHT": "OBJECT",
}

#: ``OBSTYPE``/``IMAGETYP`` of a flat -> the tag saying how it was lit.
FLAT_KINDS = {
    "DOME FLAT": "DOMEFLAT",
    "DOMEFLAT": "DOMEFLAT",
    "SKY FLAT": "TWILIGHT",
    "SKYFLAT": "TWILIGHT",
    "TWILIGHT FLAT": "TWILIGHT",
}

#: Filter-wheel value (upper case) -> short ("pretty") filter name.
FILTER_NAMES = {
    "SDSS-U": "u",
    "SDSS-G": "g",
    "SDSS-R": "r",
    "SDSS-I": "i",
    "SDSS-Z": "z",
    "U": "U",
    "B": "B",
    "V": "V",
    "R": "R",
    "I": "I",
    "VR": "VR",
    "OIII": "OIII",
    "HALPHA": "Halpha",
}

#: Filter-wheel values of an empty position.
OPEN_POSITIONS = frozenset({"OPEN", "CLEAR", "EMPTY", "NONE", ""})

#: Central wavelength (micrometres) by short filter name.
FILTER_WAVELENGTHS = {
    "u": 0.355, "g": 0.475, "r": 0.622, "i": 0.763, "z": 0.905,
    "U": 0.365, "B": 0.440, "V": 0.550, "R": 0.650, "I": 0.800, "VR": 0.600,
    "OIII": 0.5007, "Halpha": 0.6563,
}

#: Magnitude giving one electron per second (airmass 0) by short filter name.
NOMINAL_ZEROPOINTS = {
    "u": 24.6, "g": 27.05, "r": 27.15, "i": 26.85, "z": 25.95,
    "U": 24.9, "B": 26.7, "V": 26.95, "R": 27.1, "I": 26.5, "VR": 27.45,
}

#: Nominal extinction at Happy Jack (2360 m), mag per airmass, by short filter name.
NOMINAL_EXTINCTION = {
    "u": 0.50, "g": 0.18, "r": 0.11, "i": 0.07, "z": 0.05,
    "U": 0.48, "B": 0.25, "V": 0.15, "R": 0.10, "I": 0.06, "VR": 0.12,
}

#: PHU keywords written by the store primitives that make a file a processed
#: calibration (``PROCSCI`` and ``PROCBPM`` give their own tags).
PROCESSED_KEYWORDS = ("PROCBIAS", "PROCDARK", "PROCFLAT", "PROCFRNG", "PROCSTND")
