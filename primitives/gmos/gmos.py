"""Class GMOS: primitives for every GMOS frame ({GEMINI, GMOS}), north and south."""

from primitives.core.ccd import CCD
from primitives.gemini.gemini import Gemini


class GMOS(Gemini, CCD):
    """GMOS primitives (CCD mosaics read through several amplifiers)."""

    tagset = frozenset({"GEMINI", "GMOS"})
    param_defaults = {
        "subtractOverscan": {"function": "none"},
    }
