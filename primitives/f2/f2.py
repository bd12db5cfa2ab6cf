"""Class F2: primitives for every Flamingos-2 frame ({GEMINI, F2})."""

import re
from typing import Any

import numpy as np

from astrodata.instruments.f2 import lookup as f2_lookup
from primitives.core.detector import LinearityCorrection
from primitives.core.nearir import NearIR
from primitives.gemini.gemini import Gemini

#: WCS and axis-label keywords of the length-1 third axis of raw F2 data.
_THIRD_AXIS_KEYWORD = re.compile(
    r"^((CD|PC)3_\d|(CD|PC)\d_3|(CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA)3|AXISLAB3)$")


class F2(Gemini, NearIR):
    """Flamingos-2 primitives (darks and anything not imaging-specific)."""

    tagset = frozenset({"GEMINI", "F2"})
    param_defaults = {
        "detectSources": {"mask": True},
        "addReferenceCatalog": {"radius": 0.033, "source": "2mass"},
        "makeBPM": {"dark_lo_thresh": -150.0, "dark_hi_thresh": 3050.0,
                    "flat_lo_thresh": 0.68, "flat_hi_thresh": 1.28},
    }

    # -- hooks of the standardization and detector primitives -----------------
    def _standardize_structure(self, ad: Any) -> None:
        """Drop the length-1 third axis of raw F2 data (and its keywords), then float32."""
        for ext in ad:
            nd = ext.nddata
            if nd.ndim == 3 and nd.shape[0] == 1:
                ext.data = np.array(ext.data, dtype=np.float32).reshape(nd.shape[1:])
                if nd.has_mask():
                    ext.mask = np.asarray(ext.mask).reshape(nd.shape)
                if nd.has_variance():
                    ext.variance = np.asarray(ext.variance).reshape(nd.shape)
                header = ext.hdr
                for key in [k for k in header.keys() if _THIRD_AXIS_KEYWORD.match(k)]:
                    del header[key]
                if header.get("WCSAXES", 2) != 2:
                    header["WCSAXES"] = 2
                if "NAXIS3" in header:
                    del header["NAXIS3"]
                    header["NAXIS"] = 2
        super()._standardize_structure(ad)

    def _illumination_masks(self, ad: Any) -> list[np.ndarray] | None:
        """The circular field stop of F2 imaging (scaled to the array size); None for spectra."""
        if "IMAGE" not in ad.tags:
            return None
        masks = []
        for ext in ad:
            ny, nx = ext.shape[-2:]
            x0, y0, radius = f2_lookup.illumination_circle((ny, nx))
            yy, xx = np.ogrid[0:ny, 0:nx]
            masks.append((xx - x0) ** 2 + (yy - y0) ** 2 > radius * radius)
        return masks

    def _linearity_corrections(self, ad: Any) -> list[LinearityCorrection | None]:
        """The F2 polynomial of the read mode (LNRS), valid up to the full well."""
        properties = f2_lookup.ARRAY_PROPERTIES.get(ad.read_mode())
        if properties is None:
            return [None] * len(ad)
        correction = LinearityCorrection(*properties.coefficients,
                                         max_electrons=properties.well_depth
                                         * properties.nonlinear_limit)
        return [correction] * len(ad)

    def _adu_gains(self, ad: Any) -> list[float | None]:
        """Gain of the data in ADU (for makeBPM): 4.44 / LNRS from the lookup table."""
        gains = super()._adu_gains(ad)
        properties = f2_lookup.ARRAY_PROPERTIES.get(ad.read_mode())
        if properties is None:
            return gains
        return [g if g is not None else properties.gain / int(ad.read_mode()) for g in gains]
