"""Catalogue matching and transform fitting: known shifts, rotations, distortions, fallbacks."""

import numpy as np
import pytest
from astropy.modeling import models

from gempy.library.matching import align_catalogs, fit_transform, match_catalogs

NOISE = 0.05  # centroid noise, pixels


def rotation_matrix(degrees):
    angle = np.radians(degrees)
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def make_lists(rng, n_common=80, n_extra=30, size=2000.0):
    """Reference list plus the 'true' positions of its common part, and extra sources."""
    ref = rng.uniform(0, size, (n_common + n_extra, 2))
    extra_in = rng.uniform(0, size, (n_extra, 2))
    return ref, extra_in


def observed_input(rng, ref, n_common, extra_in, matrix=None, shift=(0.0, 0.0)):
    """Input positions such that ref = matrix @ in + shift for the first n_common sources."""
    matrix = np.eye(2) if matrix is None else matrix
    common = ref[:n_common]
    true_in = (np.linalg.inv(matrix) @ (common - np.asarray(shift)).T).T
    xy_in = np.vstack([true_in + rng.normal(0, NOISE, true_in.shape), extra_in])
    order = rng.permutation(len(xy_in))
    return xy_in[order], order


def test_known_shift_is_recovered_to_a_few_hundredths_of_a_pixel():
    rng = np.random.default_rng(1)
    ref, extra = make_lists(rng)
    shift = (13.37, -8.21)
    xy_in, order = observed_input(rng, ref, 80, extra, shift=shift)
    result = align_catalogs(ref, xy_in, search_radius=25.0, match_radius=1.0)
    assert result is not None
    assert result.fit.shift == pytest.approx(shift, abs=0.05)
    assert result.fit.rotation == 0.0
    # only the input positions are noisy: radial rms = sqrt(2) * NOISE
    assert result.rms == pytest.approx(np.sqrt(2) * NOISE, rel=0.2)
    # every common source, and only those, is paired with its counterpart
    true_ref_row = np.where(order < 80, order, -1)
    assert len(result.match) == 80
    assert np.all(true_ref_row[result.match.in_index] == result.match.ref_index)


def test_voting_finds_an_offset_far_from_the_first_guess_in_a_crowded_field():
    rng = np.random.default_rng(2)
    ref, extra = make_lists(rng, n_common=300, n_extra=300, size=1000.0)
    shift = (-21.4, 17.9)
    xy_in, _ = observed_input(rng, ref, 300, extra, shift=shift)
    match = match_catalogs(ref, xy_in, initial_offset=(0, 0), search_radius=40, match_radius=1.0)
    assert match is not None
    assert match.offset == pytest.approx(shift, abs=0.05)
    assert match.votes >= 250
    assert np.all(match.separation <= 1.0)
    # one to one
    assert len(np.unique(match.ref_index)) == len(match)
    assert len(np.unique(match.in_index)) == len(match)


def test_rotation_is_recovered_when_asked_for():
    rng = np.random.default_rng(3)
    ref, extra = make_lists(rng)
    matrix = rotation_matrix(0.4)
    shift = (5.0, -3.0)
    xy_in, _ = observed_input(rng, ref, 80, extra, matrix=matrix, shift=shift)
    result = align_catalogs(ref, xy_in, search_radius=20, match_radius=1.0, rotate=True)
    assert result is not None
    assert result.fit.rotation == pytest.approx(0.4, abs=0.005)
    assert result.fit.scale == 1.0
    assert result.fit.shift == pytest.approx(shift, abs=0.1)
    assert result.rms < 4 * NOISE
    assert len(result.match) == 80
    # a shift alone cannot describe a 0.4 degree rotation over 2000 pixels
    shift_only = align_catalogs(ref, xy_in, search_radius=20, match_radius=1.0)
    assert shift_only is None or shift_only.rms > 5 * result.rms


def test_scale_and_rotation_together():
    rng = np.random.default_rng(4)
    ref = rng.uniform(0, 1000, (60, 2))
    matrix = 1.003 * rotation_matrix(-0.2)
    xy_in = (np.linalg.inv(matrix) @ (ref - [2.0, 1.0]).T).T + rng.normal(0, NOISE, ref.shape)
    fit = fit_transform(ref, xy_in, rotate=True, scale=True)
    assert fit.scale == pytest.approx(1.003, abs=2e-4)
    assert fit.rotation == pytest.approx(-0.2, abs=0.01)
    mapped = np.column_stack(fit.model(*xy_in.T))
    assert np.sqrt(np.mean(np.sum((mapped - ref) ** 2, axis=1))) < 3 * NOISE


def test_shift_model_is_a_pair_of_shifts_with_an_inverse():
    rng = np.random.default_rng(5)
    ref = rng.uniform(0, 500, (20, 2))
    fit = fit_transform(ref, ref - [1.5, 2.5])
    assert isinstance(fit.model.left, models.Shift)
    assert fit.model.inverse(*fit.model(10.0, 20.0)) == pytest.approx((10.0, 20.0))
    assert fit.rms == pytest.approx(0.0, abs=1e-9)


def test_outliers_are_clipped():
    rng = np.random.default_rng(6)
    ref = rng.uniform(0, 1000, (50, 2))
    xy_in = ref - [3.0, 4.0] + rng.normal(0, NOISE, ref.shape)
    xy_in[:5] += rng.uniform(1.0, 2.0, (5, 2))  # wrong matches
    fit = fit_transform(ref, xy_in)
    assert not fit.inliers[:5].any()
    assert fit.inliers[5:].sum() >= 43
    assert fit.shift == pytest.approx((3.0, 4.0), abs=0.03)


def test_polynomial_distortion_with_a_working_inverse():
    rng = np.random.default_rng(7)
    xy_in = rng.uniform(0, 1000, (150, 2))
    x, y = xy_in.T
    ref = np.column_stack(
        [
            x + 2.0 + 3e-6 * x**2 - 1e-6 * x * y,
            y - 1.0 + 2e-6 * y**2 + 1e-6 * x**2,
        ]
    ) + rng.normal(0, NOISE, xy_in.shape)
    fit = fit_transform(ref, xy_in, order=2)
    assert fit.rms < 3 * NOISE
    linear = fit_transform(ref, xy_in, rotate=True, scale=True)
    assert linear.rms > 5 * fit.rms
    back = np.column_stack(fit.model.inverse(*fit.model(x, y)))
    assert np.allclose(back, xy_in, atol=0.01)


def test_too_few_sources_return_none_so_callers_fall_back_to_offsets():
    rng = np.random.default_rng(8)
    ref = rng.uniform(0, 1000, (2, 2))
    xy_in = ref - [4.0, 4.0]
    assert align_catalogs(ref, xy_in, min_sources=3) is None
    assert match_catalogs(ref, xy_in, min_sources=3) is None
    assert fit_transform(ref, xy_in, min_sources=3) is None
    # enough sources, but none within the search radius
    many = rng.uniform(0, 1000, (20, 2))
    assert align_catalogs(many, many + 300.0, search_radius=10, min_sources=3) is None
    # with the same two sources and a lower requirement it works
    result = align_catalogs(ref, xy_in, min_sources=2, search_radius=10, match_radius=1)
    assert result.fit.shift == pytest.approx((4.0, 4.0))


def test_non_finite_positions_are_ignored():
    rng = np.random.default_rng(9)
    ref = rng.uniform(0, 1000, (30, 2))
    xy_in = ref + [1.0, -1.0]
    xy_in[3] = np.nan
    result = align_catalogs(ref, xy_in, search_radius=5, match_radius=0.5)
    assert 3 not in result.match.in_index
    assert len(result.match) == 29
    assert result.fit.shift == pytest.approx((-1.0, 1.0))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="shape"):
        match_catalogs(np.zeros((3, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="pair row by row"):
        fit_transform(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="positive"):
        match_catalogs(np.zeros((3, 2)), np.zeros((3, 2)), match_radius=0)


def test_registration_workflow_corrects_a_wrong_wcs():
    """detect -> map the reference sources through the WCSs -> align -> correct the WCS."""
    from astropy.table import Table
    from astropy.wcs import WCS
    from photutils.datasets import make_model_image
    from photutils.psf import CircularGaussianPRF

    from gempy.library.detection import detect_sources
    from gempy.library.resample import prepend_pixel_transform

    def tan(crpix, rotation_deg=0.0):
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [150.0, 2.0]
        wcs.wcs.crpix = crpix
        angle = np.radians(rotation_deg)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        wcs.wcs.cd = np.diag([-0.18 / 3600, 0.18 / 3600]) @ rot
        return wcs

    rng = np.random.default_rng(10)
    shape = (240, 240)
    true_ref = tan([120.0, 120.0])
    true_in = tan([131.0, 112.0], rotation_deg=0.3)  # dithered and slightly rotated
    header_in = tan([128.5, 113.0])  # what the header says: offset wrong, no rotation
    ra, dec = true_ref.all_pix2world(rng.uniform(30, 210, 40), rng.uniform(30, 210, 40), 0)
    flux = rng.uniform(2e4, 2e5, 40)

    def observe(wcs):
        x, y = wcs.all_world2pix(ra, dec, 0)
        params = Table({"x_0": x, "y_0": y, "flux": flux, "fwhm": np.full(40, 3.5)})
        truth = make_model_image(shape, CircularGaussianPRF(), params, bbox_factor=8) + 500.0
        return rng.normal(truth, np.sqrt(truth + 25.0)).astype(np.float32)

    cat_ref, _ = detect_sources(observe(true_ref))
    cat_in, _ = detect_sources(observe(true_in))
    sky_ref = true_ref.all_pix2world(cat_ref["X_IMAGE"], cat_ref["Y_IMAGE"], 1)
    xy_ref = np.column_stack(header_in.all_world2pix(*sky_ref, 0))
    xy_in = np.column_stack([cat_in["X_IMAGE"] - 1, cat_in["Y_IMAGE"] - 1])
    alignment = align_catalogs(xy_ref, xy_in, search_radius=15, match_radius=1.0, rotate=True)
    assert alignment is not None and len(alignment.match) >= 30
    # header(M(p)) = true(p) gives M = CD_header^-1 CD_true = R(+0.3 deg) in pixels
    assert alignment.fit.rotation == pytest.approx(0.3, abs=0.02)
    corrected = prepend_pixel_transform(header_in, alignment.model)
    # the corrected WCS now agrees with the true one to a small fraction of a pixel
    grid = np.array([[0.0, 0.0], [239.0, 0.0], [0.0, 239.0], [120.0, 120.0], [239.0, 239.0]])
    sky_true = true_in.all_pix2world(grid, 0)
    back = corrected.all_world2pix(sky_true, 0)
    assert np.max(np.hypot(*(back - grid).T)) < 0.05
