"""Primitive mix-in Stack: stackFrames and its bias, dark, flat and sky variants.

Every stack primitive combines N frames extension by extension with
:func:`gempy.library.stacking.stack` (DQ-aware input selection, rejection,
variance propagation) under the ``memory`` budget: planes not read yet are
read strip by strip through ``nddata.window`` instead of being loaded whole.

The output is a new AstroData built from the first input's PHU and extension
headers (WCS included), with ``NCOMBINE``, ``IMCMB001``..., ``DATALAB`` +
``-STACK`` (from the suffix), the mean ``AIRMASS``, the combined gain
``N / sum(1/g)`` when the inputs' gains differ, the read noise
``sqrt(sum(rn**2) / N)``, the union of the inputs' ``REFCAT`` tables and, on
request, a ``REJMAP`` (int16 number of rejected inputs) per extension.

Variants (their defaults follow DRAGONS):

* ``stackBiases``: varclip, no scale or offset; every input must be a BIAS.
* ``stackDarks``: varclip, no scale or offset; every input must be a DARK and
  the exposure times must agree to 0.01 s.
* ``stackFlats``: minmax 1/1, no offset (scaling allowed).
* ``stackSkyFrames``: median, minmax 1/1, scaled to the first frame's level
  (zero offsets instead when ``zero`` is set and ``scale`` is not), with the
  objects of each frame (``OBJMASK`` dilated by ``dilation``) excluded. When
  every input was divided by the same flat (:mod:`primitives.core.flat_error`)
  its error is common to them: the inputs' variance is stacked without it and
  ``data**2 * VAR_flat/flat**2`` is added to the result.

With minmax rejection, ``stackFlats`` and ``stackSkyFrames`` lower nlow and
nhigh (with a warning) when there are too few frames for them; stackFrames
itself refuses (except in qa mode, where DRAGONS drops the rejection).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy import table
from scipy import ndimage

import astrodata
from astrodata import DQ
from astrodata.nddata import NDAstroData
from gempy.library import stacking
from primitives.base import PrimitivesBASE
from primitives.core.flat_error import FlatFreeVariance, common_flat_error
from primitives.errors import ParameterError, PrimitiveError
from primitives.params import Param, primitive

__all__ = ["Stack", "robust_level", "parse_section", "STACK_PARAMS"]

#: Bytes per gigabyte for the ``memory`` parameter (DRAGONS counts 10**9).
_GIGABYTE = 10**9

#: Largest number of pixels used to measure a level (a regular subsample beyond).
_LEVEL_SAMPLE = 250_000

#: Exposure times of darks stacked together must agree to this (seconds).
DARK_EXPTIME_TOLERANCE = 0.01

_OPERATIONS = {
    "mean": "arithmetic mean",
    "wtmean": "inverse-variance weighted mean",
    "median": "median",
    "lmedian": "lower median (the lower middle value for an even count)",
}
_REJECT_METHODS = {
    "none": "no rejection",
    "minmax": "reject the nlow lowest and nhigh highest values",
    "sigclip": "reject values beyond lsigma/hsigma standard deviations of the data",
    "varclip": "reject values beyond lsigma/hsigma times each pixel's own sigma",
}

#: The parameters shared by every stacking primitive (stackFrames' declaration).
STACK_PARAMS: dict[str, Param] = {
    "suffix": Param(str, "_stack", "Filename suffix"),
    "apply_dq": Param(bool, True, "Use the DQ planes to exclude bad input pixels"),
    "statsec": Param(str, None, "Section for the scale/offset statistics, e.g. [1:100,1:200]"),
    "separate_ext": Param(bool, True, "Scale/offset each extension on its own statistics"),
    "operation": Param(str, "mean", "Combining operation", choices=_OPERATIONS),
    "reject_method": Param(str, "sigclip", "Pixel rejection method", choices=_REJECT_METHODS),
    "hsigma": Param(float, 3.0, "High rejection threshold (sigma)", min=0.0),
    "lsigma": Param(float, 3.0, "Low rejection threshold (sigma)", min=0.0),
    "mclip": Param(bool, True, "Clip around the median (True) or the mean (False)"),
    "max_iters": Param(int, None, "Maximum clipping iterations (None: until convergence)",
                       min=1),
    "nlow": Param(int, 0, "Number of low pixels minmax rejects", min=0),
    "nhigh": Param(int, 0, "Number of high pixels minmax rejects", min=0),
    "scale": Param(bool, False, "Scale the frames to the level of the first"),
    "zero": Param(bool, False, "Offset the frames to the level of the first"),
    "memory": Param(float, 1.0, "Memory budget for the stacking (GB); None: no limit",
                    min=0.01, optional=True),
    "save_rejection_map": Param(bool, False, "Attach a REJMAP (rejected inputs per pixel)"),
}

_SECTION = re.compile(r"\s*\[?\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]?\s*")


# ---------------------------------------------------------------------------
# helpers shared with the other mix-ins
# ---------------------------------------------------------------------------
def parse_section(text: str, shape: tuple[int, ...], what: str = "statsec"
                  ) -> tuple[slice, slice]:
    """``(y slice, x slice)`` of a 1-based inclusive IRAF section ``[x1:x2,y1:y2]``.

    Raises
    ------
    ParameterError
        If the text is not a section or the section is not inside `shape`.
    """
    match = _SECTION.fullmatch(text)
    if match is None:
        raise ParameterError(f"{what}={text!r} is not a section like [1:100,1:200]")
    x1, x2, y1, y2 = (int(v) for v in match.groups())
    ny, nx = shape[-2:]
    if not (1 <= x1 <= x2 <= nx and 1 <= y1 <= y2 <= ny):
        raise ParameterError(f"{what}={text!r} is not inside the {nx}x{ny} frame")
    return slice(y1 - 1, y2), slice(x1 - 1, x2)


def robust_level(values: Any, sigma: float = 3.0, max_iters: int = 10) -> float | None:
    """Background level of a set of pixel values: median after sigma clipping.

    The values are clipped iteratively at `sigma` times the MAD-based
    standard deviation around the median, which makes the level insensitive
    to sources and cosmic rays. Non-finite values are ignored; large sets are
    subsampled regularly to at most 250,000 values.

    Returns
    -------
    float or None
        None if there is no finite value.
    """
    values = np.asarray(values).ravel()
    if values.size > _LEVEL_SAMPLE:
        values = values[:: values.size // _LEVEL_SAMPLE + 1]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    values = values.astype(np.float64 if values.dtype.itemsize > 4 else np.float32)
    centre = float(np.median(values))
    for _ in range(max_iters):
        spread = 1.4826 * float(np.median(np.abs(values - centre)))
        if spread == 0:
            break
        kept = np.abs(values - centre) <= sigma * spread
        if kept.all() or not kept.any():
            break
        values = values[kept]
        previous, centre = centre, float(np.median(values))
        if abs(centre - previous) < 1e-3 * spread:
            break
    return centre


def _gather(values: Sequence[Any]) -> list:
    """Descriptor values of a full object as a list (one per extension)."""
    return list(values) if isinstance(values, (list, tuple)) else [values]


class _WindowCache:
    """The rows of one unread extension last asked for, read once for all its planes.

    Before the next block is read, the pages of the extension's file read so
    far are unmapped (``FitsFile.drop_clean_pages``; the page cache keeps
    them): streaming N frames through a stack then keeps one block of each
    resident, not the whole files.
    """

    def __init__(self, nd: NDAstroData) -> None:
        self.nd = nd
        self.key: tuple[int, int] | None = None
        self.window: NDAstroData | None = None
        self.files = {id(f): f for f in (getattr(a, "file", None) for a in
                                         (nd._data, nd._lazy_variance, nd._mask))
                      if f is not None and hasattr(f, "drop_clean_pages")}

    def rows(self, start: int, stop: int) -> NDAstroData:
        if self.key != (start, stop):
            self.window = None
            for file in self.files.values():
                file.drop_clean_pages()
            self.window = self.nd.window[start:stop]
            self.key = (start, stop)
        return self.window


class _PlaneRows:
    """One plane (data, variance or mask) of an unread extension, read by row blocks.

    What :func:`gempy.library.stacking.stack` needs from a lazy array:
    ``shape``, ``dtype``, ``ndim`` and ``[y0:y1]``.
    """

    def __init__(self, cache: _WindowCache, plane: str, dtype: Any) -> None:
        self.cache = cache
        self.plane = plane
        self.shape = tuple(cache.nd.shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, item: Any) -> np.ndarray:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("only row blocks [y0:y1] can be read")
        start, stop, _ = item.indices(self.shape[0])
        rows = getattr(self.cache.rows(start, stop), self.plane)
        if rows is None:
            raise PrimitiveError(f"the {self.plane} plane vanished while stacking")
        return np.asarray(rows)


def _planes(nd: NDAstroData) -> tuple[Any, Any, Any]:
    """(data, variance, mask) of an extension, read lazily by row blocks if not loaded."""
    if nd.is_loaded():
        return nd.data, nd.variance, nd.mask
    cache = _WindowCache(nd)
    data = _PlaneRows(cache, "data", nd.dtype)
    variance = _PlaneRows(cache, "variance", np.float32) if nd.has_variance() else None
    mask = _PlaneRows(cache, "mask", DQ.datatype) if nd.has_mask() else None
    return data, variance, mask


def object_mask(ext: Any, dilation: float) -> np.ndarray | None:
    """The extension's OBJMASK as a boolean array, dilated by a disk of radius `dilation`.

    None if the extension has no OBJMASK.
    """
    objmask = getattr(ext, "OBJMASK", None)
    if objmask is None:
        return None
    masked = np.asarray(objmask) > 0
    if dilation >= 1 and masked.any():
        radius = int(dilation)
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        masked = ndimage.binary_dilation(masked, structure=xx * xx + yy * yy <= dilation ** 2)
    return masked


# ---------------------------------------------------------------------------
# the mix-in
# ---------------------------------------------------------------------------
class Stack(PrimitivesBASE):
    """Stacking of frames (stackFrames and its bias/dark/flat/sky variants)."""

    tagset = None

    # -- the engine ------------------------------------------------------
    def _check_stackable(self, adinputs: list) -> None:
        first = adinputs[0]
        for ad in adinputs[1:]:
            if len(ad) != len(first):
                raise PrimitiveError(f"cannot stack {ad.filename} ({len(ad)} extensions) with "
                                     f"{first.filename} ({len(first)} extensions)")
            for index, (ext, ref) in enumerate(zip(ad, first, strict=True), start=1):
                if tuple(ext.shape) != tuple(ref.shape):
                    raise PrimitiveError(
                        f"cannot stack {ad.filename} with {first.filename}: extension {index} "
                        f"has shape {tuple(ext.shape)}, not {tuple(ref.shape)}")

    def _levels(self, adinputs: list, statsec: str | None, apply_dq: bool,
                extra_masks: list | None) -> np.ndarray:
        """Background level (N frames x M extensions) in the statistics section."""
        levels = np.empty((len(adinputs), len(adinputs[0])))
        for i, ad in enumerate(adinputs):
            for j, ext in enumerate(ad):
                nd = ext.nddata
                ys, xs = (parse_section(statsec, nd.shape) if statsec
                          else (slice(None), slice(None)))
                window = nd.window[ys, xs]
                values = np.asarray(window.data)
                good = np.ones(values.shape, dtype=bool)
                if apply_dq and window.mask is not None:
                    good &= np.asarray(window.mask) == 0
                if extra_masks is not None and extra_masks[i][j] is not None:
                    good &= ~extra_masks[i][j][ys, xs]
                level = robust_level(values[good])
                if level is None:
                    raise PrimitiveError(f"{ad.filename} extension {j + 1}: no good pixel to "
                                         f"measure the level for scaling/offsetting")
                levels[i, j] = level
        return levels

    def _factors(self, adinputs: list, params: dict, extra_masks: list | None
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Scale and zero factors (M extensions x N frames), or None when not used."""
        scale, zero = params["scale"], params["zero"]
        if not (scale or zero):
            return None, None
        levels = self._levels(adinputs, params["statsec"], params["apply_dq"], extra_masks)
        nframes, next_ = levels.shape
        if params["separate_ext"]:
            reference = levels[0][None, :]
            own = levels
        else:
            reference = np.full((1, next_), levels[0].mean())
            own = np.repeat(levels.mean(axis=1)[:, None], next_, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            factors = (reference / own) if scale else (reference - own)
        if not np.all(np.isfinite(factors)) or (scale and np.any(factors <= 0)):
            self.log.warning(f"{'Scale factors' if scale else 'Offsets'} "
                             f"{np.round(factors, 4).tolist()} are not usable: the frames are "
                             f"stacked without {'scaling' if scale else 'offsets'}")
            return None, None
        what = "scale factor" if scale else "offset"
        for ad, row in zip(adinputs, factors, strict=True):
            shown = ", ".join(f"{v:.4f}" for v in (row if params["separate_ext"] else row[:1]))
            self.log.stdinfo(f"  {ad.filename}: {what} {shown}")
        factors = factors.T  # extensions x frames
        return (factors, None) if scale else (None, factors)

    def _combine(self, adinputs: list, params: dict, extra_masks: list | None = None,
                 flat_error: Any = None) -> Any:
        """Stack the inputs extension by extension into a new AstroData object.

        `extra_masks` (per frame, per extension: boolean array or None) marks
        more pixels to exclude (objects, for sky frames) without touching
        the inputs. `flat_error` (:class:`primitives.core.flat_error.FlatError`),
        the error of a flat that divided every input, is common to them: the
        variances are stacked without it and it is added to the result
        (``data**2 * r2``) instead of being averaged down.
        """
        self._check_stackable(adinputs)
        nframes = len(adinputs)
        reject = params["reject_method"]
        nlow, nhigh = params["nlow"], params["nhigh"]
        if reject == "minmax" and nlow + nhigh >= nframes:
            if self.mode == "qa":
                self.log.warning(f"Cannot reject {nlow} low and {nhigh} high values of "
                                 f"{nframes} frames: no minmax rejection (qa mode)")
                nlow = nhigh = 0
            else:
                raise ParameterError(f"{self.myself()}: minmax rejection of nlow={nlow} and "
                                     f"nhigh={nhigh} needs more than {nlow + nhigh} inputs; "
                                     f"got {nframes}")
        if params["scale"] and params["zero"]:
            self.log.warning("Both scale and zero are set: using zero (additive offsets) only")
            params = {**params, "scale": False}
        has_variance = all(ext.nddata.has_variance() for ad in adinputs for ext in ad)
        if reject == "varclip" and not has_variance:
            self.log.warning("varclip needs variance planes, which not all inputs have: "
                             "using sigclip")
            reject = "sigclip"
        if params["operation"] == "wtmean" and not has_variance:
            self.log.warning("wtmean needs variance planes, which not all inputs have: "
                             "using the plain mean")
        self.log.stdinfo(f"Combining {nframes} inputs with {params['operation']} and "
                         f"{reject} rejection")
        scale, zero = self._factors(adinputs, params, extra_masks)
        memory = params["memory"]
        lazy = any(not ext.nddata.is_loaded() for ad in adinputs for ext in ad)
        budget = None if memory is None else int(memory * _GIGABYTE / (2 if lazy else 1))

        first = adinputs[0]
        out = astrodata.create(first.phu.copy())
        for j, template in enumerate(first):
            data, variances, masks = [], [], []
            for i, ad in enumerate(adinputs):
                d, v, m = _planes(ad[j].nddata)
                extra = extra_masks[i][j] if extra_masks is not None else None
                if extra is not None:
                    own = ad[j].nddata.mask
                    m = np.where(extra, DQ.bad_pixel, 0).astype(DQ.datatype)
                    if own is not None:
                        m |= np.asarray(own, dtype=DQ.datatype)
                if flat_error is not None and v is not None:
                    v = FlatFreeVariance(d, v, flat_error.relvar[j])
                data.append(d)
                variances.append(v)
                masks.append(m)
            try:
                result = stacking.stack(
                    data, variance=variances if has_variance else None,
                    mask=masks if params["apply_dq"] else None,
                    operation=params["operation"], reject_method=reject,
                    hsigma=params["hsigma"], lsigma=params["lsigma"], mclip=params["mclip"],
                    max_iters=params["max_iters"], nlow=nlow, nhigh=nhigh,
                    scale=None if scale is None else scale[j],
                    zero=None if zero is None else zero[j],
                    memory=budget, save_rejection_map=params["save_rejection_map"],
                    apply_dq=params["apply_dq"])
            except ValueError as err:
                raise PrimitiveError(f"{self.myself()}: stacking extension {j + 1} of "
                                     f"{first.filename} and {nframes - 1} more: {err}") from err
            if flat_error is not None and result.variance is not None:
                common = result.data * result.data
                common *= flat_error.relvar[j]
                np.add(result.variance, common, out=result.variance, casting="unsafe")
                del common
            nd = NDAstroData(result.data, mask=result.mask, variance=result.variance,
                             meta={"header": template.nddata.meta["header"].copy(),
                                   "other": {}})
            wcs = template.nddata.wcs
            if wcs is not None:
                nd.wcs = copy.deepcopy(wcs)
            if result.rejection_map is not None:
                nd.meta["other"]["REJMAP"] = result.rejection_map
            out.append(nd)
            nodata = int(np.count_nonzero(result.mask & DQ.no_data))
            if nodata:
                self.log.stdinfo(f"  extension {j + 1}: {nodata} pixels have no valid input "
                                 f"(DQ no_data)")
        self._stack_keywords(out, adinputs, params["suffix"])
        return out

    def _stack_keywords(self, out: Any, adinputs: list, suffix: str) -> None:
        """Output headers: NCOMBINE, IMCMBnnn, DATALAB, AIRMASS, GAIN, RDNOISE, REFCAT."""
        nframes = len(adinputs)
        first = adinputs[0]
        for name, key, combine in (("gain", "GAIN", "harmonic"), ("read_noise", "RDNOISE", "rms")):
            try:
                keyword = out._keyword_for(name)
            except (AttributeError, KeyError):
                keyword = key
            try:
                values = [_gather(getattr(ad, name)()) for ad in adinputs]
            except (AttributeError, TypeError):
                continue
            for j, ext in enumerate(out):
                column = [v[j] if j < len(v) else None for v in values]
                if any(v is None for v in column):
                    continue
                column = np.asarray(column, dtype=float)
                if combine == "harmonic":
                    if np.all(column == column[0]) or np.any(column <= 0):
                        continue
                    self.log.warning(f"Extension {j + 1}: the inputs have different gains; "
                                     f"the stack gets N/sum(1/g)")
                    ext.hdr[keyword] = (float(nframes / np.sum(1.0 / column)),
                                        "Gain of the stack (electrons/ADU)")
                else:
                    ext.hdr[keyword] = (float(np.sqrt(np.sum(column ** 2) / nframes)),
                                        "RMS read noise of the inputs (electrons)")
        try:
            airmasses = [ad.airmass() for ad in adinputs]
        except AttributeError:
            airmasses = [None]
        if all(a is not None for a in airmasses):
            out.phu["AIRMASS"] = (float(np.mean(airmasses)), "Mean airmass of the stacked inputs")
        label = first.phu.get("DATALAB")
        if label:
            word = suffix.replace("_", "-", 1).upper() if suffix.startswith("_") \
                else "-" + suffix.upper()
            out.phu["DATALAB"] = (f"{str(label).strip()}{word}", "Data label")
        out.phu["NCOMBINE"] = (nframes, "Number of frames stacked")
        for index, ad in enumerate(adinputs, start=1):
            out.phu[f"IMCMB{index:03d}"] = (ad.phu.get("ORIGNAME", ad.filename),
                                            "Input frame")
        refcats = [ad.REFCAT for ad in adinputs if "REFCAT" in getattr(ad, "tables", ())]
        if refcats:
            merged = table.vstack(refcats, metadata_conflicts="silent")
            keys = [k for k in ("RAJ2000", "DEJ2000") if k in merged.colnames] or None
            merged = table.unique(merged, keys=keys)
            if "Id" in merged.colnames:
                merged["Id"] = np.arange(1, len(merged) + 1)
            out.REFCAT = merged
        out.filename = first.filename
        out.update_filename(suffix=suffix, strip=True)

    def _passes_through(self, adinputs: list) -> bool:
        if len(adinputs) >= 2:
            return False
        self.log.warning(f"{self.myself()}: {len(adinputs)} input(s); at least two are needed "
                         f"to stack, so the input is passed through unchanged")
        return True

    @staticmethod
    def _feasible_minmax(params: dict, nframes: int, log: Any) -> dict:
        """The params with nlow/nhigh lowered so that minmax leaves at least one value."""
        if params["reject_method"] != "minmax":
            return params
        nlow, nhigh = params["nlow"], params["nhigh"]
        while nlow + nhigh >= nframes and (nlow or nhigh):
            if nhigh >= nlow and nhigh:
                nhigh -= 1
            else:
                nlow -= 1
        if (nlow, nhigh) != (params["nlow"], params["nhigh"]):
            log.warning(f"Only {nframes} frames: minmax rejection uses nlow={nlow}, "
                        f"nhigh={nhigh} instead of {params['nlow']}/{params['nhigh']}")
        return {**params, "nlow": nlow, "nhigh": nhigh}

    # -- primitives ------------------------------------------------------
    @primitive(**STACK_PARAMS)
    def stackFrames(self, adinputs=None, **params):
        """Combine the inputs, extension by extension, into one frame (``_stack``).

        Fewer than two inputs are passed through with a warning.
        """
        if self._passes_through(adinputs):
            return adinputs
        out = self._combine(adinputs, params)
        self.mark(out)
        return [out]

    @primitive(inherit="stackFrames", exclude=("scale", "zero"),
               reject_method=Param(str, "varclip", "Pixel rejection method",
                                   choices=_REJECT_METHODS))
    def stackBiases(self, adinputs=None, **params):
        """Stack biases without scaling or offsets (every input must be a BIAS)."""
        not_bias = [ad.filename for ad in adinputs if "BIAS" not in ad.tags]
        if not_bias:
            raise PrimitiveError(f"stackBiases: not biases: {', '.join(not_bias)}")
        outputs = self.stackFrames(adinputs, **params, scale=False, zero=False)
        if len(adinputs) >= 2:
            self.mark(outputs[0])
        return outputs

    @primitive(inherit="stackFrames", exclude=("scale", "zero"),
               reject_method=Param(str, "varclip", "Pixel rejection method",
                                   choices=_REJECT_METHODS))
    def stackDarks(self, adinputs=None, **params):
        """Stack darks of one exposure time (within 0.01 s) without scaling or offsets."""
        not_dark = [ad.filename for ad in adinputs if "DARK" not in ad.tags]
        if not_dark:
            raise PrimitiveError(f"stackDarks: not darks: {', '.join(not_dark)}")
        if adinputs:
            times = [ad.exposure_time() for ad in adinputs]
            if any(t is None for t in times):
                missing = [ad.filename for ad, t in zip(adinputs, times, strict=True) if t is None]
                raise PrimitiveError(f"stackDarks: no exposure time for {', '.join(missing)}")
            odd = [f"{ad.filename} ({t} s)" for ad, t in zip(adinputs, times, strict=True)
                   if abs(t - times[0]) >= DARK_EXPTIME_TOLERANCE]
            if odd:
                raise PrimitiveError(
                    f"stackDarks: the darks do not all have the exposure time of "
                    f"{adinputs[0].filename} ({times[0]} s): {', '.join(odd)}")
        outputs = self.stackFrames(adinputs, **params, scale=False, zero=False)
        if len(adinputs) >= 2:
            self.mark(outputs[0])
        return outputs

    @primitive(inherit="stackFrames", exclude=("zero",),
               reject_method=Param(str, "minmax", "Pixel rejection method",
                                   choices=_REJECT_METHODS),
               nlow=Param(int, 1, "Number of low pixels minmax rejects", min=0),
               nhigh=Param(int, 1, "Number of high pixels minmax rejects", min=0))
    def stackFlats(self, adinputs=None, **params):
        """Stack flats without offsets (minmax 1/1 by default, reduced for few frames)."""
        if self._passes_through(adinputs):
            return adinputs
        params = self._feasible_minmax(params, len(adinputs), self.log)
        outputs = self.stackFrames(adinputs, **params, zero=False)
        self.mark(outputs[0])
        return outputs

    @primitive(
        inherit="stackFrames",
        suffix=Param(str, "_skyStacked", "Filename suffix"),
        operation=Param(str, "median", "Combining operation", choices=_OPERATIONS),
        reject_method=Param(str, "minmax", "Pixel rejection method", choices=_REJECT_METHODS),
        nlow=Param(int, 1, "Number of low pixels minmax rejects", min=0),
        nhigh=Param(int, 1, "Number of high pixels minmax rejects", min=0),
        scale=Param(bool, True, "Scale the frames to the level of the first"),
        mask_objects=Param(bool, True, "Exclude the objects (OBJMASK) of each frame"),
        dilation=Param(float, 2.0, "Radius (pixels) by which the object masks grow", min=0.0),
    )
    def stackSkyFrames(self, adinputs=None, **params):
        """Stack sky frames with their objects masked, scaled to a common level (``_skyStacked``).

        The inputs are not modified: the dilated object masks are combined
        with the DQ only for the stacking. With both scale and zero set,
        zero is dropped (as DRAGONS does for skies).
        """
        if self._passes_through(adinputs):
            return adinputs
        if params["scale"] and params["zero"]:
            self.log.warning("Both scale and zero are set for the sky frames: scaling only")
            params = {**params, "zero": False}
        params = self._feasible_minmax(params, len(adinputs), self.log)
        extra = None
        if params["mask_objects"]:
            extra = [[object_mask(ext, params["dilation"]) for ext in ad] for ad in adinputs]
            counts = [sum(int(m.sum()) for m in masks if m is not None) for masks in extra]
            missing = [ad.filename for ad, masks in zip(adinputs, extra, strict=True)
                       if all(m is None for m in masks)]
            if missing:
                self.log.stdinfo(f"No object mask (OBJMASK) for {', '.join(missing)}")
            if any(counts):
                self.log.stdinfo(f"Masked {sum(counts)} object pixels in {len(adinputs)} "
                                 f"sky frames (dilation {params['dilation']:g})")
            if all(m is None for masks in extra for m in masks):
                extra = None
        flat_error = common_flat_error(self, adinputs)
        if flat_error is not None:
            self.log.stdinfo(f"The sky frames share the flat {flat_error.name}: its error is "
                             f"common to them, not reduced by the combination")
        out = self._combine(adinputs, params, extra_masks=extra, flat_error=flat_error)
        self.mark(out)
        self.mark(out, keyword=self.timestamp_keys["stackFrames"])
        return [out]
