"""GSAOI AstroData class (``AstroDataGsaoi``) and its lookup tables."""

from astrodata.instruments.gsaoi.adclass import AstroDataGsaoi

__all__ = ["AstroDataGsaoi"]
