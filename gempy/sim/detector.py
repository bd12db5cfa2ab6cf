"""Detector physics: pixel response, dark current, bad pixels, cosmic rays, noise and readout.

Everything is computed in electrons and turned into ADU at the end:

IR arrays (F2, GSAOI, NIRI): the charge collected per coadd is passed
through the *inverse* of the instrument's linearity correction
(corrected = x (c0 + c1 x + c2 x**2), x in electrons per coadd), read noise
is added, the sum over coadds is divided by the gain, and pixels whose raw
charge reached the well are set to the saturation level in ADU.

CCDs (GMOS): the charge is clipped at the full well, divided by the gain,
and the amplifier's bias (level, 2-D structure, row noise) and read noise
are added; values are rounded and clipped to the 16-bit ADC range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import interpolate

__all__ = ["ArrayPhysics", "ArrayMaps", "make_array_maps", "poisson_electrons",
           "add_cosmic_rays", "inverse_linearity", "ir_readout", "ccd_readout", "BAD_PIXEL"]

BAD_PIXEL = 1
_POISSON_EXACT_BELOW = 20.0
_SERIES_EXACT_BELOW = 3.0e4


@dataclass(frozen=True)
class ArrayPhysics:
    """Physical properties of one detector array (electrons, seconds, unbinned pixels).

    Attributes
    ----------
    dark_current : float
        e-/s per pixel for normal pixels.
    well_depth : float
        Charge at which a pixel saturates, e- (per binned pixel for CCDs it
        is multiplied by the binning).
    linearity : tuple of float or None
        (c0, c1, c2) of the instrument's correction, None for a linear CCD.
    qe : float
        Mean response of the array relative to the nominal one.
    response_rms : float
        Pixel-to-pixel response scatter.
    large_scale_rms : float
        Amplitude of the smooth response variation across the array.
    hot_fraction, cold_fraction, dead_fraction : float
        Fractions of hot (very high dark current), cold (response 0.05-0.4)
        and dead (response 0) pixels.
    hot_dark : tuple of float
        Range (log-uniform) of the dark current of hot pixels, e-/s.
    dead_columns : int
        Number of dead (partial) columns.
    dust_rings : int
        Number of ring-shaped dust shadows.
    cosmic_rate : float
        Cosmic-ray hits per unbinned pixel per second.
    cosmic_track : float
        Mean track length in unbinned pixels.
    cosmic_energy : float
        Median charge deposited by one cosmic ray, e-.
    """

    dark_current: float
    well_depth: float
    linearity: tuple[float, float, float] | None = None
    qe: float = 1.0
    response_rms: float = 0.02
    large_scale_rms: float = 0.02
    hot_fraction: float = 2e-4
    cold_fraction: float = 2e-4
    dead_fraction: float = 1e-4
    hot_dark: tuple[float, float] = (2.0e3, 3.0e4)
    dead_columns: int = 1
    dust_rings: int = 4
    cosmic_rate: float = 6.0e-7
    cosmic_track: float = 0.8
    cosmic_energy: float = 2000.0


@dataclass
class ArrayMaps:
    """Static per-pixel properties of one array at one binning (same in every frame).

    Attributes
    ----------
    response : ndarray (float32)
        Pixel response (QE relative to nominal; illumination not included).
    dark : ndarray (float32)
        Dark current, e-/s per (binned) pixel.
    bpm : ndarray (uint16)
        ``BAD_PIXEL`` where the pixel is hot, cold, dead or in a dead column.
    """

    response: np.ndarray
    dark: np.ndarray
    bpm: np.ndarray


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth random field of unit rms varying on ~shape/cells scales."""
    coarse = rng.standard_normal((cells + 3, cells + 3))
    ny, nx = shape
    knots = np.arange(cells + 3, dtype=float)
    spline = interpolate.RectBivariateSpline(knots, knots, coarse, kx=3, ky=3, s=0)
    # a tensor-product spline evaluated on the pixel grid (separable, so fast)
    field = spline(np.linspace(1.0, cells + 1.0, ny), np.linspace(1.0, cells + 1.0, nx))
    return (field - field.mean()) / max(field.std(), 1e-12)


def make_array_maps(rng: np.random.Generator, physics: ArrayPhysics, shape: tuple[int, int],
                    binning: tuple[int, int] = (1, 1)) -> ArrayMaps:
    """Draw the static maps of one array (``shape`` is binned (ny, nx)).

    Defects are drawn at the binned resolution: a binned pixel behaves as
    one detector pixel of ``binning`` times the area (dark current scales
    with the area).
    """
    ny, nx = shape
    area = binning[0] * binning[1]
    response = physics.qe * (1.0 + physics.large_scale_rms * _smooth_field(rng, shape, 4))
    response *= 1.0 + physics.response_rms * rng.standard_normal(shape)
    yy, xx = np.mgrid[0:ny, 0:nx]
    for _ in range(physics.dust_rings):
        cx, cy = rng.uniform(0, nx), rng.uniform(0, ny)
        radius = rng.uniform(6.0, 20.0) / math.sqrt(area)
        depth = rng.uniform(0.03, 0.08)
        box = (slice(max(0, int(cy - radius - 4)), int(cy + radius + 5)),
               slice(max(0, int(cx - radius - 4)), int(cx + radius + 5)))
        r = np.hypot(xx[box] - cx, yy[box] - cy)
        response[box] *= 1.0 - depth * np.exp(-0.5 * ((r - radius) / 1.5) ** 2)
    dark = physics.dark_current * area * (1.0 + 0.05 * rng.standard_normal(shape))
    bpm = np.zeros(shape, np.uint16)
    npix = ny * nx
    n_hot = rng.binomial(npix, physics.hot_fraction)
    hot = rng.choice(npix, n_hot, replace=False)
    lo, hi = np.log10(physics.hot_dark[0]), np.log10(physics.hot_dark[1])
    dark.reshape(-1)[hot] = 10.0 ** rng.uniform(lo, hi, n_hot)
    n_cold = rng.binomial(npix, physics.cold_fraction)
    cold = rng.choice(npix, n_cold, replace=False)
    response.reshape(-1)[cold] *= rng.uniform(0.05, 0.4, n_cold)
    n_dead = rng.binomial(npix, physics.dead_fraction)
    dead = rng.choice(npix, n_dead, replace=False)
    response.reshape(-1)[dead] = 0.0
    dark.reshape(-1)[dead] = 0.0
    for flat_index in (hot, cold, dead):
        bpm.reshape(-1)[flat_index] = BAD_PIXEL
    for _ in range(physics.dead_columns):
        col = int(rng.integers(nx // 8, nx - nx // 8))
        start = int(rng.integers(0, ny // 2))
        response[start:, col] = 0.0
        dark[start:, col] = 0.0
        bpm[start:, col] = BAD_PIXEL
    return ArrayMaps(response.astype(np.float32), dark.astype(np.float32), bpm)


def poisson_electrons(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """Photon and dark shot noise: Poisson below 20 e-, its normal limit above (float32)."""
    mean = np.maximum(np.asarray(mean, np.float32), np.float32(0.0))
    out = rng.standard_normal(mean.shape, dtype=np.float32)
    out *= np.sqrt(mean)
    out += mean
    low = mean < _POISSON_EXACT_BELOW
    if low.any():
        out[low] = rng.poisson(mean[low]).astype(np.float32)
    return out


def add_cosmic_rays(rng: np.random.Generator, electrons: np.ndarray, physics: ArrayPhysics,
                    exptime: float, binning: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Add cosmic-ray tracks to ``electrons`` in place.

    Returns
    -------
    ndarray
        One row per hit: x, y (start pixel), number of pixels, charge (e-).
    """
    ny, nx = electrons.shape
    area = binning[0] * binning[1]
    n = int(rng.poisson(physics.cosmic_rate * exptime * ny * nx * area))
    if n == 0:
        return np.zeros((0, 4))
    x0 = rng.uniform(0, nx, n)
    y0 = rng.uniform(0, ny, n)
    length = rng.exponential(physics.cosmic_track / math.sqrt(area), n)
    angle = rng.uniform(0.0, math.pi, n)
    energy = physics.cosmic_energy * np.exp(rng.normal(0.0, 0.6, n))
    npix = np.maximum(1, np.ceil(length)).astype(int)
    owner = np.repeat(np.arange(n), npix)
    step = np.arange(npix.sum()) - np.repeat(np.cumsum(npix) - npix, npix)
    frac = np.where(npix[owner] > 1, step / np.maximum(npix[owner] - 1, 1), 0.0)
    xs = np.floor(x0[owner] + frac * length[owner] * np.cos(angle[owner])).astype(int)
    ys = np.floor(y0[owner] + frac * length[owner] * np.sin(angle[owner])).astype(int)
    charge = energy[owner] / npix[owner] * rng.uniform(0.7, 1.3, len(owner))
    inside = (xs >= 0) & (xs < nx) & (ys >= 0) & (ys < ny)
    np.add.at(electrons, (ys[inside], xs[inside]), charge[inside].astype(np.float32))
    return np.column_stack([np.floor(x0), np.floor(y0), npix, energy])


def inverse_linearity(y: np.ndarray, coeffs: tuple[float, float, float]) -> np.ndarray:
    """Raw charge ``x`` with ``x (c0 + c1 x + c2 x**2) = y`` (float32).

    A third-order series inverse is exact to float32 precision below
    ``_SERIES_EXACT_BELOW`` electrons; brighter pixels get Newton steps.
    """
    c0, c1, c2 = (float(c) for c in coeffs)
    a, b = c1 / c0, c2 / c0
    y = np.asarray(y, np.float32)
    u = y * np.float32(1.0 / c0)
    x = u * np.float32(2.0 * a * a - b)
    x -= np.float32(a)
    x *= u
    x += np.float32(1.0)
    x *= u
    bright = y > _SERIES_EXACT_BELOW
    if bright.any():
        xb, yb = x[bright].astype(np.float64), y[bright].astype(np.float64)
        for _ in range(3):
            f = xb * (c0 + xb * (c1 + xb * c2)) - yb
            xb -= f / (c0 + xb * (2.0 * c1 + 3.0 * c2 * xb))
        x[bright] = xb
    return x


def ir_readout(rng: np.random.Generator, electrons: np.ndarray, coadds: int,
               linearity: tuple[float, float, float] | None, gain: float, read_noise: float,
               saturation_adu: float, summed_coadds: bool = True) -> np.ndarray:
    """ADU (float32) of an IR array from the true collected charge over all coadds.

    ``read_noise`` is per coadd; ``saturation_adu`` is the level that saturated
    pixels report (the instrument's ``saturation_level`` descriptor value).
    With ``summed_coadds`` False (GSAOI) the coadds are averaged.
    """
    per_coadd = electrons / np.float32(coadds) if coadds != 1 else electrons
    scale = coadds if summed_coadds else 1
    saturation_e = saturation_adu * gain / scale
    if linearity:
        # Charge far beyond the well would send the Newton inverse astray: such pixels
        # saturate anyway, so cap them just above the saturation level first.
        x = 1.05 * saturation_e
        cap = x * (linearity[0] + x * (linearity[1] + x * linearity[2]))
        raw = inverse_linearity(np.minimum(per_coadd, np.float32(cap)), linearity)
    else:
        raw = per_coadd
    saturated = raw >= np.float32(saturation_e)
    # summed coadds add their read noise; averaged coadds divide it down
    noise_sigma = read_noise * (math.sqrt(coadds) if summed_coadds else 1.0 / math.sqrt(coadds))
    adu = rng.standard_normal(raw.shape, dtype=np.float32)
    adu *= np.float32(noise_sigma)
    adu += raw if scale == 1 else raw * np.float32(scale)
    adu *= np.float32(1.0 / gain)
    adu[saturated] = saturation_adu
    return adu


def ccd_readout(rng: np.random.Generator, electrons: np.ndarray, gain: float, read_noise: float,
                well: float, bias: np.ndarray) -> np.ndarray:
    """16-bit ADU of one amplifier.

    ``electrons`` and ``bias`` (ADU) both have the stored extension's shape;
    ``electrons`` is zero in the overscan columns. The charge is clipped at
    ``well``, converted with ``gain``, and read noise is added to every pixel.
    """
    signal = np.minimum(electrons, well) / gain
    noise = (read_noise / gain) * rng.standard_normal(bias.shape, dtype=np.float32)
    adu = np.rint(signal + bias + noise)
    return np.clip(adu, 0, 65535).astype(np.uint16)
