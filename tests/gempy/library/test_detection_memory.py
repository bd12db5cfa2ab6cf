"""Peak memory of detect_sources; its catalogue of a seeded field is unchanged by the memory cut."""

import tracemalloc

import numpy as np
import pytest
from astropy.stats import SigmaClip
from photutils.background import Background2D, SExtractorBackground, StdBackgroundRMS

from gempy.library.detection import _background, detect_sources
from gempy.sim.render import MoffatPSF, render_sources

# tracemalloc peak of detect_sources above its inputs: 23.9 bytes per pixel measured on
# the 1024x1024 field below (20.5 on a 2048x2048 frame), plus 25%; the code before the
# memory work needed 55 bytes per pixel
PEAK_BYTES_PER_PIXEL = 30.0


def seeded_field(size=1024, seed=2024):
    """Moffat stars and Sersic galaxies on a 10000 e- sky; bad columns, hot pixels, saturation."""
    rng = np.random.default_rng(seed)
    n_stars, n_galaxies = 80, 30
    n = n_stars + n_galaxies
    x = rng.uniform(0, size, n)
    y = rng.uniform(0, size, n)
    flux = 10 ** rng.uniform(3.5, 6.3, n)
    is_star = np.arange(n) < n_stars
    r_eff = np.where(is_star, 0.0, rng.uniform(2.0, 8.0, n))
    sersic = rng.choice([1.0, 4.0], n)
    q = rng.uniform(0.4, 1.0, n)
    theta = rng.uniform(0, np.pi, n)
    truth = render_sources((size, size), x, y, flux, is_star, r_eff, sersic, q, theta,
                           MoffatPSF(4.0, 3.5))
    variance = (truth + 10000.0 + 12.0**2).astype(np.float32)
    data = truth + 10000.0 + rng.standard_normal((size, size), dtype=np.float32) * np.sqrt(variance)
    data = data.astype(np.float32)
    mask = np.zeros((size, size), np.uint16)
    mask[:, rng.integers(0, size, 3)] = 1
    hot = rng.integers(0, size * size, size * size // 2000)
    mask.flat[hot] = 1
    data.flat[hot] += 5e4
    saturation = 40000.0
    mask[data >= saturation] |= 4
    return data, variance, mask, saturation


@pytest.fixture(scope="module")
def field():
    return seeded_field()


def _detect(field):
    data, variance, mask, saturation = field
    return detect_sources(data, variance, mask=mask & ~np.uint16(4), saturation=saturation)


def test_traced_peak_memory_per_pixel(field):
    data = field[0]
    detect_sources(data[:128, :128])  # first-call imports and caches are not the function's
    tracemalloc.start()
    try:
        _detect(field)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / data.size < PEAK_BYTES_PER_PIXEL, f"{peak / data.size:.1f} bytes per pixel"


def test_catalogue_matches_the_code_before_the_memory_work(field):
    """Rows, fluxes, flags and OBJMASK are those the unoptimised code measured on this field."""
    objcat, objmask = _detect(field)
    assert len(objcat) == 91
    assert int(objmask.sum()) == 13360
    assert int(np.sum(objcat["ISOAREA_IMAGE"])) == 13360
    flux = np.asarray(objcat["FLUX_AUTO"])
    assert flux.sum() == pytest.approx(29518002.68939041, rel=1e-5)
    assert np.sort(flux)[-5:][::-1] == pytest.approx(
        [1886222.216855212, 1603693.3217688114, 1385637.4293747146, 1311188.4162384318,
         1278128.5362107945], rel=1e-5)
    assert np.sort(flux)[:3] == pytest.approx(
        [7522.940616174166, 8471.379331722112, 8623.886486632638], rel=1e-5)
    assert np.sum(objcat["FLUX_APER"]) == pytest.approx(18789949.137214728, rel=1e-5)
    assert np.sum(objcat["FLUXERR_AUTO"]) == pytest.approx(154111.03039507128, rel=1e-5)
    assert np.sum(objcat["X_IMAGE"]) == pytest.approx(39621.16136782022, rel=1e-7)
    assert np.sum(objcat["Y_IMAGE"]) == pytest.approx(47885.65680328552, rel=1e-7)
    assert np.sum(objcat["BACKGROUND"]) == pytest.approx(910210.96875, rel=1e-6)
    flags, counts = np.unique(np.asarray(objcat["FLAGS"]), return_counts=True)
    assert dict(zip(flags.tolist(), counts.tolist(), strict=True)) == {
        0: 64, 1: 4, 4: 10, 8: 2, 16: 6, 17: 2, 20: 1, 24: 1, 28: 1}
    assert objcat.meta["BACK_MED"] == pytest.approx(10001.427734375, rel=1e-7)
    assert objcat.meta["BACK_RMS"] == pytest.approx(99.65493774414062, rel=1e-7)


def test_background_at_the_centroids_equals_the_full_map():
    """The mesh evaluation that replaces the full background map gives the same values."""
    rng = np.random.default_rng(11)
    ny, nx = 300, 250                                  # not whole boxes: padded, cropped map
    yy, xx = np.mgrid[:ny, :nx]
    image = (500.0 + 0.8 * xx + 30.0 * np.sin(yy / 40.0)
             + rng.normal(0, 10, (ny, nx))).astype(np.float32)
    bad = np.zeros((ny, nx), bool)
    bad[:, 100:104] = True
    level, _, mesh = _background(image, bad, 32, 3)
    full = Background2D(image, (32, 32), mask=bad, filter_size=(3, 3), exclude_percentile=75.0,
                        sigma_clip=SigmaClip(sigma=3.0, maxiters=10),
                        bkg_estimator=SExtractorBackground(),
                        bkg_rms_estimator=StdBackgroundRMS()).background
    assert np.array_equal(level, full)
    iy, ix = rng.integers(0, ny, 500), rng.integers(0, nx, 500)
    assert np.allclose(mesh.at(iy, ix), full[iy, ix], rtol=1e-6, atol=0)
    assert np.allclose(mesh.at(yy, xx), full, rtol=1e-6, atol=0)
