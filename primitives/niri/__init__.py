"""NIRI primitive classes (entry point ``niri``): NIRI and NIRIImage."""

from primitives.niri.niri import NIRI
from primitives.niri.niri_image import NIRIImage

__all__ = ["NIRI", "NIRIImage"]
