"""Gemini-wide AstroData class (``AstroDataGemini``), lookup tables and header parsing."""

from astrodata.instruments.gemini.adclass import AstroDataGemini

__all__ = ["AstroDataGemini"]
