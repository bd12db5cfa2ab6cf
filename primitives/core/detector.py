"""Primitive mix-in DetectorCalibration: ADU to electrons, non-linearity, exposure-time scaling.

These primitives change the pixel scale of the data, and keep the variance
(first-order propagation) and the level keywords (``SATLEVEL``,
``NONLINEA``, ``GAIN``) consistent with it:

* ``ADUToElectrons`` multiplies by the gain; ``gain()`` then returns 1.
* ``nonlinearityCorrect`` linearises near-IR data with the instrument's
  polynomial in electrons per coadd, ``x (c0 + c1 x + c2 x^2)``; it works on
  data in ADU or in electrons (recipes call it before or after
  ``ADUToElectrons``). NIRI's ``c (1 + c (gamma + c eta))`` is the same
  polynomial with ``c0 = 1``. Instrument classes give the coefficients
  through ``_linearity_corrections(ad)``.
* ``scaleByExposureTime`` brings every frame to one exposure time.

No pixel array is changed in place (see :mod:`primitives.core.standardize`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from astrodata import DQ
from primitives.base import PrimitivesBASE
from primitives.core.standardize import required_descriptor
from primitives.errors import PrimitiveError
from primitives.params import Param, primitive

__all__ = ["DetectorCalibration", "LinearityCorrection"]


@dataclass(frozen=True)
class LinearityCorrection:
    """The non-linearity correction of one array: ``x -> x (c0 + c1 x + c2 x^2)``.

    ``x`` is the charge in electrons per coadd as read (non-linear), the
    result the linear charge. NIRI's form ``c (1 + c (gamma + c eta))`` is
    ``LinearityCorrection(1, gamma, eta)``.

    Attributes
    ----------
    c0, c1, c2 : float
        Polynomial coefficients.
    max_electrons : float or None
        Largest charge per coadd (electrons) for which the correction was
        derived; None if not known.
    """

    c0: float
    c1: float
    c2: float
    max_electrons: float | None = None

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Linear charge from the charge read (same dtype as `x` for float32 input)."""
        c0, c1, c2 = (np.float32(c) for c in (self.c0, self.c1, self.c2))
        return x * (c0 + x * (c1 + x * c2))

    def derivative(self, x: np.ndarray) -> np.ndarray:
        """d(apply)/dx, which scales the uncertainties."""
        c0, c1, c2 = (np.float32(c) for c in (self.c0, self.c1, self.c2))
        return c0 + x * (np.float32(2.0) * c1 + np.float32(3.0) * c2 * x)


def _as_list(value: Any, count: int) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value] * count


class DetectorCalibration(PrimitivesBASE):
    """Primitives converting the detector's counts: gain, non-linearity, exposure time."""

    tagset = None

    # -- hook for the instrument classes -------------------------------------------
    def _linearity_corrections(self, ad: Any) -> list[LinearityCorrection | None]:
        """The non-linearity correction of each extension (None where none is known)."""
        return [None] * len(ad)

    # -- ADUToElectrons ---------------------------------------------------------
    @primitive(per_file=True, suffix=Param(str, "_ADUToElectrons", "Filename suffix"))
    def ADUToElectrons(self, adinputs=None, **params):
        """Multiply the data by the gain (variance by its square): data in electrons."""
        for ad in self.progress(adinputs):
            if self._already_done(ad):
                continue
            if not ad.is_in_adu():
                self.log.warning(f"{ad.filename} is already in electrons; not converted")
                continue
            count = len(ad)
            gains = _as_list(required_descriptor(ad, "gain"), count)
            saturation = _as_list(required_descriptor(ad, "saturation_level"), count)
            non_linear = _as_list(required_descriptor(ad, "non_linear_level"), count)
            sat_key = ad._keyword_for("saturation_level")
            nonlin_key = ad._keyword_for("non_linear_level")
            gain_key = ad._keyword_for("gain")
            for ext, gain, sat, nonlin in zip(ad, gains, saturation, non_linear, strict=True):
                factor = np.float32(gain)
                ext.data = np.asarray(ext.data, dtype=np.float32) * factor
                if ext.variance is not None:
                    ext.variance = np.asarray(ext.variance, dtype=np.float32) * (factor * factor)
                ext.hdr[sat_key] = (float(sat) * float(gain), "Saturation level (electrons)")
                ext.hdr[nonlin_key] = (float(nonlin) * float(gain),
                                       "Non-linear regime level (electrons)")
                ext.hdr[gain_key] = (1.0, "Gain (electrons/ADU); data are in electrons")
                ext.hdr["BUNIT"] = ("electron", "Physical units of the array values")
            shown = ", ".join(f"{g:.4g}" for g in gains)
            self.log.stdinfo(f"{ad.filename}: converted to electrons (gain {shown} e-/ADU)")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- nonlinearityCorrect ------------------------------------------------------
    @primitive(per_file=True, suffix=Param(str, "_nonlinearityCorrected", "Filename suffix"))
    def nonlinearityCorrect(self, adinputs=None, **params):
        """Linearise the counts with the instrument's polynomial in electrons per coadd.

        Works on data in ADU or in electrons. The variance is multiplied by
        the square of the correction's derivative, the saturation and
        non-linear levels are linearised too, and pixels beyond the range of
        the correction are flagged non-linear (DQ 2).
        """
        for ad in self.progress(adinputs):
            if self._already_done(ad):
                continue
            corrections = self._linearity_corrections(ad)
            if all(c is None for c in corrections):
                self.log.warning(f"{ad.filename}: no non-linearity correction is known for "
                                 f"{ad.instrument()}; data left as they are")
                ad.update_filename(suffix=params["suffix"], strip=True)
                continue
            self._correct_nonlinearity(ad, corrections)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    def _correct_nonlinearity(self, ad: Any, corrections: list[LinearityCorrection | None]
                              ) -> None:
        count = len(ad)
        gains = _as_list(required_descriptor(ad, "gain"), count)
        coadds = required_descriptor(ad, "coadds")
        per_coadd = coadds if ad.is_coadds_summed() else 1
        level_keys = {name: ad._keyword_for(name)
                      for name in ("saturation_level", "non_linear_level")}
        levels = {name: _as_list(getattr(ad, name)(), count) for name in level_keys}
        for index, (ext, correction, gain) in enumerate(zip(ad, corrections, gains,
                                                            strict=True)):
            if correction is None:
                self.log.warning(f"{ad.filename} extension {ext.id}: no non-linearity "
                                 f"correction known; left as it is")
                continue
            # data units -> electrons per coadd
            scale = np.float32(float(gain) / per_coadd)
            data = np.asarray(ext.data, dtype=np.float32)
            charge = data * scale
            corrected = correction.apply(charge) / scale
            if ext.variance is not None:
                slope = correction.derivative(charge)
                ext.variance = (np.asarray(ext.variance, dtype=np.float32)
                                * slope * slope).astype(np.float32)
            beyond = 0
            if correction.max_electrons is not None:
                outside = charge > np.float32(correction.max_electrons)
                beyond = int(np.count_nonzero(outside))
                if beyond and ext.mask is not None:
                    ext.mask = np.asarray(ext.mask) | np.where(
                        outside, DQ.non_linear, 0).astype(DQ.datatype)
            finite = np.isfinite(data) & (data > 0)
            factor = (float(np.median(corrected[finite] / data[finite]))
                      if finite.any() else 1.0)
            ext.data = corrected.astype(np.float32)
            for name, keyword in level_keys.items():
                value = levels[name][index]
                if value is not None:
                    linear = float(correction.apply(np.float32(float(value) * scale)) / scale)
                    ext.hdr[keyword] = (round(linear, 3), ext.hdr.comments[keyword]
                                        if keyword in ext.hdr else "")
            label = ad.filename + (f" extension {ext.id}" if count > 1 else "")
            self.log.stdinfo(
                f"{label}: non-linearity corrected (coefficients {correction.c0:.7g}, "
                f"{correction.c1:.5g}, {correction.c2:.5g}); median correction factor "
                f"{factor:.5f}"
                + (f"; {beyond} pixels beyond the calibrated range" if beyond else ""))

    # -- scaleByExposureTime -------------------------------------------------------
    @primitive(
        suffix=Param(str, "_exposureTimeScaled", "Filename suffix"),
        time=Param(float, None, "Exposure time (s) to scale to (default: the first input's)",
                   min=0.0),
    )
    def scaleByExposureTime(self, adinputs=None, **params):
        """Scale each input to a common exposure time (EXPTIME updated, original in ORIGTEXP)."""
        if not adinputs:
            return adinputs
        reference = params["time"]
        if reference is None:
            reference = required_descriptor(adinputs[0], "exposure_time")
        if reference <= 0:
            raise PrimitiveError(f"scaleByExposureTime: cannot scale to an exposure time of "
                                 f"{reference} s")
        for ad in self.progress(adinputs):
            if self._already_done(ad):
                continue
            exptime = required_descriptor(ad, "exposure_time")
            if exptime <= 0:
                raise PrimitiveError(f"{ad.filename}: exposure time {exptime} s cannot be "
                                     f"scaled")
            factor = reference / exptime
            if factor != 1.0:
                scale = np.float32(factor)
                count = len(ad)
                levels = {ad._keyword_for(name): _as_list(getattr(ad, name)(), count)
                          for name in ("saturation_level", "non_linear_level")}
                for index, ext in enumerate(ad):
                    ext.data = np.asarray(ext.data, dtype=np.float32) * scale
                    if ext.variance is not None:
                        ext.variance = np.asarray(ext.variance, dtype=np.float32) * (scale * scale)
                    for keyword, values in levels.items():
                        if values[index] is not None:
                            ext.hdr[keyword] = (float(values[index]) * factor,
                                                ext.hdr.comments[keyword]
                                                if keyword in ext.hdr else "")
            keyword = ad._keyword_for("exposure_time")
            if "ORIGTEXP" not in ad.phu:
                ad.phu["ORIGTEXP"] = (exptime, "Original exposure time (s)")
            summed = "PREPARED" not in ad.tags and ad.is_coadds_summed()
            ad.phu[keyword] = (reference / (ad.coadds() if summed else 1), "Exposure time (s)")
            self.log.stdinfo(f"{ad.filename}: scaled by {factor:.6g} from {exptime} s to "
                             f"{reference} s")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs
