"""Resampling onto a common frame: geometry, flux, variance, DQ spreading, WCS edits."""

import numpy as np
import pytest
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import models
from astropy.table import Table
from astropy.wcs import WCS
from gwcs import coordinate_frames as cf
from gwcs import wcs as gwcs_wcs
from photutils.datasets import make_model_image
from photutils.psf import CircularGaussianPRF

from gempy.library.resample import (
    PixelMapping,
    common_frame,
    pixel_scale,
    prepend_pixel_transform,
    resample_image,
    shift_wcs,
)

PIXSCALE = 0.18  # arcsec
RA0, DEC0 = 150.0, 2.0


def render(shape, x, y, flux, fwhm=4.0):
    params = Table({"x_0": x, "y_0": y, "flux": flux, "fwhm": np.broadcast_to(fwhm, len(x))})
    return make_model_image(shape, CircularGaussianPRF(), params, bbox_factor=8)


def tan_wcs(shape, dra_arcsec=0.0, ddec_arcsec=0.0, rotation_deg=0.0, scale=PIXSCALE):
    """Astropy TAN WCS with the field centre offset from (RA0, DEC0), east left."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [RA0 + dra_arcsec / 3600 / np.cos(np.radians(DEC0)), DEC0 + ddec_arcsec / 3600]
    wcs.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    angle = np.radians(rotation_deg)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    wcs.wcs.cd = np.diag([-scale / 3600, scale / 3600]) @ rot
    return wcs


def to_gwcs(wcs, shape):
    """The same TAN projection as a gwcs object (with a bounding box)."""
    crpix = wcs.wcs.crpix
    transform = (
        (models.Shift(1 - crpix[0]) & models.Shift(1 - crpix[1]))
        | models.AffineTransformation2D(matrix=wcs.wcs.cd)
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(wcs.wcs.crval[0], wcs.wcs.crval[1], 180.0)
    )
    result = gwcs_wcs.WCS(
        forward_transform=transform,
        input_frame=cf.Frame2D(name="detector"),
        output_frame=cf.CelestialFrame(
            reference_frame=coord.ICRS(), name="icrs", unit=(u.deg, u.deg)
        ),
    )
    result.bounding_box = ((-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5))
    return result


def test_common_frame_grows_to_cover_dithered_inputs():
    shape = (100, 120)
    # second frame pointed 9" west and 18" north (east is to the left): its pixel
    # (x, y) sees the sky of the first frame's pixel (x + 50, y + 100)
    wcs_a = tan_wcs(shape)
    wcs_b = tan_wcs(shape, dra_arcsec=-9.0, ddec_arcsec=18.0)
    frame = common_frame([(shape, wcs_a), (shape, wcs_b)])
    assert frame.shape == (200, 170)
    assert frame.origin == (0, 0)
    # the reference maps by an exact integer shift, the other through the WCSs
    assert frame.mappings[0](10.0, 20.0) == pytest.approx((10.0, 20.0))
    assert frame.mappings[1](10.0, 20.0) == pytest.approx((60.0, 120.0), abs=0.01)
    assert frame.mappings[1].inverse(60.0, 120.0) == pytest.approx((10.0, 20.0), abs=0.01)
    # the output WCS puts the sky where the reference WCS does
    assert np.allclose(frame.wcs.wcs.crval, wcs_a.wcs.crval)

    # with the second frame as reference the origin moves and the WCS follows
    frame_b = common_frame([(shape, wcs_a), (shape, wcs_b)], reference_index=1)
    assert frame_b.shape == (200, 170)
    assert frame_b.origin == (-50, -100)
    # plain floats: astropy gives 0-d arrays, which pytest >= 9.2 approx refuses to nest
    sky_b = tuple(float(v) for v in wcs_b.pixel_to_world_values(0.0, 0.0))
    assert tuple(float(v) for v in frame_b.wcs.pixel_to_world_values(50.0, 100.0)) == \
        pytest.approx(sky_b)
    assert frame_b.mappings[0](60.0, 120.0) == pytest.approx((60.0, 120.0), abs=0.01)

    trimmed = common_frame([(shape, wcs_a), (shape, wcs_b)], trim=True)
    assert trimmed.shape == shape
    assert trimmed.origin == (0, 0)


def test_common_frame_is_the_same_with_gwcs():
    shape = (100, 120)
    wcses = [tan_wcs(shape), tan_wcs(shape, dra_arcsec=-4.1, ddec_arcsec=2.3, rotation_deg=1.0)]
    astropy_frame = common_frame([(shape, w) for w in wcses])
    gwcs_frame = common_frame([(shape, to_gwcs(w, shape)) for w in wcses])
    assert gwcs_frame.shape == astropy_frame.shape
    assert gwcs_frame.origin == astropy_frame.origin
    x = np.array([0.0, 50.0, 119.0])
    y = np.array([0.0, 70.0, 99.0])
    assert np.allclose(gwcs_frame.mappings[1](x, y), astropy_frame.mappings[1](x, y), atol=1e-6)
    # outside the second image's bounding box the gwcs mapping still works
    assert np.all(np.isfinite(gwcs_frame.mappings[1].inverse(-30.0, -30.0)))
    # the output gwcs covers the whole output frame
    ny, nx = gwcs_frame.shape
    corner = gwcs_frame.wcs.pixel_to_world_values(nx - 1.0, ny - 1.0)
    assert np.all(np.isfinite(corner))
    ox, oy = astropy_frame.origin
    assert np.allclose(corner, astropy_frame.wcs.pixel_to_world_values(nx - 1.0, ny - 1.0))
    assert np.allclose(corner, wcses[0].pixel_to_world_values(nx - 1.0 + ox, ny - 1.0 + oy))


@pytest.fixture(scope="module")
def dithered_pair():
    """The same star field observed at two pointings, with noise, and its truth."""
    rng = np.random.default_rng(11)
    shape = (160, 160)
    sky_x = rng.uniform(15, 145, 25)
    sky_y = rng.uniform(15, 145, 25)
    flux = rng.uniform(2e4, 2e5, 25)
    shift = (3.3, -2.6)  # pixels by which frame b's content is moved
    truth_a = render(shape, sky_x, sky_y, flux) + 200.0
    truth_b = render(shape, sky_x + shift[0], sky_y + shift[1], flux) + 200.0
    variance_b = truth_b + 25.0
    data_b = rng.normal(truth_b, np.sqrt(variance_b)).astype(np.float32)
    return dict(
        shape=shape,
        shift=shift,
        truth_a=truth_a,
        data_b=data_b,
        variance_b=variance_b,
        x=sky_x,
        y=sky_y,
        flux=flux,
    )


@pytest.mark.parametrize("interpolant", ["poly3", "poly5", "spline3"])
def test_shifting_back_recovers_the_original_within_the_noise(dithered_pair, interpolant):
    p = dithered_pair
    back = models.Shift(-p["shift"][0]) & models.Shift(-p["shift"][1])
    result = resample_image(
        p["data_b"], p["variance_b"], None, back, p["shape"], interpolant=interpolant
    )
    covered = result.mask == 0
    assert covered.mean() > 0.9
    inner = np.zeros(p["shape"], bool)
    inner[8:-8, 8:-8] = True
    good = covered & inner
    normalised = (result.data[good] - p["truth_a"][good]) / np.sqrt(result.variance[good])
    # interpolation averages noise down, so the scatter is at most the noise
    assert np.std(normalised) < 1.0
    assert np.abs(np.mean(normalised)) < 0.05
    # the interpolation error at star peaks stays within a few sigma
    assert np.abs(normalised).max() < 6.0
    # the variance of a flat-variance region is unchanged (weights sum to 1)
    sky_region = p["truth_a"][covered & inner] < 201.0
    assert np.median(result.variance[covered & inner][sky_region]) == pytest.approx(225.0, rel=0.02)


def test_no_data_is_flagged_where_the_input_does_not_cover(dithered_pair):
    p = dithered_pair
    shift = models.Shift(10.0) & models.Shift(-5.0)
    result = resample_image(p["data_b"], None, None, shift, p["shape"])
    assert result.variance is None
    no_data = (result.mask & 16) != 0
    expected = np.zeros(p["shape"], bool)
    expected[:, :10] = True
    expected[-5:, :] = True
    assert np.array_equal(no_data, expected)
    assert np.all(result.data[no_data] == 0)
    assert result.mask.dtype == np.uint16 and result.data.dtype == np.float32


def test_flux_is_conserved_through_rotation_and_scale_change():
    rng = np.random.default_rng(12)
    shape = (200, 200)
    x = rng.uniform(50, 150, 20)
    y = rng.uniform(50, 150, 20)
    image = render(shape, x, y, rng.uniform(1e3, 1e5, 20), fwhm=5.0)
    # output pixels 0.8 times the input size, rotated 25 degrees about the centre
    angle = np.radians(25.0)
    matrix = 1.25 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([100.0, 100.0])
    offset = np.array([125.0, 125.0]) - matrix @ centre
    mapping = PixelMapping.from_affine(matrix, offset)
    out_shape = (250, 250)
    for interpolant in ("poly3", "linear", "spline3"):
        result = resample_image(image, None, None, mapping, out_shape, interpolant=interpolant)
        assert result.data.sum() / image.sum() == pytest.approx(1.0, abs=0.005)
    # without conservation the surface brightness, not the flux, is kept
    raw = resample_image(image, None, None, mapping, out_shape, conserve=False)
    assert raw.data.sum() / image.sum() == pytest.approx(1.25**2, rel=0.005)
    variance = np.full(shape, 4.0, np.float32)
    scaled = resample_image(image, variance, None, mapping, out_shape)
    assert np.median(scaled.variance[scaled.mask == 0]) == pytest.approx(4.0 / 1.25**4, rel=0.01)


def test_a_bad_pixel_spreads_to_its_neighbours_with_its_own_bit():
    shape = (40, 40)
    data = np.ones(shape, np.float32)
    mask = np.zeros(shape, np.uint16)
    mask[20, 20] = 1
    mask[10, 30] = 8
    half = models.Shift(0.5) & models.Shift(0.5)
    linear = resample_image(data, None, mask, half, shape, interpolant="linear")
    assert np.array_equal(np.argwhere(linear.mask & 1), [[20, 20], [20, 21], [21, 20], [21, 21]])
    assert np.array_equal(np.argwhere(linear.mask & 8), [[10, 30], [10, 31], [11, 30], [11, 31]])
    poly = resample_image(data, None, mask, half, shape, interpolant="poly3")
    rows, cols = np.nonzero(poly.mask & 1)
    assert set(rows) == {19, 20, 21, 22} and set(cols) == {19, 20, 21, 22}
    # the bits are not mixed up
    assert not np.any((poly.mask & 1) & (poly.mask & 8))
    # a high threshold keeps only the pixels with a large share of the bad one
    strict = resample_image(data, None, mask, half, shape, interpolant="linear", dq_threshold=0.3)
    assert np.count_nonzero(strict.mask & 1) == 0
    exact = resample_image(data, None, mask, models.Shift(2.0) & models.Shift(0.0), shape)
    assert np.array_equal(np.argwhere(exact.mask & 1), [[20, 22]])


def test_non_finite_input_pixels_are_flagged_not_spread_as_nan():
    data = np.ones((30, 30), np.float32)
    data[15, 15] = np.nan
    result = resample_image(data, None, None, models.Shift(0.3) & models.Shift(0.3), (30, 30))
    assert np.all(np.isfinite(result.data))
    assert result.mask[15, 15] & 1
    assert not result.mask[5, 5]


def test_resampling_dithered_frames_through_their_wcs_aligns_the_stars():
    rng = np.random.default_rng(13)
    shape = (120, 120)
    wcs_a = tan_wcs(shape)
    wcs_b = tan_wcs(shape, dra_arcsec=1.3, ddec_arcsec=-2.1, rotation_deg=0.5)
    ra, dec = wcs_a.all_pix2world(rng.uniform(20, 100, 10), rng.uniform(20, 100, 10), 0)
    flux = rng.uniform(1e4, 1e5, 10)
    xa, ya = wcs_a.all_world2pix(ra, dec, 0)
    xb, yb = wcs_b.all_world2pix(ra, dec, 0)
    image_b = render(shape, xb, yb, flux)
    frame = common_frame([(shape, wcs_a), (shape, to_gwcs(wcs_b, shape))], trim=True)
    result = resample_image(image_b, None, None, frame.mappings[1], frame.shape)
    expected = render(shape, xa, ya, flux)
    covered = result.mask == 0
    peak = expected.max()
    assert np.abs(result.data - expected)[covered].max() < 0.02 * peak
    assert result.data[covered].sum() == pytest.approx(expected[covered].sum(), rel=0.005)


def test_a_distortion_model_is_followed_exactly():
    shape = (100, 100)
    x = np.array([20.0, 80.0, 50.0])
    y = np.array([20.0, 30.0, 80.0])
    image = render(shape, x, y, np.full(3, 1e4), fwhm=5.0)
    # mild quadratic distortion with a numerically fitted inverse
    forward = models.Mapping((0, 1, 0, 1)) | (
        models.Polynomial2D(2, c0_0=2.0, c1_0=1.0, c2_0=2e-4)
        & models.Polynomial2D(2, c0_0=-1.0, c0_1=1.0, c1_1=1e-4)
    )
    gx, gy = np.meshgrid(np.linspace(-10, 110, 40), np.linspace(-10, 110, 40))
    fx, fy = forward(gx.ravel(), gy.ravel())
    from astropy.modeling import fitting

    fitter = fitting.LinearLSQFitter()
    inv_x = fitter(models.Polynomial2D(4), fx, fy, gx.ravel())
    inv_y = fitter(models.Polynomial2D(4), fx, fy, gy.ravel())
    forward.inverse = models.Mapping((0, 1, 0, 1)) | (inv_x & inv_y)
    result = resample_image(image, None, None, forward, shape, interpolant="spline3")
    # each star lands where the model sends it, with its flux: the distortion
    # stretches pixel areas by up to 4%, which the Jacobian compensates
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for xo, yo in zip(*forward(x, y), strict=True):
        box = (np.abs(xx - xo) <= 10) & (np.abs(yy - yo) <= 10)
        weights = result.data[box]
        assert np.sum(weights * xx[box]) / weights.sum() == pytest.approx(xo, abs=0.02)
        assert np.sum(weights * yy[box]) / weights.sum() == pytest.approx(yo, abs=0.02)
        assert weights.sum() == pytest.approx(1e4, rel=0.005)


def test_shift_wcs_moves_the_sky_with_the_pixels():
    shape = (50, 60)
    for wcs in (tan_wcs(shape), to_gwcs(tan_wcs(shape), shape)):
        moved = shift_wcs(wcs, 3.0, -2.0)
        before = np.array(wcs.pixel_to_world_values(10.0, 20.0))
        after = np.array(moved.pixel_to_world_values(13.0, 18.0))
        assert np.allclose(before, after, atol=1e-10)


def test_prepend_pixel_transform_applies_a_fitted_registration():
    shape = (50, 60)
    angle = np.radians(0.3)
    registration = models.AffineTransformation2D(
        matrix=[[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]],
        translation=[1.5, -0.7],
    )
    for wcs in (tan_wcs(shape), to_gwcs(tan_wcs(shape), shape)):
        corrected = prepend_pixel_transform(wcs, registration)
        expected = np.array(wcs.pixel_to_world_values(*registration(12.0, 34.0)))
        got = np.array(corrected.pixel_to_world_values(12.0, 34.0))
        assert np.allclose(got, expected, atol=1e-10)
        back = corrected.world_to_pixel_values(*got)
        assert np.allclose(back, (12.0, 34.0), atol=1e-6)
    # the original is untouched
    assert np.allclose(tan_wcs(shape).wcs.crpix, [30.5, 25.5])


def test_astropy_wcs_with_sip_refuses_a_rotation_but_takes_a_shift():
    wcs = tan_wcs((50, 50))
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    from astropy.wcs import Sip

    a = np.zeros((3, 3))
    a[2, 0] = 1e-5
    wcs.sip = Sip(a, np.zeros((3, 3)), None, None, wcs.wcs.crpix)
    rotation = models.Rotation2D(0.5)
    with pytest.raises(ValueError, match="SIP"):
        prepend_pixel_transform(wcs, rotation)
    moved = shift_wcs(wcs, 2.0, 1.0)
    assert np.allclose(moved.all_pix2world(12.0, 11.0, 0), wcs.all_pix2world(10.0, 10.0, 0))


def test_pixel_scale_in_arcsec():
    wcs = tan_wcs((50, 50), scale=0.02)
    assert pixel_scale(wcs, 25.0, 25.0) == pytest.approx(0.02, rel=1e-4)
    assert pixel_scale(to_gwcs(wcs, (50, 50)), 0.0, 0.0) == pytest.approx(0.02, rel=1e-4)


def test_bad_arguments_raise():
    data = np.zeros((10, 10), np.float32)
    shift = models.Shift(1.0) & models.Shift(1.0)
    with pytest.raises(ValueError, match="interpolant"):
        resample_image(data, None, None, shift, (10, 10), interpolant="cubic")
    with pytest.raises(ValueError, match="variance shape"):
        resample_image(data, np.zeros((5, 5)), None, shift, (10, 10))
    with pytest.raises(TypeError, match="PixelMapping"):
        resample_image(data, None, None, "shift", (10, 10))
    with pytest.raises(ValueError, match="at least one"):
        common_frame([])


def test_gwcs_with_a_distortion_and_no_analytical_inverse_is_inverted_numerically():
    shape = (80, 80)
    distortion = models.Mapping((0, 1, 0, 1)) | (
        models.Polynomial2D(2, c1_0=1.0, c2_0=2e-4) & models.Polynomial2D(2, c0_1=1.0, c1_1=1e-4)
    )
    distorted = prepend_pixel_transform(to_gwcs(tan_wcs(shape), shape), models.Identity(2))
    distorted.insert_transform(distorted.input_frame, distortion, after=True)
    frame = common_frame([(shape, tan_wcs(shape)), (shape, distorted)], trim=True)
    x = np.array([5.0, 40.0, 75.0])
    y = np.array([70.0, 40.0, 5.0])
    out_x, out_y = frame.mappings[1](x, y)
    assert np.allclose(out_x, x + 2e-4 * x**2, atol=1e-6)
    assert np.allclose(out_y, y + 1e-4 * x * y, atol=1e-6)
    assert np.allclose(frame.mappings[1].inverse(out_x, out_y), (x, y), atol=1e-6)
    # the Newton fallback used when gwcs cannot invert agrees with gwcs
    from gempy.library._wcs import SkyWCS

    sky = SkyWCS(distorted)
    ra, dec = sky.pixel_to_world(x, y)
    assert np.allclose(sky._invert_numerically(ra, dec), (x, y), atol=1e-6)
