"""Class GSAOIImage: GSAOI imaging primitives ({GEMINI, GSAOI, IMAGE})."""

from primitives.core.image import Image
from primitives.core.photometry import Photometry
from primitives.gsaoi.gsaoi import GSAOI


class GSAOIImage(GSAOI, Image, Photometry):
    """GSAOI imaging (science, standard stars, dome flats)."""

    tagset = frozenset({"GEMINI", "GSAOI", "IMAGE"})
    param_defaults = {
        "detectSources": {"detect_minarea": 20, "detect_thresh": 1.0, "analysis_thresh": 1.0,
                          "phot_min_radius": 1.0, "back_size": 256, "back_filtersize": 5},
        "adjustWCSToReference": {"first_pass": 3.0, "order": 3, "max_iters": 5},
        "resampleToCommonFrame": {"force_affine": False, "pixel_scale": 0.02, "pa": 0.0},
    }
