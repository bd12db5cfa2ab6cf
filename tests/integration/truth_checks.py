"""Measurements of reduced products against the simulator truth, for the tutorial tests.

The simulator draws every source as ``flux_e_per_s x exptime x flat(x, y)``
electrons (``gempy.sim.exposure``), where ``flat`` is the true response times
illumination (``truth_flat.fits``). A reduction divides by a flat normalised
to about 1, so a star of the truth catalogue should come out with
``flux_e_per_s x exptime x N`` electrons, N being the truth flat's level at
the normalisation. Positions come from the truth RA/Dec through the
product's WCS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from photutils.centroids import centroid_2dg, centroid_sources
from scipy import ndimage

from astrodata import DQ
from gempy.library.detection import detect_sources
from gempy.library.photometry import aperture_photometry
from gempy.sim.render import MoffatPSF

#: DQ bits that make a pixel unusable for photometry (non-linear pixels are
#: corrected by nonlinearityCorrect and stay usable).
UNUSABLE = DQ.bad_pixel | DQ.saturated | DQ.cosmic_ray | DQ.no_data | DQ.unilluminated


def world_to_pixel(ext, ra, dec) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel (x, y) of sky positions through an extension's WCS."""
    x, y = ext.wcs.invert(np.asarray(ra, float), np.asarray(dec, float))
    return np.asarray(x, float), np.asarray(y, float)


def frame_psfs(truth: dict, role: str, pixel_scale: float) -> list[MoffatPSF]:
    """The Moffat PSF of every frame of a truth role, in pixels of ``pixel_scale``."""
    beta = truth["psf"]["beta"]
    return [MoffatPSF(truth["files"][name]["psf_fwhm_arcsec"] / pixel_scale, beta)
            for name in truth["roles"][role]]


def mean_enclosed_fraction(psfs: list[MoffatPSF], radius: float) -> float:
    """Fraction of a star's flux inside ``radius`` on the mean of the frames' PSFs.

    A stack (mean of frames scaled to the same counts) has the mean profile
    of its inputs, so its encircled energy is the mean of theirs.
    """
    return float(np.mean([psf.enclosed_fraction(radius) for psf in psfs]))


def isolated(x: np.ndarray, y: np.ndarray, flux: np.ndarray, radius: float,
             ratio: float = 0.01) -> np.ndarray:
    """True where no other source brighter than ``ratio`` x this one lies within ``radius``."""
    dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(dist, np.inf)
    near = dist < radius
    brighter = flux[None, :] > ratio * flux[:, None]
    return ~np.any(near & brighter, axis=1)


@dataclass
class StarPhotometry:
    """Aperture photometry of truth stars on a product (arrays of equal length)."""

    x: np.ndarray
    y: np.ndarray
    expected: np.ndarray
    flux: np.ndarray
    error: np.ndarray
    background: np.ndarray

    @property
    def snr(self) -> np.ndarray:
        return self.expected / self.error

    @property
    def ratio(self) -> np.ndarray:
        return self.flux / self.expected

    @property
    def pull(self) -> np.ndarray:
        return (self.flux - self.expected) / self.error


def truth_star_photometry(ext, truth: dict, exptime: float, normalisation: float,
                          psfs: list[MoffatPSF], radius: float,
                          annulus: tuple[float, float], edge: float,
                          max_peak_electrons: float | None = None) -> StarPhotometry:
    """Photometry of the isolated, unmasked truth stars on one extension of a product.

    Parameters
    ----------
    ext : AstroData slice
        Product extension (data in electrons, VAR, DQ, WCS).
    truth : dict
        ``gempy.sim.load_truth`` of the raw data.
    exptime : float
        Exposure time of one input frame (the stack is on that scale).
    normalisation : float
        Level of the truth flat that the processed flat was divided by.
    psfs : list of MoffatPSF
        PSF of every input frame, in product pixels (aperture correction).
    radius, annulus : float, (float, float)
        Aperture radius and sky annulus, pixels.
    edge : float
        Stars closer than this to the array edge are left out.
    max_peak_electrons : float, optional
        Leave out stars whose brightest frame's peak pixel (source plus sky is
        not counted) exceeds this, i.e. stars in the non-linear regime.
    """
    catalog = truth["catalog"]
    stars = catalog[catalog["type"] == "star"]
    x_all, y_all = world_to_pixel(ext, catalog["ra"], catalog["dec"])
    flux_all = np.asarray(catalog["flux_e_per_s"], float)
    keep_iso = isolated(x_all, y_all, flux_all, annulus[1] + radius)[catalog["type"] == "star"]
    x, y = world_to_pixel(ext, stars["ra"], stars["dec"])
    ny, nx = ext.shape
    inside = (x > edge) & (x < nx - 1 - edge) & (y > edge) & (y < ny - 1 - edge)
    expected = np.asarray(stars["flux_e_per_s"], float) * exptime * normalisation
    if max_peak_electrons is not None:
        peak = expected * max(float(psf.profile(0.0)) for psf in psfs)
        inside &= peak < max_peak_electrons
    select = inside & keep_iso
    x, y, expected = x[select], y[select], expected[select]
    unusable = (np.asarray(ext.mask) & UNUSABLE) != 0
    result = aperture_photometry(ext.data, np.column_stack([x, y]), radius,
                                 variance=ext.variance, mask=unusable, annulus=annulus)
    clean = result.n_masked == 0
    correction = mean_enclosed_fraction(psfs, radius)
    return StarPhotometry(x=x[clean], y=y[clean], expected=expected[clean],
                          flux=result.flux[clean] / correction,
                          error=result.flux_err[clean] / correction,
                          background=result.background[clean])


def centroid_offsets(ext, x: np.ndarray, y: np.ndarray, box: int) -> tuple[np.ndarray, np.ndarray]:
    """Measured minus expected (x, y) of stars: 2-D Gaussian centroids in a ``box`` px box.

    The fit is symmetric, so it finds the centre of a Moffat star without bias.
    """
    data = np.where((np.asarray(ext.mask) & UNUSABLE) != 0, 0.0, np.asarray(ext.data, float))
    xc, yc = centroid_sources(data, x, y, box_size=box | 1, centroid_func=centroid_2dg)
    return xc - x, yc - y


def blank_sky(ext, dilation: int = 6) -> np.ndarray:
    """Usable pixels away from every detected source (sources grown by ``dilation`` px)."""
    _, objmask = detect_sources(np.asarray(ext.data, float), variance=ext.variance,
                                mask=(np.asarray(ext.mask) & UNUSABLE), detect_thresh=1.5,
                                detect_minarea=5)
    grown = ndimage.binary_dilation(objmask > 0, iterations=dilation)
    usable = (np.asarray(ext.mask) & UNUSABLE) == 0
    return usable & ~grown & np.isfinite(ext.data) & (np.asarray(ext.variance) > 0)


@dataclass(frozen=True)
class SkyStatistics:
    """Blank-sky statistics of a product: level, pixel scatter, and scatter vs VAR."""

    median: float
    sigma: float
    chi2: float
    npix: int


def sky_statistics(ext, dilation: int = 6) -> SkyStatistics:
    """Median, robust pixel scatter and ``mean((d - median)^2 / VAR)`` on blank sky.

    ``chi2`` is computed on 5-sigma-clipped pixels and corrected for the clip
    (a Gaussian keeps 99.99994% of its variance inside 5 sigma), so it is 1
    when the variance plane describes the pixel scatter.
    """
    sky = blank_sky(ext, dilation)
    values = np.asarray(ext.data, float)[sky]
    variance = np.asarray(ext.variance, float)[sky]
    median = float(np.median(values))
    sigma = float(1.4826 * np.median(np.abs(values - median)))
    keep = np.abs(values - median) < 5 * sigma
    chi2 = float(np.mean((values[keep] - median) ** 2 / variance[keep]))
    return SkyStatistics(median=median, sigma=sigma, chi2=chi2, npix=int(keep.sum()))


def block_chi2(ext, block: int = 8, dilation: int = 6) -> float:
    """Mean of ``(sum(d) - n median)^2 / sum(VAR)`` over blank-sky ``block`` x ``block`` boxes.

    Sums over boxes larger than an interpolation kernel are insensitive to
    the correlation resampling introduces between neighbouring pixels, so
    the result is 1 when VAR describes the noise of apertures.
    """
    sky = blank_sky(ext, dilation)
    data = np.asarray(ext.data, float)
    variance = np.asarray(ext.variance, float)
    median = float(np.median(data[sky]))
    ny, nx = data.shape
    ratios = []
    for y in range(0, ny - block + 1, block):
        for x in range(0, nx - block + 1, block):
            window = (slice(y, y + block), slice(x, x + block))
            if sky[window].all():
                excess = data[window].sum() - median * block * block
                ratios.append(excess**2 / variance[window].sum())
    if not ratios:
        raise ValueError("no blank-sky block")
    return float(np.mean(ratios))


def visible_bad_pixels(truth: dict, flat_normalisation: float, thresholds: dict,
                       dark_exptime: float, dark_gain: float) -> np.ndarray:
    """Truth bad pixels that ``makeBPM``'s thresholds can flag (first extension).

    A defect is within reach of the algorithm if its true normalised response
    is outside [flat_lo_thresh, flat_hi_thresh] or its dark signal in the
    short darks (truth dark current x ``dark_exptime``, in ADU of gain
    ``dark_gain``) is outside [dark_lo_thresh, dark_hi_thresh]. Warm pixels
    below the dark limit are bad in the truth but left to dark subtraction.
    """
    bad = (truth["bpm"][0] & DQ.bad_pixel) > 0
    flat = truth["flat"][0] / flat_normalisation
    dark_adu = truth["dark"][0] * dark_exptime / dark_gain
    outside = ((flat < thresholds["flat_lo_thresh"]) | (flat > thresholds["flat_hi_thresh"])
               | (dark_adu < thresholds["dark_lo_thresh"])
               | (dark_adu > thresholds["dark_hi_thresh"]))
    return bad & outside
