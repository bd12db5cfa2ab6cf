"""Lookup tables shared by all Gemini instruments: sites, bands, extinction, filters.

Values are those of the Gemini data-reduction software (see
``/work/shared/reference/gemini-headers.md``): the two telescope names, the
nominal atmospheric extinction on Maunakea and Cerro Pachon, the broad
photometric bands and the central wavelengths of the common filters.
"""

from __future__ import annotations

#: Upper-cased ``OBSERVAT``/``TELESCOP`` values of Gemini data.
GEMINI_NORTH = "GEMINI-NORTH"
GEMINI_SOUTH = "GEMINI-SOUTH"
GEMINI_SITES = frozenset({GEMINI_NORTH, GEMINI_SOUTH})

#: Keywords whose presence marks a processed calibration (tag ``PROCESSED``).
PROCESSED_KEYWORDS = (
    "PROCARC",
    "GBIAS",
    "PROCBIAS",
    "PROCDARK",
    "GIFLAT",
    "PROCFLAT",
    "GIFRINGE",
    "PROCFRNG",
    "PROCPNHL",
    "PROCSTND",
    "PROCILLM",
)

#: Tags a bad-pixel mask blocks, since its header is copied from a raw frame.
BPM_BLOCKED_TAGS = frozenset(
    {
        "IMAGE",
        "SPECT",
        "NON_SIDEREAL",
        "AZEL_TARGET",
        "GCALFLAT",
        "LAMPON",
        "GCAL_IR_ON",
        "GCAL_IR_OFF",
        "DARK",
    }
)

#: Wavefront-sensor status keywords and the sensor they name when ``guiding``.
WAVEFRONT_SENSORS = {
    "AOWFS_ST": "AOWFS",
    "OIWFS_ST": "OIWFS",
    "PWFS1_ST": "PWFS1",
    "PWFS2_ST": "PWFS2",
}

#: Nominal atmospheric extinction (mag per unit airmass) by site and band:
#: Maunakea (Gemini-North) and Cerro Pachon (Gemini-South).
NOMINAL_EXTINCTION = {
    GEMINI_NORTH: {"u": 0.42, "g": 0.14, "r": 0.11, "i": 0.10, "z": 0.05},
    GEMINI_SOUTH: {"u": 0.38, "g": 0.18, "r": 0.10, "i": 0.08, "z": 0.05},
}

#: Central wavelengths (micrometres) of the broad photometric bands, used by
#: ``wavelength_band`` to name the band nearest an effective wavelength.
WAVELENGTH_BANDS = {
    "u": 0.35,
    "g": 0.475,
    "r": 0.63,
    "i": 0.78,
    "z": 0.925,
    "Y": 1.02,
    "J": 1.25,
    "H": 1.65,
    "K": 2.20,
    "L": 3.50,
    "M": 4.80,
}

#: Central wavelengths (micrometres) of filters common to the Gemini
#: instruments, by pretty filter name; instrument tables extend this one.
FILTER_WAVELENGTHS = {
    "u": 0.35,
    "g": 0.475,
    "r": 0.63,
    "i": 0.78,
    "z": 0.925,
    "Y": 1.02,
    "J": 1.25,
    "H": 1.65,
    "K": 2.20,
    "Ks": 2.157,
    "Kshort": 2.150,
    "Kprime": 2.120,
    "L": 3.50,
    "M": 4.80,
}
