"""Primitive mix-in Visualize: tiling and mosaicking of detectors (tileArrays, mosaicDetectors)."""

from primitives.base import PrimitivesBASE


class Visualize(PrimitivesBASE):
    """Tiling and mosaicking of multi-extension detectors (tileArrays, mosaicDetectors)."""

    tagset = None
