"""Primitive mix-in Resample: Resampling of images onto a common pixel frame."""

from primitives.base import PrimitivesBASE


class Resample(PrimitivesBASE):
    """Resampling of images onto a common pixel frame."""

    tagset = None
