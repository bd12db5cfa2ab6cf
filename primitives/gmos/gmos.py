"""Class GMOS: primitives for every GMOS frame ({GEMINI, GMOS}), north and south."""

from typing import Any

from primitives.core.ccd import CCD
from primitives.gemini.gemini import Gemini


class GMOS(Gemini, CCD):
    """GMOS primitives (CCD mosaics read through several amplifiers)."""

    tagset = frozenset({"GEMINI", "GMOS"})
    param_defaults = {
        "subtractOverscan": {"function": "none"},
    }

    # -- hook of standardizeInstrumentHeaders ---------------------------------------
    def _standardize_instrument_headers(self, ad: Any) -> None:
        """Generic keywords plus GAINSET, which GAIN cannot give once the data are in electrons."""
        setting = ad.gain_setting()
        super()._standardize_instrument_headers(ad)
        if setting is not None and "GAINSET" not in ad.phu:
            ad.phu["GAINSET"] = (setting, "Gain setting (low/high)")
