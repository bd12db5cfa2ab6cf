"""Primitive mix-in Register: relative registration of image WCSs (adjustWCSToReference).

``adjustWCSToReference`` corrects the WCS of every image so that it agrees
with the first image's (the reference):

* ``method='sources'``: the reference's OBJCAT sources are put on the sky
  with the reference WCS and then in the pixel frame of the image's first
  extension with the image's WCS; the image's own sources (from every
  extension) go to the same frame. The two lists then differ by the WCS
  error. :func:`gempy.library.matching.align_catalogs` matches them (first
  guess: the shift implied by the telescope offsets in the headers, then no
  shift) and fits a shift (plus rotation/scale, or a polynomial of
  ``order`` > 1, on request). The fitted model ``M`` (image pixels -> where
  the old WCS puts the reference sources) corrects the WCS: new(p) =
  old(M(p)). Only sources fit for matching take part (not saturated or
  truncated by the edge, FLAGS 4/8, and S/N >= 5; all of them when fewer
  than ``min_sources`` remain), weighted by their centroid errors. A fitted
  shift (no rotation, scale or polynomial) replaces the header WCS only
  when it is significant: ``|shift| > 3 sigma`` of its uncertainty, or
  5 sigma with fewer than 5 pairs (the scatter that scales the uncertainty
  is then poorly known); otherwise the header WCS (the telescope offsets)
  is kept: a sparse field's few faint centroids are worse than it.
* ``method='offsets'`` (and the ``fallback`` when too few sources match):
  the image's WCS becomes the reference's, shifted by the difference of the
  telescope offsets (``detector_x_offset``/``detector_y_offset``, pixels).

Multi-extension images (GSAOI) are registered as a whole: the correction is
found in the first extension's pixel frame and carried to extension ``j``
through the affine map ``A_j`` between its pixels and the first extension's
(from the image's own WCSs): ``M_j = A_j^-1 M A_j``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.modeling import Model, models

from gempy.library._wcs import SkyWCS
from gempy.library.matching import align_catalogs
from gempy.library.resample import prepend_pixel_transform
from primitives.base import PrimitivesBASE
from primitives.core.photometry import extension_pixel_scale, refcat_columns
from primitives.errors import PrimitiveError
from primitives.params import Param, primitive

__all__ = [
    "Register",
    "Registration",
    "centroid_errors",
    "affine_model",
    "affine_parts",
    "objcat_positions",
    "matching_sources",
    "objcat_sky_positions",
    "pixel_affine",
    "shift_is_significant",
    "weighted_linear_fit",
]

# FLAGS bits that make a source unfit for registration when cull_sources is set:
# saturated, truncated by the image edge, touching masked pixels
_CULL_FLAGS = 4 | 8 | 16
_CULL_MAX_ELLIPTICITY = 0.5
# a polynomial registration needs this many times the pairs its terms need
_POLYNOMIAL_PAIRS_PER_TERM = 2
# centroid error model of the weighted fit: FWHM / (2.355 S/N), never below
# the floor (pixels), inflated for sources whose centroid may be biased by
# masked pixels (usually a bad pixel in the wings: a small bias) and, for
# sources cut by the image edge, also raised to the truncation floor (their
# error is systematic, whatever their S/N)
_CENTROID_FLOOR = 0.01
_BIASED_FLAGS = 8 | 16
_BIASED_INFLATION = 3.0
_TRUNCATED_FLAG = 8
_TRUNCATED_FLOOR = 0.25
_CLIP_SIGMA = 3.0
# fewest sources matched with a reference catalogue for an astrometric solution
_MIN_ASTROMETRY_SOURCES = 3
# sources left out of the relative registration (unless too few remain): saturated
# or truncated by the edge (biased centroids) and those below this S/N (mostly
# noise peaks, which make false pairs)
_UNFIT_FLAGS = 4 | 8
_MIN_MATCH_SNR = 5.0
# a fitted shift replaces the header WCS only when it differs from no shift by
# more than this many times its uncertainty; with fewer than
# _WELL_DETERMINED_PAIRS pairs the scatter that scales the uncertainty is itself
# poorly known, and the stricter threshold applies
_SHIFT_SIGNIFICANCE = 3.0
_SHIFT_SIGNIFICANCE_FEW = 5.0
_WELL_DETERMINED_PAIRS = 5
# rms radius of a 2-D Gaussian in units of its median radius
_RMS_PER_MEDIAN_RADIUS = 1.2011


def affine_parts(model: Model) -> tuple[np.ndarray, np.ndarray] | None:
    """``(matrix, offset)`` of a 2-D model that is exactly affine, else None."""
    x = np.array([0.0, 1.0, 0.0, 517.0, -233.0, 1891.0])
    y = np.array([0.0, 0.0, 1.0, -391.0, 1201.0, 977.0])
    xo, yo = (np.asarray(v, dtype=float) for v in model(x, y))
    offset = np.array([xo[0], yo[0]])
    matrix = np.array([[xo[1] - xo[0], xo[2] - xo[0]], [yo[1] - yo[0], yo[2] - yo[0]]])
    predicted = matrix @ np.vstack([x[3:], y[3:]]) + offset[:, None]
    if np.allclose(predicted, np.vstack([xo[3:], yo[3:]]), rtol=0, atol=1e-7):
        return matrix, offset
    return None


def affine_model(matrix: np.ndarray, offset: np.ndarray) -> Model:
    """``p -> matrix @ p + offset`` as an astropy model (with its inverse)."""
    return models.AffineTransformation2D(matrix=np.asarray(matrix, dtype=float),
                                         translation=np.asarray(offset, dtype=float))


def pixel_affine(wcs_from: Any, shape_from: tuple[int, int], wcs_to: Any
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Affine fit of the map from the pixels of one WCS to those of another (through the sky).

    Parameters
    ----------
    wcs_from, wcs_to : gwcs.WCS or astropy.wcs.WCS
    shape_from : (ny, nx)
        The map is sampled on a 7x7 grid covering this frame.

    Returns
    -------
    (matrix, offset)
        ``p_to ~ matrix @ p_from + offset`` (0-based pixels).
    """
    ny, nx = shape_from
    gx, gy = np.meshgrid(np.linspace(0, max(nx - 1, 1), 7), np.linspace(0, max(ny - 1, 1), 7))
    gx, gy = gx.ravel(), gy.ravel()
    tx, ty = SkyWCS(wcs_to).world_to_pixel(*SkyWCS(wcs_from).pixel_to_world(gx, gy))
    design = np.column_stack([gx, gy, np.ones_like(gx)])
    coef_x, *_ = np.linalg.lstsq(design, tx, rcond=None)
    coef_y, *_ = np.linalg.lstsq(design, ty, rcond=None)
    return np.array([coef_x[:2], coef_y[:2]]), np.array([coef_x[2], coef_y[2]])


def _culled(objcat: Any) -> np.ndarray:
    """Rows fit for registration: unflagged (but for deblending), not elongated."""
    keep = np.ones(len(objcat), dtype=bool)
    if "FLAGS" in objcat.colnames:
        keep &= (np.asarray(objcat["FLAGS"], dtype=int) & _CULL_FLAGS) == 0
    if "ELLIPTICITY" in objcat.colnames:
        ellipticity = np.asarray(objcat["ELLIPTICITY"], dtype=float)
        keep &= ~(ellipticity > _CULL_MAX_ELLIPTICITY)
    return keep


def _fit_for_matching(objcat: Any) -> np.ndarray:
    """Rows whose centroids are worth matching: not saturated or truncated, S/N >= 5."""
    keep = np.ones(len(objcat), dtype=bool)
    if "FLAGS" in objcat.colnames:
        keep &= (np.asarray(objcat["FLAGS"], dtype=int) & _UNFIT_FLAGS) == 0
    if "FLUX_AUTO" in objcat.colnames and "FLUXERR_AUTO" in objcat.colnames:
        flux = np.asarray(objcat["FLUX_AUTO"], dtype=float)
        error = np.asarray(objcat["FLUXERR_AUTO"], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            keep &= ~(flux / error < _MIN_MATCH_SNR)
    return keep


def objcat_positions(ext: Any, cull: bool = False, matching: bool = False
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0-based (x, y) of an extension's OBJCAT sources and the row numbers used.

    ``cull`` keeps only unflagged, round sources; ``matching`` drops the
    saturated and edge-truncated ones (FLAGS 4, 8) and those of S/N < 5.
    Returns empty arrays when the extension has no OBJCAT.
    """
    objcat = getattr(ext, "OBJCAT", None)
    if objcat is None or len(objcat) == 0 or "X_IMAGE" not in objcat.colnames:
        empty = np.zeros(0)
        return empty, empty, np.zeros(0, dtype=int)
    x = np.asarray(objcat["X_IMAGE"], dtype=float) - 1.0
    y = np.asarray(objcat["Y_IMAGE"], dtype=float) - 1.0
    keep = np.isfinite(x) & np.isfinite(y)
    if cull:
        keep &= _culled(objcat)
    if matching:
        keep &= _fit_for_matching(objcat)
    rows = np.flatnonzero(keep)
    return x[rows], y[rows], rows


def objcat_sky_positions(ad: Any, cull: bool = False, matching: bool = False
                         ) -> dict[str, np.ndarray]:
    """(RA, Dec) of the OBJCAT sources of every extension, through the current WCSs.

    ``cull`` and ``matching`` select sources as in `objcat_positions`.

    Returns
    -------
    dict
        ``ra``, ``dec`` (degrees), ``ext`` (extension index) and ``row``
        (OBJCAT row) arrays, one entry per source.
    """
    ras, decs, exts, rows = [], [], [], []
    for index, ext in enumerate(ad):
        x, y, used = objcat_positions(ext, cull, matching)
        if len(used) == 0 or ext.wcs is None:
            continue
        ra, dec = SkyWCS(ext.wcs).pixel_to_world(x, y)
        ras.append(ra)
        decs.append(dec)
        exts.append(np.full(len(used), index))
        rows.append(used)
    if not ras:
        return {"ra": np.zeros(0), "dec": np.zeros(0), "ext": np.zeros(0, dtype=int),
                "row": np.zeros(0, dtype=int)}
    return {"ra": np.concatenate(ras), "dec": np.concatenate(decs),
            "ext": np.concatenate(exts), "row": np.concatenate(rows)}


def matching_sources(ad: Any, cull: bool, min_sources: int) -> dict[str, np.ndarray]:
    """`objcat_sky_positions` of the sources fit for matching, or of all when too few are.

    Saturated, edge-truncated (FLAGS 4, 8) and S/N < 5 sources are left
    out; when fewer than ``min_sources`` remain, every source is returned
    (the centroid errors of `centroid_errors` then down-weight the flagged
    ones).
    """
    sky = objcat_sky_positions(ad, cull, matching=True)
    if len(sky["ra"]) >= min_sources:
        return sky
    return objcat_sky_positions(ad, cull)


def shift_is_significant(shift: tuple[float, float], error: float | None, n_pairs: int
                         ) -> bool:
    """Whether a fitted shift (pixels) is real given its 1-sigma per-axis ``error``.

    Significant when ``|shift| > k error`` with k = 3, or k = 5 with fewer
    than 5 pairs (the scatter that scales the error is then poorly known).
    A shift without an error estimate is taken as significant.
    """
    if error is None or not math.isfinite(error):
        return True
    threshold = (_SHIFT_SIGNIFICANCE if n_pairs >= _WELL_DETERMINED_PAIRS
                 else _SHIFT_SIGNIFICANCE_FEW)
    return math.hypot(*shift) > threshold * error


def _update_world_columns(ext: Any) -> None:
    """Recompute X_WORLD/Y_WORLD of an OBJCAT from the extension's (new) WCS."""
    objcat = getattr(ext, "OBJCAT", None)
    if objcat is None or len(objcat) == 0 or "X_WORLD" not in objcat.colnames:
        return
    x = np.asarray(objcat["X_IMAGE"], dtype=float) - 1.0
    y = np.asarray(objcat["Y_IMAGE"], dtype=float) - 1.0
    ra, dec = SkyWCS(ext.wcs).pixel_to_world(x, y)
    objcat["X_WORLD"] = ra
    objcat["Y_WORLD"] = dec


def centroid_errors(ad: Any, sky: dict) -> np.ndarray:
    """Estimated centroid error (pixels, per axis) of the sources listed by `objcat_sky_positions`.

    ``FWHM_IMAGE / (2.355 S/N)`` with S/N = FLUX_AUTO / FLUXERR_AUTO, at least
    0.01 pixel; three times that for sources truncated by the edge or
    touching masked pixels (FLAGS 8 or 16), whose centroids may be biased,
    and at least 0.25 pixel for truncated ones. Sources without these
    columns get 1 pixel.
    """
    sigma = np.ones(len(sky["row"]))
    for index, ext in enumerate(ad):
        chosen = np.flatnonzero(sky["ext"] == index)
        if len(chosen) == 0:
            continue
        objcat = ext.OBJCAT
        rows = sky["row"][chosen]
        names = ("FWHM_IMAGE", "FLUX_AUTO", "FLUXERR_AUTO")
        if not all(name in objcat.colnames for name in names):
            continue
        fwhm = np.asarray(objcat["FWHM_IMAGE"], dtype=float)[rows]
        flux = np.asarray(objcat["FLUX_AUTO"], dtype=float)[rows]
        error = np.asarray(objcat["FLUXERR_AUTO"], dtype=float)[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = fwhm / (2.355 * flux / error)
        value = np.where(np.isfinite(value) & (value > 0), value, 1.0)
        value = np.maximum(value, _CENTROID_FLOOR)
        if "FLAGS" in objcat.colnames:
            flags = np.asarray(objcat["FLAGS"], dtype=int)[rows]
            value = np.where((flags & _BIASED_FLAGS) != 0, value * _BIASED_INFLATION, value)
            value = np.where((flags & _TRUNCATED_FLAG) != 0,
                             np.maximum(value, _TRUNCATED_FLOOR), value)
        sigma[chosen] = value
    return sigma


def weighted_linear_fit(src: np.ndarray, dst: np.ndarray, sigma: np.ndarray,
                        rotate: bool = False, scale: bool = False, max_iters: int = 5,
                        min_pairs: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse-variance weighted fit of ``dst ~ s R src + t`` with clipping of outliers.

    Parameters
    ----------
    src, dst : numpy.ndarray, shape (N, 2)
        Matched positions (pixels).
    sigma : numpy.ndarray, shape (N,)
        Per-axis position error of each pair (pixels).
    rotate, scale : bool
        Fit a rotation and/or a magnification (else a shift only).
    max_iters : int
        Clipping iterations: pairs off by more than 3 times their error
        (scaled up by the scatter when it exceeds the errors) are dropped.
    min_pairs : int
        Never clip below this many pairs.

    Returns
    -------
    (matrix, offset, inliers)
        ``dst ~ matrix @ src + offset`` and the pairs used.
    """
    weights_all = 1.0 / np.asarray(sigma, dtype=float) ** 2
    inliers = np.ones(len(src), dtype=bool)
    for iteration in range(max(int(max_iters), 0) + 1):
        w = weights_all[inliers]
        a, b = src[inliers], dst[inliers]
        a_mean = np.average(a, axis=0, weights=w)
        b_mean = np.average(b, axis=0, weights=w)
        ac, bc = a - a_mean, b - b_mean
        angle = 0.0
        if rotate and len(a) > 1:
            cross = np.sum(w * (ac[:, 0] * bc[:, 1] - ac[:, 1] * bc[:, 0]))
            dot = np.sum(w * (ac[:, 0] * bc[:, 0] + ac[:, 1] * bc[:, 1]))
            angle = math.atan2(cross, dot)
        rotation = np.array([[math.cos(angle), -math.sin(angle)],
                             [math.sin(angle), math.cos(angle)]])
        factor = 1.0
        if scale and len(a) > 1:
            turned = ac @ rotation.T
            denominator = np.sum(w[:, None] * turned * turned)
            if denominator > 0:
                factor = float(np.sum(w[:, None] * turned * bc) / denominator)
        matrix = factor * rotation
        offset = b_mean - matrix @ a_mean
        if iteration == max_iters:
            break
        residual = np.hypot(*(src @ matrix.T + offset - dst).T) / sigma
        spread = _RMS_PER_MEDIAN_RADIUS * float(np.median(residual[inliers])) / math.sqrt(2.0)
        keep = residual <= _CLIP_SIGMA * math.sqrt(2.0) * max(spread, 1.0)
        if keep.sum() < min_pairs or np.array_equal(keep, inliers):
            break
        inliers = keep
    return matrix, offset, inliers


@dataclass(frozen=True)
class Registration:
    """A fitted correction: ``model`` (image pixels -> where the old WCS puts the reference).

    ``n_used`` pairs were fitted with residual ``rms`` (pixels); ``order`` is
    1 for a linear transform, whose ``rotation`` (degrees) and ``scale``
    are given, and ``error`` the 1-sigma uncertainty of its shift (pixels,
    per axis) when weights were used.
    """

    model: Model
    n_used: int
    rms: float
    order: int = 1
    rotation: float = 0.0
    scale: float = 1.0
    error: float | None = None


class Register(PrimitivesBASE):
    """Registration: relative WCS alignment of a set of images to the first one."""

    tagset = None

    @primitive(
        suffix=Param(str, "_wcsCorrected", "Filename suffix"),
        method=Param(str, "sources", "Alignment method",
                     choices={"sources": "match the OBJCAT sources",
                              "offsets": "use the telescope offsets in the headers"}),
        fallback=Param(str, "offsets", "Method used when source matching fails",
                       choices=("offsets",), optional=True),
        first_pass=Param(float, 5.0, "Search radius for the first match (arcsec)", min=0.001),
        match_radius=Param(float, 0.5, "Matching radius of the final match (arcsec)",
                           min=0.001),
        min_sources=Param(int, 3, "Minimum number of matched sources", min=1),
        cull_sources=Param(bool, False, "Use only unflagged, round sources"),
        rotate=Param(bool, False, "Also fit a rotation"),
        scale=Param(bool, False, "Also fit a magnification"),
        order=Param(int, 1, "Order of the fitted transform (>1: polynomial distortion)",
                    min=1, max=5),
        max_iters=Param(int, 5, "Sigma-clipping iterations of the fit", min=0),
    )
    def adjustWCSToReference(self, adinputs=None, **params):
        """Correct every image's WCS so that its sources agree with the first image's.

        The first input is the reference (its WCS is not changed). A
        polynomial ``order`` > 1 needs twice as many matched sources as it has
        terms; with fewer, a linear transform is fitted instead.
        """
        if not adinputs:
            return adinputs
        reference = adinputs[0]
        for ad in adinputs:
            if any(ext.wcs is None for ext in ad):
                raise PrimitiveError(f"{ad.filename}: an extension has no WCS; "
                                     f"adjustWCSToReference cannot register it")
        if len(adinputs) < 2:
            self.log.warning("adjustWCSToReference: only one input; nothing to register")
        ref_sky = matching_sources(reference, params["cull_sources"], params["min_sources"])
        ref_sky["sigma"] = centroid_errors(reference, ref_sky)
        method = params["method"]
        if method == "sources" and len(ref_sky["ra"]) < params["min_sources"]:
            outcome = ("the telescope offsets are used instead"
                       if params["fallback"] == "offsets" else "WCS left unchanged")
            self.log.warning(f"{reference.filename} (reference) has {len(ref_sky['ra'])} "
                             f"source(s) in its OBJCAT(s), fewer than min_sources="
                             f"{params['min_sources']}; {outcome}")
            method = params["fallback"]
        self.log.stdinfo(f"Reference image: {reference.filename}")
        for ad in self.progress(adinputs):
            if ad is not reference:
                self._register_one(ad, reference, ref_sky, method, params)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(
        per_file=True,
        suffix=Param(str, "_astrometryCorrected", "Filename suffix"),
        initial=Param(float, 5.0, "Search radius for the first match (arcsec)", min=0.001),
        final=Param(float, 1.0, "Matching radius of the final match (arcsec)", min=0.001),
        rotate=Param(bool, False, "Also fit a rotation"),
        scale=Param(bool, False, "Also fit a magnification"),
        order=Param(int, 1, "Order of the fitted transform (>1: polynomial distortion)",
                    min=1, max=5),
        max_iters=Param(int, 5, "Sigma-clipping iterations of the fit", min=0),
    )
    def determineAstrometricSolution(self, adinputs=None, **params):
        """Correct each image's WCS so that its OBJCAT sources land on the REFCAT positions.

        The sources of every extension are matched with the reference
        catalogue (``addReferenceCatalog``) in the first extension's pixel
        frame and the correction is applied to every extension, as
        ``adjustWCSToReference`` does. Images without REFCAT or OBJCAT, or
        with fewer than 3 matches, keep their WCS (with a warning).
        """
        settings = {"cull_sources": False, "min_sources": _MIN_ASTROMETRY_SOURCES,
                    "first_pass": params["initial"], "match_radius": params["final"],
                    "rotate": params["rotate"], "scale": params["scale"],
                    "order": params["order"], "max_iters": params["max_iters"]}
        for ad in self.progress(adinputs):
            refcat = getattr(ad, "REFCAT", None) if "REFCAT" in ad.tables else None
            if refcat is None or len(refcat) == 0:
                self.log.warning(f"{ad.filename}: no reference catalogue (REFCAT); WCS "
                                 f"unchanged")
                continue
            if any(ext.wcs is None for ext in ad):
                raise PrimitiveError(f"{ad.filename}: an extension has no WCS; no astrometric "
                                     f"solution can be fitted")
            ra_column, dec_column = refcat_columns(refcat)
            ref_sky = {"ra": np.asarray(refcat[ra_column], dtype=float),
                       "dec": np.asarray(refcat[dec_column], dtype=float)}
            ref_sky["sigma"] = np.zeros(len(ref_sky["ra"]))
            registration = self._sources_registration(ad, ref_sky, None, settings)
            if registration is None:
                self.log.warning(f"{ad.filename}: fewer than {_MIN_ASTROMETRY_SOURCES} sources "
                                 f"matched the reference catalogue; WCS unchanged")
                continue
            scale = extension_pixel_scale(ad[0], ad)
            dx, dy = self._shift_at_centre(ad, registration.model)
            self.log.stdinfo(f"{ad.filename}: {registration.n_used} sources matched the "
                             f"reference catalogue; shift ({dx * scale:+.3f}\", "
                             f"{dy * scale:+.3f}\"), rms {registration.rms * scale:.3f}\"")
            self._apply_correction(ad, registration.model)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- one image -------------------------------------------------------------
    def _register_one(self, ad: Any, reference: Any, ref_sky: dict, method: str | None,
                      params: dict[str, Any]) -> None:
        offsets_model = self._offsets_model(ad, reference)
        model = None
        if method == "sources":
            registration = self._sources_registration(ad, ref_sky, offsets_model, params)
            if registration is not None:
                shift = self._shift_at_centre(ad, registration.model)
                if (registration.order == 1 and not params["rotate"] and not params["scale"]
                        and not shift_is_significant(shift, registration.error,
                                                     registration.n_used)):
                    # the header WCS is at least as good as a shift from a few noisy
                    # centroids: keep it
                    self._log_registration(ad, registration, kept=True)
                    return
                model = registration.model
                self._log_registration(ad, registration)
            else:
                fallback = params["fallback"]
                self.log.warning(f"{ad.filename}: fewer than {params['min_sources']} sources "
                                 f"matched the reference; "
                                 + ("using the telescope offsets" if fallback == "offsets"
                                    else "WCS left unchanged"))
                method = fallback
        if model is None and method == "offsets":
            if offsets_model is None:
                self.log.warning(f"{ad.filename}: telescope offsets unusable; WCS left "
                                 f"unchanged")
                return
            model = offsets_model
            dx, dy = self._shift_at_centre(ad, model)
            self.log.stdinfo(f"{ad.filename}: WCS set from the reference and the telescope "
                             f"offsets; shift ({dx:+.3f}, {dy:+.3f}) pixels")
        if model is not None:
            self._apply_correction(ad, model)

    @staticmethod
    def _shift_at_centre(ad: Any, model: Model) -> tuple[float, float]:
        ny, nx = ad[0].shape[-2:]
        cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
        mx, my = model(cx, cy)
        return float(mx - cx), float(my - cy)

    def _log_registration(self, ad: Any, registration: Registration, kept: bool = False
                          ) -> None:
        dx, dy = self._shift_at_centre(ad, registration.model)
        extra = ""
        if registration.order > 1:
            extra = f", polynomial order {registration.order}"
        elif registration.rotation or registration.scale != 1.0:
            extra = (f", rotation {registration.rotation:+.4f} deg, scale "
                     f"{registration.scale:.6f}")
        error = "" if registration.error is None else f" +/- {registration.error:.3f}"
        outcome = ""
        if kept:
            sigmas = (_SHIFT_SIGNIFICANCE if registration.n_used >= _WELL_DETERMINED_PAIRS
                      else _SHIFT_SIGNIFICANCE_FEW)
            outcome = (f"; not significant (< {sigmas:g} sigma with "
                       f"{registration.n_used} sources): header WCS kept")
        self.log.stdinfo(f"{ad.filename}: {registration.n_used} sources matched; shift "
                         f"({dx:+.3f}, {dy:+.3f}){error} pixels{extra}; rms "
                         f"{registration.rms:.3f} pixels{outcome}")

    def _offsets_model(self, ad: Any, reference: Any) -> Model | None:
        """Correction (in the image's first-extension pixels) that the telescope offsets imply.

        The corrected WCS puts the sky that the reference WCS has at pixel
        ``p`` at ``p + d``, ``d`` the difference of the detector offsets.
        None when the offsets or position angles are unknown or the
        position angles differ by more than 0.5 degree.
        """
        try:
            values = [ad.detector_x_offset(), ad.detector_y_offset(),
                      reference.detector_x_offset(), reference.detector_y_offset()]
            angles = [ad.position_angle(), reference.position_angle()]
        except Exception:  # descriptors of an unknown instrument may simply not exist
            return None
        if any(v is None or not math.isfinite(float(v)) for v in values):
            return None
        if all(a is not None for a in angles):
            difference = (float(angles[0]) - float(angles[1]) + 180.0) % 360.0 - 180.0
            if abs(difference) > 0.5:
                self.log.warning(f"{ad.filename}: position angle differs from the reference's "
                                 f"by {difference:.2f} deg; offsets not used")
                return None
        d = np.array([values[0] - values[2], values[1] - values[3]], dtype=float)
        matrix, offset = pixel_affine(reference[0].wcs, ad[0].shape[-2:], ad[0].wcs)
        return affine_model(matrix, offset - matrix @ d)

    def _sources_registration(self, ad: Any, ref_sky: dict, offsets_model: Model | None,
                              params: dict[str, Any]) -> Registration | None:
        """Match the image's sources with the reference's and fit the correction.

        ``align_catalogs`` finds the pairs; a linear correction is then refitted
        with inverse-variance weights from each pair's centroid errors
        (:func:`centroid_errors`), so that bright sources dominate. None if too
        few sources match.
        """
        frame = SkyWCS(ad[0].wcs)
        sky = matching_sources(ad, params["cull_sources"], params["min_sources"])
        if len(sky["ra"]) < params["min_sources"]:
            return None
        in_x, in_y = frame.world_to_pixel(sky["ra"], sky["dec"])
        ref_x, ref_y = frame.world_to_pixel(ref_sky["ra"], ref_sky["dec"])
        xy_in = np.column_stack([in_x, in_y])
        xy_ref = np.column_stack([ref_x, ref_y])
        scale = extension_pixel_scale(ad[0], ad)
        search_radius = params["first_pass"] / scale
        match_radius = params["match_radius"] / scale
        guesses = []
        if offsets_model is not None:
            # xy_ref ~ xy_in + offset, where the offsets predict xy_in = M_off^-1(xy_ref)
            predicted = np.column_stack(offsets_model.inverse(ref_x, ref_y))
            guesses.append(np.median(xy_ref - predicted, axis=0))
        if not guesses or np.hypot(*guesses[0]) > match_radius:
            guesses.append(np.zeros(2))
        orders = [params["order"]] + ([1] if params["order"] > 1 else [])
        for order in orders:
            needed = params["min_sources"]
            if order > 1:
                terms = (order + 1) * (order + 2) // 2
                needed = max(needed, _POLYNOMIAL_PAIRS_PER_TERM * terms)
            for guess in guesses:
                alignment = align_catalogs(
                    xy_ref, xy_in, initial_offset=guess, search_radius=search_radius,
                    match_radius=match_radius, min_sources=needed, rotate=params["rotate"],
                    scale=params["scale"], order=order, max_iters=params["max_iters"])
                if alignment is None:
                    continue
                if order < params["order"]:
                    self.log.stdinfo(f"{ad.filename}: too few sources for a polynomial of "
                                     f"order {params['order']}; fitted order 1")
                if order > 1:
                    return Registration(alignment.model, alignment.fit.n_used, alignment.rms,
                                        order=order)
                ref_rows, in_rows = alignment.match.ref_index, alignment.match.in_index
                sigma = np.hypot(centroid_errors(ad, sky)[in_rows], ref_sky["sigma"][ref_rows])
                matrix, offset, used = weighted_linear_fit(
                    xy_in[in_rows], xy_ref[ref_rows], sigma, rotate=params["rotate"],
                    scale=params["scale"], max_iters=params["max_iters"],
                    min_pairs=params["min_sources"])
                residual = xy_in[in_rows] @ matrix.T + offset - xy_ref[ref_rows]
                rms = float(np.sqrt(np.mean(np.sum(residual[used] ** 2, axis=1))))
                chi2 = float(np.sum(residual[used] ** 2 / sigma[used, None] ** 2))
                dof = max(2 * int(used.sum()) - 2, 1)
                error = math.sqrt(1.0 / np.sum(1.0 / sigma[used] ** 2)) * max(
                    1.0, math.sqrt(chi2 / dof))
                rotation = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
                magnification = float(math.sqrt(abs(np.linalg.det(matrix))))
                return Registration(affine_model(matrix, offset), int(used.sum()), rms,
                                    rotation=rotation if params["rotate"] else 0.0,
                                    scale=magnification if params["scale"] else 1.0,
                                    error=error)
        return None

    @staticmethod
    def _apply_correction(ad: Any, model: Model) -> None:
        """new_j(p) = old_j(A_j^-1 M A_j (p)) for every extension j."""
        first = ad[0]
        parts = affine_parts(model)
        corrections = []
        for index, ext in enumerate(ad):
            if index == 0:
                corrections.append(model)
                continue
            a_matrix, a_offset = pixel_affine(ext.wcs, ext.shape[-2:], first.wcs)
            a_inverse = np.linalg.inv(a_matrix)
            if parts is not None:
                m_matrix, m_offset = parts
                matrix = a_inverse @ m_matrix @ a_matrix
                offset = a_inverse @ (m_matrix @ a_offset + m_offset - a_offset)
                corrections.append(affine_model(matrix, offset))
            else:
                to_first = affine_model(a_matrix, a_offset)
                back = affine_model(a_inverse, -a_inverse @ a_offset)
                corrections.append(to_first | model | back)
        for ext, correction in zip(ad, corrections, strict=True):
            ext.wcs = prepend_pixel_transform(ext.wcs, correction)
            _update_world_columns(ext)
