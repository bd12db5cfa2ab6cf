"""Class F2: primitives for every Flamingos-2 frame ({GEMINI, F2})."""

from primitives.core.nearir import NearIR
from primitives.gemini.gemini import Gemini


class F2(Gemini, NearIR):
    """Flamingos-2 primitives (darks and anything not imaging-specific)."""

    tagset = frozenset({"GEMINI", "F2"})
    param_defaults = {
        "detectSources": {"mask": True},
        "addReferenceCatalog": {"radius": 0.033, "source": "2mass"},
        "makeBPM": {"dark_lo_thresh": -150.0, "dark_hi_thresh": 3050.0,
                    "flat_lo_thresh": 0.68, "flat_hi_thresh": 1.28},
    }
