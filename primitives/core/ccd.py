"""Primitive mix-in CCD: overscan subtraction and trimming, bias correction."""

from primitives.base import PrimitivesBASE


class CCD(PrimitivesBASE):
    """CCD-specific processing: overscan subtraction and trimming, bias correction."""

    tagset = None
