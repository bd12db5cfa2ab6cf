"""Tests of primitives.core.image: scaleCountsToReference, flagCosmicRaysByStacking, object masks,
applyDQPlane."""

from __future__ import annotations

import copy
import logging
import os
import sys

import numpy as np
import pytest
from scipy import ndimage

from astrodata import DQ
from gempy.library._wcs import SkyWCS
from primitives.errors import PrimitiveError
from primitives.f2 import F2Image

sys.path.insert(0, os.path.dirname(__file__))
from imaging_frames import (  # noqa: E402
    imaging_sim_fixture,  # noqa: F401
    render_star_field,
    science_frames,
    truth_stars,
)


@pytest.fixture(scope="module")
def f2_frames(imaging_sim):
    directory, truth = imaging_sim("f2-tutorial")
    return science_frames(directory, truth), truth


# ---------------------------------------------------------------------------
# flagCosmicRaysByStacking
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cosmic_rays(f2_frames):
    """The F2 frames with extra single-pixel hits injected, resampled, then CR-flagged.

    Returns the outputs, the input frames, the truth and, per frame, the sky
    positions and charges of the injected hits.
    """
    frames, truth = f2_frames
    inputs = [copy.deepcopy(ad) for ad in frames]
    rng = np.random.default_rng(5)
    catalog = truth["catalog"]
    injected = []
    for ad in inputs:
        ext = ad[0]
        sx, sy = SkyWCS(ext.wcs).world_to_pixel(np.asarray(catalog["ra"], float),
                                                np.asarray(catalog["dec"], float))
        data = np.array(ext.data)
        hits = []
        while len(hits) < 20:
            x, y = rng.integers(10, 246, 2)
            if ext.mask[y - 2:y + 3, x - 2:x + 3].any() or np.hypot(sx - x, sy - y).min() < 15:
                continue
            charge = rng.uniform(2500, 8000)
            data[y, x] += charge
            hits.append((x, y, charge))
        ext.data = data
        hits = np.array(hits)
        ra, dec = SkyWCS(ext.wcs).pixel_to_world(hits[:, 0], hits[:, 1])
        injected.append((ra, dec, hits[:, 2]))
    p = F2Image(inputs)
    p.resampleToCommonFrame()
    resampled = [copy.deepcopy(ad) for ad in p.streams["main"]]
    p.flagCosmicRaysByStacking()
    return p.streams["main"], resampled, frames, truth, injected


def _coverage(outputs):
    """Number of frames with a good (unflagged but for cosmic rays) value at each pixel."""
    return np.sum([(ad[0].mask & ~np.uint16(DQ.cosmic_ray)) == 0 for ad in outputs], axis=0)


def _hit_found(ext, x, y):
    ix, iy = int(round(float(x))), int(round(float(y)))
    return bool((ext.mask[iy - 1:iy + 2, ix - 1:ix + 2] & DQ.cosmic_ray).any())


def test_injected_hits_are_flagged(cosmic_rays):
    outputs, _, _, _, injected = cosmic_rays
    coverage = _coverage(outputs)
    n_hits = n_found = 0
    for ad, (ra, dec, _) in zip(outputs, injected, strict=True):
        ext = ad[0]
        x, y = SkyWCS(ext.wcs).world_to_pixel(ra, dec)
        for xi, yi in zip(x, y, strict=True):
            if coverage[int(round(float(yi))), int(round(float(xi)))] < 3:
                continue  # the median of 1 or 2 frames cannot reveal a hit
            n_hits += 1
            n_found += _hit_found(ext, xi, yi)
    assert n_hits > 100
    assert n_found / n_hits > 0.9


def test_simulated_cosmic_rays_are_flagged(cosmic_rays):
    """The simulator's own hits that stand out (> 2 hsigma x noise per pixel) are flagged."""
    outputs, _, frames, truth, _ = cosmic_rays
    coverage = _coverage(outputs)
    hits = truth["cosmics"]
    n_hits = n_found = 0
    for ad_out, ad_in in zip(outputs, frames, strict=True):
        ext = ad_out[0]
        rows = hits[np.asarray(hits["file"]) == ad_in.filename]
        sky = SkyWCS(ad_in[0].wcs).pixel_to_world(np.asarray(rows["x"], float),
                                                  np.asarray(rows["y"], float))
        x, y = SkyWCS(ext.wcs).world_to_pixel(*sky)
        for xi, yi, npix, electrons in zip(x, y, rows["npix"], rows["electrons"], strict=True):
            ix, iy = int(round(float(xi))), int(round(float(yi)))
            box = (slice(iy - 1, iy + 2), slice(ix - 1, ix + 2))
            if coverage[iy, ix] < 3 or (ext.mask[box] & ~np.uint16(DQ.cosmic_ray)).any():
                continue
            noise = np.sqrt(np.median(ext.variance[box]))
            if electrons / npix < 2 * 7.0 * noise:
                continue
            n_hits += 1
            n_found += _hit_found(ext, xi, yi)
    assert n_hits >= 5
    assert n_found / n_hits > 0.9


def test_star_cores_are_not_flagged(cosmic_rays):
    outputs, _, frames, truth, _ = cosmic_rays
    out_wcs = SkyWCS(outputs[0][0].wcs)
    cores = []
    for ad in frames:
        stars = truth_stars(truth, ad.filename, ad[0], margin=0.0)
        keep = stars["snr"] > 20
        x, y = out_wcs.world_to_pixel(stars["ra"][keep], stars["dec"][keep])
        cores.extend(zip(x, y, strict=True))
        fwhm = stars["fwhm"]
    cores = np.array(cores)
    assert len(cores) > 10
    for ad in outputs:
        flagged = np.argwhere(ad[0].mask & DQ.cosmic_ray)
        if len(flagged) == 0:
            continue
        distance = np.hypot(flagged[:, 1, None] - cores[None, :, 0],
                            flagged[:, 0, None] - cores[None, :, 1])
        assert distance.min() > 1.5 * fwhm


def test_few_false_detections(cosmic_rays):
    """Flagged groups away from every known hit are rare (< 3 per frame)."""
    outputs, _, frames, truth, injected = cosmic_rays
    hits = truth["cosmics"]
    for ad_out, ad_in, (ra, dec, _) in zip(outputs, frames, injected, strict=True):
        ext = ad_out[0]
        rows = hits[np.asarray(hits["file"]) == ad_in.filename]
        true_x, true_y = SkyWCS(ext.wcs).world_to_pixel(*SkyWCS(ad_in[0].wcs).pixel_to_world(
            np.asarray(rows["x"], float), np.asarray(rows["y"], float)))
        inj_x, inj_y = SkyWCS(ext.wcs).world_to_pixel(ra, dec)
        known_x = np.concatenate([true_x, inj_x])
        known_y = np.concatenate([true_y, inj_y])
        labels, n = ndimage.label(ext.mask & DQ.cosmic_ray)
        centres = ndimage.center_of_mass(np.ones_like(labels), labels, range(1, n + 1))
        # simulated tracks may run several pixels from their recorded start
        unexplained = [c for c in centres
                       if np.hypot(known_x - c[1], known_y - c[0]).min() > 6]
        assert len(unexplained) < 3, ad_out.filename


def test_only_the_cosmic_ray_bit_is_added(cosmic_rays):
    outputs, resampled, _, _, _ = cosmic_rays
    for after, before in zip(outputs, resampled, strict=True):
        changed = after[0].mask ^ before[0].mask
        assert np.all((changed & ~np.uint16(DQ.cosmic_ray)) == 0)
        np.testing.assert_array_equal(after[0].data, before[0].data)
        assert "FLAGCR" in after.phu and after.filename.endswith("_CRMasked.fits")


def test_unaligned_inputs_are_refused(f2_frames):
    frames, _ = f2_frames
    inputs = [copy.deepcopy(frames[0]), copy.deepcopy(frames[1])]
    inputs[1][0].reset(inputs[1][0].data[:200], mask=inputs[1][0].mask[:200],
                       variance=inputs[1][0].variance[:200])
    with pytest.raises(PrimitiveError, match="resampleToCommonFrame"):
        F2Image(inputs).flagCosmicRaysByStacking()


# ---------------------------------------------------------------------------
# scaleCountsToReference
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def detected(f2_frames):
    frames, _ = f2_frames
    inputs = [copy.deepcopy(ad) for ad in frames]
    F2Image(inputs).detectSources()
    return inputs


def test_exposure_time_ratio(detected):
    inputs = [copy.deepcopy(ad) for ad in detected[:3]]
    # frame 1 was exposed half as long as the others
    inputs[1].phu["EXPTIME"] = inputs[1].phu["EXPTIME"] / 2
    data = np.array(inputs[1][0].data)
    variance = np.array(inputs[1][0].variance)
    flux = np.array(inputs[1][0].OBJCAT["FLUX_AUTO"])
    F2Image(inputs).scaleCountsToReference()
    np.testing.assert_allclose(inputs[1][0].data, 2 * data, rtol=1e-6)
    np.testing.assert_allclose(inputs[1][0].variance, 4 * variance, rtol=1e-6)
    np.testing.assert_allclose(inputs[1][0].OBJCAT["FLUX_AUTO"], 2 * flux, rtol=1e-6)
    np.testing.assert_array_equal(inputs[2][0].data, detected[2][0].data)
    assert all("SCALCNTS" in ad.phu for ad in inputs)


def _logged_factors(caplog) -> dict[str, tuple[float, float]]:
    factors = {}
    for record in caplog.records:
        message = record.getMessage()
        if "matched sources" in message and " +/- " in message:
            value, error = message.split("factor ")[1].split(" +/- ")
            name = message.split(":")[0].split("_")[0]  # the file name before any suffix
            factors[name] = (float(value), float(error.split()[0]))
    return factors


def test_flux_ratio_of_matched_sources(imaging_sim, caplog):
    """A frame 20% dimmer (thin cirrus) is scaled back up by the measured 1.25.

    Three F2 frames are filled with the same field of 60 stars seen through
    their WCSs (the small simulated frames have too few bright stars in
    common for a 1% measurement), the third one 20% fainter.
    """
    directory, truth = imaging_sim("f2-tutorial")
    frames = science_frames(directory, truth, count=3)
    rng = np.random.default_rng(2)
    ra, dec = SkyWCS(frames[0][0].wcs).pixel_to_world(rng.uniform(-40, 290, 60),
                                                      rng.uniform(-40, 290, 60))
    flux = 10 ** rng.uniform(4.5, 5.5, 60)
    for seed, (ad, transparency) in enumerate(zip(frames, (1.0, 1.0, 0.8), strict=True)):
        render_star_field(ad, ra, dec, flux * transparency, fwhm=4.5, noise=30.0, seed=seed)
    p = F2Image(frames)
    p.detectSources()
    before = np.array(frames[2][0].data)
    with caplog.at_level(logging.INFO):
        p.scaleCountsToReference(tolerance=0.5)
    factors = _logged_factors(caplog)
    names = [ad.orig_filename[:-5] for ad in frames]
    assert factors[names[1]][0] == pytest.approx(1.0, abs=0.02)
    assert factors[names[2]][0] == pytest.approx(1.25, rel=0.02)
    np.testing.assert_allclose(frames[2][0].data, before * factors[names[2]][0], rtol=1e-5)


def test_flux_ratios_of_simulated_frames_agree_with_their_errors(detected, caplog):
    """On the simulated frames (few common stars) each measured factor is 1 within its error."""
    inputs = [copy.deepcopy(ad) for ad in detected]
    with caplog.at_level(logging.INFO):
        F2Image(inputs).scaleCountsToReference(tolerance=0.5, use_common=False)
    factors = _logged_factors(caplog)
    assert len(factors) >= len(inputs) - 2
    for name, (value, error) in factors.items():
        assert error < 0.15, name
        assert abs(value - 1.0) < 3 * error, name


def test_use_common_restricts_to_sources_in_every_frame(detected, caplog):
    inputs = [copy.deepcopy(ad) for ad in detected[:3]]
    with caplog.at_level(logging.INFO):
        F2Image(inputs).scaleCountsToReference(tolerance=1.0, use_common=True)
    used = [int(r.getMessage().split(" from ")[1].split()[0]) for r in caplog.records
            if "matched sources" in r.getMessage()]
    assert len(used) == 2 and used[0] == used[1]


def test_ratio_outside_tolerance_falls_back_to_exposure_time(detected, caplog):
    inputs = [copy.deepcopy(ad) for ad in detected[:5]]
    dimmed = inputs[4]
    dimmed[0].data = np.asarray(dimmed[0].data) * np.float32(0.5)
    for name in ("FLUX_AUTO", "FLUXERR_AUTO"):
        dimmed[0].OBJCAT[name] = np.asarray(dimmed[0].OBJCAT[name]) * 0.5
    before = np.array(dimmed[0].data)
    with caplog.at_level(logging.WARNING):
        F2Image(inputs).scaleCountsToReference(tolerance=0.1)
    assert any("exposure-time ratio" in r.getMessage() for r in caplog.records
               if r.levelno >= logging.WARNING)
    np.testing.assert_array_equal(dimmed[0].data, before)


def test_second_scaling_is_refused(detected, caplog):
    inputs = [copy.deepcopy(ad) for ad in detected[:2]]
    inputs[1].phu["EXPTIME"] = inputs[1].phu["EXPTIME"] / 2
    p = F2Image(inputs)
    p.scaleCountsToReference()
    once = np.array(inputs[1][0].data)
    with caplog.at_level(logging.WARNING):
        p.scaleCountsToReference()
    np.testing.assert_array_equal(inputs[1][0].data, once)
    assert any("already been processed" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------
# object masks
# ---------------------------------------------------------------------------
def _single_object(ad, x=100, y=120):
    objmask = np.zeros(ad[0].shape, dtype=np.uint8)
    objmask[y, x] = 1
    ad[0].OBJMASK = objmask
    return ad


def test_dilate_object_mask(f2_frames, caplog):
    frames, _ = f2_frames
    ad = _single_object(copy.deepcopy(frames[0]))
    p = F2Image([ad])
    p.dilateObjectMask(dilation=3)
    yy, xx = np.mgrid[0:ad[0].shape[0], 0:ad[0].shape[1]]
    disk = np.hypot(xx - 100, yy - 120) <= 3
    np.testing.assert_array_equal(ad[0].OBJMASK.astype(bool), disk)
    assert ad[0].OBJMASK.dtype == np.uint8
    # repeat=False: a second call does nothing; repeat=True grows it again
    with caplog.at_level(logging.WARNING):
        p.dilateObjectMask(dilation=3)
    assert np.count_nonzero(ad[0].OBJMASK) == disk.sum()
    p.dilateObjectMask(dilation=3, repeat=True)
    assert np.count_nonzero(ad[0].OBJMASK) > disk.sum()


def test_add_object_mask_to_dq(f2_frames):
    frames, _ = f2_frames
    ad = _single_object(copy.deepcopy(frames[0]))
    before = np.array(ad[0].mask)
    F2Image([ad]).addObjectMaskToDQ()
    assert ad[0].mask[120, 100] & DQ.bad_pixel
    changed = np.argwhere(ad[0].mask != before)
    assert changed.tolist() in ([[120, 100]], [])
    assert ad[0].mask.dtype == np.uint16 and "ADDOBJMK" in ad.phu


def test_transfer_object_mask_from_a_stack(f2_frames):
    """Objects found on a stack of the aligned frames are mapped back onto every frame."""
    frames, truth = f2_frames
    originals = [copy.deepcopy(ad) for ad in frames]
    p = F2Image([copy.deepcopy(ad) for ad in frames])
    p.resampleToCommonFrame()
    aligned = p.streams["main"]
    stack = copy.deepcopy(aligned[0])
    data = np.array([np.asarray(ad[0].data) for ad in aligned])
    good = np.array([(ad[0].mask & (DQ.no_data | DQ.bad_pixel | 64)) == 0 for ad in aligned])
    with np.errstate(invalid="ignore"):
        mean = np.where(good.any(axis=0), np.sum(data * good, axis=0)
                        / np.maximum(good.sum(axis=0), 1), 0.0)
    stack[0].data = mean.astype(np.float32)
    stack[0].mask = np.where(good.any(axis=0), 0, DQ.no_data).astype(np.uint16)
    stack[0].variance = np.full(mean.shape, 1.0, dtype=np.float32)
    q = F2Image([stack])
    q.detectSources()
    q.streams["flat_corrected"] = originals
    q.transferObjectMask(instream="flat_corrected", outstream="main", source="main")
    transferred = q.streams["main"]
    assert len(transferred) == len(frames)
    for ad in transferred:
        objmask = ad[0].OBJMASK
        assert objmask.shape == ad[0].shape and objmask.dtype == np.uint8
        stars = truth_stars(truth, ad.orig_filename, ad[0], margin=3.0)
        bright = stars["snr"] > 20
        ix = np.round(stars["x"][bright]).astype(int)
        iy = np.round(stars["y"][bright]).astype(int)
        assert np.all(objmask[iy, ix] == 1)
        assert 0.005 < objmask.mean() < 0.3
        assert "TRNOBJMK" in ad.phu


def test_transfer_object_mask_needs_a_source(f2_frames):
    frames, _ = f2_frames
    with pytest.raises(PrimitiveError, match="source"):
        F2Image([copy.deepcopy(frames[0])]).transferObjectMask()


# ---------------------------------------------------------------------------
# applyDQPlane
# ---------------------------------------------------------------------------
def test_apply_dq_plane_replaces_flagged_pixels(f2_frames):
    frames, _ = f2_frames
    ad = copy.deepcopy(frames[0])
    flagged = (ad[0].mask & DQ.not_signal) != 0
    assert flagged.any()
    good_data = np.asarray(ad[0].data)[~flagged]
    F2Image([ad]).applyDQPlane()
    values = np.asarray(ad[0].data)[flagged]
    assert np.all(values == values[0])
    assert abs(values[0] - np.median(good_data)) < 0.1 * np.std(good_data)
    np.testing.assert_array_equal(np.asarray(ad[0].data)[~flagged], good_data)
    assert ad.filename.endswith("_dqPlaneApplied.fits") and "APPLYDQ" in ad.phu


def test_apply_dq_plane_with_a_value_and_a_local_ring(f2_frames):
    frames, _ = f2_frames
    ad = copy.deepcopy(frames[0])
    data = np.array(ad[0].data)
    data[:, 128:] += 1000.0  # a step: the local statistic follows it, the global does not
    ad[0].data = data
    mask = np.zeros(ad[0].shape, np.uint16)
    mask[60, 40] = mask[60, 200] = DQ.bad_pixel
    ad[0].mask = mask
    F2Image([ad]).applyDQPlane(replace_flags=DQ.bad_pixel, outer=5.0)
    assert abs(ad[0].data[60, 40]) < 200 and abs(ad[0].data[60, 200] - 1000) < 200
    ad2 = copy.deepcopy(frames[0])
    ad2[0].mask = mask
    F2Image([ad2]).applyDQPlane(replace_flags=DQ.bad_pixel, replace_value=-5.0)
    assert ad2[0].data[60, 40] == -5.0 and ad2[0].data[60, 200] == -5.0
    with pytest.raises(PrimitiveError, match="replace_value"):
        F2Image([copy.deepcopy(frames[0])]).applyDQPlane(replace_value="mode")


def test_missing_exposure_time_is_an_error_naming_the_file(detected):
    inputs = [copy.deepcopy(ad) for ad in detected[:2]]
    del inputs[1].phu["EXPTIME"]
    with pytest.raises(PrimitiveError, match=inputs[1].filename):
        F2Image(inputs).scaleCountsToReference()


def test_apply_dq_plane_twice_leaves_the_frame_unchanged(f2_frames, caplog):
    """The second call finds its APPLYDQ timestamp, warns and passes the frame through."""
    frames, _ = f2_frames
    ad = copy.deepcopy(frames[0])
    p = F2Image([ad])
    p.applyDQPlane(replace_value=-5.0)
    once = np.array(ad[0].data)
    ad[0].mask = np.full(ad[0].shape, DQ.bad_pixel, np.uint16)   # would all be replaced
    p.applyDQPlane(replace_flags=DQ.bad_pixel, replace_value=-7.0)
    np.testing.assert_array_equal(np.asarray(ad[0].data), once)
    assert "already been processed by applyDQPlane" in caplog.text
