"""Class F2Image: Flamingos-2 imaging primitives ({GEMINI, F2, IMAGE})."""

from primitives.core.image import Image
from primitives.core.photometry import Photometry
from primitives.f2.f2 import F2


class F2Image(F2, Image, Photometry):
    """Flamingos-2 imaging (science frames, lamp and sky flats)."""

    tagset = frozenset({"GEMINI", "F2", "IMAGE"})
    param_defaults = {
        "addDQ": {"add_illum_mask": True},
    }
