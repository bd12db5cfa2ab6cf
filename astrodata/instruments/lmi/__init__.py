"""LMI (Lowell Discovery Telescope) AstroData class ``AstroDataLMI`` and its lookup tables.

A plug-in instrument: registered only through the ``astroreduce.instruments``
entry point (``lmi = "astrodata.instruments.lmi:AstroDataLMI"``); no core
module imports it. See ``docs/adding-an-instrument.md``.
"""

from astrodata.instruments.lmi.adclass import AstroDataLMI

__all__ = ["AstroDataLMI"]
