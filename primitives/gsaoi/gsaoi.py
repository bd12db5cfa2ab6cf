"""Class GSAOI: primitives for every GSAOI frame ({GEMINI, GSAOI})."""

from primitives.core.nearir import NearIR
from primitives.gemini.gemini import Gemini


class GSAOI(Gemini, NearIR):
    """GSAOI primitives (four-detector near-IR imager behind GeMS).

    The sky is matched to each frame by an additive offset rather than a
    scale, which works better at GSAOI's low per-pixel sky levels.
    """

    tagset = frozenset({"GEMINI", "GSAOI"})
    param_defaults = {
        "addDQ": {"latency": True, "non_linear": True, "time": 900.0},
        "associateSky": {"time": 900.0, "distance": 1.0},
        "stackSkyFrames": {"zero": True, "dilation": 6.0},
        "skyCorrect": {"scale_sky": False, "offset_sky": True},
        "addReferenceCatalog": {"radius": 0.033},
        "determineAstrometricSolution": {"order": 2, "max_iters": 5, "final": 0.5},
    }
