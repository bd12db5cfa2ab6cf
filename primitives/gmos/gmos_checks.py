"""Mix-in GMOSChecks: qa-mode checks of GMOS bias levels and twilight-flat counts.

* ``checkBiasOSCO``: a bias whose overscan has been subtracted (OSCO) should
  be at zero; a level left over means the overscan no longer tracks the bias
  of the data area (a changed bias structure or a bad overscan region).
* ``checkBiasBICO``: a bias corrected by the processed bias (BICO) should be
  at zero; a level left over means the processed bias no longer describes
  the detector.
* ``checkFlatCounts``: a twilight flat should be bright enough to be useful
  and well below saturation.

The checks only log (a warning per extension out of range, one summary line
otherwise) and leave the data unchanged; they record nothing on disk.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from primitives.base import PrimitivesBASE
from primitives.core.stack import robust_level
from primitives.params import Param, primitive

__all__ = ["GMOSChecks", "extension_levels"]

#: An extension below this fraction of the brightest one's level is taken as unilluminated.
_UNILLUMINATED_FRACTION = 0.01
_STEP_OF_KEYWORD = {"SUBOVER": "overscanCorrect", "BIASCORR": "biasCorrect"}


def _per_extension(value: Any, count: int) -> list[Any]:
    return list(value) if isinstance(value, list) else [value] * count


def extension_levels(ad: Any) -> list[float | None]:
    """Sigma-clipped median of the unflagged, finite pixels of each extension (data units)."""
    levels = []
    for ext in ad:
        data = np.asarray(ext.data)
        good = np.isfinite(data)
        if ext.mask is not None:
            good &= np.asarray(ext.mask) == 0
        levels.append(robust_level(data[good]))
    return levels


def _in_electrons(ad: Any) -> bool:
    unit = ad[0].hdr.get("BUNIT", ad.phu.get("BUNIT", "")) if len(ad) else ""
    return str(unit).strip().lower() in ("electron", "electrons", "e-")


class GMOSChecks(PrimitivesBASE):
    """checkBiasOSCO, checkBiasBICO and checkFlatCounts."""

    tagset = None

    def _check_zero_level(self, adinputs: list, what: str, needed: str, limit: float) -> None:
        for ad in adinputs:
            if "BIAS" not in ad.tags:
                self.log.stdinfo(f"{ad.filename}: not a bias; {what} check skipped")
                continue
            if needed not in ad.phu:
                self.log.warning(f"{ad.filename}: {what} check needs a frame after "
                                 f"{_STEP_OF_KEYWORD[needed]}; skipped")
                continue
            count = len(ad)
            noise = _per_extension(ad.read_noise(), count)
            gains = _per_extension(ad.gain(), count)
            electrons = _in_electrons(ad)
            bad = []
            for ext, level, rn, gain in zip(ad, extension_levels(ad), noise, gains,
                                            strict=True):
                if level is None or rn is None:
                    continue
                rn_data = rn if electrons or not gain else rn / gain
                if abs(level) > limit * rn_data:
                    bad.append(ext.id)
                    self.log.warning(f"{ad.filename} extension {ext.id}: {what} level "
                                     f"{level:+.2f} is more than {limit:g} x read noise "
                                     f"({rn_data:.2f}) from zero")
            if not bad:
                self.log.stdinfo(f"{ad.filename}: {what} levels within {limit:g} x read noise "
                                 f"of zero in all {count} extensions")

    @primitive(
        cacheable=False,
        limit=Param(float, 3.0, "Largest accepted |level|, in units of the read noise "
                    "(the bias structure leaves about one read noise)", min=0.0),
    )
    def checkBiasOSCO(self, adinputs=None, **params):
        """Warn for each extension of an overscan-corrected bias whose level is not ~0."""
        self._check_zero_level(adinputs, "overscan-corrected bias", "SUBOVER", params["limit"])
        return adinputs

    @primitive(
        cacheable=False,
        limit=Param(float, 1.0, "Largest accepted |level|, in units of the read noise", min=0.0),
    )
    def checkBiasBICO(self, adinputs=None, **params):
        """Warn for each extension of a bias-corrected bias whose level is not ~0."""
        self._check_zero_level(adinputs, "bias-corrected bias", "BIASCORR", params["limit"])
        return adinputs

    @primitive(
        cacheable=False,
        lower=Param(float, 500.0, "Fewest accepted counts per pixel (electrons)", min=0.0),
        upper=Param(float, 0.7, "Largest accepted level as a fraction of saturation",
                    min=0.0, max=1.0),
    )
    def checkFlatCounts(self, adinputs=None, **params):
        """Warn for each extension of a flat whose level is too faint or near saturation.

        Needs the overscan (and ideally the bias) removed, so the level is
        signal: the level in electrons must be at least ``lower`` and at most
        ``upper`` x the saturation level. Extensions below 1% of the brightest
        one's level are unilluminated amplifiers and are not checked.
        """
        for ad in adinputs:
            if "FLAT" not in ad.tags:
                self.log.stdinfo(f"{ad.filename}: not a flat; counts check skipped")
                continue
            if "SUBOVER" not in ad.phu:
                self.log.warning(f"{ad.filename}: checkFlatCounts needs a frame after "
                                 f"overscanCorrect; skipped")
                continue
            count = len(ad)
            gains = _per_extension(ad.gain(), count)
            saturation = _per_extension(ad.saturation_level(), count)
            electrons = _in_electrons(ad)
            bad = []
            shown = []
            levels = extension_levels(ad)
            brightest = max((v for v in levels if v is not None), default=None)
            for ext, level, gain, sat in zip(ad, levels, gains, saturation, strict=True):
                if level is None:
                    continue
                if brightest and level < _UNILLUMINATED_FRACTION * brightest:
                    # amplifiers outside the imaging field (GMOS-S Hamamatsu edges)
                    self.log.fullinfo(f"{ad.filename} extension {ext.id}: unilluminated "
                                      f"(level {level:.1f}); not checked")
                    continue
                to_e = 1.0 if electrons or not gain else float(gain)
                level_e = level * to_e
                shown.append(level_e)
                if level_e < params["lower"]:
                    bad.append(ext.id)
                    self.log.warning(f"{ad.filename} extension {ext.id}: flat level "
                                     f"{level_e:.0f} e- is below {params['lower']:g} e- "
                                     f"(too faint)")
                elif sat and level > params["upper"] * sat:
                    bad.append(ext.id)
                    self.log.warning(f"{ad.filename} extension {ext.id}: flat level "
                                     f"{level:.0f} is above {params['upper']:g} x saturation "
                                     f"({sat:.0f}); likely non-linear")
            if not bad and shown:
                self.log.stdinfo(f"{ad.filename}: flat levels {min(shown):.0f}-"
                                 f"{max(shown):.0f} e- are within range")
        return adinputs
