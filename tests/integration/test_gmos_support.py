"""Measurements of GMOS products against the simulator truth, shared by the GMOS integration tests.

The GMOS end-to-end tests (``test_gmos_*.py``) reduce simulated raw data
with the installed ``reduce`` command or the ``Reduce`` class and measure
the products with the functions here:

* the true flat normalisation (the processed flat is divided by the median
  of CCD2's good pixels, so a star of the truth catalogue comes out of the
  flat-fielded data with ``flux x exptime x N``, N being the median of the
  truth flat over CCD2's good pixels);
* aperture photometry of isolated truth stars
  (:func:`gempy.library.photometry.aperture_photometry`) with the aperture
  correction of the frames' Moffat PSFs
  (:meth:`gempy.sim.render.MoffatPSF.enclosed_fraction`) and the small
  correction for the star light inside the sky annulus;
* the fringe amplitude of a frame, a clipped least-squares projection on the
  true fringe pattern (``truth_fringe.fits``);
* truth positions through a product's WCS (for the mosaic geometry).

The module's own tests check the photometry on stars drawn with the
simulator's renderer, so the 2% flux test of the reductions measures the
reduction and not the measurement.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from astrodata import DQ, Section
from gempy.library.photometry import aperture_photometry
from gempy.sim.render import MoffatPSF, render_point_sources, render_sources

sys.path.insert(0, str(Path(__file__).resolve().parent))
from truth_checks import UNUSABLE, isolated, world_to_pixel  # noqa: E402

#: Aperture radius and sky annulus, in units of the mean FWHM of the frames
#: (the PSF is truncated at 5 FWHM, so the annulus holds 0.4% of a star's light).
APERTURE_FWHM = 1.5
ANNULUS_FWHM = (3.0, 5.0)


# ---------------------------------------------------------------------------
# truth bookkeeping
# ---------------------------------------------------------------------------
def data_columns(extension_truth: dict) -> slice:
    """Columns of a raw extension's data section (the truth arrays include the overscan)."""
    section = Section.from_string(extension_truth["datasec"])
    return slice(section.x1, section.x2)


def truth_data(truth: dict, key: str, name: str) -> list[np.ndarray]:
    """A per-extension truth image (``flat``, ``bpm``, ``fringe``, ``bias``) cut to the data."""
    extensions = truth["files"][name]["extensions"]
    return [np.asarray(image)[:, data_columns(ext)]
            for image, ext in zip(truth[key], extensions, strict=True)]


def ccd2_name(truth: dict) -> str:
    """Name of the central CCD (the one the flat is normalised on)."""
    return truth["arrays"][1]["name"]


def flat_normalisation(truth: dict, name: str) -> float:
    """Median of the true flat over CCD2's good pixels, in the layout of raw file ``name``."""
    flats = truth_data(truth, "flat", name)
    bpms = truth_data(truth, "bpm", name)
    values = [flat[bpm == 0] for flat, bpm, ext in
              zip(flats, bpms, truth["files"][name]["extensions"], strict=True)
              if ext["array"] == ccd2_name(truth)]
    return float(np.median(np.concatenate(values)))


def combined_names(ad: Any) -> list[str]:
    """Raw file names of the frames combined into a stack (``IMCMBnnn``), in order."""
    keys = sorted(k for k in ad.phu if k.startswith("IMCMB"))
    return [str(ad.phu[k]) for k in keys]


def frame_psfs(truth: dict, names: list[str], pixel_scale: float) -> list[MoffatPSF]:
    """Moffat PSF of every frame, in pixels of ``pixel_scale`` arcsec."""
    beta = truth["psf"]["beta"]
    return [MoffatPSF(truth["files"][n]["psf_fwhm_arcsec"] / pixel_scale, beta) for n in names]


def binned_scale(truth: dict) -> float:
    """Pixel scale of the (binned) products, arcsec."""
    return truth["pixel_scale_arcsec"] * truth["binning"][0]


# ---------------------------------------------------------------------------
# photometry
# ---------------------------------------------------------------------------
def measured_fraction(psfs: list[MoffatPSF], radius: float, annulus: tuple[float, float]
                      ) -> float:
    """Fraction of a star's flux an aperture measures after subtracting an annulus sky.

    A stack has the mean profile of its inputs. The sky per pixel taken
    from the annulus includes the star's light there, so the aperture loses
    its area times that light's mean surface density.
    """
    inner, outer = annulus
    fractions = []
    for psf in psfs:
        in_annulus = float(psf.enclosed_fraction(outer) - psf.enclosed_fraction(inner))
        density = in_annulus / (np.pi * (outer ** 2 - inner ** 2))
        fractions.append(float(psf.enclosed_fraction(radius)) - np.pi * radius ** 2 * density)
    return float(np.mean(fractions))


@dataclass
class StarPhotometry:
    """Photometry of truth stars on a product (arrays of equal length)."""

    ra: np.ndarray
    dec: np.ndarray
    x: np.ndarray
    y: np.ndarray
    expected: np.ndarray
    flux: np.ndarray
    error: np.ndarray

    @property
    def ratio(self) -> np.ndarray:
        return self.flux / self.expected

    @property
    def snr(self) -> np.ndarray:
        return self.expected / self.error

    def summary(self) -> str:
        """One line per star: position, expected electrons, ratio, S/N."""
        order = np.argsort(-self.snr)
        return "\n".join(f"  ({self.x[i]:7.1f}, {self.y[i]:7.1f}) expected {self.expected[i]:9.0f}"
                         f" e-  measured/expected {self.ratio[i]:.4f}  S/N {self.snr[i]:6.1f}"
                         for i in order)


def star_photometry(ext: Any, truth: dict, band: str, names: list[str], normalisation: float,
                    min_snr: float = 0.0) -> StarPhotometry:
    """Aperture photometry of the isolated, unmasked truth stars on one product extension.

    Parameters
    ----------
    ext : AstroData extension
        Product in electrons on the scale of one input frame, with WCS.
    truth : dict
        ``gempy.sim.load_truth`` of the raw data.
    band : str
        Filter (``flux_e_per_s_<band>`` of the catalogue).
    names : list of str
        Raw frames combined (PSFs for the aperture correction; the first
        gives the exposure time).
    normalisation : float
        :func:`flat_normalisation`.
    min_snr : float
        Keep only stars whose expected S/N (from the VAR plane) is above this.
    """
    scale = binned_scale(truth)
    psfs = frame_psfs(truth, names, scale)
    fwhm = float(np.mean([psf.fwhm for psf in psfs]))
    radius = APERTURE_FWHM * fwhm
    annulus = (ANNULUS_FWHM[0] * fwhm, ANNULUS_FWHM[1] * fwhm)
    catalog = truth["catalog"]
    flux_all = np.asarray(catalog[f"flux_e_per_s_{band}"], float)
    x_all, y_all = world_to_pixel(ext, catalog["ra"], catalog["dec"])
    # no other source brighter than 1% of the star inside its annulus
    alone = isolated(x_all, y_all, flux_all, annulus[1] + radius)
    ny, nx = ext.shape
    edge = annulus[1] + 1
    inside = (x_all > edge) & (x_all < nx - 1 - edge) & (y_all > edge) & (y_all < ny - 1 - edge)
    pick = (np.asarray(catalog["type"]) == "star") & alone & inside
    x, y = x_all[pick], y_all[pick]
    exptime = float(truth["files"][names[0]]["exptime"])
    expected = flux_all[pick] * exptime * normalisation
    unusable = (np.asarray(ext.mask) & UNUSABLE) != 0
    result = aperture_photometry(np.asarray(ext.data, float), np.column_stack([x, y]), radius,
                                 variance=np.asarray(ext.variance, float), mask=unusable,
                                 annulus=annulus)
    fraction = measured_fraction(psfs, radius, annulus)
    flux, error = result.flux / fraction, result.flux_err / fraction
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = expected / error
    keep = (result.n_masked == 0) & np.isfinite(flux) & (error > 0) & (snr > min_snr)
    return StarPhotometry(ra=np.asarray(catalog["ra"], float)[pick][keep],
                          dec=np.asarray(catalog["dec"], float)[pick][keep],
                          x=x[keep], y=y[keep], expected=expected[keep], flux=flux[keep],
                          error=error[keep])


# ---------------------------------------------------------------------------
# the whole scene: astrometry and flux scale from every source
# ---------------------------------------------------------------------------
def _local_cd(ext: Any, x: float, y: float) -> np.ndarray:
    """CD matrix (degrees per pixel; east, north) of a product's WCS at pixel (x, y)."""
    ra, dec = ext.wcs(np.array([x, x + 1, x]), np.array([y, y, y + 1]))
    cosd = np.cos(np.radians(dec[0]))
    return np.array([[(ra[1] - ra[0]) * cosd, (ra[2] - ra[0]) * cosd],
                     [dec[1] - dec[0], dec[2] - dec[0]]])


def _major_axis_angles(cd: np.ndarray, pa_deg: np.ndarray) -> np.ndarray:
    """Galaxy major-axis angles from +x (radians) for position angles east of north."""
    pa = np.radians(pa_deg)
    inverse = np.linalg.inv(cd)
    east, north = np.sin(pa), np.cos(pa)
    return np.arctan2(inverse[1, 0] * east + inverse[1, 1] * north,
                      inverse[0, 0] * east + inverse[0, 1] * north)


def render_truth(ext: Any, truth: dict, band: str, names: list[str], normalisation: float,
                 shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Image of the truth catalogue as a product should show it (electrons, no sky).

    Every source goes where the product's WCS puts its truth RA/Dec (plus
    ``shift`` pixels), with ``flux x exptime x normalisation`` electrons,
    drawn by the simulator's renderer with the PSF of each frame combined;
    a stack shows the mean of those images.
    """
    catalog = truth["catalog"]
    scale = binned_scale(truth)
    ny, nx = ext.shape
    x, y = world_to_pixel(ext, catalog["ra"], catalog["dec"])
    exptime = float(truth["files"][names[0]]["exptime"])
    flux = np.asarray(catalog[f"flux_e_per_s_{band}"], float) * exptime * normalisation
    angles = _major_axis_angles(_local_cd(ext, nx / 2.0, ny / 2.0),
                                np.asarray(catalog["pa_deg"], float))
    images = [render_sources((ny, nx), x + shift[0], y + shift[1], flux,
                             np.asarray(catalog["type"]) == "star",
                             np.asarray(catalog["r_eff_arcsec"], float) / scale,
                             np.asarray(catalog["sersic_n"], float),
                             np.asarray(catalog["axis_ratio"], float), angles, psf)
              for psf in frame_psfs(truth, names, scale)]
    return np.mean(images, axis=0, dtype=np.float64)


@dataclass(frozen=True)
class SceneFit:
    """Shift (pixels) of a product region against the truth scene, and its flux scale."""

    dx: float
    dy: float
    error: float
    scale: float
    scale_error: float
    source_electrons: float
    pixels: int


def fit_scene(ext: Any, truth: dict, band: str, names: list[str], normalisation: float,
              region: np.ndarray | None = None, iterations: int = 4, margin: int = 6
              ) -> SceneFit:
    """Fit ``data = scale x truth(x - dx, y - dy) + sky`` on the usable pixels of a region.

    All the sources of the region (stars and galaxies) constrain the shift,
    so a region holding no bright star is still located to a few
    hundredths of a pixel. Gauss-Newton on the truth image and its
    gradient, weighted by the VAR plane, with pixels beyond 5 standard
    deviations of the fit (unflagged cosmic rays or hot pixels) left out
    after the first pass; the error is scaled by the reduced chi-squared
    (resampled data have correlated noise). Pixels within ``margin`` of an
    unilluminated or empty pixel are left out too.
    """
    # pixels next to unilluminated or empty ones mix both through the interpolations
    edge = ndimage.binary_dilation((np.asarray(ext.mask) & (DQ.no_data | DQ.unilluminated)) != 0,
                                   iterations=margin)
    usable = (((np.asarray(ext.mask) & UNUSABLE) == 0) & (np.asarray(ext.variance) > 0)
              & ~edge)
    if region is not None:
        usable &= region
    data = np.asarray(ext.data, float)[usable]
    weight = 1.0 / np.sqrt(np.asarray(ext.variance, float)[usable])
    keep = np.ones(data.size, dtype=bool)
    dx = dy = 0.0
    for iteration in range(iterations):
        model = render_truth(ext, truth, band, names, normalisation, (dx, dy))
        gy, gx = np.gradient(model)
        design = np.column_stack([model[usable], np.ones(data.size), -gx[usable], -gy[usable]])
        coef, *_ = np.linalg.lstsq(design[keep] * weight[keep, None], data[keep] * weight[keep],
                                   rcond=None)
        scale = coef[0]
        dx, dy = dx + coef[2] / scale, dy + coef[3] / scale
        if iteration == 0:
            residual = (data - design @ coef) * weight
            keep = np.abs(residual) < 5.0 * 1.4826 * np.median(np.abs(residual))
    weighted = design[keep] * weight[keep, None]
    chi2 = float(np.mean(((data[keep] - design[keep] @ coef) * weight[keep]) ** 2))
    covariance = np.linalg.inv(weighted.T @ weighted) * chi2
    error = float(np.sqrt(max(covariance[2, 2], covariance[3, 3]))) / scale
    return SceneFit(dx=float(dx), dy=float(dy), error=error, scale=float(scale),
                    scale_error=float(np.sqrt(covariance[0, 0])),
                    source_electrons=float(model[usable].sum()), pixels=int(keep.sum()))


def ccd_regions(ext: Any) -> list[np.ndarray]:
    """Column ranges of the CCDs of one frame's mosaic (split at the no_data chip gaps)."""
    empty = ((np.asarray(ext.mask) & DQ.no_data) != 0).all(axis=0)
    labels = np.cumsum(np.r_[0, np.abs(np.diff(empty.astype(int)))])
    regions = []
    for label in np.unique(labels[~empty]):
        columns = labels == label
        regions.append(np.broadcast_to(columns[None, :], ext.shape))
    return regions


# ---------------------------------------------------------------------------
# fringes
# ---------------------------------------------------------------------------
def fringe_amplitude(images: list[np.ndarray], patterns: list[np.ndarray],
                     good: list[np.ndarray], clip: float = 3.0) -> float:
    """Amplitude ``a`` of ``pattern`` in sky-subtracted images: clipped least squares.

    Each image has its median (over ``good`` pixels) subtracted; pixels more
    than ``clip`` robust standard deviations from ``a x pattern`` (sources,
    cosmic rays) are rejected until the set stops changing.
    """
    data, model = [], []
    for image, pattern, use in zip(images, patterns, good, strict=True):
        if use.sum() < 100:
            continue
        values = np.asarray(image, float)[use]
        data.append(values - np.median(values))
        model.append(np.asarray(pattern, float)[use])
    d, p = np.concatenate(data), np.concatenate(model)
    keep = np.ones(d.size, dtype=bool)
    amplitude = 0.0
    for _ in range(20):
        amplitude = float(np.sum(d[keep] * p[keep]) / np.sum(p[keep] ** 2))
        residual = d - amplitude * p
        centre = float(np.median(residual[keep]))
        sigma = 1.4826 * float(np.median(np.abs(residual[keep] - centre)))
        new = np.abs(residual - centre) < clip * sigma
        if np.array_equal(new, keep):
            break
        keep = new
    return amplitude


# ---------------------------------------------------------------------------
# tests of the measurements themselves
# ---------------------------------------------------------------------------
def _star_field(psfs: list[MoffatPSF], flux: float, sky: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Mean of frames holding one star drawn by the simulator's renderer, with sky and noise."""
    shape = (121, 121)
    centre = (60.3, 59.6)
    frames, variances = [], []
    for psf in psfs:
        image = np.zeros(shape, np.float32)
        render_point_sources(image, np.array([centre[0]]), np.array([centre[1]]),
                             np.array([flux]), psf)
        mean = image + sky
        frames.append(rng.poisson(mean).astype(float))
        variances.append(mean)
    return (np.mean(frames, axis=0), np.sum(variances, axis=0) / len(psfs) ** 2, centre)


class _Extension:
    """The parts of an AstroData extension star photometry reads."""

    def __init__(self, data: np.ndarray, variance: np.ndarray) -> None:
        self.data, self.variance = data, variance
        self.mask = np.zeros(data.shape, np.uint16)
        self.shape = data.shape


def test_aperture_photometry_recovers_rendered_stars():
    """A bright star drawn by gempy.sim in 5 frames of different seeing: flux to 0.3%."""
    rng = np.random.default_rng(7)
    psfs = [MoffatPSF(f, 3.5) for f in (4.1, 4.3, 4.6, 4.2, 4.4)]
    fwhm = float(np.mean([p.fwhm for p in psfs]))
    radius, annulus = APERTURE_FWHM * fwhm, (ANNULUS_FWHM[0] * fwhm, ANNULUS_FWHM[1] * fwhm)
    flux = 2.0e6
    ratios = []
    for _ in range(4):
        data, variance, centre = _star_field(psfs, flux, 2000.0, rng)
        ext = _Extension(data, variance)
        result = aperture_photometry(ext.data, np.array([centre]), radius, variance=ext.variance,
                                     mask=ext.mask, annulus=annulus)
        ratios.append(result.flux[0] / measured_fraction(psfs, radius, annulus) / flux)
        # without the annulus correction the flux would be low by the star light there
        assert measured_fraction(psfs, radius, annulus) < np.mean(
            [p.enclosed_fraction(radius) for p in psfs])
    assert abs(np.mean(ratios) - 1) < 0.003, ratios


def test_fringe_amplitude_ignores_sources():
    """The clipped projection finds a pattern's amplitude under stars and noise."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:200, :150]
    pattern = np.sin(xx / 7.0 + yy / 11.0) * np.cos(yy / 13.0)
    pattern /= pattern.std()
    image = 5000.0 + 40.0 * pattern + rng.normal(0, 30.0, pattern.shape)
    render_point_sources(image, rng.uniform(10, 140, 15), rng.uniform(10, 190, 15),
                         rng.uniform(1e4, 1e6, 15), MoffatPSF(4.0))
    amplitude = fringe_amplitude([image], [pattern], [np.ones(pattern.shape, bool)])
    assert abs(amplitude - 40.0) < 1.0
