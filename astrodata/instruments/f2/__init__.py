"""Flamingos-2 AstroData class (``AstroDataF2``) and its lookup tables."""

from astrodata.instruments.f2.adclass import AstroDataF2

__all__ = ["AstroDataF2"]
