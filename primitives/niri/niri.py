"""Class NIRI: primitives for every NIRI frame ({GEMINI, NIRI})."""

from typing import Any

from astrodata.instruments.niri import lookup as niri_lookup
from primitives.core.detector import LinearityCorrection
from primitives.core.nearir import NearIR
from primitives.gemini.gemini import Gemini


class NIRI(Gemini, NearIR):
    """NIRI primitives (near-IR imager; darks and anything not imaging-specific)."""

    tagset = frozenset({"GEMINI", "NIRI"})
    param_defaults = {
        "addDQ": {"latency": True},
        "associateSky": {"time": 900.0, "distance": 1.0},
        "addReferenceCatalog": {"radius": 0.033, "source": "2mass"},
        "makeBPM": {"dark_lo_thresh": -20.0, "dark_hi_thresh": 1300.0,
                    "flat_lo_thresh": 0.8, "flat_hi_thresh": 1.25},
    }

    # -- hook of nonlinearityCorrect ------------------------------------------------
    def _linearity_corrections(self, ad: Any) -> list[LinearityCorrection | None]:
        """The IRDC correction c (1 + c (gamma + c eta)) for (read mode, rows read, well depth).

        ``time_delta`` of the Gemini table is not applied (the reference
        correction does not use it).
        """
        read_mode, well = ad.read_mode(), ad.well_depth_setting()
        corrections: list[LinearityCorrection | None] = []
        for ext in ad:
            rows = int(ext.shape[-2])
            coefficients = niri_lookup.NONLINEARITY_COEFFICIENTS.get((read_mode, rows, well))
            if coefficients is None:
                self.log.warning(f"{ad.filename}: no NIRI non-linearity coefficients for "
                                 f"{read_mode!r}, {rows} rows, {well!r} well")
                corrections.append(None)
                continue
            corrections.append(LinearityCorrection(1.0, coefficients.gamma, coefficients.eta,
                                                   max_electrons=coefficients.max_counts))
        return corrections

    def _adu_gains(self, ad: Any) -> list[float | None]:
        """Gain of the data in ADU (for makeBPM): 12.3 electrons/ADU."""
        return [g if g is not None else niri_lookup.GAIN for g in super()._adu_gains(ad)]
