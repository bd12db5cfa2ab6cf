"""Class GMOSImage: GMOS imaging primitives ({GEMINI, GMOS, IMAGE})."""

from primitives.core.image import Image
from primitives.core.photometry import Photometry
from primitives.gmos.gmos import GMOS


class GMOSImage(GMOS, Image, Photometry):
    """GMOS imaging (science, twilight flats, fringe frames)."""

    tagset = frozenset({"GEMINI", "GMOS", "IMAGE"})
    param_defaults = {
        "addDQ": {"add_illum_mask": True},
    }
