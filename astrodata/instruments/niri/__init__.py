"""NIRI AstroData class (``AstroDataNiri``) and its lookup tables."""

from astrodata.instruments.niri.adclass import AstroDataNiri

__all__ = ["AstroDataNiri"]
