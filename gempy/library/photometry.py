"""Aperture photometry with a local sky annulus, and flux ratios between matched catalogues.

- `aperture_photometry` measures sources at given positions (used by tests
  to check stacked fluxes against the simulator truth, and by QA metrics).
- `flux_ratio` compares the fluxes of sources matched between a reference
  and another image's OBJCAT, the scale factor of ``scaleCountsToReference``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.stats import SigmaClip, mad_std
from astropy.table import Table
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture
from photutils.aperture import aperture_photometry as _photutils_aperture_photometry

__all__ = ["ApertureFluxes", "FluxRatio", "aperture_photometry", "flux_ratio"]


@dataclass(frozen=True)
class ApertureFluxes:
    """Result of `aperture_photometry`; every array has shape (N,).

    Attributes
    ----------
    flux : numpy.ndarray
        Background-subtracted flux in the aperture (data units x pixels).
    flux_err : numpy.ndarray
        1-sigma error of ``flux``.
    background : numpy.ndarray
        Local background per pixel (sigma-clipped median in the annulus; 0
        without an annulus).
    area : numpy.ndarray
        Unmasked aperture area, pixels.
    n_masked : numpy.ndarray of int
        Masked pixels (at least partly) inside the aperture; the flux
        misses their contribution.
    """

    flux: np.ndarray
    flux_err: np.ndarray
    background: np.ndarray
    area: np.ndarray
    n_masked: np.ndarray

    def __iter__(self):
        return iter((self.flux, self.flux_err, self.background))


def aperture_photometry(
    data: np.ndarray,
    positions,
    radius: float,
    variance: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    annulus: tuple[float, float] | None = None,
) -> ApertureFluxes:
    """Circular-aperture photometry with an optional local sky annulus.

    Parameters
    ----------
    data : numpy.ndarray, shape (ny, nx)
        Image.
    positions : array_like, shape (N, 2)
        0-based (x, y) pixel centres of the apertures.
    radius : float
        Aperture radius, pixels (exact pixel overlap is used).
    variance : numpy.ndarray, shape (ny, nx), optional
        Per-pixel variance. Without it, the per-pixel noise is the
        sigma-clipped standard deviation in the annulus (sky noise only),
        and without an annulus the error is NaN.
    mask : numpy.ndarray, shape (ny, nx), optional
        Pixels with ``mask != 0`` (or non-finite data) are left out of the
        aperture and the annulus.
    annulus : (float, float), optional
        Inner and outer radii of the sky annulus, pixels. Without it the
        data are assumed background-subtracted.

    Returns
    -------
    ApertureFluxes
        Unpacks as ``flux, flux_err, background``.

    Notes
    -----
    ``flux_err**2`` is the aperture's summed variance plus the error of the
    background estimate spread over the aperture,
    ``(area * sigma_sky)**2 * pi / (2 * n_annulus)`` (the variance of a
    median).
    """
    data = np.asarray(data, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"data must be 2-D, got shape {data.shape}")
    xy = np.atleast_2d(np.asarray(positions, dtype=float))
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"positions must have shape (N, 2), got {np.shape(positions)}")
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    if annulus is not None:
        r_in, r_out = (float(v) for v in annulus)
        if not 0 < r_in < r_out:
            raise ValueError(f"annulus must satisfy 0 < r_in < r_out, got {annulus}")
    bad = ~np.isfinite(data)
    if mask is not None:
        if np.shape(mask) != data.shape:
            raise ValueError(f"mask shape {np.shape(mask)} differs from data shape {data.shape}")
        bad |= np.asarray(mask) != 0
    if variance is not None and np.shape(variance) != data.shape:
        raise ValueError(
            f"variance shape {np.shape(variance)} differs from data shape {data.shape}"
        )
    n = len(xy)
    if n == 0:
        empty = np.zeros(0)
        return ApertureFluxes(empty, empty, empty, empty, np.zeros(0, dtype=int))

    clean = np.where(bad, 0.0, data)
    aperture = CircularAperture(xy, r=radius)
    error = None
    if variance is not None:
        error = np.sqrt(np.clip(np.where(bad, 0.0, np.asarray(variance, dtype=float)), 0, None))
    table = _photutils_aperture_photometry(clean, aperture, error=error, mask=bad)
    raw_sum = np.asarray(table["aperture_sum"], dtype=float)
    summed_var = (
        np.asarray(table["aperture_sum_err"], dtype=float) ** 2 if error is not None else None
    )
    area = np.asarray(aperture.area_overlap(clean, mask=bad), dtype=float)
    n_masked = np.zeros(n, dtype=int)
    if bad.any():
        for i, weights in enumerate(aperture.to_mask(method="exact")):
            inside = weights.data > 0
            n_masked[i] = int(np.count_nonzero(weights.cutout(bad, fill_value=False) & inside))

    background = np.zeros(n)
    background_var = np.zeros(n)
    sky_sigma = np.full(n, np.nan)
    if annulus is not None:
        ring = CircularAnnulus(xy, r_in=r_in, r_out=r_out)
        stats = ApertureStats(
            data,
            ring,
            mask=bad,
            sigma_clip=SigmaClip(sigma=3.0, maxiters=10),
            sum_method="center",
        )
        background = np.nan_to_num(np.asarray(stats.median, dtype=float))
        sky_sigma = np.asarray(stats.std, dtype=float)
        n_sky = np.asarray(stats.sum_aper_area.value, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            background_var = np.where(
                n_sky > 0, (area * sky_sigma) ** 2 * np.pi / (2 * n_sky), np.nan
            )

    flux = raw_sum - background * area
    if summed_var is None:
        summed_var = area * sky_sigma**2
    flux_err = np.sqrt(summed_var + background_var)
    return ApertureFluxes(
        flux=flux, flux_err=flux_err, background=background, area=area, n_masked=n_masked
    )


def _clip_log_ratios(
    log_ratio: np.ndarray, log_var: np.ndarray | None, sigma: float, max_iters: int
) -> np.ndarray:
    """Pairs whose log ratio agrees with the others within sigma times its own error.

    The first centre is the median (robust to variable stars and wrong
    matches), the next ones the weighted mean of the kept pairs; the errors
    are scaled up if the kept pairs scatter more than they claim.
    """
    have_errors = log_var is not None
    error = np.sqrt(log_var) if have_errors else np.ones(len(log_ratio))
    keep = np.ones(len(log_ratio), dtype=bool)
    centre = float(np.median(log_ratio))
    for _ in range(max(int(max_iters), 1)):
        z = (log_ratio - centre) / error
        if keep.sum() > 2:
            spread = float(mad_std(z[keep]))
            spread = max(1.0, spread) if have_errors else spread
        else:
            spread = 1.0 if have_errors else np.inf
        new_keep = np.abs(z) <= sigma * spread
        if not new_keep.any():
            break
        converged = np.array_equal(new_keep, keep)
        keep = new_keep
        weights = 1.0 / error[keep] ** 2
        centre = float(np.sum(weights * log_ratio[keep]) / np.sum(weights))
        if converged:
            break
    return keep


@dataclass(frozen=True)
class FluxRatio:
    """Result of `flux_ratio`.

    Attributes
    ----------
    ratio : float
        Reference flux / input flux: multiply the input image by it to put it
        on the reference's scale.
    error : float
        1-sigma error of ``ratio``.
    n_used : int
        Pairs kept after the cuts and the clipping.
    """

    ratio: float
    error: float
    n_used: int


def _column(catalog, name: str) -> np.ndarray:
    if isinstance(catalog, Table) or hasattr(catalog, "colnames"):
        if name not in catalog.colnames:
            raise ValueError(f"catalogue has no {name} column (columns: {catalog.colnames})")
    return np.asarray(catalog[name], dtype=float)


def flux_ratio(
    cat_ref: Table,
    cat_in: Table,
    matches,
    flux_column: str = "FLUX_AUTO",
    error_column: str | None = "FLUXERR_AUTO",
    min_snr: float = 5.0,
    sigma: float = 3.0,
    max_iters: int = 5,
    min_sources: int = 1,
    exclude_flags: int = 4 | 16,
) -> FluxRatio | None:
    """Robust flux ratio between matched sources of two catalogues.

    Parameters
    ----------
    cat_ref, cat_in : astropy.table.Table
        Catalogues (e.g. OBJCATs from `gempy.library.detection`).
    matches : CatalogMatch or (ref_index, in_index)
        Row pairs, e.g. from `gempy.library.matching.match_catalogs`.
    flux_column : str
        Flux column used in both catalogues.
    error_column : str or None
        Flux-error column; with it, pairs below ``min_snr`` in either
        catalogue are dropped and the mean is inverse-variance weighted.
    min_snr : float
        Lowest flux / error accepted.
    sigma, max_iters : float, int
        Sigma clipping of the log ratios, each against its own error (or
        against their scatter without errors), starting from the median.
    min_sources : int
        Fewest pairs surviving for a result; below that None is returned
        and the caller falls back (e.g. to exposure-time ratios).
    exclude_flags : int
        Pairs where either source has any of these FLAGS bits are dropped
        (default saturated | masked pixels), if a FLAGS column exists.

    Returns
    -------
    FluxRatio or None
    """
    if hasattr(matches, "ref_index"):
        ref_index, in_index = matches.ref_index, matches.in_index
    else:
        ref_index, in_index = matches
    ref_index = np.asarray(ref_index, dtype=int)
    in_index = np.asarray(in_index, dtype=int)
    if ref_index.shape != in_index.shape:
        raise ValueError("matches must pair rows one to one (same length)")
    f_ref = _column(cat_ref, flux_column)[ref_index]
    f_in = _column(cat_in, flux_column)[in_index]
    usable = np.isfinite(f_ref) & np.isfinite(f_in) & (f_ref > 0) & (f_in > 0)
    if error_column is not None:
        e_ref = _column(cat_ref, error_column)[ref_index]
        e_in = _column(cat_in, error_column)[in_index]
        with np.errstate(divide="ignore", invalid="ignore"):
            usable &= (f_ref >= min_snr * e_ref) & (f_in >= min_snr * e_in)
            usable &= np.isfinite(e_ref) & np.isfinite(e_in)
    if (
        exclude_flags
        and "FLAGS" in getattr(cat_ref, "colnames", ())
        and "FLAGS" in getattr(cat_in, "colnames", ())
    ):
        flags_ref = np.asarray(cat_ref["FLAGS"], dtype=int)[ref_index]
        flags_in = np.asarray(cat_in["FLAGS"], dtype=int)[in_index]
        usable &= ((flags_ref | flags_in) & exclude_flags) == 0
    if usable.sum() < max(int(min_sources), 1):
        return None
    log_ratio = np.log(f_ref[usable] / f_in[usable])
    log_var = None
    if error_column is not None:
        log_var = (e_ref[usable] / f_ref[usable]) ** 2 + (e_in[usable] / f_in[usable]) ** 2
    keep = _clip_log_ratios(log_ratio, log_var, sigma, max_iters)
    if keep.sum() < max(int(min_sources), 1):
        return None
    weights = 1.0 / log_var[keep] if log_var is not None else np.ones(int(keep.sum()))
    mean_log = float(np.sum(weights * log_ratio[keep]) / np.sum(weights))
    if error_column is not None:
        error_log = float(np.sqrt(1.0 / np.sum(weights)))
        # the scatter is the better error when the pairs disagree more than their errors say
        if keep.sum() > 1:
            chi2 = np.sum(weights * (log_ratio[keep] - mean_log) ** 2) / (keep.sum() - 1)
            error_log *= float(np.sqrt(max(chi2, 1.0)))
    else:
        error_log = (
            float(np.std(log_ratio[keep], ddof=1) / np.sqrt(keep.sum()))
            if keep.sum() > 1
            else float("nan")
        )
    ratio = float(np.exp(mean_log))
    return FluxRatio(ratio=ratio, error=ratio * error_log, n_used=int(keep.sum()))
