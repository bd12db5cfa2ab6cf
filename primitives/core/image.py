"""Primitive mix-in Image: imaging primitives on aligned frames and object masks.

* ``scaleCountsToReference``: put every frame on the first one's count
  scale, by exposure-time ratios (``tolerance=0``) or by the flux ratio of
  the sources matched in the OBJCATs (sigma-clipped,
  :func:`gempy.library.photometry.flux_ratio`).
* ``flagCosmicRaysByStacking``: on frames resampled to a common grid, flag
  pixels far above the median of the stack, away from objects (DQ 8;
  :func:`gempy.library.cosmic_rays.flag_cosmic_rays_by_stacking`).
* ``dilateObjectMask``, ``addObjectMaskToDQ``, ``transferObjectMask``: grow
  the OBJMASK, copy it into the DQ plane, or map the OBJMASK of a stack back
  onto each of its input frames through the WCSs.
* ``applyDQPlane``: replace the pixels having chosen DQ bits by the median
  or mean of the good pixels (or a value).

``transferAttribute`` (copying OBJMASK, mask or wcs between streams of the
same frames) lives in :mod:`primitives.core.bookkeeping`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from scipy import ndimage

from astrodata import DQ
from gempy.library._wcs import SkyWCS
from gempy.library.cosmic_rays import flag_cosmic_rays_by_stacking
from gempy.library.matching import match_catalogs
from gempy.library.photometry import FluxRatio, flux_ratio
from gempy.library.resample import common_frame, resample_image
from primitives.core.photometry import extension_pixel_scale
from primitives.core.pixel_replacement import replace_flagged_pixels
from primitives.core.preprocess import Preprocess
from primitives.core.register import Register, objcat_sky_positions
from primitives.core.resample import Resample
from primitives.errors import PrimitiveError
from primitives.params import Param, primitive

__all__ = ["Image", "disk_structure"]

#: OBJCAT columns proportional to the counts (rescaled with the data).
_FLUX_COLUMNS = ("FLUX_AUTO", "FLUXERR_AUTO", "FLUX_APER", "FLUXERR_APER", "FLUX_MAX",
                 "BACKGROUND")
#: Timestamp keyword of applyDQPlane (not in astrodata's table; passed explicitly).
APPLY_DQ_KEYWORD = "APPLYDQ"


def disk_structure(radius: float) -> np.ndarray:
    """Boolean disk of the given radius (pixels) for morphological dilation."""
    reach = int(math.floor(radius))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    return dx * dx + dy * dy <= radius * radius + 1e-9


def _flat_catalog(ad: Any, sky: dict) -> Table:
    """One table with the flux columns of the OBJCAT rows listed in `sky` (same order)."""
    columns: dict[str, list[np.ndarray]] = {"FLUX_AUTO": [], "FLUXERR_AUTO": [], "FLAGS": []}
    for index, ext in enumerate(ad):
        rows = sky["row"][sky["ext"] == index]
        if len(rows) == 0:
            continue
        objcat = ext.OBJCAT
        for name in columns:
            if name in objcat.colnames:
                columns[name].append(np.asarray(objcat[name])[rows])
            else:
                columns[name].append(np.zeros(len(rows)) if name == "FLAGS"
                                     else np.full(len(rows), np.nan))
    return Table({name: (np.concatenate(parts) if parts else np.zeros(0))
                  for name, parts in columns.items()})


class Image(Preprocess, Register, Resample):
    """Imaging-specific primitives shared by the imaging classes of every instrument."""

    tagset = None

    # -- scaleCountsToReference -----------------------------------------------------
    @primitive(
        suffix=Param(str, "_countsScaled", "Filename suffix"),
        tolerance=Param(float, 0.0, "Accepted fractional departure of the flux ratio from the "
                        "exposure-time ratio (0: use exposure times; 1: any ratio)",
                        min=0.0, max=1.0),
        use_common=Param(bool, True, "Use only the sources found in every frame"),
        radius=Param(float, 0.5, "Matching radius (arcsec)", min=0.001),
    )
    def scaleCountsToReference(self, adinputs=None, **params):
        """Scale every frame so that its counts match the first frame's.

        With ``tolerance=0`` the factor is the ratio of exposure times.
        Otherwise it is the sigma-clipped ratio of the fluxes (FLUX_AUTO) of
        the sources matched within ``radius`` (through the WCSs; with
        ``use_common`` only the reference sources matched in every frame
        that has matches at all), used if it
        departs from the exposure-time ratio by no more than a factor
        ``1 - tolerance``; the exposure-time ratio is used (with a warning)
        when it does, or when no source could be matched. Data, variance
        (factor squared) and the OBJCAT fluxes are scaled.
        """
        if not adinputs:
            return adinputs
        reference = adinputs[0]
        tolerance = params["tolerance"]
        t_ref = reference.exposure_time()
        measured: list[FluxRatio | None] = [None] * len(adinputs)
        if tolerance > 0 and len(adinputs) > 1:
            measured = self._measured_flux_ratios(adinputs, params)
        for index, ad in enumerate(self.progress(adinputs)):
            if self._already_done(ad):
                continue
            if index == 0:
                factor = 1.0
                self.log.stdinfo(f"{ad.filename}: reference (factor 1)")
            else:
                factor = self._scale_factor(ad, t_ref, measured[index], tolerance)
            if factor != 1.0:
                self._scale(ad, factor)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    def _scale_factor(self, ad: Any, t_ref: float | None, measured: FluxRatio | None,
                      tolerance: float) -> float:
        t_in = ad.exposure_time()
        t_ratio = None
        if t_ref and t_in and t_in > 0:
            t_ratio = float(t_ref) / float(t_in)
        if tolerance == 0:
            if t_ratio is None:
                raise PrimitiveError(f"{ad.filename}: exposure time unknown (or that of the "
                                     f"reference); cannot scale by exposure time")
            self.log.stdinfo(f"{ad.filename}: factor {t_ratio:.5f} (exposure-time ratio)")
            return t_ratio
        if measured is not None:
            ratio = measured.ratio
            if t_ratio is None or tolerance >= 1 or \
                    (1 - tolerance) <= ratio / t_ratio <= 1 / (1 - tolerance):
                self.log.stdinfo(f"{ad.filename}: factor {ratio:.5f} +/- {measured.error:.5f} "
                                 f"from {measured.n_used} matched sources"
                                 + (f" (exposure-time ratio {t_ratio:.5f})" if t_ratio else ""))
                return ratio
            self.log.warning(f"{ad.filename}: flux ratio {ratio:.5f} differs from the "
                             f"exposure-time ratio {t_ratio:.5f} by more than the tolerance; "
                             f"using the exposure-time ratio")
        elif t_ratio is not None:
            self.log.warning(f"{ad.filename}: no matched sources to measure the flux ratio; "
                             f"using the exposure-time ratio {t_ratio:.5f}")
        if t_ratio is None:
            raise PrimitiveError(f"{ad.filename}: neither a flux ratio nor the exposure times "
                                 f"are available to scale the counts")
        return t_ratio

    def _measured_flux_ratios(self, adinputs: list, params: dict[str, Any]
                              ) -> list[FluxRatio | None]:
        """Flux ratio (reference / frame) of every input from its matched OBJCAT sources."""
        reference = adinputs[0]
        ref_sky = objcat_sky_positions(reference)
        results: list[FluxRatio | None] = [None] * len(adinputs)
        if len(ref_sky["ra"]) == 0:
            return results
        frame = SkyWCS(reference[0].wcs)
        radius = params["radius"] / extension_pixel_scale(reference[0], reference)
        ref_xy = np.column_stack(frame.world_to_pixel(ref_sky["ra"], ref_sky["dec"]))
        ref_table = _flat_catalog(reference, ref_sky)
        pairs: dict[int, tuple[np.ndarray, np.ndarray, Table]] = {}
        for index, ad in enumerate(adinputs[1:], start=1):
            sky = objcat_sky_positions(ad)
            if len(sky["ra"]) == 0:
                continue
            in_xy = np.column_stack(frame.world_to_pixel(sky["ra"], sky["dec"]))
            match = match_catalogs(ref_xy, in_xy, (0.0, 0.0), search_radius=radius,
                                   match_radius=radius, min_sources=1, vote=False)
            if match is not None:
                pairs[index] = (match.ref_index, match.in_index, _flat_catalog(ad, sky))
        if params["use_common"] and pairs:
            # frames without any match fall back on their own and do not
            # empty the common set of the others
            common = None
            for ref_index, _, _ in pairs.values():
                common = set(ref_index) if common is None else common & set(ref_index)
            for index, (ref_index, in_index, table) in list(pairs.items()):
                keep = np.isin(ref_index, sorted(common))
                pairs[index] = (ref_index[keep], in_index[keep], table)
        for index, (ref_index, in_index, table) in pairs.items():
            if len(ref_index) == 0:
                continue
            results[index] = flux_ratio(ref_table, table, (ref_index, in_index), min_sources=1)
        return results

    @staticmethod
    def _scale(ad: Any, factor: float) -> None:
        scale = np.float32(factor)
        for ext in ad:
            ext.data = np.asarray(ext.data, dtype=np.float32) * scale
            if ext.variance is not None:
                ext.variance = np.asarray(ext.variance, dtype=np.float32) * (scale * scale)
            objcat = getattr(ext, "OBJCAT", None)
            if objcat is None or len(objcat) == 0:
                continue
            for name in _FLUX_COLUMNS:
                if name in objcat.colnames:
                    objcat[name] = np.asarray(objcat[name], dtype=float) * factor
            if "MAG_AUTO" in objcat.colnames:
                objcat["MAG_AUTO"] = np.asarray(objcat["MAG_AUTO"], dtype=float) \
                    - 2.5 * math.log10(factor)

    # -- flagCosmicRaysByStacking ----------------------------------------------------
    @primitive(
        suffix=Param(str, "_CRMasked", "Filename suffix"),
        hsigma=Param(float, 7.0, "Threshold above the median image (noise sigma)", min=0.01),
        dilation=Param(int, 1, "Grow each flagged group by this many pixels", min=0),
    )
    def flagCosmicRaysByStacking(self, adinputs=None, **params):
        """Flag cosmic rays (DQ 8) by comparing each aligned frame with the stack's median.

        The inputs must share one pixel grid (run resampleToCommonFrame
        first); objects found in the median image are never flagged.
        """
        if len(adinputs) < 2:
            self.log.warning("flagCosmicRaysByStacking needs at least 2 frames; no changes made")
            return adinputs
        keyword = self.timestamp_keys["flagCosmicRaysByStacking"]
        if all(keyword in ad.phu for ad in adinputs):
            self.log.warning("Every input has already been processed by "
                             "flagCosmicRaysByStacking; no changes made")
            return adinputs
        first = adinputs[0]
        for ad in adinputs[1:]:
            if len(ad) != len(first) or any(a.shape != b.shape for a, b in zip(ad, first,
                                                                               strict=True)):
                raise PrimitiveError(f"{ad.filename}: extensions differ in number or shape from "
                                     f"{first.filename}; run resampleToCommonFrame first")
        if len(adinputs) == 2:
            self.log.warning("Only 2 frames: the median is their mean, so only strong cosmic "
                             "rays can be found")
        flagged = [0] * len(adinputs)
        for index in range(len(first)):
            exts = [ad[index] for ad in adinputs]
            masks = flag_cosmic_rays_by_stacking(
                [np.asarray(ext.data, dtype=np.float32) for ext in exts],
                variances=[None if ext.variance is None
                           else np.asarray(ext.variance, dtype=np.float32) for ext in exts],
                masks=[None if ext.mask is None else np.asarray(ext.mask) for ext in exts],
                hsigma=params["hsigma"],
                dilation=params["dilation"],
            )
            for n, (ext, new) in enumerate(zip(exts, masks, strict=True)):
                old = np.zeros(new.shape, np.uint16) if ext.mask is None else \
                    np.asarray(ext.mask, dtype=np.uint16)
                flagged[n] += int(np.count_nonzero((new & DQ.cosmic_ray) & ~(old & DQ.cosmic_ray)))
                ext.mask = new
        for ad, count in zip(adinputs, flagged, strict=True):
            self.log.stdinfo(f"{ad.filename}: {count} pixels flagged as cosmic rays")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- object masks ------------------------------------------------------------------
    @primitive(
        per_file=True,
        suffix=Param(str, "_objmaskDilated", "Filename suffix"),
        dilation=Param(float, 1.0, "Dilation radius (pixels)", min=0.0),
        repeat=Param(bool, False, "Dilate again a mask already dilated"),
    )
    def dilateObjectMask(self, adinputs=None, **params):
        """Grow the OBJMASK of every extension by a disk of radius ``dilation`` pixels."""
        structure = disk_structure(params["dilation"])
        for ad in self.progress(adinputs):
            if not params["repeat"] and self._already_done(ad):
                continue
            before = after = 0
            for ext in ad:
                objmask = getattr(ext, "OBJMASK", None)
                if objmask is None:
                    continue
                objmask = np.asarray(objmask) != 0
                before += int(np.count_nonzero(objmask))
                if structure.size > 1:
                    objmask = ndimage.binary_dilation(objmask, structure=structure)
                after += int(np.count_nonzero(objmask))
                ext.OBJMASK = objmask.astype(np.uint8)
            if before == after == 0 and all(getattr(e, "OBJMASK", None) is None for e in ad):
                self.log.warning(f"{ad.filename}: no OBJMASK to dilate")
            else:
                self.log.stdinfo(f"{ad.filename}: OBJMASK grown by {params['dilation']} pixels "
                                 f"({before} -> {after} pixels)")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(per_file=True, suffix=Param(str, "_objectMaskAdded", "Filename suffix"))
    def addObjectMaskToDQ(self, adinputs=None, **params):
        """OR the OBJMASK into the DQ plane (as bad_pixel, 1, like DRAGONS)."""
        for ad in self.progress(adinputs):
            added = 0
            found = False
            for ext in ad:
                objmask = getattr(ext, "OBJMASK", None)
                if objmask is None:
                    continue
                found = True
                objects = np.asarray(objmask) != 0
                mask = np.zeros(ext.shape, np.uint16) if ext.mask is None else \
                    np.array(ext.mask, dtype=np.uint16)
                added += int(np.count_nonzero(objects & ((mask & DQ.bad_pixel) == 0)))
                mask[objects] |= DQ.bad_pixel
                ext.mask = mask
            if found:
                self.log.stdinfo(f"{ad.filename}: {added} object pixels added to the DQ plane")
            else:
                self.log.warning(f"{ad.filename}: no OBJMASK; DQ plane unchanged")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(
        suffix=Param(str, "_objmaskTransferred", "Filename suffix"),
        source=Param(str, None, "Stream holding the image (e.g. a stack) whose OBJMASK is used"),
        interpolant=Param(str, "poly3", "Interpolation used to map the mask",
                          choices=("nearest", "linear", "poly3", "poly5", "spline3", "spline5")),
        dq_threshold=Param(float, 0.01, "Fraction of object weight that flags a pixel",
                           min=0.0, max=0.999),
        dilation=Param(float, 1.5, "Dilation radius of the transferred mask (pixels)", min=0.0),
    )
    def transferObjectMask(self, adinputs=None, **params):
        """Map the OBJMASK of an image in another stream (a stack) onto every input, via the WCS.

        Each input extension gets an OBJMASK flagging its pixels that see an
        object pixel of the source image (more than ``dq_threshold`` of the
        interpolation weight), grown by ``dilation`` pixels; pixels the source
        does not cover get none.
        """
        source_name = params["source"]
        if not source_name:
            raise PrimitiveError("transferObjectMask: the source stream must be given")
        if source_name not in self.streams or not self.streams[source_name]:
            raise PrimitiveError(f"transferObjectMask: stream {source_name!r} is missing or "
                                 f"empty")
        sources = self.streams[source_name]
        source = sources[0]
        if len(sources) > 1:
            self.log.warning(f"transferObjectMask: stream {source_name!r} holds "
                             f"{len(sources)} images; using {source.filename}")
        src_exts = [ext for ext in source if getattr(ext, "OBJMASK", None) is not None]
        if not src_exts:
            raise PrimitiveError(f"transferObjectMask: {source.filename} has no OBJMASK "
                                 f"(run detectSources on it first)")
        structure = disk_structure(params["dilation"])
        for ad in self.progress(adinputs):
            total = 0
            for ext in ad:
                if ext.wcs is None:
                    raise PrimitiveError(f"{ad.filename} extension {ext.id}: no WCS; the object "
                                         f"mask cannot be transferred")
                objmask = np.zeros(ext.shape[-2:], dtype=bool)
                for src in src_exts:
                    if src.wcs is None:
                        raise PrimitiveError(f"{source.filename} extension {src.id}: no WCS")
                    frame = common_frame([(tuple(ext.shape[-2:]), ext.wcs),
                                          (tuple(src.shape[-2:]), src.wcs)],
                                         reference_index=0, trim=True)
                    src_mask = (np.asarray(src.OBJMASK) != 0).astype(np.uint16)
                    moved = resample_image(np.zeros(src_mask.shape, np.float32), None, src_mask,
                                           frame.mappings[1], tuple(ext.shape[-2:]),
                                           interpolant=params["interpolant"], conserve=False,
                                           dq_threshold=params["dq_threshold"])
                    objmask |= (moved.mask & 1) != 0
                if structure.size > 1 and objmask.any():
                    objmask = ndimage.binary_dilation(objmask, structure=structure)
                ext.OBJMASK = objmask.astype(np.uint8)
                total += int(np.count_nonzero(objmask))
            self.log.stdinfo(f"{ad.filename}: OBJMASK of {source.filename} transferred "
                             f"({total} object pixels)")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- applyDQPlane --------------------------------------------------------------------
    @primitive(
        per_file=True,
        suffix=Param(str, "_dqPlaneApplied", "Filename suffix"),
        replace_flags=Param(int, int(DQ.not_signal), "DQ bits whose pixels are replaced",
                            min=0, max=65535),
        replace_value=Param((float, str), "median",
                            "Replacement: 'median', 'average' or a number"),
        inner=Param(float, None, "Inner radius of the local ring (pixels)", min=0.0),
        outer=Param(float, None, "Outer radius of the local ring (pixels; default: whole "
                    "image)", min=0.0),
        max_iters=Param(int, 5, "Sigma-clipping iterations of the global statistic", min=0),
    )
    def applyDQPlane(self, adinputs=None, **params):
        """Replace the pixels having any ``replace_flags`` bit by a statistic of the good pixels.

        The DQ plane is unchanged (the pixels stay flagged). The timestamp
        keyword is ``APPLYDQ``.
        """
        value = params["replace_value"]
        if isinstance(value, str) and value.lower() not in ("median", "average", "mean"):
            raise PrimitiveError(f"applyDQPlane: replace_value must be 'median', 'average' or a "
                                 f"number, not {value!r}")
        statistic = ("average" if value.lower() in ("average", "mean") else "median") \
            if isinstance(value, str) else float(value)
        if params["inner"] is not None and params["outer"] is None:
            raise PrimitiveError("applyDQPlane: inner needs outer")
        for ad in self.progress(adinputs):
            if self._already_done(ad, keyword=APPLY_DQ_KEYWORD):
                continue
            replaced = 0
            for ext in ad:
                if ext.mask is None:
                    continue
                flagged = (np.asarray(ext.mask) & params["replace_flags"]) != 0
                if not flagged.any():
                    continue
                how: str | float = statistic
                if isinstance(statistic, str) and params["outer"] is None:
                    good = np.asarray(ext.data)[~flagged]
                    good = good[np.isfinite(good)]
                    mean, median, _ = sigma_clipped_stats(good, sigma=3.0,
                                                          maxiters=params["max_iters"] or None)
                    how = float(median if statistic == "median" else mean)
                try:
                    data, count = replace_flagged_pixels(ext.data, flagged, how,
                                                         inner=params["inner"],
                                                         outer=params["outer"])
                except ValueError as err:
                    raise PrimitiveError(f"applyDQPlane: {err}") from None
                ext.data = data
                replaced += count
            self.log.stdinfo(f"{ad.filename}: {replaced} flagged pixels replaced "
                             f"({value if not isinstance(value, str) else statistic})")
            self.mark(ad, keyword=APPLY_DQ_KEYWORD)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs
