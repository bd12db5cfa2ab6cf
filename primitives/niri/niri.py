"""Class NIRI: primitives for every NIRI frame ({GEMINI, NIRI})."""

from primitives.core.nearir import NearIR
from primitives.gemini.gemini import Gemini


class NIRI(Gemini, NearIR):
    """NIRI primitives (near-IR imager; darks and anything not imaging-specific)."""

    tagset = frozenset({"GEMINI", "NIRI"})
    param_defaults = {
        "addDQ": {"latency": True},
        "associateSky": {"time": 900.0, "distance": 1.0},
        "addReferenceCatalog": {"radius": 0.033, "source": "2mass"},
        "makeBPM": {"dark_lo_thresh": -20.0, "dark_hi_thresh": 1300.0,
                    "flat_lo_thresh": 0.8, "flat_hi_thresh": 1.25},
    }
