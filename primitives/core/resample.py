"""Primitive mix-in Resample: resampling of images onto a common pixel frame.

Every input is interpolated, through its WCS, onto the pixel grid of the
reference image's first extension (optionally with another pixel scale and
position angle), grown to cover all the inputs unless ``trim_data``. The
extensions of a multi-array image (GSAOI's four arrays) are mosaicked on
the way: each output has ONE extension. Variance and DQ follow
(:func:`gempy.library.resample.resample_image`): DQ bits spread to the
output pixels they contribute more than ``dq_threshold`` of the
interpolation weight to, and output pixels covered by no input pixel get
``no_data`` (16), data 0 and variance 0. OBJMASK is resampled too (linear
interpolation, kept where above one half) and the OBJCAT positions are
mapped to the output pixels, so that later primitives
(``scaleCountsToReference``, ``flagCosmicRaysByStacking``) can use them.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from astropy.table import Table, vstack

import astrodata
from astrodata import DQ
from gempy.library._wcs import SkyWCS
from gempy.library.resample import (
    INTERPOLANTS,
    PixelMapping,
    common_frame,
    prepend_pixel_transform,
    resample_image,
)
from gempy.library.resample import pixel_scale as wcs_pixel_scale
from primitives.base import PrimitivesBASE
from primitives.core.pixel_replacement import replace_flagged_pixels
from primitives.core.register import affine_model
from primitives.errors import PrimitiveError
from primitives.params import Param, primitive

__all__ = ["Resample", "reoriented_wcs", "position_angle"]

#: Header keywords describing the raw detector geometry, meaningless once resampled.
_GEOMETRY_KEYWORDS = ("DETSEC", "CCDSEC", "ARRAYSEC", "BIASSEC", "TRIMSEC", "DATASEC")
# DQ bits cleaned before interpolation with clean_data (they would spread otherwise)
_CLEAN_BITS = DQ.bad_pixel | DQ.cosmic_ray
# radius (pixels) of the neighbourhood whose median replaces a cleaned pixel
_CLEAN_RADIUS = 2.5
# an interpolated OBJMASK above this value marks an object pixel
_OBJMASK_LEVEL = 0.5


def _sky_jacobian(wcs: Any, x: float, y: float) -> np.ndarray:
    """d(east, north)/d(x, y) in arcsec per pixel at a pixel."""
    ra, dec = SkyWCS(wcs).pixel_to_world([x, x + 1.0, x], [y, y, y + 1.0])
    cos_dec = math.cos(math.radians(float(dec[0])))
    d_ra = (np.asarray(ra[1:]) - ra[0] + 180.0) % 360.0 - 180.0
    return 3600.0 * np.array([[d_ra[0] * cos_dec, d_ra[1] * cos_dec],
                              [dec[1] - dec[0], dec[2] - dec[0]]])


def position_angle(wcs: Any, shape: tuple[int, int]) -> float:
    """Position angle (degrees, east of north) of the +y pixel axis at the frame centre."""
    ny, nx = shape
    jac = _sky_jacobian(wcs, (nx - 1) / 2.0, (ny - 1) / 2.0)
    return float(math.degrees(math.atan2(jac[0, 1], jac[1, 1])))


def reoriented_wcs(wcs: Any, shape: tuple[int, int], pixel_scale: float | None = None,
                   pa: float | None = None) -> tuple[Any, tuple[int, int]]:
    """The WCS and shape of a frame with the same centre and a new pixel scale and/or PA.

    Parameters
    ----------
    wcs : gwcs.WCS or astropy.wcs.WCS
    shape : (ny, nx)
    pixel_scale : float, optional
        New pixel scale, arcsec (default: unchanged).
    pa : float, optional
        Position angle of the new +y axis, degrees east of north (default:
        unchanged). The parity (east left or right of north) is kept.

    Returns
    -------
    (wcs, (ny, nx))
        The frame covers the same area of sky as the old one when only the
        scale changes.
    """
    ny, nx = shape
    centre = np.array([(nx - 1) / 2.0, (ny - 1) / 2.0])
    old_scale = wcs_pixel_scale(wcs, *centre)
    ratio = 1.0 if pixel_scale is None else float(pixel_scale) / old_scale
    angle = 0.0
    if pa is not None:
        jac = _sky_jacobian(wcs, *centre)
        parity = -1.0 if np.linalg.det(jac) < 0 else 1.0
        # with east to the left of north (negative parity) a counter-clockwise
        # turn of the pixel axes increases the position angle
        angle = math.radians(-parity * (float(pa) - position_angle(wcs, shape)))
    new_nx = max(1, int(round(nx / ratio)))
    new_ny = max(1, int(round(ny / ratio)))
    new_centre = np.array([(new_nx - 1) / 2.0, (new_ny - 1) / 2.0])
    rotation = np.array([[math.cos(angle), -math.sin(angle)],
                         [math.sin(angle), math.cos(angle)]])
    matrix = ratio * rotation
    model = affine_model(matrix, centre - matrix @ new_centre)
    return prepend_pixel_transform(wcs, model), (new_ny, new_nx)


def _shifted_mapping(mapping: PixelMapping, dx: float, dy: float) -> PixelMapping:
    """The mapping followed by a shift of the output pixels by (-dx, -dy)."""

    def forward(x, y):
        xo, yo = mapping(x, y)
        return xo - dx, yo - dy

    def inverse(xo, yo):
        return mapping.inverse(xo + dx, yo + dy)

    return PixelMapping(forward, inverse)


def _footprint_box(mapping: PixelMapping, in_shape: tuple[int, int],
                   out_shape: tuple[int, int], margin: int = 3
                   ) -> tuple[int, int, int, int] | None:
    """(x0, x1, y0, y1), end exclusive, of the output pixels an input can reach; None if none.

    Resampling only this box instead of the whole output frame saves most
    of the work when the output is much larger than one input (a dithered
    set, or one array of a mosaic).
    """
    ny, nx = in_shape
    side = 33
    xs = np.linspace(-0.5, nx - 0.5, side)
    ys = np.linspace(-0.5, ny - 0.5, side)
    x = np.concatenate([xs, xs, np.full(side, -0.5), np.full(side, nx - 0.5)])
    y = np.concatenate([np.full(side, -0.5), np.full(side, ny - 0.5), ys, ys])
    xo, yo = mapping(x, y)
    if not (np.all(np.isfinite(xo)) and np.all(np.isfinite(yo))):
        return 0, out_shape[1], 0, out_shape[0]
    x0 = max(int(np.floor(xo.min())) - margin, 0)
    y0 = max(int(np.floor(yo.min())) - margin, 0)
    x1 = min(int(np.ceil(xo.max())) + margin + 1, out_shape[1])
    y1 = min(int(np.ceil(yo.max())) + margin + 1, out_shape[0])
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, x1, y0, y1


def _mapped_objcat(objcat: Table, mapping: PixelMapping, shape: tuple[int, int]) -> Table | None:
    """OBJCAT rows moved to the output pixels (rows falling outside are dropped)."""
    if objcat is None or len(objcat) == 0 or "X_IMAGE" not in objcat.colnames:
        return None
    x = np.asarray(objcat["X_IMAGE"], dtype=float) - 1.0
    y = np.asarray(objcat["Y_IMAGE"], dtype=float) - 1.0
    xo, yo = mapping(x, y)
    ny, nx = shape
    inside = np.isfinite(xo) & np.isfinite(yo) & (xo > -0.5) & (xo < nx - 0.5) & \
        (yo > -0.5) & (yo < ny - 0.5)
    moved = objcat[inside]
    moved["X_IMAGE"] = xo[inside] + 1.0
    moved["Y_IMAGE"] = yo[inside] + 1.0
    return moved


class Resample(PrimitivesBASE):
    """Resampling of images onto a common pixel frame."""

    tagset = None

    @primitive(
        suffix=Param(str, "_align", "Filename suffix"),
        interpolant=Param(str, "poly3", "Interpolation method", choices=INTERPOLANTS),
        trim_data=Param(bool, False, "Trim the output to the reference image's footprint"),
        clean_data=Param(bool, False, "Replace bad pixels and cosmic rays before interpolating"),
        conserve=Param(bool, True, "Conserve flux (multiply by the pixel-area ratio)"),
        force_affine=Param(bool, True, "Use an affine approximation of each pixel mapping"),
        reference=Param(object, None, "Reference image (file name; default: the first input)"),
        dq_threshold=Param(float, 0.001, "Fraction of a bad pixel's weight that flags the "
                           "output pixel", min=0.0, max=0.999),
        pixel_scale=Param(float, None, "Output pixel scale (arcsec; default: the reference's)",
                          min=1e-6),
        pa=Param(float, None, "Output position angle (degrees E of N; default: the "
                 "reference's)"),
    )
    def resampleToCommonFrame(self, adinputs=None, **params):
        """Resample every image onto the reference's pixel grid through its WCS (one extension).

        Runs again on inputs that were resampled before only if some were
        not; if every input carries the RESAMPLE timestamp the inputs are
        passed through with a warning.
        """
        if not adinputs:
            return adinputs
        keyword = self.timestamp_keys["resampleToCommonFrame"]
        if all(keyword in ad.phu for ad in adinputs):
            self.log.warning("Every input has already been resampled by "
                             "resampleToCommonFrame; no changes made")
            return adinputs
        for ad in adinputs:
            for ext in ad:
                if ext.wcs is None:
                    raise PrimitiveError(f"{ad.filename} extension {ext.id}: no WCS; it cannot "
                                         f"be resampled")
        reference = self._resample_reference(adinputs, params["reference"])
        ref_wcs, ref_shape = reference[0].wcs, tuple(reference[0].shape[-2:])
        if params["pixel_scale"] is not None or params["pa"] is not None:
            ref_wcs, ref_shape = reoriented_wcs(ref_wcs, ref_shape, params["pixel_scale"],
                                                params["pa"])
        items = [(ref_shape, ref_wcs)]
        items += [(tuple(ext.shape[-2:]), ext.wcs) for ad in adinputs for ext in ad]
        try:
            full = common_frame(items, reference_index=0, trim=False)
            mappings = full.mappings[1:]
            shape, out_wcs = full.shape, full.wcs
            if params["trim_data"]:
                own = [(ref_shape, ref_wcs)] + [(tuple(e.shape[-2:]), e.wcs) for e in reference]
                trimmed = common_frame(own, reference_index=0, trim=False)
                dx = trimmed.origin[0] - full.origin[0]
                dy = trimmed.origin[1] - full.origin[1]
                mappings = [_shifted_mapping(m, dx, dy) for m in mappings]
                shape, out_wcs = trimmed.shape, trimmed.wcs
        except ValueError as err:
            raise PrimitiveError(f"resampleToCommonFrame: cannot build the output frame: "
                                 f"{err}") from None
        self.log.stdinfo(f"Output frame: {shape[1]} x {shape[0]} pixels on the grid of "
                         f"{reference.filename}"
                         + (f" (pixel scale {params['pixel_scale']}\")"
                            if params["pixel_scale"] is not None else "")
                         + (f" (PA {params['pa']} deg)" if params["pa"] is not None else ""))
        start = 0
        for index, ad in enumerate(self.progress(adinputs)):
            ad_mappings = mappings[start:start + len(ad)]
            start += len(ad)
            self._resample_one(ad, ad_mappings, shape, out_wcs, params)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
            # the output goes to disk now (the step holds one frame at a time); the
            # pages of the input read from its memory-mapped file go back before the
            # next frame (progress)
            self.settle(ad, index)
        return adinputs

    def _resample_reference(self, adinputs: list, reference: Any) -> Any:
        """The reference image: an input (by object or file name), another file, or the first."""
        if reference is None:
            return adinputs[0]
        if not isinstance(reference, str):
            if hasattr(reference, "phu"):
                return reference
            raise PrimitiveError(f"resampleToCommonFrame: reference must be a file name or an "
                                 f"AstroData object, not {type(reference).__name__}")
        name = reference.strip()
        base = name.rsplit("/", 1)[-1]
        for ad in adinputs:
            if base in (ad.filename, ad.orig_filename):
                return ad
        try:
            return astrodata.open(name)
        except (OSError, astrodata.AstroDataError) as err:
            raise PrimitiveError(f"resampleToCommonFrame: reference {name!r} is neither an "
                                 f"input nor a readable file ({err})") from None

    def _resample_one(self, ad: Any, mappings: list[PixelMapping], shape: tuple[int, int],
                      out_wcs: Any, params: dict[str, Any]) -> None:
        ny, nx = shape
        has_variance = all(ext.variance is not None for ext in ad)
        has_objmask = any(getattr(ext, "OBJMASK", None) is not None for ext in ad)
        total = np.zeros(shape, dtype=np.float32)
        total_var = np.zeros(shape, dtype=np.float32) if has_variance else None
        dq = np.zeros(shape, dtype=np.uint16)
        count = np.zeros(shape, dtype=np.uint8)
        objmask = np.zeros(shape, dtype=np.uint8) if has_objmask else None
        catalogs = []
        n_cleaned = 0
        for ext, mapping in zip(ad, mappings, strict=True):
            data = np.asarray(ext.data, dtype=np.float32)
            mask = None if ext.mask is None else np.asarray(ext.mask, dtype=np.uint16)
            if params["clean_data"] and mask is not None:
                data, cleaned = replace_flagged_pixels(data, (mask & _CLEAN_BITS) != 0, "median",
                                                       outer=_CLEAN_RADIUS)
                n_cleaned += cleaned
            variance = np.asarray(ext.variance, dtype=np.float32) if has_variance else None
            moved_cat = _mapped_objcat(getattr(ext, "OBJCAT", None), mapping, shape)
            if moved_cat is not None:
                catalogs.append(moved_cat)
            box = _footprint_box(mapping, data.shape, shape)
            if box is None:
                continue
            x0, x1, y0, y1 = box
            window = (slice(y0, y1), slice(x0, x1))
            local = _shifted_mapping(mapping, x0, y0)
            result = resample_image(data, variance, mask, local, (y1 - y0, x1 - x0),
                                    interpolant=params["interpolant"],
                                    conserve=params["conserve"],
                                    dq_threshold=params["dq_threshold"],
                                    force_affine=params["force_affine"])
            covered = (result.mask & DQ.no_data) == 0
            total[window][covered] += result.data[covered]
            if total_var is not None:
                total_var[window][covered] += result.variance[covered]
            dq[window][covered] |= result.mask[covered]
            count[window] += covered
            ext_objmask = getattr(ext, "OBJMASK", None)
            if objmask is not None and ext_objmask is not None:
                moved = resample_image(np.asarray(ext_objmask, dtype=np.float32), None, None,
                                       local, (y1 - y0, x1 - x0), interpolant="linear",
                                       conserve=False, force_affine=params["force_affine"])
                objmask[window][covered & (moved.data > _OBJMASK_LEVEL)] = 1
        several = count > 1
        if several.any():
            # overlapping arrays are averaged
            total[several] /= count[several]
            if total_var is not None:
                total_var[several] /= count[several].astype(np.float32) ** 2
        dq[count == 0] = DQ.no_data
        coverage = float(np.count_nonzero(count)) / count.size
        self._replace_extensions(ad, total, dq, total_var, objmask, catalogs, out_wcs)
        self.log.stdinfo(f"{ad.filename}: {len(mappings)} extension(s) resampled onto "
                         f"{nx} x {ny} pixels; {coverage:.1%} of the frame has data"
                         + (f"; {n_cleaned} pixels cleaned first" if n_cleaned else ""))

    @staticmethod
    def _replace_extensions(ad: Any, data: np.ndarray, dq: np.ndarray,
                            variance: np.ndarray | None, objmask: np.ndarray | None,
                            catalogs: list[Table], out_wcs: Any) -> None:
        """Make `ad` a single extension holding the resampled image."""
        n_ext = len(ad)
        levels: dict[str, list[float]] = {}
        for name in ("gain", "read_noise", "saturation_level", "non_linear_level"):
            try:
                key = ad._keyword_for(name)
            except (KeyError, AttributeError):
                continue
            values = [ext.hdr.get(key) for ext in ad]
            numbers = [float(v) for v in values if isinstance(v, (int, float))]
            if len(numbers) == n_ext:
                levels[key] = numbers
        for index in reversed(range(1, n_ext)):
            del ad[index]
        ext = ad[0]
        for name in list(ext.exposed):
            if name in ad.tables:
                continue
            delattr(ext, name)
        ext.reset(data, mask=dq, variance=variance)
        ext.wcs = copy.deepcopy(out_wcs)
        header = ext.hdr
        for key in _GEOMETRY_KEYWORDS:
            if key in header:
                del header[key]
        header["DATASEC"] = (f"[1:{data.shape[1]},1:{data.shape[0]}]", "Data section")
        if n_ext > 1:
            # a mosaic: mean gain and read noise (as DRAGONS), the lowest levels
            for key, numbers in levels.items():
                if key in (ad._keyword_for("gain"), ad._keyword_for("read_noise")):
                    header[key] = float(np.mean(numbers))
                else:
                    header[key] = float(min(numbers))
        if objmask is not None:
            ext.OBJMASK = objmask
        if catalogs:
            objcat = vstack(catalogs, metadata_conflicts="silent") if len(catalogs) > 1 \
                else catalogs[0]
            if "NUMBER" in objcat.colnames:
                objcat["NUMBER"] = np.arange(1, len(objcat) + 1, dtype=np.int32)
            ext.OBJCAT = objcat
