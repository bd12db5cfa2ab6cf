"""GSAOI primitive classes (entry point ``gsaoi``): GSAOI and GSAOIImage."""

from primitives.gsaoi.gsaoi import GSAOI
from primitives.gsaoi.gsaoi_image import GSAOIImage

__all__ = ["GSAOI", "GSAOIImage"]
