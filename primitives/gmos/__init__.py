"""GMOS primitive classes (entry point ``gmos``): GMOS and GMOSImage."""

from primitives.gmos.gmos import GMOS
from primitives.gmos.gmos_image import GMOSImage

__all__ = ["GMOS", "GMOSImage"]
