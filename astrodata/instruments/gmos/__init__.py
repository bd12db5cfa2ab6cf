"""GMOS-N/GMOS-S AstroData class (``AstroDataGmos``) and its lookup tables."""

from astrodata.instruments.gmos.adclass import AstroDataGmos

__all__ = ["AstroDataGmos"]
