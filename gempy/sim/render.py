"""Rendering of point sources and galaxies onto pixel grids (vectorised, stamp based).

Stars use a Moffat PSF truncated at ``truncation`` FWHM and integrated over
each pixel through a finely tabulated pixel-response table, so a star's
rendered pixels sum exactly to its flux (less whatever falls off the
array). Galaxies are elliptical Sersic profiles convolved with the same PSF
on a 3x oversampled grid; galaxies much larger than a stamp (a nearby
galaxy's halo) are drawn as a smooth, unconvolved surface brightness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage, signal, special

from .catalog import sersic_b

__all__ = ["MoffatPSF", "render_point_sources", "render_galaxies", "render_smooth_galaxies",
           "render_sources"]

_TABLE_STEP_DIVISOR = 7  # odd, so a 7-sample box is centred on its sample
_SMOOTH_RADIUS_PIX = 60.0
# stamp half-sizes (pixels) and the oversampling used for each
_GALAXY_STAMP_SIZES = (10, 20, 40, 80)
_GALAXY_OVERSAMPLING = (3, 2, 1, 1)


@dataclass(frozen=True)
class MoffatPSF:
    """A circular Moffat PSF, ``I(r) ∝ (1 + (r/alpha)**2)**(-beta)``.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum in pixels of the grid it is drawn on.
    beta : float
        Moffat index (large: Gaussian-like; 2.5-4.5 for seeing).
    truncation : float
        Radius, in FWHM, beyond which the profile is zero; the flux is
        renormalised to the truncated profile.
    """

    fwhm: float
    beta: float = 3.5
    truncation: float = 5.0

    @property
    def alpha(self) -> float:
        return self.fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / self.beta) - 1.0))

    @property
    def radius(self) -> float:
        """Truncation radius in pixels."""
        return max(self.truncation * self.fwhm, 4.0)

    def profile(self, r: np.ndarray) -> np.ndarray:
        """Normalised surface density (per pixel^2) of the truncated PSF at radius ``r``."""
        a, b = self.alpha, self.beta
        norm = (b - 1.0) / (math.pi * a * a) / self._untruncated_fraction(self.radius)
        r = np.asarray(r, float)
        return np.where(r <= self.radius, norm * (1.0 + (r / a) ** 2) ** (-b), 0.0)

    def _untruncated_fraction(self, r: float | np.ndarray) -> np.ndarray:
        return 1.0 - (1.0 + (np.asarray(r, float) / self.alpha) ** 2) ** (1.0 - self.beta)

    def enclosed_fraction(self, r: float | np.ndarray) -> np.ndarray:
        """Fraction of the flux inside a circular aperture of radius ``r`` pixels."""
        r = np.minimum(np.asarray(r, float), self.radius)
        return self._untruncated_fraction(r) / self._untruncated_fraction(self.radius)

    @cached_property
    def _table(self) -> tuple[np.ndarray, float, int]:
        h = 1.0 / _TABLE_STEP_DIVISOR
        half = math.ceil(self.radius) + 1
        j = math.ceil((half + 1.0) / h) + 1
        grid = (np.arange(2 * j + 1) - j) * h
        r = np.hypot(grid[None, :], grid[:, None])
        samples = self.profile(r)
        table = ndimage.uniform_filter(samples, size=_TABLE_STEP_DIVISOR, mode="constant")
        return table.astype(np.float32), h, j

    def pixel_values(self, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
        """Pixel-integrated PSF at pixel-centre offsets (``du``, ``dv``) from the source.

        ``du`` has shape (N, S) and ``dv`` (N, S); returns (N, S_v, S_u).
        """
        table, h, j = self._table
        size = table.shape[0]
        fu = du / h + j
        fv = dv / h + j
        iu = np.floor(fu).astype(np.int64)
        iv = np.floor(fv).astype(np.int64)
        wu = (fu - iu).astype(np.float32)[:, None, :]
        wv = (fv - iv).astype(np.float32)[:, :, None]
        iu = np.clip(iu, 0, size - 2)[:, None, :]
        iv = np.clip(iv, 0, size - 2)[:, :, None]
        return ((1 - wv) * ((1 - wu) * table[iv, iu] + wu * table[iv, iu + 1])
                + wv * ((1 - wu) * table[iv + 1, iu] + wu * table[iv + 1, iu + 1]))


def _accumulate(image: np.ndarray, ix: np.ndarray, iy: np.ndarray, values: np.ndarray) -> None:
    """Add stamps ``values`` (N, Sy, Sx) at integer pixel grids ``ix`` (N, Sx), ``iy`` (N, Sy)."""
    ny, nx = image.shape
    xx = np.broadcast_to(ix[:, None, :], values.shape)
    yy = np.broadcast_to(iy[:, :, None], values.shape)
    inside = (xx >= 0) & (xx < nx) & (yy >= 0) & (yy < ny)
    np.add.at(image.reshape(-1), (yy[inside] * nx + xx[inside]), values[inside])


def render_point_sources(image: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray,
                         psf: MoffatPSF, chunk: int = 512) -> None:
    """Add point sources of total ``flux`` at 0-based pixel positions (``x``, ``y``) in place."""
    if len(x) == 0:
        return
    half = math.ceil(psf.radius) + 1
    k = np.arange(-half, half + 1)
    for s in range(0, len(x), chunk):
        xs, ys, fs = x[s:s + chunk], y[s:s + chunk], flux[s:s + chunk]
        ix = np.floor(xs + 0.5).astype(np.int64)[:, None] + k
        iy = np.floor(ys + 0.5).astype(np.int64)[:, None] + k
        values = psf.pixel_values(ix - xs[:, None], iy - ys[:, None])
        total = values.sum(axis=(1, 2))
        values *= (fs / np.where(total > 0, total, 1.0)).astype(np.float32)[:, None, None]
        _accumulate(image, ix, iy, values)


def _sersic_grid(u: np.ndarray, v: np.ndarray, r_eff: np.ndarray, n: np.ndarray,
                 q: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Unnormalised elliptical Sersic at offsets ``u`` (N,1,M), ``v`` (N,M,1)."""
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    major = u * c + v * s
    minor = (-u * s + v * c) / q[:, None, None]
    r = np.sqrt(major * major + minor * minor) / r_eff[:, None, None]
    b = sersic_b(n)[:, None, None]
    return np.exp(-b * r ** (1.0 / n[:, None, None]))


def render_galaxies(image: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray,
                    r_eff: np.ndarray, n: np.ndarray, q: np.ndarray, theta: np.ndarray,
                    psf: MoffatPSF, chunk: int = 48) -> None:
    """Add PSF-convolved elliptical Sersic galaxies in place.

    ``r_eff`` is in pixels along the major axis; ``theta`` is the major-axis
    angle from the +x pixel axis, counter-clockwise, in radians.
    """
    if len(x) == 0:
        return
    need = np.ceil(4.0 * r_eff * (1.0 + 0.25 * n) + 2.0 * psf.fwhm)
    bucket = np.searchsorted(np.array(_GALAXY_STAMP_SIZES), need)
    bucket = np.minimum(bucket, len(_GALAXY_STAMP_SIZES) - 1)
    for b_index, half in enumerate(_GALAXY_STAMP_SIZES):
        members = np.flatnonzero(bucket == b_index)
        if len(members) == 0:
            continue
        os_ = _GALAXY_OVERSAMPLING[b_index]
        kr = math.ceil(min(psf.radius, 3.0 * psf.fwhm) * os_)
        kgrid = np.arange(-kr, kr + 1) / os_
        kernel = psf.profile(np.hypot(kgrid[None, :], kgrid[:, None])).astype(np.float32)
        kernel /= kernel.sum()
        k = np.arange(-half, half + 1)
        sub = (np.arange(os_) + 0.5) / os_ - 0.5
        fine = (k[:, None] + sub[None, :]).reshape(-1).astype(np.float32)
        size = 2 * half + 1
        for s in range(0, len(members), chunk):
            sel = members[s:s + chunk]
            xs, ys = x[sel], y[sel]
            ix0 = np.floor(xs + 0.5).astype(np.int64)
            iy0 = np.floor(ys + 0.5).astype(np.int64)
            u = (ix0 - xs).astype(np.float32)[:, None] + fine[None, :]
            v = (iy0 - ys).astype(np.float32)[:, None] + fine[None, :]
            model = _sersic_grid(u[:, None, :], v[:, :, None], r_eff[sel].astype(np.float32),
                                 n[sel].astype(np.float32), q[sel].astype(np.float32),
                                 theta[sel].astype(np.float32))
            model = signal.fftconvolve(model, kernel[None], mode="same", axes=(1, 2))
            values = model.reshape(len(sel), size, os_, size, os_).sum(axis=(2, 4))
            values = np.clip(values, 0.0, None).astype(np.float32)
            total = values.sum(axis=(1, 2))
            norm = (flux[sel] / np.where(total > 0, total, 1.0)).astype(np.float32)
            values *= norm[:, None, None]
            _accumulate(image, ix0[:, None] + k, iy0[:, None] + k, values)


def render_smooth_galaxies(image: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray,
                           r_eff: np.ndarray, n: np.ndarray, q: np.ndarray,
                           theta: np.ndarray, step: int = 16) -> None:
    """Add very large galaxies as analytic surface brightness (no PSF), in place.

    The profile is evaluated on a coarse grid (every ``step`` pixels) and
    interpolated linearly; such galaxies vary on scales of hundreds of pixels.
    """
    ny, nx = image.shape
    gy = np.arange(0, ny + step, step, dtype=float)
    gx = np.arange(0, nx + step, step, dtype=float)
    coarse = np.zeros((len(gy), len(gx)))
    for i in range(len(x)):
        b = float(sersic_b(n[i]))
        total_norm = (2.0 * math.pi * q[i] * r_eff[i] ** 2 * n[i] * math.exp(b)
                      * b ** (-2.0 * n[i]) * special.gamma(2.0 * n[i]))
        i_eff = flux[i] / total_norm
        shape = _sersic_grid((gx - x[i])[None, None, :], (gy - y[i])[None, :, None],
                             np.array([r_eff[i]]), np.array([n[i]]), np.array([q[i]]),
                             np.array([theta[i]]))[0]
        coarse += i_eff * math.exp(b) * shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    image += ndimage.map_coordinates(coarse, [yy / step, xx / step], order=1).astype(image.dtype)


def render_sources(shape: tuple[int, int], x: np.ndarray, y: np.ndarray, flux: np.ndarray,
                   is_star: np.ndarray, r_eff: np.ndarray, n: np.ndarray, q: np.ndarray,
                   theta: np.ndarray, psf: MoffatPSF) -> np.ndarray:
    """Image (float32) of sources at pixel positions, in the units of ``flux`` per pixel.

    Sources whose stamps cannot touch the array are skipped.
    """
    image = np.zeros(shape, np.float32)
    ny, nx = shape
    is_star = np.asarray(is_star, bool)
    smooth = ~is_star & (r_eff > _SMOOTH_RADIUS_PIX)
    margin = math.ceil(psf.radius) + 2 + _GALAXY_STAMP_SIZES[-1] * (~is_star)
    near = (x > -margin) & (x < nx + margin) & (y > -margin) & (y < ny + margin)
    stars = is_star & near
    compact = ~is_star & ~smooth & near
    render_point_sources(image, x[stars], y[stars], flux[stars], psf)
    render_galaxies(image, x[compact], y[compact], flux[compact], r_eff[compact], n[compact],
                    q[compact], theta[compact], psf)
    if smooth.any():
        render_smooth_galaxies(image, x[smooth], y[smooth], flux[smooth], r_eff[smooth],
                               n[smooth], q[smooth], theta[smooth])
    return image
