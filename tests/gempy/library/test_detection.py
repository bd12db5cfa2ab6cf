"""Source detection on synthetic star fields: completeness, centroids, photometry, flags."""

import numpy as np
import pytest
from astropy.table import Table
from astropy.wcs import WCS
from photutils.datasets import make_model_image
from photutils.psf import CircularGaussianPRF
from scipy.spatial import cKDTree

from gempy.library.detection import detect_sources

FWHM = 3.5
SKY = 1000.0
READ_NOISE = 10.0
PIXSCALE = 0.18


def render(shape, x, y, flux, fwhm=FWHM):
    """Pixel-integrated Gaussian stars (0-based centres) on a zero background."""
    params = Table({"x_0": x, "y_0": y, "flux": flux, "fwhm": np.broadcast_to(fwhm, len(x))})
    return make_model_image(shape, CircularGaussianPRF(), params, bbox_factor=8)


def observe(truth, rng):
    """Sky + Poisson-like noise + read noise; returns data and variance."""
    variance = truth + SKY + READ_NOISE**2
    data = rng.normal(truth + SKY, np.sqrt(variance))
    return data.astype(np.float32), variance.astype(np.float32)


def tan_wcs(shape, ra=150.0, dec=2.0):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cd = np.array([[-PIXSCALE / 3600, 0], [0, PIXSCALE / 3600]])
    return wcs


@pytest.fixture(scope="module")
def star_field():
    """A 400x400 field of 64 well-separated stars spanning S/N ~ 5 to 1000."""
    rng = np.random.default_rng(42)
    grid = np.arange(25.0, 400, 50.0)
    x, y = (a.ravel() + rng.uniform(-8, 8, a.size) for a in np.meshgrid(grid, grid))
    flux = 10 ** rng.uniform(2.3, 5.3, x.size)
    truth = render((400, 400), x, y, flux)
    data, variance = observe(truth, rng)
    # S/N of a matched-filter measurement of a Gaussian star
    sigma = FWHM / 2.3548
    snr = flux / np.sqrt(flux + 4 * np.pi * sigma**2 * (SKY + READ_NOISE**2))
    wcs = tan_wcs(data.shape)
    objcat, objmask = detect_sources(data, variance=variance, wcs=wcs)
    return dict(x=x, y=y, flux=flux, snr=snr, data=data, objcat=objcat, objmask=objmask, wcs=wcs)


def nearest_source(objcat, x, y):
    """Distance and row of the detection nearest each true (0-based) position."""
    found = np.column_stack([objcat["X_IMAGE"] - 1, objcat["Y_IMAGE"] - 1])
    return cKDTree(found).query(np.column_stack([x, y]))


def test_every_star_above_snr_20_is_found_with_accurate_centroids(star_field):
    distance, row = nearest_source(star_field["objcat"], star_field["x"], star_field["y"])
    bright = star_field["snr"] > 20
    assert bright.sum() >= 30
    assert np.all(distance[bright] < 1.0)
    # X_IMAGE/Y_IMAGE are 1-based; the error of the 0-based truth must be small
    rms = np.sqrt(np.mean(distance[bright] ** 2))
    assert rms < 0.1
    very_bright = star_field["snr"] > 100
    assert np.all(distance[very_bright] < 0.1)


def test_no_spurious_detections_on_the_sky(star_field):
    objcat = star_field["objcat"]
    tree = cKDTree(np.column_stack([star_field["x"], star_field["y"]]))
    distance, _ = tree.query(np.column_stack([objcat["X_IMAGE"] - 1, objcat["Y_IMAGE"] - 1]))
    assert np.count_nonzero(distance > 2) <= 1


def test_fluxes_and_errors_agree_with_the_injected_stars(star_field):
    objcat = star_field["objcat"]
    distance, row = nearest_source(objcat, star_field["x"], star_field["y"])
    bright = star_field["snr"] > 50
    flux_auto = np.asarray(objcat["FLUX_AUTO"])[row[bright]]
    error = np.asarray(objcat["FLUXERR_AUTO"])[row[bright]]
    truth = star_field["flux"][bright]
    # the Kron aperture holds almost all of a Gaussian's light
    assert np.median(flux_auto / truth) == pytest.approx(1.0, abs=0.015)
    pulls = (flux_auto - truth) / error
    assert 0.5 < np.std(pulls) < 1.5
    # a 3.5-pixel-radius circle holds 1 - 2**(-4 (3.5/FWHM)**2) = 94% of a FWHM-3.5 Gaussian
    flux_aper = np.asarray(objcat["FLUX_APER"])[row[bright]]
    expected = 1 - 2 ** (-4 * (3.5 / FWHM) ** 2)
    assert np.median(flux_aper / truth) == pytest.approx(expected, abs=0.02)
    assert objcat.meta["APER_RADIUS"] == 3.5
    mag = np.asarray(objcat["MAG_AUTO"])[row[bright]]
    assert np.allclose(mag, -2.5 * np.log10(flux_auto))


def test_fwhm_background_and_stellarity(star_field):
    objcat = star_field["objcat"]
    _, row = nearest_source(objcat, star_field["x"], star_field["y"])
    bright = star_field["snr"] > 50
    fwhm = np.asarray(objcat["FWHM_IMAGE"])[row[bright]]
    # pixel integration adds 1/12 px^2 to the Gaussian's variance
    true_fwhm = np.sqrt(FWHM**2 + 2.3548**2 / 12)
    assert np.median(fwhm) == pytest.approx(true_fwhm, rel=0.05)
    assert objcat.meta["FWHM_STAR"] == pytest.approx(true_fwhm, rel=0.05)
    assert np.allclose(objcat["FWHM_WORLD"], objcat["FWHM_IMAGE"] * PIXSCALE, rtol=1e-3)
    assert np.median(objcat["BACKGROUND"]) == pytest.approx(SKY, abs=3)
    assert np.all(np.asarray(objcat["CLASS_STAR"])[row[bright]] > 0.7)
    assert np.all(np.asarray(objcat["ELLIPTICITY"])[row[bright]] < 0.15)


def test_world_coordinates_follow_the_wcs(star_field):
    objcat = star_field["objcat"]
    ra, dec = star_field["wcs"].all_pix2world(objcat["X_IMAGE"], objcat["Y_IMAGE"], 1)
    assert np.allclose(objcat["X_WORLD"], ra, atol=1e-9)
    assert np.allclose(objcat["Y_WORLD"], dec, atol=1e-9)
    assert objcat["X_WORLD"].unit == "deg"


def test_objmask_covers_the_stars_and_not_the_sky(star_field):
    objmask = star_field["objmask"]
    assert objmask.dtype == np.uint8
    assert set(np.unique(objmask)) <= {0, 1}
    bright = star_field["snr"] > 20
    xs = np.round(star_field["x"][bright]).astype(int)
    ys = np.round(star_field["y"][bright]).astype(int)
    assert np.all(objmask[ys, xs] == 1)
    assert objmask.mean() < 0.1
    areas = np.asarray(star_field["objcat"]["ISOAREA_IMAGE"])
    assert areas.sum() == np.count_nonzero(objmask)


def test_table_layout():
    rng = np.random.default_rng(1)
    truth = render((120, 120), np.array([60.0]), np.array([50.0]), np.array([5e4]))
    data, variance = observe(truth, rng)
    objcat, _ = detect_sources(data, variance)
    assert len(objcat) == 1
    assert objcat["X_IMAGE"][0] == pytest.approx(61.0, abs=0.05)
    assert objcat["Y_IMAGE"][0] == pytest.approx(51.0, abs=0.05)
    assert objcat["NUMBER"][0] == 1
    assert "X_WORLD" not in objcat.colnames
    assert "FWHM_WORLD" not in objcat.colnames
    for name in (
        "FLUX_AUTO",
        "FLUXERR_AUTO",
        "FLUX_APER",
        "FLUXERR_APER",
        "MAG_AUTO",
        "BACKGROUND",
        "FWHM_IMAGE",
        "ELLIPTICITY",
        "ISOAREA_IMAGE",
        "FLAGS",
        "CLASS_STAR",
    ):
        assert name in objcat.colnames
    assert objcat["FLAGS"].dtype == np.int16


def test_pure_noise_gives_an_empty_catalogue_with_all_columns():
    rng = np.random.default_rng(7)
    data = rng.normal(SKY, 30.0, (200, 200)).astype(np.float32)
    objcat, objmask = detect_sources(data, wcs=tan_wcs(data.shape))
    assert len(objcat) <= 1
    empty, mask = detect_sources(
        np.full((64, 64), 5.0, np.float32) + rng.normal(0, 1e-3, (64, 64)), detect_thresh=50
    )
    assert len(empty) == 0
    assert not mask.any()
    assert "FLUX_AUTO" in empty.colnames and "CLASS_STAR" in empty.colnames


def test_blended_pair_is_split_and_flagged():
    rng = np.random.default_rng(3)
    x = np.array([60.0, 66.5])
    y = np.array([60.0, 61.0])
    truth = render((120, 120), x, y, np.array([4e4, 2e4]), fwhm=3.0)
    data, variance = observe(truth, rng)
    objcat, _ = detect_sources(data, variance)
    assert len(objcat) == 2
    assert np.all(objcat["FLAGS"] & 1)
    distance, _ = nearest_source(objcat, x, y)
    assert np.all(distance < 0.3)
    unblended, _ = detect_sources(data, variance, deblend_mincont=1.0)
    assert len(unblended) == 1


def test_masked_pixels_are_ignored_and_flag_their_neighbours():
    rng = np.random.default_rng(4)
    truth = render(
        (150, 150), np.array([40.0, 100.0]), np.array([75.0, 75.0]), np.array([3e4, 3e4])
    )
    data, variance = observe(truth, rng)
    mask = np.zeros(data.shape, np.uint16)
    # a hot column that would otherwise be a strong detection
    data[:, 130] += 5000
    mask[:, 130] = 1
    # a bad pixel inside the second star
    mask[75, 101] = 1
    objcat, objmask = detect_sources(data, variance, mask=mask)
    assert len(objcat) == 2
    assert not objmask[:, 130].any()
    order = np.argsort(objcat["X_IMAGE"])
    flags = np.asarray(objcat["FLAGS"])[order]
    assert flags[0] & 16 == 0
    assert flags[1] & 16


def test_saturated_and_edge_sources_are_flagged():
    rng = np.random.default_rng(5)
    x = np.array([40.0, 100.0, 1.5])
    y = np.array([60.0, 60.0, 60.0])
    truth = render((120, 150), x, y, np.array([1e6, 2e4, 3e4]))
    data, variance = observe(truth, rng)
    saturation = 20000.0
    data = np.minimum(data, saturation)
    objcat, _ = detect_sources(data, variance, saturation=saturation)
    _, row = nearest_source(objcat, x, y)
    flags = np.asarray(objcat["FLAGS"])[row]
    assert flags[0] & 4
    assert flags[1] == 0
    assert flags[2] & 8
    # the DQ saturated bit alone also sets the flag
    mask = np.zeros(data.shape, np.uint16)
    mask[data >= saturation] = 4
    objcat, _ = detect_sources(data, variance, mask=mask)
    _, row = nearest_source(objcat, x[:1], y[:1])
    assert objcat["FLAGS"][row[0]] & (4 | 16) == 4 | 16


def test_extended_sources_and_cosmic_rays_are_not_stellar():
    rng = np.random.default_rng(6)
    stars_x = np.array([30.0, 90.0, 150.0, 30.0, 150.0])
    stars_y = np.array([30.0, 30.0, 30.0, 150.0, 150.0])
    truth = render((180, 180), stars_x, stars_y, np.full(5, 4e4))
    truth += render((180, 180), np.array([90.0]), np.array([150.0]), np.array([2e5]), fwhm=12.0)
    data, variance = observe(truth, rng)
    data[90, 90] += 3e4
    objcat, _ = detect_sources(data, variance)
    _, row = nearest_source(objcat, np.array([90.0, 90.0]), np.array([150.0, 90.0]))
    galaxy, cosmic_ray = objcat[row[0]], objcat[row[1]]
    assert galaxy["FWHM_IMAGE"] > 2 * FWHM
    assert galaxy["CLASS_STAR"] < 0.1
    assert cosmic_ray["FWHM_IMAGE"] < FWHM / 2
    assert cosmic_ray["CLASS_STAR"] < 0.1
    _, star_rows = nearest_source(objcat, stars_x, stars_y)
    assert np.all(objcat["CLASS_STAR"][star_rows] > 0.8)


def test_background_gradient_is_removed():
    rng = np.random.default_rng(8)
    shape = (256, 256)
    x = np.array([64.0, 192.0, 64.0, 192.0])
    y = np.array([64.0, 64.0, 192.0, 192.0])
    flux = np.full(4, 3e4)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    sky = 500.0 + 2.0 * xx
    truth = render(shape, x, y, flux)
    variance = truth + sky + READ_NOISE**2
    data = rng.normal(truth + sky, np.sqrt(variance)).astype(np.float32)
    # a median filter as wide as the whole box grid would flatten the ramp
    objcat, _ = detect_sources(data, variance, back_filtersize=3)
    _, row = nearest_source(objcat, x, y)
    assert np.allclose(objcat["BACKGROUND"][row], 500.0 + 2.0 * x, rtol=0.01)
    assert np.allclose(objcat["FLUX_AUTO"][row], flux, rtol=0.03)


def test_gwcs_and_astropy_wcs_give_the_same_sky_positions():
    from photutils.datasets import make_gwcs

    rng = np.random.default_rng(9)
    truth = render((100, 100), np.array([30.0, 70.0]), np.array([40.0, 60.0]), np.array([2e4, 2e4]))
    data, variance = observe(truth, rng)
    gwcs_obj = make_gwcs((100, 100))
    astropy_wcs = WCS(gwcs_obj.to_fits_sip(((0, 99), (0, 99)), degree=None))
    cat_g, _ = detect_sources(data, variance, wcs=gwcs_obj)
    cat_a, _ = detect_sources(data, variance, wcs=astropy_wcs)
    assert np.allclose(cat_g["X_WORLD"], cat_a["X_WORLD"], atol=1e-6)
    assert np.allclose(cat_g["Y_WORLD"], cat_a["Y_WORLD"], atol=1e-6)
    assert cat_g.meta["PIXSCALE"] == pytest.approx(cat_a.meta["PIXSCALE"], rel=1e-3)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="2-D"):
        detect_sources(np.zeros(10))
    with pytest.raises(ValueError, match="variance shape"):
        detect_sources(np.zeros((10, 10)), variance=np.zeros((5, 5)))
    with pytest.raises(ValueError, match="masked"):
        detect_sources(np.zeros((10, 10)), mask=np.ones((10, 10), np.uint16))
