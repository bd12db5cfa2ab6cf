"""Primitive mix-in Standardize: prepare, header and structure standardisation, validation."""

from primitives.base import PrimitivesBASE


class Standardize(PrimitivesBASE):
    """Standardize raw data: prepare, header and structure standardisation, validation."""

    tagset = None
