"""Aperture photometry against injected fluxes, and robust flux ratios between catalogues."""

import numpy as np
import pytest
from astropy.table import Table
from photutils.datasets import make_model_image
from photutils.psf import CircularGaussianPRF

from gempy.library.matching import CatalogMatch
from gempy.library.photometry import aperture_photometry, flux_ratio

SKY = 300.0
READ_NOISE = 5.0


def render(shape, x, y, flux, fwhm=3.0):
    params = Table({"x_0": x, "y_0": y, "flux": flux, "fwhm": np.broadcast_to(fwhm, len(x))})
    return make_model_image(shape, CircularGaussianPRF(), params, bbox_factor=10)


@pytest.fixture(scope="module")
def field():
    rng = np.random.default_rng(21)
    grid = np.arange(30.0, 300, 40.0)
    x, y = (a.ravel() + rng.uniform(-4, 4, a.size) for a in np.meshgrid(grid, grid))
    flux = 10 ** rng.uniform(5.0, 6.0, x.size)
    truth = render((300, 300), x, y, flux) + SKY
    variance = truth + READ_NOISE**2
    data = rng.normal(truth, np.sqrt(variance))
    return dict(x=x, y=y, flux=flux, data=data, variance=variance)


def test_injected_fluxes_are_recovered_within_one_percent(field):
    result = aperture_photometry(
        field["data"],
        np.column_stack([field["x"], field["y"]]),
        radius=8.0,
        variance=field["variance"],
        annulus=(11.0, 16.0),
    )
    assert np.all(np.abs(result.flux / field["flux"] - 1) < 0.01)
    # the sky level of one annulus is known to ~1.1 (18 / sqrt(424) * 1.25)
    assert np.allclose(result.background, SKY, atol=4.0)
    assert np.mean(result.background) == pytest.approx(SKY, abs=0.5)
    assert np.allclose(result.area, np.pi * 64, rtol=1e-6)
    pulls = (result.flux - field["flux"]) / result.flux_err
    assert 0.7 < np.std(pulls) < 1.3
    flux, flux_err, background = result
    assert flux is result.flux and background is result.background


def test_errors_without_variance_come_from_the_sky_annulus(field):
    result = aperture_photometry(
        field["data"],
        np.column_stack([field["x"], field["y"]]),
        radius=8.0,
        annulus=(11.0, 16.0),
    )
    # sky noise only: sqrt(area) * sqrt(SKY + RN^2) in the aperture, plus the error
    # of the median sky level of the annulus spread over the aperture area
    area = np.pi * 64
    n_annulus = np.pi * (16**2 - 11**2)
    sky_only = np.sqrt(area * (SKY + READ_NOISE**2) * (1 + area * np.pi / (2 * n_annulus)))
    assert np.median(result.flux_err) == pytest.approx(sky_only, rel=0.05)


def test_background_subtracted_data_need_no_annulus():
    image = render((60, 60), np.array([30.0]), np.array([30.0]), np.array([5e4]))
    result = aperture_photometry(image, [[30.0, 30.0]], radius=10.0)
    assert result.flux[0] == pytest.approx(5e4, rel=1e-4)
    assert result.background[0] == 0.0


def test_masked_pixels_are_left_out_and_counted():
    star = render((60, 60), np.array([30.0]), np.array([30.0]), np.array([5e4]))
    image = star + 10.0
    mask = np.zeros(image.shape, np.uint16)
    mask[30, 33] = 1
    image[30, 33] = 1e6  # a hot pixel that must not count
    result = aperture_photometry(image, [[30.0, 30.0]], radius=8.0, mask=mask, annulus=(10, 15))
    assert result.n_masked[0] == 1
    assert result.area[0] == pytest.approx(np.pi * 64 - 1, abs=1e-6)
    # the star loses only the light of the masked pixel
    assert result.flux[0] == pytest.approx(5e4 - star[30, 33], rel=1e-4)


def make_catalogues(rng, n=60, scale=1.7):
    flux_in = 10 ** rng.uniform(3, 5, n)
    err_in = np.sqrt(flux_in + 400.0)
    err_ref = np.sqrt(scale * flux_in + 400.0)
    cat_in = Table(
        {
            "FLUX_AUTO": rng.normal(flux_in, err_in),
            "FLUXERR_AUTO": err_in,
            "FLAGS": np.zeros(n, np.int16),
        }
    )
    cat_ref = Table(
        {
            "FLUX_AUTO": rng.normal(scale * flux_in, err_ref),
            "FLUXERR_AUTO": err_ref,
            "FLAGS": np.zeros(n, np.int16),
        }
    )
    return cat_ref, cat_in


def test_flux_ratio_recovers_the_scale_despite_a_variable_star_and_saturation():
    rng = np.random.default_rng(22)
    cat_ref, cat_in = make_catalogues(rng)
    cat_ref["FLUX_AUTO"][0] *= 3.0  # a variable star
    cat_ref["FLUX_AUTO"][1] *= 0.5
    cat_in["FLAGS"][1] = 4  # and it is saturated
    index = np.arange(60)
    result = flux_ratio(cat_ref, cat_in, (index, index))
    assert result.ratio == pytest.approx(1.7, rel=0.003)
    assert result.n_used == 58
    assert result.error < 0.01
    # pairs can come straight from the matcher
    match = CatalogMatch(index, index, np.zeros(2), np.zeros(60), 60)
    assert flux_ratio(cat_ref, cat_in, match).ratio == result.ratio


def test_flux_ratio_without_errors_clips_on_the_scatter():
    rng = np.random.default_rng(25)
    flux = 10 ** rng.uniform(4, 5, 40)
    cat_in = Table({"FLUX_APER": flux * rng.normal(1, 0.01, 40)})
    cat_ref = Table({"FLUX_APER": 2.5 * flux * rng.normal(1, 0.01, 40)})
    cat_ref["FLUX_APER"][:3] *= 1.5
    index = np.arange(40)
    result = flux_ratio(cat_ref, cat_in, (index, index), flux_column="FLUX_APER", error_column=None)
    assert result.ratio == pytest.approx(2.5, rel=0.006)
    assert result.n_used == 37
    assert 0 < result.error < 0.01


def test_flux_ratio_uses_the_matches_not_the_row_order():
    rng = np.random.default_rng(23)
    cat_ref, cat_in = make_catalogues(rng, scale=0.8)
    order = rng.permutation(len(cat_in))
    shuffled = cat_in[order]
    in_index = np.argsort(order)  # row of each reference source in the shuffled table
    result = flux_ratio(cat_ref, shuffled, (np.arange(len(cat_ref)), in_index))
    assert result.ratio == pytest.approx(0.8, rel=0.005)


def test_flux_ratio_returns_none_without_usable_pairs():
    rng = np.random.default_rng(24)
    cat_ref, cat_in = make_catalogues(rng, n=5)
    cat_in["FLUX_AUTO"] = -1.0
    assert flux_ratio(cat_ref, cat_in, (np.arange(5), np.arange(5))) is None
    assert flux_ratio(cat_ref, cat_ref, (np.arange(2), np.arange(2)), min_sources=3) is None
    with pytest.raises(ValueError, match="no FLUX_BEST column"):
        flux_ratio(cat_ref, cat_in, (np.arange(5), np.arange(5)), flux_column="FLUX_BEST")
