"""Pixel statistics of simulated frames against the truth written beside them."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gempy.sim.detector import ArrayPhysics, inverse_linearity, ir_readout
from gempy.sim.render import MoffatPSF


def _sci(path, name, ext=1):
    data = fits.getdata(path / name, ext=ext).astype(np.float64)
    return data[0] if data.ndim == 3 else data


def _robust_sigma(values):
    return 1.4826 * np.median(np.abs(values - np.median(values)))


@pytest.mark.parametrize("name", ["f2-tutorial", "niri-imaging"])
def test_dark_level_is_dark_current_times_time_over_gain(small_dataset, name):
    path, truth = small_dataset(name)
    good = truth["bpm"][0] == 0
    for role in ("dark", "dark_short"):
        for fname in truth["roles"][role][:3]:
            record = truth["files"][fname]
            ext = record["extensions"][0]
            expected = np.median(truth["dark"][0][good]) * record["total_exptime"] / ext[
                "gain_e_per_adu"]
            data = _sci(path, fname)[good]
            sigma = _robust_sigma(data)
            assert np.median(data) == pytest.approx(expected, abs=max(0.1 * sigma, 1.0))
            read_adu = ext["read_noise_e"] * np.sqrt(record["coadds"]) / ext["gain_e_per_adu"]
            assert sigma >= 0.9 * read_adu


@pytest.mark.parametrize("name", ["f2-tutorial", "niri-imaging", "gsaoi-tutorial"])
def test_lamp_on_minus_off_matches_the_true_flat(small_dataset, name):
    path, truth = small_dataset(name)
    for ext, flat in enumerate(truth["flat"], start=1):
        on = np.mean([_sci(path, f, ext) for f in truth["roles"]["flat_lamp_on"]], axis=0)
        off = np.mean([_sci(path, f, ext) for f in truth["roles"]["flat_lamp_off"]], axis=0)
        diff = on - off
        usable = (truth["bpm"][ext - 1] == 0) & (flat > 0.5 * np.median(flat[flat > 0]))
        measured = diff / np.median(diff[usable])
        expected = flat / np.median(flat[usable])
        ratio = measured[usable] / expected[usable]
        assert np.median(ratio) == pytest.approx(1.0, abs=0.003)
        # lamp photon noise per pixel is ~1%; the pixel-to-pixel pattern is recovered
        assert _robust_sigma(ratio) < 0.5 * _robust_sigma(expected[usable] - 1.0) + 0.01
        corr = np.corrcoef(measured[usable], expected[usable])[0, 1]
        assert corr > 0.8


def test_unilluminated_regions_are_dark(small_dataset):
    path, truth = small_dataset("f2-tutorial")
    on = _sci(path, truth["roles"]["flat_lamp_on"][0])
    outside = (truth["bpm"][0] & 64) > 0
    inside = (truth["bpm"][0] == 0)
    assert outside.sum() > 0.1 * outside.size
    assert np.median(on[outside]) < 0.05 * np.median(on[inside])
    path, truth = small_dataset("gsaoi-tutorial")
    for ext in range(1, 5):
        flat_frame = _sci(path, truth["roles"]["flat_lamp_on"][0], ext)
        assert np.median(flat_frame[:4]) < 0.1 * np.median(flat_frame[10:-10, 10:-10])
        assert np.all(truth["bpm"][ext - 1][:4] & 64 | truth["bpm"][ext - 1][:4] & 1)


@pytest.mark.parametrize("name, role", [("f2-tutorial", "science"), ("gsaoi-tutorial", "sky"),
                                        ("niri-imaging", "science")])
def test_sky_level_matches_truth(small_dataset, name, role):
    path, truth = small_dataset(name)
    for fname in truth["roles"][role][1:4]:
        record = truth["files"][fname]
        for ext, flat in enumerate(truth["flat"], start=1):
            info = record["extensions"][ext - 1]
            usable = (truth["bpm"][ext - 1] == 0) & (flat > 0.5)
            data = _sci(path, fname, ext)[usable]
            electrons = data * info["gain_e_per_adu"]
            dark = truth["dark"][ext - 1][usable] * record["total_exptime"]
            sky = np.median((electrons - dark) / flat[usable])
            # sources add a little; non-linearity removes up to ~0.5% at these levels
            assert sky == pytest.approx(record["sky_e_per_pix"], rel=0.02)


def _aperture_photometry(image, bad, x, y, radius, inner, outer):
    """Background-subtracted sum within ``radius``; bad pixels count as background."""
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    r = np.hypot(xx - x, yy - y)
    annulus = (r >= inner) & (r < outer) & ~bad
    background = np.median(image[annulus])
    aperture = (r < radius) & ~bad
    return np.sum(image[aperture] - background) , background, np.count_nonzero(r < radius)


def test_star_fluxes_match_the_catalogue_f2(small_dataset):
    """Isolated, unsaturated stars: aperture flux / (truth flux x t x flat) = enclosed fraction."""
    path, truth = small_dataset("f2-tutorial")
    catalog = truth["catalog"]
    stars = catalog[catalog["type"] == "star"]
    flat = truth["flat"][0]
    bad = (truth["bpm"][0] > 0) | (flat < 0.3)
    pulls, measured = [], 0
    for fname in truth["roles"]["science"]:
        record = truth["files"][fname]
        gain = record["extensions"][0]["gain_e_per_adu"]
        with fits.open(path / fname) as hdul:
            wcs = WCS(hdul[1].header, naxis=2)
            image = hdul[1].data[0].astype(float) * gain
        image = image / np.where(bad, 1.0, flat)
        x, y = wcs.all_world2pix(catalog["ra"], catalog["dec"], 0)
        fwhm_pix = record["psf_fwhm_arcsec"] / truth["pixel_scale_arcsec"]
        psf = MoffatPSF(fwhm_pix, truth["psf"]["beta"], truth["psf"]["truncation_fwhm"])
        radius = 3.0 * fwhm_pix
        sx, sy = wcs.all_world2pix(stars["ra"], stars["dec"], 0)
        for star, xs, ys in zip(stars, sx, sy, strict=True):
            margin = 6 * fwhm_pix + 2
            ny, nx = image.shape
            if not (margin < xs < nx - margin and margin < ys < ny - margin):
                continue
            if np.sort(np.hypot(x - xs, y - ys))[1] < 5 * fwhm_pix:
                continue
            expected = star["flux_e_per_s"] * record["total_exptime"]
            if expected * psf.profile(0.0) > 60000 or expected < 2e4:
                continue
            value, sky, npix = _aperture_photometry(image, bad, xs, ys, radius, 4 * fwhm_pix,
                                                    6 * fwhm_pix)
            model = expected * float(psf.enclosed_fraction(radius))
            sigma = np.sqrt(npix * sky * (1 + npix / 300.0) + model)
            pulls.append((value - model) / sigma)
            measured += 1
    assert measured >= 3
    assert np.all(np.abs(pulls) < 5.0)
    assert abs(np.mean(pulls)) < 2.0


def test_standard_star_photometry_gsaoi(small_dataset):
    """The 14th-magnitude standard, dithered onto each array, has the catalogue flux.

    The raw counts are first linearised with the instrument polynomial, which
    checks that the simulator applied its exact inverse.
    """
    path, truth = small_dataset("gsaoi-tutorial")
    catalog = truth["catalog"]
    standard = catalog[(catalog["field"] == "standard")][0]
    ratios = []
    for fname in truth["roles"]["standard"]:
        record = truth["files"][fname]
        fwhm_pix = record["psf_fwhm_arcsec"] / truth["pixel_scale_arcsec"]
        psf = MoffatPSF(fwhm_pix, truth["psf"]["beta"], truth["psf"]["truncation_fwhm"])
        with fits.open(path / fname) as hdul:
            for ext in range(1, 5):
                wcs = WCS(hdul[ext].header)
                xs, ys = wcs.all_world2pix(standard["ra"], standard["dec"], 0)
                data = hdul[ext].data.astype(float)
                if not (15 < xs < data.shape[1] - 15 and 15 < ys < data.shape[0] - 15):
                    continue
                x1, x2, y1, y2 = (int(v) for part in hdul[ext].header["CCDSEC"][1:-1].split(",")
                                  for v in part.split(":"))
                flat = truth["flat"][ext - 1][y1 - 1:y2, x1 - 1:x2]
                bad = (truth["bpm"][ext - 1][y1 - 1:y2, x1 - 1:x2] > 0) | (flat < 0.3)
                gain = record["extensions"][ext - 1]["gain_e_per_adu"]
                c0, c1, c2 = truth["arrays"][ext - 1]["linearity_coeffs"]
                raw = data * gain
                linear = raw * (c0 + raw * (c1 + raw * c2))   # as nonlinearityCorrect does
                image = linear / np.where(bad, 1.0, flat)
                value, _, _ = _aperture_photometry(image, bad, xs, ys, 3 * fwhm_pix,
                                                   4 * fwhm_pix, 6 * fwhm_pix)
                expected = standard["flux_e_per_s"] * record["total_exptime"]
                ratios.append(value / expected / float(psf.enclosed_fraction(3 * fwhm_pix)))
    assert len(ratios) == 4
    assert np.median(ratios) == pytest.approx(1.0, abs=0.01)


def test_gmos_bias_overscan_and_static_structure(small_dataset):
    path, truth = small_dataset("gmos-imaging")
    biases = truth["roles"]["bias"]
    for ext in range(1, 13):
        corrected = []
        for fname in biases:
            info = truth["files"][fname]["extensions"][ext - 1]
            with fits.open(path / fname) as hdul:
                hdr = hdul[ext].header
                data = hdul[ext].data.astype(float)
            x1, x2 = (int(v) for v in hdr["BIASSEC"][1:].split(",")[0].split(":"))
            overscan = np.mean(data[:, x1 - 1:x2])
            assert overscan == pytest.approx(info["bias_level_adu"], abs=0.3)
            corrected.append(data - np.mean(data[:, x1 - 1:x2], axis=1, keepdims=True))
        static = truth["bias"][ext - 1]
        level = np.median(static[:, x1 - 1:x2])
        master = np.mean(corrected, axis=0)
        dx1, dx2 = (int(v) for v in hdr["DATASEC"][1:].split(",")[0].split(":"))
        residual = master[:, dx1 - 1:dx2] - (static[:, dx1 - 1:dx2] - level)
        rn_adu = info["read_noise_e"] / info["gain_e_per_adu"]
        assert abs(np.mean(residual)) < 0.3
        assert np.std(residual) < 1.5 * rn_adu / np.sqrt(len(biases)) + 0.3


def test_gmos_twilight_level_decreases(small_dataset):
    path, truth = small_dataset("gmos-imaging")
    r_band = [f for f in truth["roles"]["twilight"] if truth["files"][f]["filter"] == "r"]
    with fits.open(path / r_band[0]) as hdul:
        sy, sx = _section(hdul[5].header["DATASEC"])
    levels = [np.median(fits.getdata(path / f, ext=5)[sy, sx].astype(float)) for f in r_band]
    assert all(a > b for a, b in zip(levels, levels[1:], strict=False))
    assert max(levels) < 65535


def _section(text):
    (x1, x2), (y1, y2) = (map(int, part.split(":")) for part in text[1:-1].split(","))
    return slice(y1 - 1, y2), slice(x1 - 1, x2)


@pytest.mark.parametrize("name", ["gmos-imaging", "gmos-n-e2v", "gsaoi-tutorial"])
def test_bright_stars_sit_where_the_extension_wcs_puts_them(small_dataset, name):
    """Centroids of bright isolated stars in every extension agree with the catalogue."""
    path, truth = small_dataset(name)
    catalog = truth["catalog"]
    checked = 0
    for fname in truth["roles"]["science"]:
        with fits.open(path / fname) as hdul:
            for ext, h in enumerate(hdul[1:]):
                flat = truth["flat"][ext]
                wcs = WCS(h.header)
                sy, sx = _section(h.header["DATASEC"])
                data = h.data.astype(float)
                background = np.median(data[sy, sx])
                noise = _robust_sigma(data[sy, sx])
                x, y = wcs.all_world2pix(catalog["ra"], catalog["dec"], 0)
                for i in np.flatnonzero(catalog["type"] == "star"):
                    xi, yi = x[i], y[i]
                    if not (sx.start + 7 < xi < sx.stop - 8 and sy.start + 7 < yi < sy.stop - 8):
                        continue
                    if np.sort(np.hypot(x - xi, y - yi))[1] < 12:
                        continue
                    iy, ix = int(round(yi)), int(round(xi))
                    if flat[iy - 5:iy + 6, ix - 5:ix + 6].min() < 0.5:
                        continue
                    if truth["bpm"][ext][iy - 5:iy + 6, ix - 5:ix + 6].any():
                        continue
                    box = data[iy - 5:iy + 6, ix - 5:ix + 6] - background
                    if box.max() < 30 * noise or box.max() + background > 40000:
                        continue
                    yy, xx = np.mgrid[iy - 5:iy + 6, ix - 5:ix + 6]
                    weights = np.clip(box - 3 * noise, 0, None)
                    if np.count_nonzero(weights) < 6:
                        continue
                    cx = (weights * xx).sum() / weights.sum()
                    cy = (weights * yy).sum() / weights.sum()
                    assert np.hypot(cx - xi, cy - yi) < 0.35
                    checked += 1
    assert checked >= 2


def test_cosmic_rays_are_recorded_and_differ_between_frames(small_dataset):
    path, truth = small_dataset("f2-tutorial")
    cosmics = truth["cosmics"]
    science = truth["roles"]["science"]
    counts = [truth["files"][f]["cosmic_rays"] for f in science]
    assert sum(counts) > 0
    assert len(cosmics) == sum(truth["files"][f]["cosmic_rays"] for f in truth["files"])
    first = cosmics[cosmics["file"] == science[0]]
    second = cosmics[cosmics["file"] == science[1]]
    assert {(r["x"], r["y"]) for r in first} != {(r["x"], r["y"]) for r in second}


def test_hot_pixels_stand_out_in_short_darks_and_are_in_the_bpm(small_dataset):
    path, truth = small_dataset("f2-tutorial")
    stack = np.median([_sci(path, f) for f in truth["roles"]["dark_short"]], axis=0)
    gain = truth["files"][truth["roles"]["dark_short"][0]]["extensions"][0]["gain_e_per_adu"]
    hot = stack * gain > 3050.0
    bad = (truth["bpm"][0] & 1) > 0
    assert hot.sum() > 0
    assert np.all(bad[hot])                       # purity of the truth BPM for hot pixels
    hot_truth = truth["dark"][0] > 1600.0
    assert np.all(hot[hot_truth])                 # every truly hot pixel is found


def test_first_niri_frame_carries_the_reset_ramp(small_dataset):
    path, truth = small_dataset("niri-imaging")
    first, second = truth["roles"]["science"][:2]
    assert truth["files"][first]["anomaly"] == "first_frame"
    a, b = _sci(path, first), _sci(path, second)
    gain = truth["files"][first]["extensions"][0]["gain_e_per_adu"]
    bottom = np.median(a[:20]) - np.median(b[:20])
    top = np.median(a[-20:]) - np.median(b[-20:])
    assert (bottom - top) * gain > 1000.0


def test_inverse_linearity_round_trip():
    coeffs = (0.9999107, -4.2854848e-8, 1.0096585e-12)
    true = np.array([10.0, 1e3, 2e4, 8e4, 1.5e5], np.float32)
    raw = inverse_linearity(true, coeffs)
    corrected = raw * (coeffs[0] + coeffs[1] * raw + coeffs[2] * raw ** 2)
    assert corrected == pytest.approx(true, rel=2e-6)


def test_ir_readout_saturates_at_the_saturation_level():
    physics = ArrayPhysics(dark_current=0.0, well_depth=155400.0,
                           linearity=(0.9999107, -4.2854848e-8, 1.0096585e-12))
    rng = np.random.default_rng(1)
    electrons = np.array([[1000.0, 1.0e5, 2.0e5, 5.0e5]], np.float32)
    adu = ir_readout(rng, electrons, 1, physics.linearity, 4.44, 11.7, 35000.0)
    assert adu[0, 2] == 35000.0 and adu[0, 3] == 35000.0
    assert adu[0, 1] < 35000.0 and adu[0, 0] == pytest.approx(1000 / 4.44, abs=10)
