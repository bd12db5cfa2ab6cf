"""Primitive mix-in Register: Registration: relative WCS alignment and absolute astrometry."""

from primitives.base import PrimitivesBASE


class Register(PrimitivesBASE):
    """Registration: relative WCS alignment and absolute astrometry."""

    tagset = None
