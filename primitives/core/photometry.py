"""Primitive mix-in Photometry: Source detection and photometry (detectSources, OBJCAT/OBJMASK)."""

from primitives.base import PrimitivesBASE


class Photometry(PrimitivesBASE):
    """Source detection and photometry (detectSources, OBJCAT/OBJMASK)."""

    tagset = None
