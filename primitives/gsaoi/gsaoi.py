"""Class GSAOI: primitives for every GSAOI frame ({GEMINI, GSAOI})."""

from typing import Any

import numpy as np

from astrodata import Section
from astrodata.instruments.gsaoi import lookup as gsaoi_lookup
from primitives.core.detector import LinearityCorrection
from primitives.core.nearir import NearIR
from primitives.core.stack import robust_level
from primitives.gemini.gemini import Gemini
from primitives.params import Param, primitive

#: CCDSEC of the central 1K x 1K ROI, whose y range is off by one in the
#: headers of data taken from ``ROI_ROW_BUG_DATE`` on.
_CENTRAL_ROI = "[513:1536,513:1536]"


class GSAOI(Gemini, NearIR):
    """GSAOI primitives (four-detector near-IR imager behind GeMS).

    The sky is matched to each frame by an additive offset rather than a
    scale, which works better at GSAOI's low per-pixel sky levels.
    """

    tagset = frozenset({"GEMINI", "GSAOI"})
    param_defaults = {
        "addDQ": {"latency": True, "non_linear": True, "time": 900.0},
        "associateSky": {"time": 900.0, "distance": 1.0},
        "stackSkyFrames": {"zero": True, "scale": False, "dilation": 6.0},
        "makeBPM": {"flat_lo_thresh": 0.5},
        "skyCorrect": {"scale_sky": False, "offset_sky": True},
        "addReferenceCatalog": {"radius": 0.033},
        "determineAstrometricSolution": {"order": 2, "max_iters": 5, "final": 0.5},
    }

    # -- hooks of the standardization and detector primitives -----------------
    def _standardize_instrument_headers(self, ad: Any) -> None:
        """Generic keywords, then the fix of the central-ROI CCDSEC bug (y off by one)."""
        super()._standardize_instrument_headers(ad)
        date = str(ad.phu.get("DATE-OBS", "")).strip()
        if not date or date < gsaoi_lookup.ROI_ROW_BUG_DATE:
            return
        for index, ext in enumerate(ad):
            if str(ext.hdr.get("CCDSEC", "")).strip() != _CENTRAL_ROI:
                continue
            # the first two arrays read one row higher, the last two one row lower
            y1 = 514 if index < 2 else 512
            fixed = f"[513:1536,{y1}:{y1 + 1023}]"
            ext.hdr["CCDSEC"] = (fixed, "Region of the array read (corrected)")
            self.log.stdinfo(f"{ad.filename} extension {ext.id}: central ROI CCDSEC "
                             f"corrected to {fixed}")

    def _illumination_masks(self, ad: Any) -> list[np.ndarray] | None:
        """The unilluminated border (4 rows and columns) at the edges of each array."""
        border = gsaoi_lookup.UNILLUMINATED_BORDER
        masks = []
        for ext in ad:
            ny, nx = ext.shape[-2:]
            try:
                read = Section.from_string(str(ext.hdr["CCDSEC"]))
            except (KeyError, ValueError):
                read = Section(0, nx, 0, ny)
            try:
                size = Section.from_string(str(ext.hdr["CCDSIZE"]))
            except (KeyError, ValueError):
                size = Section(0, max(read.x2, nx), 0, max(read.y2, ny))
            xs = read.x1 + np.arange(nx)
            ys = read.y1 + np.arange(ny)
            edge_x = (xs < size.x1 + border) | (xs >= size.x2 - border)
            edge_y = (ys < size.y1 + border) | (ys >= size.y2 - border)
            masks.append(edge_y[:, np.newaxis] | edge_x[np.newaxis, :])
        return masks

    def _linearity_corrections(self, ad: Any) -> list[LinearityCorrection | None]:
        """The polynomial of each array for the read speed (Fowler samples)."""
        speed = ad.read_speed_setting()
        corrections: list[LinearityCorrection | None] = []
        arrays = ad.array_name()
        for name in (arrays if isinstance(arrays, list) else [arrays]):
            properties = gsaoi_lookup.ARRAY_PROPERTIES.get((speed, name))
            if properties is None:
                corrections.append(None)
                continue
            corrections.append(LinearityCorrection(
                *properties.coefficients,
                max_electrons=properties.nonlinear_limit * properties.well_depth
                * properties.gain))
        return corrections

    # -- bad pixel mask -------------------------------------------------------------
    @primitive(
        inherit="makeBPM",
        override_thresh=Param(bool, False, "Use dark_hi_thresh instead of the limit computed "
                              "from the dark's own statistics"),
    )
    def makeBPM(self, adinputs=None, **params):
        """GSAOI bad pixel mask: low flat response, and hot pixels from the dark statistics.

        A pixel is bad where the normalized flat is below ``flat_lo_thresh``
        (0.5) or above ``flat_hi_thresh``, or where the stacked dark is above
        its limit: ``dark_hi_thresh`` (ADU) with ``override_thresh``,
        otherwise the dark's clipped median plus 5 robust standard deviations,
        per array (the arrays differ). Without darks (GSAOI needs none for
        its science) only the flat is used, with a warning.
        """
        flat, dark = self._bpm_inputs(adinputs, need_dark=False)
        if self.timestamp_keys["makeBPM"] in flat.phu:
            self.log.warning(f"{flat.filename} is already a bad pixel mask; left unchanged")
            return [flat]
        flat_lo = -np.inf if params["flat_lo_thresh"] is None else params["flat_lo_thresh"]
        flat_hi = np.inf if params["flat_hi_thresh"] is None else params["flat_hi_thresh"]
        dark_lo = -np.inf if params["dark_lo_thresh"] is None else params["dark_lo_thresh"]
        dark_hi = np.inf if params["dark_hi_thresh"] is None else params["dark_hi_thresh"]
        if dark is None:
            self.log.warning("makeBPM: no stacked dark in the 'darks' stream; hot pixels are "
                             "not flagged")
            limits = [None] * len(flat)
        else:
            limits = self._dark_limits(dark, dark_lo, dark_hi)
        bad_masks = []
        for index, flat_ext in enumerate(flat):
            fdata = np.asarray(flat_ext.data)
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(fdata) | (fdata < flat_lo) | (fdata > flat_hi)
            note = f"  extension {index + 1}: {int(bad.sum())} pixels from the flat"
            if dark is not None:
                ddata = np.asarray(dark[index].data)
                lo, hi = limits[index]
                if not params["override_thresh"]:
                    finite = ddata[np.isfinite(ddata)]
                    level = robust_level(finite)
                    sigma = 1.4826 * float(np.median(np.abs(finite - level))) if level is not \
                        None else 0.0
                    hi = (level or 0.0) + 5.0 * sigma
                with np.errstate(invalid="ignore"):
                    dark_bad = ~np.isfinite(ddata) | (ddata > hi) | (ddata < lo)
                note += f", {int(dark_bad.sum())} from the dark (limit {hi:.4g})"
                bad |= dark_bad
            self.log.stdinfo(note)
            bad_masks.append(bad)
        return [self._write_bpm(flat, bad_masks, params["keep_unilluminated"],
                                params["suffix"])]

    def _adu_gains(self, ad: Any) -> list[float | None]:
        """Gain of each array's data in ADU (for makeBPM), from the lookup table."""
        speed = ad.read_speed_setting()
        arrays = ad.array_name()
        arrays = arrays if isinstance(arrays, list) else [arrays]
        gains = []
        for gain, name in zip(super()._adu_gains(ad), arrays, strict=True):
            properties = gsaoi_lookup.ARRAY_PROPERTIES.get((speed, name))
            gains.append(gain if gain is not None or properties is None else properties.gain)
        return gains
