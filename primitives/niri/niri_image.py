"""Class NIRIImage: NIRI imaging primitives ({GEMINI, NIRI, IMAGE})."""

from primitives.core.image import Image
from primitives.core.photometry import Photometry
from primitives.niri.niri import NIRI


class NIRIImage(NIRI, Image, Photometry):
    """NIRI imaging (science, lamp and sky flats)."""

    tagset = frozenset({"GEMINI", "NIRI", "IMAGE"})
    param_defaults = {
        "detectSources": {"detect_minarea": 40, "detect_thresh": 1.5, "analysis_thresh": 1.5,
                          "back_filtersize": 3},
    }
