"""Cosmic-ray flagging against the median of an aligned stack."""

import numpy as np
import pytest
from astropy.table import Table
from photutils.datasets import make_model_image
from photutils.psf import CircularGaussianPRF

from gempy.library.cosmic_rays import flag_cosmic_rays_by_stacking

SHAPE = (200, 200)
N_FRAMES = 5


def render(x, y, flux, fwhm):
    params = Table({"x_0": x, "y_0": y, "flux": flux, "fwhm": np.broadcast_to(fwhm, len(x))})
    return make_model_image(SHAPE, CircularGaussianPRF(), params, bbox_factor=8)


def inject_cosmic_rays(rng, image, forbidden, n_hits):
    """Single hits and short diagonal tracks, away from the forbidden pixels."""
    hits = np.zeros(SHAPE, bool)
    while hits.sum() < n_hits:
        x, y = rng.integers(3, SHAPE[1] - 4), rng.integers(3, SHAPE[0] - 4)
        length = rng.choice([1, 1, 2, 3])
        track = [(y + k, x + k) for k in range(length)]
        if any(forbidden[p] for p in track):
            continue
        for p in track:
            image[p] += rng.uniform(200, 5000)
            hits[p] = True
    return hits


@pytest.fixture(scope="module")
def stack():
    """Five registered frames: same stars, varying seeing, sky level and transparency."""
    rng = np.random.default_rng(31)
    x = rng.uniform(10, 190, 40)
    y = rng.uniform(10, 190, 40)
    flux = 10 ** rng.uniform(3.0, 5.5, 40)
    # star pixels: where the broadest-seeing image of the star is above 2% of sky noise
    stars = render(x, y, flux, 5.0) > 0.3
    near_stars = np.zeros(SHAPE, bool)
    near_stars[1:-1, 1:-1] = stars[1:-1, 1:-1]
    for shift in ((0, 1), (1, 0), (0, -1), (-1, 0), (2, 0), (0, 2), (-2, 0), (0, -2)):
        near_stars |= np.roll(stars, shift, axis=(0, 1))
    images, variances, truth = [], [], []
    for k in range(N_FRAMES):
        sky = 300.0 + 40.0 * k
        model = render(x, y, flux * rng.uniform(0.9, 1.1), rng.uniform(3.0, 4.5)) + sky
        variance = model + 16.0
        image = rng.normal(model, np.sqrt(variance))
        truth.append(inject_cosmic_rays(rng, image, near_stars, 30))
        images.append(image.astype(np.float32))
        variances.append(variance.astype(np.float32))
    return dict(images=images, variances=variances, truth=truth, stars=stars)


def test_cosmic_rays_are_found_and_stars_are_left_alone(stack):
    masks = flag_cosmic_rays_by_stacking(stack["images"], stack["variances"], None, dilation=0)
    found = total = 0
    for mask, hits in zip(masks, stack["truth"], strict=True):
        flagged = (mask & 8) != 0
        found += np.count_nonzero(flagged & hits)
        total += np.count_nonzero(hits)
        assert not np.any(flagged & stack["stars"])
        # nothing but cosmic rays is flagged on the sky
        assert np.count_nonzero(flagged & ~hits) <= 2
    assert found / total > 0.95


def test_without_variances_the_noise_is_measured(stack):
    masks = flag_cosmic_rays_by_stacking(stack["images"], None, None, dilation=0)
    completeness = np.mean(
        [
            np.count_nonzero((m & 8).astype(bool) & h) / np.count_nonzero(h)
            for m, h in zip(masks, stack["truth"], strict=True)
        ]
    )
    assert completeness > 0.95
    assert not any(np.any((m & 8).astype(bool) & stack["stars"]) for m in masks)


def test_dilation_grows_the_flags_and_existing_bits_are_kept(stack):
    images = [image.copy() for image in stack["images"]]
    # an isolated hit in frame 0 on a clean patch of sky
    y, x = np.argwhere(~stack["stars"][20:-20, 20:-20])[0] + 20
    images[0][y, x] += 4000.0
    inputs = [np.zeros(SHAPE, np.uint16) for _ in images]
    inputs[0][y, x + 1] = 1  # a bad pixel next to it: never flagged as a cosmic ray
    inputs[0][5, 5] = 64
    before = [m.copy() for m in inputs]
    masks = flag_cosmic_rays_by_stacking(images, stack["variances"], inputs, dilation=1)
    block = masks[0][y - 1 : y + 2, x - 1 : x + 2]
    expected = np.full((3, 3), 8, np.uint16)
    expected[1, 2] = 1
    assert np.array_equal(block, expected)
    assert masks[0][5, 5] == 64
    # inputs are not modified
    assert all(np.array_equal(a, b) for a, b in zip(inputs, before, strict=True))
    single = flag_cosmic_rays_by_stacking(images, stack["variances"], inputs, dilation=0)
    assert np.count_nonzero(single[0][y - 1 : y + 2, x - 1 : x + 2] & 8) == 1


def test_an_object_mask_protects_given_pixels(stack):
    images = [image.copy() for image in stack["images"]]
    clear_sky = ~stack["stars"]
    y, x = np.argwhere(clear_sky[60:140, 60:140])[-1] + 60
    images[1][y, x] += 5000.0
    flagged = flag_cosmic_rays_by_stacking(images, stack["variances"], None)
    assert flagged[1][y, x] & 8
    objmask = np.zeros(SHAPE, np.uint8)
    objmask[y - 5 : y + 6, x - 5 : x + 6] = 1
    protected = flag_cosmic_rays_by_stacking(images, stack["variances"], None, objmask=objmask)
    assert not np.any(protected[1][y - 5 : y + 6, x - 5 : x + 6] & 8)


def test_invalid_inputs_raise():
    image = np.zeros((10, 10), np.float32)
    with pytest.raises(ValueError, match="at least 2"):
        flag_cosmic_rays_by_stacking([image])
    with pytest.raises(ValueError, match="one shape"):
        flag_cosmic_rays_by_stacking([image, np.zeros((5, 5))])
    with pytest.raises(ValueError, match="hsigma"):
        flag_cosmic_rays_by_stacking([image, image], hsigma=0)
