"""Primitive mix-in NearIR: near-infrared detectors (lamp flats, bad pixel masks, readout).

* ``makeLampFlat``: stacks the lamp-on and the lamp-off flats separately
  (no scaling, no offsets) and subtracts the lamp-off stack from the lamp-on
  stack, which removes the thermal and dark signal (``_lampstack``).
* ``makeBPM``: a bad pixel mask from a normalized lamp flat (main stream)
  and a stack of short darks (``darks`` stream): a pixel is bad where the
  flat is outside [flat_lo_thresh, flat_hi_thresh] or the dark is outside
  [dark_lo_thresh, dark_hi_thresh]. As in DRAGONS the dark thresholds are
  in ADU; for a dark in electrons they are multiplied by the gain the data
  had in ADU (``_adu_gains``, from the instrument's lookup tables). The output is a uint16
  0/1 image, ``OBJECT = 'BPM'``, with the ``BPMASK`` keyword (``BPM`` tag)
  and the suffix ``_bpm``.
* ``removeFirstFrame``: drops the earliest frame (NIRI's first frame of a
  sequence suffers from a reset anomaly) and/or named files.
* ``cleanReadout``: removes the periodic readout pattern of NIRI/GNIRS
  quadrants (simplified: one mean pattern per quadrant, see its docstring);
  ``clean='skip'`` (the default) leaves the data alone.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from astrodata import DQ
from primitives.core.bookkeeping import Bookkeeping
from primitives.core.stack import robust_level
from primitives.errors import ParameterError, PrimitiveError
from primitives.params import Param, primitive

__all__ = ["NearIR", "DARKS_STREAM", "pattern_of"]

#: Stream holding the stacked short darks for makeBPM.
DARKS_STREAM = "darks"


def _thresholds(params: dict) -> tuple[float, float, float, float]:
    """(dark_lo, dark_hi, flat_lo, flat_hi) with None as an open limit."""
    dark_lo = params["dark_lo_thresh"]
    dark_hi = params["dark_hi_thresh"]
    flat_lo = params["flat_lo_thresh"]
    flat_hi = params["flat_hi_thresh"]
    if dark_lo is not None and dark_hi is not None and dark_lo >= dark_hi:
        raise ParameterError(f"makeBPM: dark_lo_thresh={dark_lo} must be below "
                             f"dark_hi_thresh={dark_hi}")
    return (-np.inf if dark_lo is None else dark_lo, np.inf if dark_hi is None else dark_hi,
            -np.inf if flat_lo is None else flat_lo, np.inf if flat_hi is None else flat_hi)


def pattern_of(quadrant: np.ndarray, good: np.ndarray, size_y: int, size_x: int,
               hsigma: float = 3.0, lsigma: float = 3.0) -> np.ndarray | None:
    """Mean zero-mean readout pattern (size_y x size_x) of a quadrant.

    Every ``size_y x size_x`` box of the quadrant has its median removed;
    each pattern element is then the mean, over the boxes, of its good
    pixels within [-lsigma, +hsigma] robust standard deviations of their
    median (which excludes sources and cosmic rays). None if the quadrant is
    not a whole number of boxes or an element has no good pixel.
    """
    ny, nx = quadrant.shape
    if ny % size_y or nx % size_x:
        return None
    boxes = quadrant.reshape(ny // size_y, size_y, nx // size_x, size_x).astype(np.float64)
    ok = good.reshape(boxes.shape)
    values = np.where(ok, boxes, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = values - np.nanmedian(values, axis=(1, 3), keepdims=True)
        centre = np.nanmedian(values, axis=(0, 2), keepdims=True)
        spread = 1.4826 * np.nanmedian(np.abs(values - centre), axis=(0, 2), keepdims=True)
        spread = np.maximum(spread, 1e-12)
        values = np.where((values - centre <= hsigma * spread)
                          & (centre - values <= lsigma * spread), values, np.nan)
        pattern = np.nanmean(values, axis=(0, 2))
    if not np.all(np.isfinite(pattern)):
        return None
    return pattern - pattern.mean()


class NearIR(Bookkeeping):
    """Near-infrared detector primitives (makeLampFlat, makeBPM, removeFirstFrame...)."""

    tagset = None

    @primitive(
        inherit="stackFrames",
        exclude=("scale", "zero", "separate_ext"),
        suffix=Param(str, "_lampstack", "Filename suffix"),
    )
    def makeLampFlat(self, adinputs=None, **params):
        """Stack lamp-on and lamp-off flats separately and subtract off from on (``_lampstack``).

        Without lamp-off flats the lamp-on stack is returned with a warning.
        """
        suffix = params["suffix"]
        stack_params = {k: v for k, v in params.items() if k != "suffix"}
        lamp_on = [ad for ad in adinputs if "LAMPON" in ad.tags]
        lamp_off = [ad for ad in adinputs if "LAMPOFF" in ad.tags]
        other = [ad.filename for ad in adinputs if ad not in lamp_on and ad not in lamp_off]
        if other:
            self.log.warning(f"makeLampFlat: neither lamp-on nor lamp-off, ignored: "
                             f"{', '.join(other)}")
        if not lamp_on:
            raise PrimitiveError("makeLampFlat: no lamp-on flat (LAMPON) among the inputs "
                                 f"({', '.join(ad.filename for ad in adinputs) or 'none'})")
        self.log.stdinfo(f"{len(lamp_on)} lamp-on and {len(lamp_off)} lamp-off flats")
        flat = self.stackFrames(lamp_on, **stack_params, scale=False, zero=False,
                                separate_ext=True)[0]
        if lamp_off:
            off = self.stackFrames(lamp_off, **stack_params, scale=False, zero=False,
                                   separate_ext=True)[0]
            t_on, t_off = lamp_on[0].exposure_time(), lamp_off[0].exposure_time()
            if t_on is not None and t_off is not None and abs(t_on - t_off) > 0.01:
                self.log.warning(f"Lamp-on ({t_on} s) and lamp-off ({t_off} s) flats have "
                                 f"different exposure times")
            if flat is lamp_on[0]:
                flat = self._independent(flat)
            flat.subtract(off)
            for ext in flat:
                if ext.data.dtype != np.float32:
                    ext.nddata.data = ext.data.astype(np.float32)
            levels = [robust_level(ext.data[ext.mask == 0] if ext.mask is not None
                                   else ext.data) for ext in flat]
            self.log.stdinfo(f"Lamp-on minus lamp-off stack: median level "
                             f"{', '.join('n/a' if v is None else f'{v:.5g}' for v in levels)}")
        else:
            self.log.warning("No lamp-off flats: the lamp-on stack is used as it is (thermal "
                             "and dark signal not removed)")
            if flat is lamp_on[0]:
                flat = self._independent(flat)
        flat.update_filename(suffix=suffix, strip=True)
        self.mark(flat)
        return [flat]

    @staticmethod
    def _independent(ad: Any) -> Any:
        from primitives.base import independent_copy
        return independent_copy(ad)

    # -- bad pixel masks ----------------------------------------------------
    def _bpm_inputs(self, adinputs: list, need_dark: bool = True) -> tuple[Any, Any | None]:
        if not adinputs:
            raise PrimitiveError("makeBPM: no flat in the input stream")
        if len(adinputs) > 1:
            self.log.warning(f"makeBPM: {len(adinputs)} inputs; only the first "
                             f"({adinputs[0].filename}) is used as the flat")
        flat = adinputs[0]
        darks = self.streams.get(DARKS_STREAM) or []
        if not darks:
            if need_dark:
                raise PrimitiveError("makeBPM: no stacked dark in the 'darks' stream (the recipe "
                                     "stacks the short darks with stackFrames(stream='darks'))")
            return flat, None
        dark = darks[0]
        if len(dark) != len(flat) or any(tuple(d.shape) != tuple(f.shape)
                                         for d, f in zip(dark, flat, strict=True)):
            raise PrimitiveError(f"makeBPM: the dark {dark.filename} and the flat "
                                 f"{flat.filename} do not have the same extensions and shapes")
        return flat, dark

    def _adu_gains(self, ad: Any) -> list[float | None]:
        """Per extension, the gain (electrons/ADU) the data had before ADUToElectrons.

        From the ``GAINORIG`` extension keyword when present; instrument
        classes give their lookup values. None where it is not known.
        """
        return [ext.hdr.get("GAINORIG") for ext in ad]

    def _dark_limits(self, dark: Any, lo: float, hi: float) -> list[tuple[float, float]]:
        """Per extension, the dark limits (given in ADU) in the dark's units."""
        if dark.is_in_adu():
            return [(lo, hi)] * len(dark)
        limits = []
        for index, gain in enumerate(self._adu_gains(dark), start=1):
            if gain is None or not gain > 0:
                raise PrimitiveError(f"makeBPM: {dark.filename} extension {index} is in "
                                     f"electrons and its gain in ADU is not known, so the "
                                     f"dark thresholds (ADU) cannot be converted")
            limits.append((lo * gain, hi * gain))
        return limits

    def _write_bpm(self, flat: Any, bad_masks: list, keep_unilluminated: bool,
                   suffix: str) -> Any:
        total = 0
        for ext, bad in zip(flat, bad_masks, strict=True):
            mask = ext.mask
            bpm = bad.astype(DQ.datatype)
            if mask is not None:
                unilluminated = (np.asarray(mask) & DQ.unilluminated) != 0
                bpm = np.where(unilluminated, DQ.unilluminated if keep_unilluminated else 0,
                               bpm).astype(DQ.datatype)
            total += int(np.count_nonzero(bpm & DQ.bad_pixel))
            ext.reset(bpm, mask=None, variance=None)
            for item in ("OBJMASK", "OBJCAT", "REJMAP"):
                if getattr(ext, item, None) is not None:
                    delattr(ext, item)
        npix = sum(int(np.prod(ext.shape)) for ext in flat)
        self.log.stdinfo(f"{flat.filename}: {total} bad pixels ({100.0 * total / npix:.3f}%)")
        flat.phu["OBJECT"] = ("BPM", "Bad pixel mask")
        self.mark(flat)
        flat.update_filename(suffix=suffix, strip=True)
        return flat

    @primitive(
        suffix=Param(str, "_bpm", "Filename suffix"),
        dark_lo_thresh=Param(float, None, "Dark values below this are bad (ADU)"),
        dark_hi_thresh=Param(float, None, "Dark values above this are bad (ADU)"),
        flat_lo_thresh=Param(float, None, "Normalized flat values below this are bad",
                             max=1.0),
        flat_hi_thresh=Param(float, None, "Normalized flat values above this are bad",
                             min=1.0),
        keep_unilluminated=Param(bool, False, "Keep the unilluminated flag (DQ 64) of the flat "
                                 "in the mask instead of 0"),
    )
    def makeBPM(self, adinputs=None, **params):
        """Bad pixel mask from a normalized lamp flat and the stacked short darks (``_bpm``).

        A pixel is bad (1) where the flat or the dark is outside its limits
        (None: no limit) or not finite. Pixels flagged unilluminated in the
        flat are 0 (they are flagged by the illumination mask instead), or
        64 with ``keep_unilluminated``.
        """
        dark_lo, dark_hi, flat_lo, flat_hi = _thresholds(params)
        flat, dark = self._bpm_inputs(adinputs)
        if self.timestamp_keys["makeBPM"] in flat.phu:
            self.log.warning(f"{flat.filename} is already a bad pixel mask; left unchanged")
            return [flat]
        limits = self._dark_limits(dark, dark_lo, dark_hi)
        units = "ADU" if dark.is_in_adu() else "electrons"
        shown = "; ".join(f"[{lo:.6g}, {hi:.6g}]" for lo, hi in dict.fromkeys(limits))
        self.log.stdinfo(f"Flat limits [{flat_lo:g}, {flat_hi:g}]; dark limits "
                         f"[{dark_lo:g}, {dark_hi:g}] ADU = {shown} {units} in {dark.filename}")
        bad_masks = []
        for index, (flat_ext, dark_ext, (lo, hi)) in enumerate(
                zip(flat, dark, limits, strict=True), start=1):
            fdata = np.asarray(flat_ext.data)
            ddata = np.asarray(dark_ext.data)
            with np.errstate(invalid="ignore"):
                flat_bad = ~np.isfinite(fdata) | (fdata < flat_lo) | (fdata > flat_hi)
                dark_bad = ~np.isfinite(ddata) | (ddata < lo) | (ddata > hi)
            self.log.stdinfo(f"  extension {index}: {int(flat_bad.sum())} pixels from the flat, "
                             f"{int(dark_bad.sum())} from the dark")
            bad_masks.append(flat_bad | dark_bad)
        return [self._write_bpm(flat, bad_masks, params["keep_unilluminated"],
                                params["suffix"])]

    # -- frame selection ----------------------------------------------------
    @primitive(
        remove_first=Param(bool, True, "Remove the earliest frame"),
        remove_files=Param(list, None, "Also remove these files (names or root names)",
                           item=str),
    )
    def removeFirstFrame(self, adinputs=None, **params):
        """Drop the earliest frame (by UT start) and any file named in ``remove_files``."""
        outputs = list(adinputs)
        if params["remove_first"] and outputs:
            times = [ad.ut_datetime() for ad in outputs]
            if any(t is None for t in times):
                missing = [ad.filename for ad, t in zip(outputs, times, strict=True) if t is None]
                raise PrimitiveError(f"removeFirstFrame: no observation time for "
                                     f"{', '.join(missing)}")
            first = min(range(len(outputs)), key=lambda i: times[i])
            self.log.stdinfo(f"Removing {outputs[first].filename} (first frame, "
                             f"{times[first]:%Y-%m-%d %H:%M:%S})")
            del outputs[first]
        elif not outputs:
            self.log.stdinfo("No frames: nothing to remove")
        for name in params["remove_files"] or []:
            root = name.strip()
            root = root[:-5] if root.endswith(".fits") else root
            kept = [ad for ad in outputs if root not in ad.filename]
            if len(kept) == len(outputs):
                self.log.warning(f"removeFirstFrame: {name} is not among the inputs")
            else:
                self.log.stdinfo(f"Removing {name} as requested")
            outputs = kept
        if not (params["remove_first"] or params["remove_files"]):
            self.log.warning("No frame removed: the first frame of a NIRI sequence may be "
                             "affected by the detector reset")
        return outputs

    # -- readout pattern ------------------------------------------------------
    @primitive(
        suffix=Param(str, "_readoutCleaned", "Filename suffix"),
        clean=Param(str, "skip", "Cleaning behaviour",
                    choices={"default": "remove the pattern where it is strong enough",
                             "force": "remove the pattern in every quadrant",
                             "skip": "do nothing"}),
        hsigma=Param(float, 3.0, "High clipping threshold for the pattern (sigma)", min=0.1),
        lsigma=Param(float, 3.0, "Low clipping threshold for the pattern (sigma)", min=0.1),
        pattern_x_size=Param(int, 16, "Pattern width (pixels, a power of 2)", min=1),
        pattern_y_size=Param(int, 4, "Pattern height (pixels, a power of 2)", min=1),
        level_bias_offset=Param(bool, True, "Level the quadrants to a common background"),
        pat_strength_thres=Param(float, 15.0, "Smallest pattern rms (data units) removed "
                                 "with clean='default'", min=0.0),
    )
    def cleanReadout(self, adinputs=None, **params):
        """Remove the periodic readout pattern of each quadrant (``_readoutCleaned``).

        Simplified version of DRAGONS' algorithm: each quadrant's pattern is
        the clipped mean of its ``pattern_y_size x pattern_x_size`` boxes
        (sources and flagged pixels excluded), and is removed from the whole
        quadrant when its rms exceeds ``pat_strength_thres`` (or always with
        ``clean='force'``); the quadrants' backgrounds are then levelled to
        their mean. DRAGONS' row-by-row amplitude fit and edge search are not
        done. ``clean='skip'`` (default) does nothing.
        """
        if params["clean"] == "skip":
            self.log.stdinfo("cleanReadout: clean='skip', nothing done")
            return adinputs
        size_y, size_x = params["pattern_y_size"], params["pattern_x_size"]
        for value, name in ((size_y, "pattern_y_size"), (size_x, "pattern_x_size")):
            if value & (value - 1):
                raise ParameterError(f"cleanReadout: {name}={value} is not a power of 2")
        timestamp = self.timestamp_keys["cleanReadout"]
        for ad in adinputs:
            if timestamp in ad.phu:
                self.log.warning(f"{ad.filename}: already cleaned; left unchanged")
                continue
            cleaned = 0
            for ext in ad:
                data = np.asarray(ext.data, dtype=np.float32)
                ny, nx = data.shape
                qy, qx = ny // 2, nx // 2
                good = np.isfinite(data)
                if ext.mask is not None:
                    good &= (np.asarray(ext.mask) & DQ.not_signal) == 0
                objmask = getattr(ext, "OBJMASK", None)
                if objmask is not None:
                    good &= np.asarray(objmask) == 0
                new = data.copy()
                quadrant_levels = []
                for y0 in (0, qy):
                    for x0 in (0, qx):
                        box = (slice(y0, y0 + qy), slice(x0, x0 + qx))
                        pattern = pattern_of(data[box], good[box], size_y, size_x,
                                             params["hsigma"], params["lsigma"])
                        if pattern is None:
                            continue
                        strength = float(pattern.std())
                        if params["clean"] == "force" or strength > params["pat_strength_thres"]:
                            new[box] -= np.tile(pattern, (qy // size_y, qx // size_x)).astype(
                                np.float32)
                            cleaned += 1
                        quadrant_levels.append((box, robust_level(new[box][good[box]])))
                if params["level_bias_offset"] and quadrant_levels and \
                        all(v is not None for _, v in quadrant_levels):
                    mean_level = np.mean([v for _, v in quadrant_levels])
                    for box, value in quadrant_levels:
                        new[box] += np.float32(mean_level - value)
                ext.nddata.data = new
            self.log.stdinfo(f"{ad.filename}: pattern removed from {cleaned} quadrant(s)")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs
