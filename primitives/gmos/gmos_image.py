"""Class GMOSImage: GMOS imaging primitives ({GEMINI, GMOS, IMAGE}).

GMOS imaging specifics (DRAGONS behaviour, see dragons-behaviour.md 4.2):

* ``normalizeFlat`` divides every CCD by the statistic of CCD2's good
  pixels, so the flat keeps the response of CCD1 and CCD3 relative to CCD2,
  then flags pixels outside [0.01, 10] as unilluminated
  (``thresholdFlatfield``).
* ``stackFlats`` scales each twilight flat to the CCD2 level of the first
  (the sky fades between exposures) and rejects the nlow lowest and nhigh
  highest values, the numbers depending on how many flats there are: none
  for up to 2, 1/1 for 3-5, 2/2 for 6-10, 2/3 beyond.
* ``QECorrect`` scales CCD1 and CCD3 so that their sky level next to CCD2
  matches CCD2's: the CCDs' quantum efficiencies differ with wavelength, and
  the twilight sky of the flat is bluer than the night sky.
* ``makeFringeFrame`` combines dithered, flat-fielded frames of one filter
  into a fringe frame: each frame's sky level is subtracted, objects are
  found (on each frame minus the median of all, which removes the fringes
  that would confuse the detection; automatic at Gemini-South) and masked,
  and the frames are stacked (varclip). ``fringeCorrect`` subtracts the
  fringe frame from frames that need it (z and Y; also i, CaT and Z on the
  EEV and e2vDD CCDs), scaled by a clipped least-squares fit of the
  fringe frame to the frame's background-subtracted pixels (DRAGONS does
  not scale a fringe frame from the same observation, same ``group_id``:
  ``scale=None``). The objects are masked where found on each frame and on
  the mean of all frames registered by their WCSs (``deep_mask``), which
  finds those too faint for one frame, whose light would otherwise stay
  in the fringe frame and be subtracted from every frame.
* ``detectSources`` masks the DQ-flagged pixels (``mask=True``; DRAGONS:
  False), which the detection interpolates over: a bad column through a
  star no longer splits it into two sources with false centroids.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from scipy import ndimage

import astrodata
from astrodata import DQ
from gempy.library import stacking
from gempy.library.detection import detect_sources
from primitives.base import independent_copy
from primitives.core.image import Image
from primitives.core.photometry import Photometry
from primitives.core.preprocess import matching_calibration
from primitives.core.register import pixel_affine
from primitives.core.stack import STACK_PARAMS, robust_level
from primitives.core.visualize import group_arrays, reference_array
from primitives.errors import PrimitiveError
from primitives.gmos.gmos import GMOS
from primitives.params import Param, primitive

__all__ = ["GMOSImage", "FRINGE_FILTERS", "needs_fringe_correction", "flat_rejection"]

#: Filters whose frames fringe on every GMOS detector, and on the thick (EEV, e2vDD) CCDs only.
FRINGE_FILTERS = {"all": frozenset({"z", "Y"}),
                  "thick": frozenset({"i", "CaT", "Z"})}

_DO_CAL = {
    "procmode": "required in sq mode; skipped with a warning in ql/qa when missing",
    "force": "always required",
    "skip": "do not apply",
}

#: Fewest dithered frames from which objects can be removed in a fringe frame.
_MIN_FRINGE_FRAMES = 3


def needs_fringe_correction(filter_name: str | None, detector_family: str | None) -> bool:
    """Whether GMOS frames in this filter, on this detector family, fringe."""
    if filter_name in FRINGE_FILTERS["all"]:
        return True
    return filter_name in FRINGE_FILTERS["thick"] and detector_family in ("EEV", "e2vDD")


def flat_rejection(nflats: int) -> tuple[int, int]:
    """(nlow, nhigh) of the minmax rejection for stacking `nflats` GMOS flats."""
    if nflats <= 2:
        return 0, 0
    if nflats <= 5:
        return 1, 1
    if nflats <= 10:
        return 2, 2
    return 2, 3


def _good_values(ext: Any, use_objmask: bool = True, columns: np.ndarray | None = None
                 ) -> np.ndarray:
    """Finite, unflagged pixel values of an extension (optionally only some columns)."""
    data = np.asarray(ext.data)
    good = np.isfinite(data)
    if ext.mask is not None:
        good &= np.asarray(ext.mask) == 0
    objmask = getattr(ext, "OBJMASK", None) if use_objmask else None
    if objmask is not None:
        good &= np.asarray(objmask) == 0
    if columns is not None:
        good &= columns[None, :]
    return data[good]


def _disk(radius: float) -> np.ndarray:
    size = int(np.ceil(radius))
    yy, xx = np.mgrid[-size:size + 1, -size:size + 1]
    return (xx * xx + yy * yy) <= radius * radius + 1e-9


class GMOSImage(GMOS, Image, Photometry):
    """GMOS imaging (science, twilight flats, fringe frames)."""

    tagset = frozenset({"GEMINI", "GMOS", "IMAGE"})
    param_defaults = {
        "addDQ": {"add_illum_mask": True},
        "stackFlats": {"scale": True},
        # DRAGONS leaves GMOS sources unmasked; the CCDs' bad columns then cut bright
        # stars in two (a frame of gmos-imaging-ccd2 was misregistered by 1.1 pixels):
        # masked, they are interpolated over and the stars found whole
        "detectSources": {"mask": True},
    }

    # -- CCD bookkeeping ---------------------------------------------------------
    @staticmethod
    def _ccd2_indices(ad: Any) -> list[int]:
        """Extensions of the central CCD (all of them for a one-CCD frame)."""
        groups = group_arrays(ad)
        return groups[reference_array(groups)].indices

    def _ccd2_level(self, ad: Any, statistic: str = "median") -> float:
        values = np.concatenate([_good_values(ad[i], use_objmask=False).astype(np.float64)
                                 for i in self._ccd2_indices(ad)])
        if values.size == 0:
            raise PrimitiveError(f"{ad.filename}: CCD2 has no good (unflagged, finite) pixel")
        return float(np.median(values) if statistic == "median" else np.mean(values))

    # -- flats -------------------------------------------------------------------
    @primitive(per_file=True, inherit="normalizeFlat")
    def normalizeFlat(self, adinputs=None, **params):
        """Divide each flat by the median (or mean) of CCD2's good pixels (``_normalized``).

        CCD1 and CCD3 keep their response relative to CCD2. With
        ``separate_ext`` every extension is divided by its own statistic.
        Pixels of the normalized flat outside [0.01, 10] are then flagged
        unilluminated and set to 1 (``thresholdFlatfield``): without the
        Gemini illumination masks, the flat itself tells where no light fell.
        """
        for ad in adinputs:
            if self._already_done(ad, "normalizeFlat"):
                continue
            if params["separate_ext"]:
                levels = []
                for ext in ad:
                    values = _good_values(ext, use_objmask=False).astype(np.float64)
                    if values.size == 0:
                        raise PrimitiveError(f"{ad.filename} extension {ext.id}: no good pixel "
                                             f"to normalize the flat with")
                    level = float(np.median(values) if params["scale"] == "median"
                                  else np.mean(values))
                    ext.divide(np.float32(level))
                    levels.append(level)
                what = f"each extension by its own {params['scale']} " + ", ".join(
                    f"{v:.6g}" for v in levels)
            else:
                level = self._ccd2_level(ad, params["scale"])
                if not np.isfinite(level) or level == 0:
                    raise PrimitiveError(f"{ad.filename}: the CCD2 {params['scale']} is "
                                         f"{level}; cannot normalize the flat")
                for ext in ad:
                    ext.divide(np.float32(level))
                what = f"the CCD2 {params['scale']} {level:.6g}"
            for ext in ad:
                nd = ext.nddata
                nd.data = np.asarray(nd.data, dtype=np.float32)
                if nd.variance is not None:
                    nd.variance = np.asarray(nd.variance, dtype=np.float32)
            self.log.stdinfo(f"{ad.filename}: divided by {what}")
            # no GMOS illumination masks here: flag the unilluminated pixels from the flat
            self.thresholdFlatfield([ad], suffix="")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(
        inherit="stackFlats",
        exclude=("statsec", "separate_ext"),
        nlow=Param(int, None, "Low pixels minmax rejects (None: by the number of flats)", min=0),
        nhigh=Param(int, None, "High pixels minmax rejects (None: by the number of flats)",
                    min=0),
    )
    def stackFlats(self, adinputs=None, **params):
        """Scale the flats to the CCD2 level of the first, then stack them with minmax rejection.

        nlow/nhigh default to 0/0 for up to 2 flats, 1/1 for 3-5, 2/2 for
        6-10 and 2/3 beyond. The inputs are scaled in place.
        """
        nflats = len(adinputs)
        if nflats < 2:
            self.log.warning(f"stackFlats: {nflats} input(s); at least two are needed to "
                             f"stack, so the input is passed through unchanged")
            return adinputs
        auto_low, auto_high = flat_rejection(nflats)
        nlow = auto_low if params["nlow"] is None else params["nlow"]
        nhigh = auto_high if params["nhigh"] is None else params["nhigh"]
        params = {**params, "nlow": nlow, "nhigh": nhigh}
        if params["reject_method"] == "minmax" and nlow == nhigh == 0:
            params["reject_method"] = "none"
        if params["scale"]:
            levels = [self._ccd2_level(ad) for ad in adinputs]
            if any(level <= 0 for level in levels):
                raise PrimitiveError("stackFlats: flats with a CCD2 level <= 0: "
                                     + ", ".join(f"{ad.filename} ({v:.4g})" for ad, v in
                                                 zip(adinputs, levels, strict=True)
                                                 if v <= 0))
            for ad, level in zip(adinputs, levels, strict=True):
                factor = np.float32(levels[0] / level)
                for ext in ad:
                    ext.multiply(factor)
                    nd = ext.nddata
                    nd.data = np.asarray(nd.data, dtype=np.float32)
                    if nd.variance is not None:
                        nd.variance = np.asarray(nd.variance, dtype=np.float32)
            self.log.stdinfo("Flats scaled to the CCD2 level of the first (" + ", ".join(
                f"{levels[0] / v:.4f}" for v in levels) + ")")
        self.log.stdinfo(f"{nflats} flats: {params['reject_method']} rejection"
                         + (f" of {nlow} low and {nhigh} high values"
                            if params["reject_method"] == "minmax" else ""))
        outputs = self.stackFrames(adinputs, **{**params, "scale": False}, zero=False)
        self.mark(outputs[0])
        return outputs

    # -- QE -----------------------------------------------------------------------
    def _qe_ratios(self, ad: Any) -> dict[int, float]:
        """CCD2 sky level / CCDk sky level next to CCD2, keyed by group index."""
        groups = group_arrays(ad)
        reference = reference_array(groups)
        xbin = int(ad.detector_x_bin() or 1)
        ref_box = groups[reference].detector_box
        width = ref_box.x2 - ref_box.x1
        strip = max(width // 4, xbin)
        detsecs = ad.detector_section()
        detsecs = detsecs if isinstance(detsecs, list) else [detsecs]

        def level_near(indices: list[int], x_from: float, x_to: float) -> float | None:
            values = []
            for i in indices:
                section = detsecs[i]
                ncols = ad[i].shape[-1]
                columns = section.x1 + (np.arange(ncols) + 0.5) * xbin
                selected = (columns >= x_from) & (columns < x_to)
                if selected.any():
                    values.append(_good_values(ad[i], columns=selected))
            return robust_level(np.concatenate(values)) if values else None

        ratios = {}
        for k, group in enumerate(groups):
            if k == reference:
                continue
            box = group.detector_box
            if box.x2 <= ref_box.x1:       # left of CCD2
                own = level_near(group.indices, box.x2 - strip, box.x2)
                ref = level_near(groups[reference].indices, ref_box.x1, ref_box.x1 + strip)
            else:
                own = level_near(group.indices, box.x1, box.x1 + strip)
                ref = level_near(groups[reference].indices, ref_box.x2 - strip, ref_box.x2)
            if own is None or ref is None or own <= 0 or ref <= 0:
                raise PrimitiveError(f"{ad.filename}: cannot measure the sky level next to the "
                                     f"chip gap (levels {own}, {ref})")
            ratios[k] = ref / own
        return ratios

    @primitive(
        per_file=lambda p: p["factors"] is not None or not p["common"],
        suffix=Param(str, "_QECorrected", "Filename suffix"),
        factors=Param(list, None, "Factors for CCD1 and CCD3 (None: measured on the sky)",
                      item=float, min=0.0),
        common=Param(bool, True, "Use one pair of factors for all inputs (median of the "
                     "frames' ratios)"),
    )
    def QECorrect(self, adinputs=None, **params):
        """Scale CCD1 and CCD3 so that their sky next to CCD2 matches CCD2's (``QEFACTOR``)."""
        todo = [ad for ad in adinputs if not self._already_done(ad, "QECorrect")]
        given = params["factors"]
        if given is not None and len(given) != 2:
            raise PrimitiveError(f"QECorrect: factors must be two numbers (CCD1, CCD3), got "
                                 f"{given}")
        measured: dict[int, dict[int, float]] = {}
        layouts: dict[int, list] = {}
        for ad in todo:
            groups = group_arrays(ad)
            layouts[id(ad)] = groups
            if len(groups) < 2:
                continue
            if given is None:
                measured[id(ad)] = self._qe_ratios(ad)
        common = None
        if given is None and params["common"] and measured:
            keys = sorted({k for ratios in measured.values() for k in ratios})
            common = {k: float(np.median([r[k] for r in measured.values() if k in r]))
                      for k in keys}
        for ad in todo:
            groups = layouts[id(ad)]
            if len(groups) < 2:
                self.log.stdinfo(f"{ad.filename}: one CCD only; no QE correction needed")
                self.mark(ad)
                ad.update_filename(suffix=params["suffix"], strip=True)
                continue
            reference = reference_array(groups)
            if given is not None:
                others = [k for k in range(len(groups)) if k != reference]
                sides = {k: (0 if groups[k].detector_box.x2 <= groups[reference].detector_box.x1
                             else 1) for k in others}
                factors = {k: float(given[sides[k]]) for k in others}
            else:
                factors = common if common is not None else measured[id(ad)]
            for k, factor in factors.items():
                for i in groups[k].indices:
                    ad[i].multiply(np.float32(factor))
                    nd = ad[i].nddata
                    nd.data = np.asarray(nd.data, dtype=np.float32)
                    if nd.variance is not None:
                        nd.variance = np.asarray(nd.variance, dtype=np.float32)
                    ad[i].hdr["QEFACTOR"] = (round(factor, 6), "QE correction factor applied")
            shown = ", ".join(f"CCD{k + 1 if len(groups) == 3 else k} x{f:.4f}"
                              for k, f in sorted(factors.items()))
            source = ("given" if given is not None else
                      "median of all inputs" if common is not None else "measured")
            self.log.stdinfo(f"{ad.filename}: QE correction {shown} ({source})")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- fringes -----------------------------------------------------------------
    def _needs_fringe_correction(self, ad: Any) -> bool:
        try:
            name = ad.filter_name(pretty=True)
        except (AttributeError, TypeError, ValueError):
            name = None
        return needs_fringe_correction(name, self._detector_family(ad))

    @staticmethod
    def _assemble_ccd(ad: Any, group: Any, images: list[np.ndarray], with_variance: bool = True
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """One CCD's image, DQ and variance (None if an extension has none) from its amplifiers."""
        pairs = list(zip(group.indices, group.positions, strict=True))
        ny = max(py + ad[i].shape[0] for i, (_, py) in pairs)
        nx = max(px + ad[i].shape[1] for i, (px, _) in pairs)
        image = np.zeros((ny, nx), dtype=np.float32)
        dq = np.full((ny, nx), DQ.no_data, dtype=DQ.datatype)
        has_variance = with_variance and all(ad[i].variance is not None
                                             for i in group.indices)
        variance = np.zeros((ny, nx), dtype=np.float32) if has_variance else None
        for i, (px, py) in pairs:
            h, w = ad[i].shape
            box = (slice(py, py + h), slice(px, px + w))
            image[box] = images[i]
            if variance is not None:
                variance[box] = np.asarray(ad[i].variance)
            dq[box] = 0 if ad[i].mask is None else np.asarray(ad[i].mask)
        return image, dq, variance

    @staticmethod
    def _split_ccd(ad: Any, group: Any, objects: np.ndarray, masks: list[np.ndarray]) -> None:
        for i, (px, py) in zip(group.indices, group.positions, strict=True):
            h, w = ad[i].shape
            masks[i] |= objects[py:py + h, px:px + w]

    def _find_objects(self, image: np.ndarray, dq: np.ndarray, variance: np.ndarray | None,
                      params: dict) -> np.ndarray:
        """Dilated boolean object mask of one CCD image (detect_sources' segmentation)."""
        _, objmask = detect_sources(
            image, variance=variance, mask=dq, detect_thresh=params["detect_thresh"],
            analysis_thresh=params["detect_thresh"], detect_minarea=params["detect_minarea"],
            back_size=params["back_size"], back_filtersize=params["back_filtersize"])
        objects = objmask != 0
        if params["dilation"] > 0 and objects.any():
            objects = ndimage.binary_dilation(objects, structure=_disk(params["dilation"]))
        return objects

    def _object_masks(self, ad: Any, detection_image: list[np.ndarray], params: dict
                      ) -> list[np.ndarray]:
        """Object masks (boolean, dilated) of each extension, found per CCD."""
        masks = [np.zeros(ext.shape, dtype=bool) for ext in ad]
        for group in group_arrays(ad):
            image, dq, variance = self._assemble_ccd(ad, group, detection_image)
            if not np.any((dq & (DQ.no_data | DQ.unilluminated)) == 0):
                continue  # a CCD outside the imaging field: no objects to find
            self._split_ccd(ad, group, self._find_objects(image, dq, variance, params), masks)
        return masks

    @staticmethod
    def _dither_shifts(frames: list, index: int) -> list[tuple[int, int]] | None:
        """Whole-pixel (dx, dy) taking extension ``index`` of each frame to the first frame's.

        From the extensions' WCSs; None when a WCS is missing or the frames
        are rotated or scaled relative to each other (more than 0.05 pixel
        over the extension).
        """
        reference = frames[0][index]
        if reference.wcs is None:
            return None
        ny, nx = reference.shape
        centre = np.array([(nx - 1) / 2.0, (ny - 1) / 2.0])
        shifts = []
        for ad in frames:
            ext = ad[index]
            if ext.wcs is None:
                return None
            try:
                matrix, offset = pixel_affine(ext.wcs, ext.shape, reference.wcs)
            except (ValueError, TypeError, np.linalg.LinAlgError):
                return None
            if np.max(np.abs(matrix - np.eye(2))) * max(nx, ny) > 0.05:
                return None
            dx, dy = matrix @ centre + offset - centre
            if not (np.isfinite(dx) and np.isfinite(dy)):
                return None
            shifts.append((int(round(float(dx))), int(round(float(dy)))))
        return shifts

    def _deep_object_masks(self, frames: list, detection_of: Any, params: dict
                           ) -> list[list[np.ndarray]] | None:
        """Object masks found on the mean of all frames registered by their WCSs.

        Objects too faint to be found on one frame (whose wings would
        otherwise stay in the fringe frame and be subtracted from every
        frame) come out sqrt(N) times more significant on the registered
        mean of the N frames. Frames are registered to the nearest pixel;
        the mask is dilated. ``detection_of(ad)`` returns a frame's
        detection images (one per extension). None when the frames cannot be
        registered.
        """
        first = frames[0]
        masks = [[np.zeros(ext.shape, dtype=bool) for ext in ad] for ad in frames]
        empty = DQ.no_data | DQ.unilluminated
        for group in group_arrays(first):
            shifts = self._dither_shifts(frames, group.indices[0])
            if shifts is None:
                return None
            x0 = min(dx for dx, _ in shifts)
            y0 = min(dy for _, dy in shifts)
            total = count = None
            ny = nx = 0
            for ad, (dx, dy) in zip(frames, shifts, strict=True):
                # one frame at a time: the sum needs no copy of every frame
                image, dq, _ = self._assemble_ccd(ad, group, detection_of(ad),
                                                  with_variance=False)
                if total is None:
                    ny, nx = image.shape
                    shape = (ny + max(v for _, v in shifts) - y0,
                             nx + max(u for u, _ in shifts) - x0)
                    total = np.zeros(shape, dtype=np.float32)
                    count = np.zeros(shape, dtype=np.int16)
                box = (slice(dy - y0, dy - y0 + ny), slice(dx - x0, dx - x0 + nx))
                good = (dq & (empty | DQ.bad_pixel | DQ.saturated | DQ.cosmic_ray)) == 0
                total[box] += np.where(good, image, np.float32(0))
                count[box] += good
                del image, dq, good
            if not count.any():
                continue
            mean = total / np.maximum(count, 1).astype(np.float32)
            objects = self._find_objects(
                mean, np.where(count > 0, 0, DQ.no_data).astype(DQ.datatype), None, params)
            del total, mean
            for k, (dx, dy) in enumerate(shifts):
                own = objects[dy - y0:dy - y0 + ny, dx - x0:dx - x0 + nx]
                self._split_ccd(frames[k], group, own, masks[k])
        return masks

    @primitive(
        params_from="stackFrames",
        suffix=Param(str, "_fringe", "Filename suffix"),
        reject_method=Param(str, "varclip", "Pixel rejection method",
                            choices=STACK_PARAMS["reject_method"].choices),
        subtract_median_image=Param(bool, None, "Find objects on each frame minus the median "
                                    "of all (None: at Gemini-South only)"),
        dilation=Param(float, 2.0, "Radius (pixels) by which the object masks grow", min=0.0),
        deep_mask=Param(bool, True, "Also mask the objects found on the mean of all frames "
                        "registered by their WCSs (fainter objects)"),
        detect_thresh=Param(float, 2.0, "Object detection threshold (background sigma)",
                            min=0.0),
        detect_minarea=Param(int, 8, "Minimum object area (pixels)", min=1),
        back_size=Param(int, 32, "Background box size for the detection (pixels)", min=4),
        back_filtersize=Param(int, 8, "Background filter size (boxes)", min=1),
    )
    def makeFringeFrame(self, adinputs=None, **params):
        """Combine dithered frames of one filter into a fringe frame (``_fringe``).

        Each frame's sky level is subtracted, objects are masked (found on
        the frame minus the median of all frames when
        ``subtract_median_image``) and the frames are stacked. The inputs
        are not changed; the output replaces them in the stream.
        """
        if not adinputs:
            return adinputs
        if not all(self._needs_fringe_correction(ad) for ad in adinputs):
            names = ", ".join(f"{ad.filename} ({ad.filter_name(pretty=True)})"
                              for ad in adinputs if not self._needs_fringe_correction(ad))
            self.log.warning(f"makeFringeFrame: no fringe frame is made; these frames do not "
                             f"need fringe correction: {names}")
            return adinputs
        filters = {ad.filter_name(pretty=True) for ad in adinputs}
        if len(filters) > 1:
            raise PrimitiveError(f"makeFringeFrame: the inputs have different filters "
                                 f"({', '.join(sorted(filters))})")
        if len(adinputs) < _MIN_FRINGE_FRAMES:
            raise PrimitiveError(f"makeFringeFrame: {len(adinputs)} frame(s); at least "
                                 f"{_MIN_FRINGE_FRAMES} dithered frames are needed to remove "
                                 f"the objects")
        shapes = {tuple(tuple(ext.shape) for ext in ad) for ad in adinputs}
        if len(shapes) > 1:
            raise PrimitiveError("makeFringeFrame: the inputs do not all have the same "
                                 "extensions and shapes")
        subtract_median = params["subtract_median_image"]
        if subtract_median is None:
            subtract_median = str(adinputs[0].telescope()) == "Gemini-South"
        frames = [independent_copy(ad) for ad in adinputs]
        for ad in frames:
            levels = []
            for ext in ad:
                level = robust_level(_good_values(ext))
                if level is None:
                    if ext.mask is not None and np.all(
                            np.asarray(ext.mask) & (DQ.no_data | DQ.unilluminated)):
                        # no light falls on this amplifier (outside the imaging field):
                        # the fringe frame is 0 there whatever its pixels hold
                        continue
                    raise PrimitiveError(f"{ad.filename} extension {ext.id}: no good pixel to "
                                         f"measure the sky on")
                ext.data = (np.asarray(ext.data, dtype=np.float32) - np.float32(level))
                levels.append(level)
            self.log.fullinfo(f"{ad.filename}: sky level {np.median(levels):.2f} subtracted")
        median_image = None
        if subtract_median:
            median_image = []
            for j in range(len(frames[0])):
                result = stacking.stack(
                    [np.asarray(ad[j].data, dtype=np.float32) for ad in frames],
                    mask=[None if ad[j].mask is None else np.asarray(ad[j].mask)
                          for ad in frames],
                    operation="median", reject_method="none")
                median_image.append(result.data)
        def detection_of(ad: Any) -> list[np.ndarray]:
            # made when needed: a copy of every frame at once would double the memory
            return [np.asarray(ext.data, dtype=np.float32)
                    - (0 if median_image is None else median_image[j])
                    for j, ext in enumerate(ad)]

        deep = self._deep_object_masks(frames, detection_of, params) \
            if params["deep_mask"] else None
        if params["deep_mask"] and deep is None:
            self.log.warning("makeFringeFrame: the frames cannot be registered by their WCSs "
                             "(missing, or rotated); objects are found on each frame only")
        masked = 0
        for k, ad in enumerate(frames):
            objects = self._object_masks(ad, detection_of(ad), params)
            if deep is not None:
                objects = [own | found for own, found in zip(objects, deep[k], strict=True)]
            for ext, obj in zip(ad, objects, strict=True):
                bits = np.where(obj, DQ.bad_pixel, 0).astype(DQ.datatype)
                ext.mask = bits if ext.mask is None else (np.asarray(ext.mask) | bits)
                masked += int(obj.sum())
        used_deep = deep is not None
        del deep
        total = sum(int(np.prod(ext.shape)) for ad in frames for ext in ad)
        self.log.stdinfo(f"Masked objects in {100.0 * masked / total:.1f}% of the pixels of "
                         f"{len(frames)} frames"
                         + (" (found on each frame minus the median image"
                            if subtract_median else " (found on each frame")
                         + (" and on the registered mean of all frames)"
                            if used_deep else ")"))
        stack_names = set(STACK_PARAMS) - {"suffix"}
        stack_params = {k: v for k, v in params.items() if k in stack_names}
        out = self.stackFrames(frames, **stack_params)[0]
        rms = []
        for ext in out:
            level = robust_level(_good_values(ext, use_objmask=False)) or 0.0
            data = np.asarray(ext.data, dtype=np.float32) - np.float32(level)
            if ext.mask is not None:
                # no fringe information where no light fell: subtract nothing there
                dark = (np.asarray(ext.mask) & (DQ.no_data | DQ.unilluminated)) != 0
                data[dark] = 0.0
                if ext.variance is not None:
                    ext.variance = np.where(dark, np.float32(0), ext.variance).astype(
                        np.float32)
            ext.data = data
            values = _good_values(ext, use_objmask=False)
            rms.append(float(np.std(values)) if values.size else 0.0)
        self.log.stdinfo(f"Fringe frame from {len(frames)} frames: rms "
                         f"{np.median(rms):.3g} (median over extensions)")
        out.update_filename(suffix=params["suffix"], strip=True)
        self.mark(out)
        return [out]

    @staticmethod
    def _fringe_scale(ad: Any, parts: list) -> tuple[float, int]:
        """Clipped least-squares factor of the fringe frame in the frame's sky-subtracted pixels."""
        data, model = [], []
        for ext, part in zip(ad, parts, strict=True):
            values = np.asarray(ext.data, dtype=np.float64)
            fringe = np.asarray(part.data, dtype=np.float64)
            good = np.isfinite(values) & np.isfinite(fringe)
            if ext.mask is not None:
                good &= np.asarray(ext.mask) == 0
            if part.mask is not None:
                good &= np.asarray(part.mask) == 0
            level = robust_level(values[good])
            if level is None:
                continue
            data.append(values[good] - level)
            model.append(fringe[good])
        if not data:
            return 0.0, 0
        d, f = np.concatenate(data), np.concatenate(model)
        keep = np.ones(d.size, dtype=bool)
        scale = 0.0
        for _ in range(10):
            denominator = float(np.sum(f[keep] ** 2))
            if denominator <= 0:
                return 0.0, 0
            scale = float(np.sum(f[keep] * d[keep]) / denominator)
            residual = d - scale * f
            sigma = 1.4826 * float(np.median(np.abs(residual[keep] - np.median(residual[keep]))))
            if sigma <= 0:
                break
            new = np.abs(residual) < 3.0 * sigma
            if np.array_equal(new, keep):
                break
            keep = new
        return scale, int(keep.sum())

    @primitive(
        per_file=lambda p: all(not isinstance(p[k], (list, tuple)) or len(p[k]) < 2
                               for k in ("fringe", "scale_factor")),
        suffix=Param(str, "_fringeCorrected", "Filename suffix"),
        fringe=Param(object, None, "Processed fringe frame: file or AstroData, or a list"),
        do_cal=Param(str, "procmode", "Fringe correction requirement", choices=_DO_CAL),
        scale=Param(bool, True, "Scale the fringe frame to each frame by a fit (None: "
                    "DRAGONS' rule, unless it comes from the same observation, group_id)",
                    optional=True),
        scale_factor=Param(list, None, "Scale factor(s), one or one per input (overrides "
                           "the fit)", item=float),
    )
    def fringeCorrect(self, adinputs=None, **params):
        """Subtract the (scaled) fringe frame from frames whose filter fringes (``FRINGEIM``).

        The fringe frame is scaled to each frame by a clipped least-squares
        fit (``FRNGSCAL``) by default, also when it was made from the same
        observation: the sky lines that make the fringes vary during a
        sequence, and the fitted factors follow each frame's fringe strength
        to ~1-2% where the mean fringe frame, unscaled (DRAGONS' rule,
        ``scale=None``), leaves up to ~10%.
        """
        todo = []
        for ad in adinputs:
            if self._already_done(ad, "fringeCorrect"):
                continue
            if not self._needs_fringe_correction(ad) and params["do_cal"] != "force":
                self.log.stdinfo(f"{ad.filename}: filter {ad.filter_name(pretty=True)} on the "
                                 f"{ad.detector_name(pretty=True)} CCDs does not need fringe "
                                 f"correction")
                continue
            todo.append(ad)
        if not todo:
            return adinputs
        factors = params["scale_factor"]
        if factors is not None and len(factors) not in (1, len(adinputs)):
            raise PrimitiveError(f"fringeCorrect: {len(factors)} scale factors for "
                                 f"{len(adinputs)} inputs")
        fringes = self._get_cal(todo, "processed_fringe", params["fringe"], params["do_cal"])
        cache: dict[str, Any] = {}
        for ad, value in zip(todo, fringes, strict=True):
            if value is None:
                continue
            if hasattr(value, "phu"):
                fringe = value
            else:
                path = os.path.abspath(os.fspath(value))
                if path not in cache:
                    try:
                        cache[path] = astrodata.open(path)
                    except astrodata.AstroDataError as err:
                        raise PrimitiveError(f"cannot open the fringe frame {value}: "
                                             f"{err}") from err
                fringe = cache[path]
            if ad.is_in_adu() != fringe.is_in_adu():
                units = {True: "ADU", False: "electrons"}
                raise PrimitiveError(f"{ad.filename} is in {units[ad.is_in_adu()]} but the "
                                     f"fringe frame {fringe.filename} is in "
                                     f"{units[fringe.is_in_adu()]}")
            parts = matching_calibration(ad, fringe, "fringe frame")
            if factors is not None:
                scale = float(factors[0] if len(factors) == 1 else
                              factors[adinputs.index(ad)])
                how = "given"
            else:
                wanted = params["scale"]
                if wanted is None:
                    wanted = str(ad.group_id()) != str(fringe.group_id())
                if wanted:
                    scale, used = self._fringe_scale(ad, parts)
                    how = f"fitted on {used} pixels"
                else:
                    scale, how = 1.0, "same observation, unscaled"
            amplitude = []
            for ext, part in zip(ad, parts, strict=True):
                part = part.multiply(np.float32(scale))
                ext.subtract(part)
                nd = ext.nddata
                nd.data = np.asarray(nd.data, dtype=np.float32)
                if nd.variance is not None:
                    nd.variance = np.asarray(nd.variance, dtype=np.float32)
                values = np.asarray(part.data)
                good = np.isfinite(values) if part.mask is None else (
                    np.isfinite(values) & (np.asarray(part.mask) == 0))
                if good.any():
                    amplitude.append(float(np.std(values[good])))
            path = os.fspath(value) if isinstance(value, (str, os.PathLike)) \
                else getattr(fringe, "path", None)
            if path and os.path.isfile(path):
                self.note_calibration(ad, "processed_fringe", path)
            ad.phu["FRINGEIM"] = (fringe.filename, "Fringe frame subtracted")
            ad.phu["FRNGSCAL"] = (round(scale, 6), "Scale of the fringe frame subtracted")
            self.log.stdinfo(f"{ad.filename}: subtracted {fringe.filename} x {scale:.4f} "
                             f"({how}); fringe rms removed "
                             f"{np.median(amplitude) if amplitude else 0.0:.3g}")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs
