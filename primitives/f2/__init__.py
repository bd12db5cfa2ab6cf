"""Flamingos-2 primitive classes (entry point ``f2``): F2 and F2Image."""

from primitives.f2.f2 import F2
from primitives.f2.f2_image import F2Image

__all__ = ["F2", "F2Image"]
