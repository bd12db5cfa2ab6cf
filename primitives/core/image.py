"""Primitive mix-in Image: imaging-specific primitives (fringes, scaling, object masks)."""

from primitives.core.preprocess import Preprocess
from primitives.core.register import Register
from primitives.core.resample import Resample


class Image(Preprocess, Register, Resample):
    """Imaging-specific primitives shared by the imaging classes of every instrument."""

    tagset = None
