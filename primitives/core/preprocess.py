"""Primitive mix-in Preprocess: DQ and variance planes, gain, non-linearity, dark/flat, sky."""

from primitives.base import PrimitivesBASE


class Preprocess(PrimitivesBASE):
    """Pre-processing: DQ and variance planes, gain, non-linearity, dark/flat correction, sky."""

    tagset = None
