"""Primitive mix-in CCD: overscan subtraction and trimming, bias correction.

Overscan (``subtractOverscan``): each extension's overscan strip
(``overscan_section``, ``BIASSEC``) is collapsed along its short axis into
one value per detector row (a serial overscan, beside the data) or per
column (a parallel overscan, above or below the data). The collapse is a
clipped mean: pixels flagged in the DQ plane and pixels beyond
``lsigma``/``hsigma`` times the strip's noise from the row median are left
out, which removes cosmic rays. Columns next to the data, contaminated by
charge from it, are skipped (``nbiascontam``; instrument classes give their
own default through :meth:`CCD._overscan_skip`). The values are then used as
they are (``function='none'``: row by row) or fitted along the strip
(``spline3``: ``order`` equal cubic-spline pieces, or with ``order`` None a
smoothing spline of reduced chi-squared 1; ``chebyshev``: a polynomial of
degree ``order``, or with ``order`` None the lowest degree whose residuals
are consistent with the noise), with ``niter`` rounds of rejection of rows
beyond ``lsigma``/``hsigma`` standard deviations (grown by ``grow`` rows).
Rows an instrument excludes from fits (:meth:`CCD._rows_excluded_from_fit`)
take the fit's value at the nearest fitted row. The level is subtracted
from every pixel of the row (overscan included); the variance gains the
variance of the level estimate; the extension records ``OVERSCAN`` (mean
level, ADU) and ``OVERRMS`` (noise of the overscan pixels, ADU), and its
saturation and non-linearity keywords come down by the level subtracted.

``trimOverscan`` cuts every extension to its data section (WCS, variance,
DQ and same-shaped items follow), sets ``DATASEC`` to the whole array and
removes ``BIASSEC``; ``overscanCorrect`` does both.

``biasCorrect`` subtracts a processed bias (parameter, ``setCalibration``
pin, ``--user_cal`` or the calibration service), after checking that it
was taken with the same binning, read speed and gain setting, is in the
same units and is in the same overscan state as the frame. A bias covering
a larger region of the detector (a full-frame bias for a CCD2 ROI) is cut
to the frame's region (:func:`primitives.core.preprocess.matching_calibration`).
Variance adds and DQ planes are ORed; ``BIASIM`` names the bias.

No pixel array of an input is changed in place: new arrays are assigned.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.polynomial import chebyshev
from scipy import interpolate

import astrodata
from astrodata import Section
from primitives.base import PrimitivesBASE
from primitives.core.preprocess import matching_calibration
from primitives.errors import ParameterError, PrimitiveError
from primitives.params import Param, primitive

__all__ = [
    "CCD",
    "OVERSCAN_FUNCTIONS",
    "OverscanLevel",
    "collapse_overscan",
    "fit_overscan",
    "measure_overscan",
]

#: ``function`` values of subtractOverscan and what they do.
OVERSCAN_FUNCTIONS = {
    "none": "no fit: the clipped mean of each row (column) of the overscan",
    "spline3": "cubic spline: `order` equal pieces, or a smoothing spline (order None)",
    "chebyshev": "Chebyshev polynomial of degree `order` (None: lowest adequate degree)",
}

#: Highest degree tried when choosing a Chebyshev degree automatically.
_MAX_CHEBYSHEV_DEGREE = 15

_DO_CAL = {
    "procmode": "required in sq mode; skipped with a warning in ql/qa when missing",
    "force": "always required",
    "skip": "do not apply",
}


# ---------------------------------------------------------------------------
# overscan measurement (pure functions of arrays)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class OverscanLevel:
    """The overscan level along a strip.

    Attributes
    ----------
    level : numpy.ndarray
        Level (ADU) to subtract from each row (column) of the extension.
    variance : numpy.ndarray
        Variance (ADU^2) of each level value as an estimate of the bias.
    noise : float
        Standard deviation (ADU) of single overscan pixels about their row
        mean: the read noise in ADU.
    columns : int
        Number of overscan columns (rows) used per row (column).
    rejected : int
        Number of rows (columns) rejected by the fit.
    """

    level: np.ndarray
    variance: np.ndarray
    noise: float
    columns: int
    rejected: int


def collapse_overscan(strip: np.ndarray, mask: np.ndarray | None = None,
                      lsigma: float = 3.0, hsigma: float = 3.0
                      ) -> tuple[np.ndarray, np.ndarray, float]:
    """Clipped mean of each row of an overscan strip.

    Parameters
    ----------
    strip : numpy.ndarray, shape (nrows, ncols)
        Overscan pixels, one detector row per array row.
    mask : numpy.ndarray, optional
        Non-zero for pixels not to use (DQ bits).
    lsigma, hsigma : float
        Pixels more than these numbers of standard deviations below/above
        their row's median are left out.

    Returns
    -------
    values : numpy.ndarray of float64, shape (nrows,)
        Mean of the kept pixels of each row (NaN where none is kept).
    counts : numpy.ndarray of int, shape (nrows,)
        Number of pixels kept in each row.
    noise : float
        Standard deviation of the kept pixels about their row's mean (the
        clipping width itself comes from the median absolute deviation).
    """
    values = np.asarray(strip, dtype=np.float64)
    usable = np.isfinite(values)
    if mask is not None:
        usable &= np.asarray(mask) == 0
    masked = np.where(usable, values, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # rows without a usable pixel give all-NaN slices
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmedian(masked, axis=1)
        deviations = masked - centre[:, None]
        # a first, robust width; then the standard deviation of the pixels within
        # 5 of those widths (the MAD of integer ADU values is too coarse on its own)
        mad = 1.4826 * np.nanmedian(np.abs(deviations))
        if not mad > 0:
            # more than half the pixels on their row's median (very low noise): the
            # mean absolute deviation still measures the spread
            mad = 1.2533 * np.nanmean(np.abs(deviations))
        if np.isfinite(mad) and mad > 0:
            core = np.abs(deviations) <= 5.0 * mad
            width = float(np.sqrt(np.nanmean(np.where(core, deviations, np.nan) ** 2)))
        else:
            width = 0.0
    if width > 0:
        with np.errstate(invalid="ignore"):
            usable &= (deviations >= -lsigma * width) & (deviations <= hsigma * width)
    counts = usable.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(usable, values, 0.0).sum(axis=1) / counts
    means[counts == 0] = np.nan
    # pixel noise about the row means of the kept pixels (one mean per row fitted)
    residuals = np.where(usable, values - np.nan_to_num(means)[:, None], 0.0)
    dof = int(usable.sum()) - int((counts > 0).sum())
    noise = float(np.sqrt(np.sum(residuals ** 2) / dof)) if dof > 0 else 0.0
    return means, counts, noise


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Replace NaN entries by linear interpolation between their finite neighbours."""
    good = np.isfinite(values)
    if good.all():
        return values
    if not good.any():
        raise ValueError("no row of the overscan has a usable pixel")
    index = np.arange(values.size)
    return np.interp(index, index[good], values[good])


def _grow(rejected: np.ndarray, grow: int) -> np.ndarray:
    if grow <= 0 or not rejected.any():
        return rejected
    kernel = np.ones(2 * grow + 1, dtype=int)
    return np.convolve(rejected.astype(int), kernel, mode="same") > 0


def _chebyshev_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, degree: int | None,
                   domain: list[float]) -> tuple[chebyshev.Chebyshev, int]:
    """A weighted Chebyshev fit; with degree None the lowest degree consistent with the noise."""
    if degree is not None:
        degree = min(degree, max(x.size - 1, 0))
        return chebyshev.Chebyshev.fit(x, y, degree, w=w, domain=domain), degree + 1
    fit = None
    for trial in range(0, min(_MAX_CHEBYSHEV_DEGREE, x.size - 2) + 1):
        fit = chebyshev.Chebyshev.fit(x, y, trial, w=w, domain=domain)
        dof = x.size - trial - 1
        chi2 = float(np.sum(((y - fit(x)) * w) ** 2)) / dof
        # residuals consistent with pure noise at three standard deviations of chi2/dof
        if chi2 <= 1.0 + 3.0 * np.sqrt(2.0 / dof):
            return fit, trial + 1
    return fit, min(_MAX_CHEBYSHEV_DEGREE, x.size - 2) + 1


def _spline_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, pieces: int | None
                ) -> tuple[Any, int]:
    """A weighted cubic spline: `pieces` equal pieces, or smoothing to reduced chi2 = 1."""
    if not pieces:
        spline = interpolate.UnivariateSpline(x, y, w=w, k=3, s=float(x.size), ext=3)
    else:
        pieces = max(1, min(pieces, x.size // 4))
        knots = np.linspace(x[0], x[-1], pieces + 1)[1:-1]
        spline = interpolate.LSQUnivariateSpline(x, y, knots, w=w, k=3, ext=3)
    return spline, len(spline.get_coeffs())


def fit_overscan(values: np.ndarray, counts: np.ndarray, noise: float, function: str,
                 order: int | None = None, lsigma: float = 3.0, hsigma: float = 3.0,
                 niter: int = 0, grow: int = 0, fit_from: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """Level of each row from the collapsed overscan values.

    Parameters
    ----------
    values, counts, noise
        Output of :func:`collapse_overscan`.
    function : {'none', 'spline3', 'chebyshev'}
        See :data:`OVERSCAN_FUNCTIONS`.
    order : int, optional
        Number of spline pieces or Chebyshev degree; None (or 0 for the
        spline) chooses from the noise.
    lsigma, hsigma : float
        Rejection thresholds (standard deviations of a row value).
    niter : int
        Rounds of rejection.
    grow : int
        Rows on each side of a rejected row also rejected.
    fit_from : int
        First row used by a fit; earlier rows take the fit's value at this row.

    Returns
    -------
    level : numpy.ndarray of float64
        Level of every row.
    variance : numpy.ndarray of float64
        Variance of each level value.
    rejected : int
        Number of rows rejected by the fit.
    """
    if function not in OVERSCAN_FUNCTIONS:
        raise ValueError(f"function must be one of {', '.join(OVERSCAN_FUNCTIONS)}, "
                         f"got {function!r}")
    nrows = values.size
    safe_counts = np.maximum(counts, 1)
    row_variance = (noise ** 2 / safe_counts) if noise > 0 else np.ones(nrows)
    if function == "none":
        level = _fill_gaps(values)
        variance = np.where(counts > 0, row_variance, np.nan)
        return level, _fill_gaps(variance), 0
    x = np.arange(nrows, dtype=np.float64)
    usable = np.isfinite(values) & (counts > 0) & (x >= fit_from)
    if usable.sum() < 8:
        # too few rows beyond the excluded ones: fit everything usable
        usable = np.isfinite(values) & (counts > 0)
    if usable.sum() < 4:
        raise ValueError(f"only {int(usable.sum())} usable overscan rows: too few to fit")
    weights = 1.0 / np.sqrt(row_variance)
    first, last = x[usable][0], x[usable][-1]
    rejected = np.zeros(nrows, dtype=bool)
    for _ in range(max(niter, 0) + 1):
        keep = usable & ~rejected
        if function == "spline3":
            model, ncoeffs = _spline_fit(x[keep], values[keep], weights[keep], order)
        else:
            model, ncoeffs = _chebyshev_fit(x[keep], values[keep], weights[keep], order,
                                            [first, last])
        level = model(np.clip(x, first, last))
        if niter <= 0:
            break
        scaled = (values - level) * weights
        with np.errstate(invalid="ignore"):
            new = usable & ((scaled < -lsigma) | (scaled > hsigma))
        new = _grow(new, grow) & usable
        if np.array_equal(new, rejected) or (usable & ~new).sum() < 4:
            break
        rejected = new
    # a fit with p free coefficients to n rows averages the row noise over n/p rows
    nkept = max(int((usable & ~rejected).sum()), 1)
    variance = np.full(nrows, float(np.mean(row_variance[usable])) * ncoeffs / nkept)
    return np.asarray(level, dtype=np.float64), variance, int(rejected.sum())


def measure_overscan(strip: np.ndarray, mask: np.ndarray | None = None, function: str = "none",
                     order: int | None = None, lsigma: float = 3.0, hsigma: float = 3.0,
                     niter: int = 0, grow: int = 0, fit_from: int = 0) -> OverscanLevel:
    """The overscan level of each row of a strip: :func:`collapse_overscan` + :func:`fit_overscan`.

    Raises
    ------
    ValueError
        If no row has a usable pixel, or a fit has too few rows.
    """
    values, counts, noise = collapse_overscan(strip, mask, lsigma, hsigma)
    level, variance, rejected = fit_overscan(values, counts, noise, function, order, lsigma,
                                             hsigma, niter, grow, fit_from)
    columns = int(np.median(counts)) if counts.size else 0
    return OverscanLevel(level, variance, noise, columns, rejected)


# ---------------------------------------------------------------------------
# helpers on AstroData objects
# ---------------------------------------------------------------------------
def _per_extension(ad: Any, name: str, **kwargs: Any) -> list[Any]:
    """Descriptor values as a list (one per extension), None where unavailable."""
    try:
        values = getattr(ad, name)(**kwargs)
    except (AttributeError, TypeError):
        return [None] * len(ad)
    values = list(values) if isinstance(values, (list, tuple)) else [values] * len(ad)
    return values if len(values) == len(ad) else [None] * len(ad)


def _optional_descriptor(ad: Any, name: str) -> Any:
    try:
        return getattr(ad, name)()
    except (AttributeError, TypeError, KeyError, ValueError):
        return None


def _whole(shape: tuple[int, ...]) -> Section:
    return Section(0, int(shape[-1]), 0, int(shape[-2]))


def _level_keyword(ad: Any, name: str, fallback: str) -> str:
    try:
        return ad._keyword_for(name)
    except (AttributeError, KeyError):
        return fallback


class CCD(PrimitivesBASE):
    """CCD-specific processing: overscan subtraction and trimming, bias correction."""

    tagset = None

    # -- hooks for the instrument classes ----------------------------------------
    def _overscan_skip(self, ad: Any, nbiascontam: int | None) -> tuple[int, int]:
        """Overscan columns to skip ``(next to the data, at the far edge)``.

        `nbiascontam` is the user's value (None: the instrument's default).
        """
        return (nbiascontam or 0, 0)

    def _rows_excluded_from_fit(self, ad: Any, index: int) -> int:
        """Rows at the start of extension `index`'s overscan strip left out of fits."""
        return 0

    def _saturation_after_subtraction(self, ad: Any, index: int, level: float,
                                      value: float) -> float:
        """A saturation (non-linearity) level in ADU once `level` ADU have been subtracted."""
        return value - level

    # -- overscan ----------------------------------------------------------------
    def _overscan_geometry(self, ad: Any, index: int, overscan: Section, data: Section,
                           skip: tuple[int, int]) -> tuple[bool, Section]:
        """(serial?, the part of the overscan to measure) for extension `index`."""
        near, far = skip
        serial = overscan.y1 <= data.y1 and overscan.y2 >= data.y2 and (
            overscan.x2 <= data.x1 or overscan.x1 >= data.x2)
        parallel = overscan.x1 <= data.x1 and overscan.x2 >= data.x2 and (
            overscan.y2 <= data.y1 or overscan.y1 >= data.y2)
        if not (serial or parallel):
            raise PrimitiveError(
                f"{ad.filename} extension {index + 1}: the overscan section "
                f"{overscan.asIRAFsection()} is neither beside nor above/below the data "
                f"section {data.asIRAFsection()}")
        if serial:
            lo, hi = overscan.x1, overscan.x2
            before = overscan.x2 <= data.x1
        else:
            lo, hi = overscan.y1, overscan.y2
            before = overscan.y2 <= data.y1
        # `near` columns touch the data; `far` columns are at the outer edge
        lo, hi = (lo + far, hi - near) if before else (lo + near, hi - far)
        if hi - lo < 1:
            raise PrimitiveError(
                f"{ad.filename} extension {index + 1}: no overscan column left after skipping "
                f"{near} next to the data and {far} at the edge of "
                f"{overscan.asIRAFsection()}")
        used = (Section(lo, hi, overscan.y1, overscan.y2) if serial
                else Section(overscan.x1, overscan.x2, lo, hi))
        return serial, used

    def _subtract_overscan(self, ad: Any, params: dict) -> None:
        overscans = _per_extension(ad, "overscan_section")
        datas = _per_extension(ad, "data_section")
        skip = self._overscan_skip(ad, params["nbiascontam"])
        sat_keyword = _level_keyword(ad, "saturation_level", "SATLEVEL")
        nonlin_keyword = _level_keyword(ad, "non_linear_level", "NONLINEA")
        levels, noises, used_columns = [], [], []
        for index, ext in enumerate(ad):
            overscan = overscans[index]
            if not isinstance(overscan, Section):
                raise PrimitiveError(f"{ad.filename} extension {index + 1}: no overscan "
                                     f"section (BIASSEC); cannot subtract the overscan")
            data_section = datas[index] if isinstance(datas[index], Section) \
                else _whole(ext.shape)
            serial, used = self._overscan_geometry(ad, index, overscan, data_section, skip)
            data = np.asarray(ext.data, dtype=np.float32)
            mask = None if ext.mask is None else np.asarray(ext.mask)
            rows, cols = used.asslice()
            strip = data[rows, cols]
            strip_mask = None if mask is None else mask[rows, cols]
            if not serial:
                strip = strip.T
                strip_mask = None if strip_mask is None else strip_mask.T
            try:
                measured = measure_overscan(
                    strip, strip_mask, params["function"], params["order"],
                    params["lsigma"], params["hsigma"], params["niter"], params["grow"],
                    self._rows_excluded_from_fit(ad, index) if params["function"] != "none"
                    else 0)
            except ValueError as err:
                raise PrimitiveError(f"{ad.filename} extension {index + 1}: overscan "
                                     f"{used.asIRAFsection()}: {err}") from err
            level = np.zeros(data.shape[0] if serial else data.shape[1], dtype=np.float64)
            variance = np.zeros_like(level)
            start = used.y1 if serial else used.x1
            level[start:start + measured.level.size] = measured.level
            variance[start:start + measured.variance.size] = measured.variance
            covered = slice(start, start + measured.level.size)
            # rows outside the overscan strip take the nearest measured value
            level[:start] = measured.level[0]
            level[covered.stop:] = measured.level[-1]
            variance[:start] = measured.variance[0]
            variance[covered.stop:] = measured.variance[-1]
            profile = level[:, None] if serial else level[None, :]
            ext.data = (data - profile).astype(np.float32)
            if ext.variance is not None:
                extra = variance[:, None] if serial else variance[None, :]
                ext.variance = (np.asarray(ext.variance, dtype=np.float32)
                                + extra).astype(np.float32)
            mean_level = float(np.mean(measured.level))
            ext.hdr["OVERSCAN"] = (round(mean_level, 4), "Overscan mean value (ADU)")
            ext.hdr["OVERRMS"] = (round(measured.noise, 4), "Overscan pixel noise (ADU)")
            for keyword in (sat_keyword, nonlin_keyword):
                if keyword in ext.hdr:
                    old = float(ext.hdr[keyword])
                    ext.hdr[keyword] = self._saturation_after_subtraction(ad, index, mean_level,
                                                                          old)
            levels.append(mean_level)
            noises.append(measured.noise)
            used_columns.append(measured.columns)
        what = {"none": "row by row"}.get(params["function"], params["function"])
        self.log.stdinfo(
            f"{ad.filename}: subtracted the overscan ({what}, {min(used_columns)}-"
            f"{max(used_columns)} columns) of {len(ad)} extension(s): level "
            f"{min(levels):.2f}-{max(levels):.2f} ADU, noise {min(noises):.3f}-"
            f"{max(noises):.3f} ADU")

    @primitive(
        per_file=True,
        suffix=Param(str, "_overscanSubtracted", "Filename suffix"),
        function=Param(str, "spline3", "How the overscan level along the strip is found",
                       choices=OVERSCAN_FUNCTIONS),
        order=Param(int, None, "Spline pieces or Chebyshev degree (None: chosen from the "
                    "noise)", min=0),
        lsigma=Param(float, 3.0, "Low rejection threshold (standard deviations)", min=0.0),
        hsigma=Param(float, 3.0, "High rejection threshold (standard deviations)", min=0.0),
        niter=Param(int, 0, "Rounds of rejection in the fit", min=0),
        grow=Param(int, 0, "Rows rejected on each side of a rejected row", min=0),
        nbiascontam=Param(int, 0, "Overscan columns next to the data to skip (None: the "
                          "instrument default)", min=0, optional=True),
    )
    def subtractOverscan(self, adinputs=None, **params):
        """Subtract the overscan level, row by row or fitted along the strip (``OVERSCAN``)."""
        for ad in adinputs:
            if self._already_done(ad, "subtractOverscan"):
                continue
            self._subtract_overscan(ad, params)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    def _trim_overscan(self, ad: Any) -> None:
        datas = _per_extension(ad, "data_section")
        shapes = []
        for index, ext in enumerate(ad):
            section = datas[index]
            ny, nx = ext.shape[-2:]
            if not isinstance(section, Section):
                raise PrimitiveError(f"{ad.filename} extension {index + 1}: no data section "
                                     f"(DATASEC); cannot trim the overscan")
            if section.x1 < 0 or section.y1 < 0 or section.x2 > nx or section.y2 > ny:
                raise PrimitiveError(f"{ad.filename} extension {index + 1}: data section "
                                     f"{section.asIRAFsection()} is outside the {nx}x{ny} array")
            if (section.x1, section.y1, section.x2, section.y2) != (0, 0, nx, ny):
                ext.crop(section.x1, section.y1, section.x2 - 1, section.y2 - 1)
                nd = ext.nddata
                nd.data = np.ascontiguousarray(nd.data)
                if nd.variance is not None:
                    nd.variance = np.ascontiguousarray(nd.variance)
                if nd.mask is not None:
                    nd.mask = np.ascontiguousarray(nd.mask)
            ny, nx = ext.shape[-2:]
            ext.hdr["DATASEC"] = (f"[1:{nx},1:{ny}]", "Data section")
            if "TRIMSEC" not in ext.hdr:
                ext.hdr["TRIMSEC"] = (section.asIRAFsection(), "Section of the raw array kept")
            for keyword in ("BIASSEC",):
                if keyword in ext.hdr:
                    del ext.hdr[keyword]
            shapes.append(f"{nx}x{ny}")
        self.log.stdinfo(f"{ad.filename}: trimmed {len(ad)} extension(s) to their data "
                         f"sections ({', '.join(sorted(set(shapes)))})")

    @primitive(per_file=True, suffix=Param(str, "_overscanTrimmed", "Filename suffix"))
    def trimOverscan(self, adinputs=None, **params):
        """Cut every extension to its data section (``DATASEC``), dropping the overscan."""
        for ad in adinputs:
            if self._already_done(ad, "trimOverscan"):
                continue
            self._trim_overscan(ad)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(per_file=True, inherit="subtractOverscan",
               suffix=Param(str, "_overscanCorrected", "Filename suffix"))
    def overscanCorrect(self, adinputs=None, **params):
        """Subtract the overscan level and trim the overscan (subtractOverscan + trimOverscan)."""
        inner = {k: v for k, v in params.items() if k != "suffix"}
        for ad in adinputs:
            if self._already_done(ad, "overscanCorrect"):
                continue
            self.subtractOverscan([ad], suffix="", **inner)
            self.trimOverscan([ad], suffix="")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- bias ------------------------------------------------------------------
    def _check_bias(self, ad: Any, bias: Any) -> None:
        problems = []
        if "BIAS" not in bias.tags:
            self.log.warning(f"{bias.filename} (bias for {ad.filename}) is not tagged BIAS")
        for name in ("read_speed_setting", "gain_setting"):
            mine, theirs = _optional_descriptor(ad, name), _optional_descriptor(bias, name)
            if mine is not None and theirs is not None and mine != theirs:
                problems.append(f"{name.replace('_', ' ')} {mine!r} vs {theirs!r}")
        in_adu, bias_in_adu = _optional_descriptor(ad, "is_in_adu"), \
            _optional_descriptor(bias, "is_in_adu")
        if in_adu is not None and bias_in_adu is not None and in_adu != bias_in_adu:
            units = {True: "ADU", False: "electrons"}
            problems.append(f"units {units[in_adu]} vs {units[bias_in_adu]}")
        for tag, what in (("OVERSCAN_SUBTRACTED", "overscan-subtracted"),
                          ("OVERSCAN_TRIMMED", "overscan-trimmed")):
            if (tag in ad.tags) != (tag in bias.tags):
                state = {True: "is", False: "is not"}
                problems.append(f"the frame {state[tag in ad.tags]} {what} but the bias "
                                f"{state[tag in bias.tags]}")
        if problems:
            raise PrimitiveError(f"{ad.filename}: the bias {bias.filename} does not match: "
                                 f"{'; '.join(problems)}")

    @staticmethod
    def _open_calibration(value: Any, cache: dict) -> Any:
        if hasattr(value, "phu"):
            return value
        path = os.path.abspath(os.fspath(value))
        if path not in cache:
            try:
                cache[path] = astrodata.open(path)
            except astrodata.AstroDataError as err:
                raise PrimitiveError(f"cannot open the bias {value}: {err}") from err
        return cache[path]

    @primitive(
        per_file=lambda p: not isinstance(p["bias"], (list, tuple)) or len(p["bias"]) < 2,
        suffix=Param(str, "_biasCorrected", "Filename suffix"),
        bias=Param(object, None, "Processed bias: file or AstroData, or a list (one per input)"),
        do_cal=Param(str, "procmode", "Bias correction requirement", choices=_DO_CAL),
    )
    def biasCorrect(self, adinputs=None, **params):
        """Subtract the processed bias (cut to the frame's region if larger) (``BIASIM``)."""
        todo = [ad for ad in adinputs if not self._already_done(ad, "biasCorrect")]
        if not todo:
            return adinputs
        if params["do_cal"] not in _DO_CAL:
            raise ParameterError(f"biasCorrect: do_cal={params['do_cal']!r}")
        biases = self._get_cal(todo, "processed_bias", params["bias"], params["do_cal"])
        cache: dict[str, Any] = {}
        for ad, bias_value in zip(todo, biases, strict=True):
            if bias_value is None:
                continue
            bias = self._open_calibration(bias_value, cache)
            self._check_bias(ad, bias)
            parts = matching_calibration(ad, bias, "bias")
            cut = len(parts) != len(bias) or any(
                tuple(p.shape) != tuple(b.shape) for p, b in zip(parts, bias, strict=False))
            sat_keyword = _level_keyword(ad, "saturation_level", "SATLEVEL")
            nonlin_keyword = _level_keyword(ad, "non_linear_level", "NONLINEA")
            medians = []
            for index, (ext, part) in enumerate(zip(ad, parts, strict=True)):
                level = float(np.nanmedian(part.data))
                ext.subtract(part)
                nd = ext.nddata
                if nd.data.dtype != np.float32:
                    nd.data = nd.data.astype(np.float32)
                if nd.variance is not None and nd.variance.dtype != np.float32:
                    nd.variance = nd.variance.astype(np.float32)
                for keyword in (sat_keyword, nonlin_keyword):
                    if keyword in ext.hdr:
                        ext.hdr[keyword] = self._saturation_after_subtraction(
                            ad, index, level, float(ext.hdr[keyword]))
                medians.append(level)
            path = os.fspath(bias_value) if isinstance(bias_value, (str, os.PathLike)) \
                else getattr(bias, "path", None)
            if path and os.path.isfile(path):
                self.note_calibration(ad, "processed_bias", path)
            ad.phu["BIASIM"] = (bias.filename, "Processed bias subtracted")
            self.log.stdinfo(
                f"{ad.filename}: subtracted the bias {bias.filename}"
                f"{' (cut to the frame region)' if cut else ''}; median bias level "
                f"{min(medians):.2f} to {max(medians):.2f} ADU")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs
