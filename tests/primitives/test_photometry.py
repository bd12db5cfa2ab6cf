"""Tests of primitives.core.photometry (detectSources) on simulated frames, against the truth."""

from __future__ import annotations

import logging
import os
import sys

import numpy as np
import pytest
from scipy import optimize

import astrodata
from astrodata import DQ
from gempy.library.detection import OBJCAT_COLUMNS
from primitives.f2 import F2Image
from primitives.gsaoi import GSAOIImage
from primitives.niri import NIRIImage
from primitives.params import resolve_params

sys.path.insert(0, os.path.dirname(__file__))
from imaging_frames import (  # noqa: E402
    imaging_sim_fixture,  # noqa: F401
    science_frames,
    truth_calibrated,
    truth_stars,
)


@pytest.fixture(scope="module")
def f2_detected(imaging_sim):
    """The F2 science frames (truth-calibrated) after detectSources, with their truth."""
    directory, truth = imaging_sim("f2-tutorial")
    frames = science_frames(directory, truth)
    names = [ad.filename for ad in frames]
    p = F2Image(frames)
    p.detectSources()
    return p.streams["main"], names, truth


def test_detects_truth_stars_with_accurate_positions(f2_detected):
    """Every truth star above S/N 20 is found (> 90%), at < 0.2 px rms from the truth."""
    frames, names, truth = f2_detected
    n_bright = n_found = 0
    offsets = []
    for ad, name in zip(frames, names, strict=True):
        ext = ad[0]
        stars = truth_stars(truth, name, ext, margin=6.0)
        bright = stars["snr"] > 20
        objcat = ext.OBJCAT
        x = np.asarray(objcat["X_IMAGE"]) - 1.0
        y = np.asarray(objcat["Y_IMAGE"]) - 1.0
        for sx, sy in zip(stars["x"][bright], stars["y"][bright], strict=True):
            n_bright += 1
            distance = np.hypot(x - sx, y - sy)
            if len(distance) and distance.min() < 1.5:
                n_found += 1
                nearest = int(np.argmin(distance))
                offsets.append((x[nearest] - sx, y[nearest] - sy))
    assert n_bright >= 20, "the dataset should hold enough bright stars for the test"
    assert n_found / n_bright > 0.9
    offsets = np.array(offsets)
    rms = float(np.sqrt(np.mean(np.sum(offsets ** 2, axis=1))))
    assert rms < 0.2
    # no systematic shift between the catalogue and the detections
    assert np.all(np.abs(offsets.mean(axis=0)) < 0.1)


def test_objcat_and_objmask_are_attached(f2_detected):
    frames, _, _ = f2_detected
    for ad in frames:
        ext = ad[0]
        objcat = ext.OBJCAT
        assert len(objcat) > 0
        for column in OBJCAT_COLUMNS:
            assert column in objcat.colnames
        assert ext.OBJMASK.dtype == np.uint8
        assert ext.OBJMASK.shape == ext.shape
        # every source centre lies on the object mask
        ix = np.round(np.asarray(objcat["X_IMAGE"]) - 1).astype(int)
        iy = np.round(np.asarray(objcat["Y_IMAGE"]) - 1).astype(int)
        assert np.all(ext.OBJMASK[iy, ix] == 1)
        # the object mask is a small part of a sparse field
        assert ext.OBJMASK.mean() < 0.2
        assert "DETECSRC" in ad.phu
        assert ad.filename.endswith("_sourcesDetected.fits")
        for key in objcat.meta:
            assert len(key) <= 8


def _pixel_sampled_fwhm(psf) -> float:
    """FWHM (pixels) of the PSF integrated over square pixels, along a pixel row.

    Pixel values are samples of the PSF convolved with the pixel, so this is
    the FWHM a profile fitted to the pixels sees.
    """
    sub = (np.arange(48) + 0.5) / 48 - 0.5
    du, dv = np.meshgrid(sub, sub)

    def pixel(t: float) -> float:
        return float(psf.profile(np.hypot(t + du, dv)).mean())

    peak = pixel(0.0)
    return 2.0 * optimize.brentq(lambda t: pixel(t) - peak / 2, 0.01, 3 * psf.fwhm)


def test_fwhm_of_bright_stars_matches_the_psf(f2_detected):
    """FWHM_IMAGE of clean bright stars is the FWHM of the pixel-sampled PSF (to 5%)."""
    frames, names, truth = f2_detected
    ratios = []
    for ad, name in zip(frames, names, strict=True):
        ext = ad[0]
        stars = truth_stars(truth, name, ext, margin=10.0)
        expected = _pixel_sampled_fwhm(stars["psf"])
        objcat = ext.OBJCAT
        x = np.asarray(objcat["X_IMAGE"]) - 1.0
        y = np.asarray(objcat["Y_IMAGE"]) - 1.0
        for sx, sy, snr in zip(stars["x"], stars["y"], stars["snr"], strict=True):
            distance = np.hypot(x - sx, y - sy)
            if snr < 50 or not len(distance) or distance.min() > 1:
                continue
            row = int(np.argmin(distance))
            if objcat["FLAGS"][row] & (4 | 8):
                continue
            ratios.append(objcat["FWHM_IMAGE"][row] / expected)
    assert len(ratios) >= 5
    assert abs(np.median(ratios) - 1.0) < 0.05


def test_logs_number_of_sources_and_fwhm(imaging_sim, caplog):
    directory, truth = imaging_sim("f2-tutorial")
    frames = science_frames(directory, truth, count=1)
    with caplog.at_level(logging.INFO):
        F2Image(frames).detectSources()
    lines = [r.getMessage() for r in caplog.records if "sources" in r.getMessage()]
    assert any("extension 1:" in line and "median FWHM" in line for line in lines)


def test_mask_excludes_flagged_pixels(imaging_sim):
    """A bright flagged blob is a source with mask=False, nothing with mask=True."""
    directory, truth = imaging_sim("f2-tutorial")
    results = {}
    for mask in (False, True):
        ad = truth_calibrated(directory, truth, truth["roles"]["science"][0])
        ext = ad[0]
        data = np.array(ext.data)
        dq = np.array(ext.mask)
        yy, xx = np.mgrid[0:ext.shape[0], 0:ext.shape[1]]
        blob = np.hypot(xx - 128.0, yy - 60.0) <= 3
        data[blob] += 50000.0
        dq[blob] |= DQ.bad_pixel
        ext.data, ext.mask = data, dq
        F2Image([ad]).detectSources(mask=mask)
        objcat = ext.OBJCAT
        distance = np.hypot(np.asarray(objcat["X_IMAGE"]) - 129.0,
                            np.asarray(objcat["Y_IMAGE"]) - 61.0)
        results[mask] = bool(len(distance) and distance.min() < 2)
    assert results[False] is True
    assert results[True] is False


def test_saturated_dq_flags_the_source(imaging_sim):
    directory, truth = imaging_sim("f2-tutorial")
    name = truth["roles"]["science"][0]
    ad = truth_calibrated(directory, truth, name)
    ext = ad[0]
    stars = truth_stars(truth, name, ext, margin=10.0)
    brightest = int(np.argmax(stars["flux"]))
    sx, sy = stars["x"][brightest], stars["y"][brightest]
    dq = np.array(ext.mask)
    dq[int(round(sy)), int(round(sx))] |= DQ.saturated
    ext.mask = dq
    F2Image([ad]).detectSources()
    objcat = ext.OBJCAT
    distance = np.hypot(np.asarray(objcat["X_IMAGE"]) - 1 - sx,
                        np.asarray(objcat["Y_IMAGE"]) - 1 - sy)
    row = int(np.argmin(distance))
    assert distance[row] < 1
    assert objcat["FLAGS"][row] & 4
    others = np.delete(np.asarray(objcat["FLAGS"]), row)
    assert not np.any(others & 4)


def test_catalogue_survives_writing(imaging_sim, tmp_path, recwarn):
    directory, truth = imaging_sim("f2-tutorial")
    ad = truth_calibrated(directory, truth, truth["roles"]["science"][1])
    F2Image([ad]).detectSources()
    path = tmp_path / "detected.fits"
    ad.write(path)
    assert not [w for w in recwarn.list if "HIERARCH" in str(w.message)
                or "cannot be added" in str(w.message)]
    back = astrodata.open(path)
    assert len(back[0].OBJCAT) == len(ad[0].OBJCAT)
    np.testing.assert_allclose(back[0].OBJCAT["X_IMAGE"], ad[0].OBJCAT["X_IMAGE"])
    assert back[0].OBJMASK.dtype == np.uint8
    np.testing.assert_array_equal(back[0].OBJMASK, ad[0].OBJMASK)
    assert back[0].OBJCAT.meta["DETTHRSH"] == 2.0


def test_instrument_defaults():
    f2 = resolve_params(F2Image, "detectSources")
    assert f2["mask"].default is True and f2["detect_minarea"].default == 8
    niri = resolve_params(NIRIImage, "detectSources")
    assert (niri["detect_minarea"].default, niri["detect_thresh"].default,
            niri["analysis_thresh"].default, niri["back_filtersize"].default) == (40, 1.5, 1.5, 3)
    gsaoi = resolve_params(GSAOIImage, "detectSources")
    assert (gsaoi["detect_minarea"].default, gsaoi["detect_thresh"].default,
            gsaoi["phot_min_radius"].default, gsaoi["back_size"].default,
            gsaoi["back_filtersize"].default) == (20, 1.0, 1.0, 256, 5)


def test_gsaoi_catalogue_per_array(imaging_sim):
    """Each GSAOI array gets its own OBJCAT; bright truth stars are found on it."""
    directory, truth = imaging_sim("gsaoi-tutorial")
    names = truth["roles"]["science"][:4]
    frames = [truth_calibrated(directory, truth, name) for name in names]
    GSAOIImage(frames).detectSources()
    n_bright = n_found = 0
    for ad, name in zip(frames, names, strict=True):
        assert len(ad) == 4
        for ext in ad:
            assert ext.OBJMASK.shape == ext.shape
            objcat = ext.OBJCAT
            stars = truth_stars(truth, name, ext, margin=6.0)
            x = np.asarray(objcat["X_IMAGE"], float) - 1.0
            y = np.asarray(objcat["Y_IMAGE"], float) - 1.0
            for sx, sy in zip(stars["x"][stars["snr"] > 20], stars["y"][stars["snr"] > 20],
                              strict=True):
                n_bright += 1
                if len(x) and np.hypot(x - sx, y - sy).min() < 1.5:
                    n_found += 1
    assert n_bright >= 3
    assert n_found / n_bright > 0.9
