"""Tests of primitives.core.resample (resampleToCommonFrame) on simulated dithered frames."""

from __future__ import annotations

import copy
import logging
import os
import sys

import numpy as np
import pytest

from astrodata import DQ
from gempy.library._wcs import SkyWCS
from gempy.library.photometry import aperture_photometry
from gempy.library.resample import pixel_scale
from primitives.core.resample import position_angle, reoriented_wcs
from primitives.errors import PrimitiveError
from primitives.f2 import F2Image
from primitives.gsaoi import GSAOIImage
from primitives.params import resolve_params

sys.path.insert(0, os.path.dirname(__file__))
from imaging_frames import (  # noqa: E402
    centroid,
    imaging_sim_fixture,  # noqa: F401
    science_frames,
    truth_calibrated,
    truth_stars,
)


@pytest.fixture(scope="module")
def f2_inputs(imaging_sim):
    directory, truth = imaging_sim("f2-tutorial")
    return science_frames(directory, truth), truth


def _bright_stars(truth, frames, min_snr=40.0):
    """(ra, dec, name of a frame showing it) of stars bright in at least one input frame."""
    found = {}
    for ad in frames:
        stars = truth_stars(truth, ad.filename, ad[0], margin=15.0)
        for ra, dec, snr in zip(stars["ra"], stars["dec"], stars["snr"], strict=True):
            if snr > min_snr:
                found.setdefault((ra, dec), ad.filename)
    return found


def _aperture_flux(ext, x, y, radius):
    """Flux in a circle (the frames are sky-subtracted) and its number of no-data pixels.

    Bad pixels are zero in the inputs and are resampled like any other, so
    they stay in: the total in an aperture is what resampling must conserve.
    """
    phot = aperture_photometry(np.asarray(ext.data), [(x, y)], radius,
                               mask=np.asarray(ext.mask) & DQ.no_data)
    return float(phot.flux[0]), int(phot.n_masked[0])


@pytest.fixture(scope="module")
def f2_resampled(f2_inputs):
    frames, truth = f2_inputs
    inputs = [copy.deepcopy(ad) for ad in frames]
    p = F2Image(inputs)
    p.resampleToCommonFrame()
    return p.streams["main"], frames, truth


def test_output_is_one_frame_covering_all_inputs(f2_resampled):
    outputs, inputs, _ = f2_resampled
    shape = outputs[0][0].shape
    for ad in outputs:
        assert len(ad) == 1
        assert ad[0].shape == shape
        assert ad[0].data.dtype == np.float32 and ad[0].variance.dtype == np.float32
        assert ad[0].mask.dtype == np.uint16
        assert "RESAMPLE" in ad.phu and ad.filename.endswith("_align.fits")
    # every input pixel's sky position falls inside the output
    out_wcs = SkyWCS(outputs[0][0].wcs)
    for ad in inputs:
        ny, nx = ad[0].shape
        corners_x, corners_y = np.array([0, nx - 1, 0, nx - 1]), np.array([0, 0, ny - 1, ny - 1])
        x, y = out_wcs.world_to_pixel(*SkyWCS(ad[0].wcs).pixel_to_world(corners_x, corners_y))
        assert np.all((x > -0.5) & (x < shape[1] - 0.5) & (y > -0.5) & (y < shape[0] - 0.5))
    assert shape[0] > inputs[0][0].shape[0] and shape[1] > inputs[0][0].shape[1]


def test_uncovered_pixels_are_no_data(f2_resampled):
    outputs, _, _ = f2_resampled
    for ad in outputs:
        ext = ad[0]
        no_data = (ext.mask & DQ.no_data) != 0
        assert 0.2 < no_data.mean() < 0.8
        assert np.all(ext.data[no_data] == 0) and np.all(ext.variance[no_data] == 0)


def test_stars_land_on_the_same_output_pixel(f2_resampled):
    """A star is at the same output position (< 0.1 px) in every frame, where its WCS says."""
    outputs, inputs, truth = f2_resampled
    out_wcs = SkyWCS(outputs[0][0].wcs)
    stars = _bright_stars(truth, inputs)
    assert len(stars) >= 5
    spreads, biases = [], []
    for ra, dec in stars:
        px, py = out_wcs.world_to_pixel(ra, dec)
        px, py = float(px), float(py)
        measured = []
        for ad in outputs:
            ext = ad[0]
            ix, iy = int(round(px)), int(round(py))
            near = ext.mask[iy - 8:iy + 9, ix - 8:ix + 9]
            if near.shape != (17, 17) or (near & (DQ.no_data | 1 | 64)).any():
                continue
            measured.append(centroid(ext.data, px, py, radius=4.5))
        if len(measured) < 3:
            continue
        measured = np.array(measured)
        spreads.append(np.max(np.hypot(*(measured - measured.mean(axis=0)).T)))
        biases.append(measured.mean(axis=0) - (px, py))
    assert len(spreads) >= 3
    assert np.median(spreads) < 0.1
    assert np.all(np.abs(np.median(biases, axis=0)) < 0.1)


def test_star_flux_is_conserved(f2_resampled):
    outputs, inputs, truth = f2_resampled
    ratios = []
    out_wcs = SkyWCS(outputs[0][0].wcs)
    for (ra, dec), _ in _bright_stars(truth, inputs, min_snr=60.0).items():
        for ad_in, ad_out in zip(inputs, outputs, strict=True):
            x, y = SkyWCS(ad_in[0].wcs).world_to_pixel(ra, dec)
            ny, nx = ad_in[0].shape
            if not (20 < x < nx - 21 and 20 < y < ny - 21):
                continue
            flux_in, masked_in = _aperture_flux(ad_in[0], float(x), float(y), 10.0)
            xo, yo = out_wcs.world_to_pixel(ra, dec)
            flux_out, masked_out = _aperture_flux(ad_out[0], float(xo), float(yo), 10.0)
            if masked_in or masked_out:
                continue
            ratios.append(flux_out / flux_in)
    assert len(ratios) >= 5
    assert np.all(np.abs(np.array(ratios) - 1) < 0.01)


def test_variance_is_carried(f2_resampled):
    outputs, inputs, _ = f2_resampled
    for ad_in, ad_out in zip(inputs, outputs, strict=True):
        var_in = np.median(ad_in[0].variance[ad_in[0].mask == 0])
        good = ad_out[0].mask == 0
        var_out = np.median(ad_out[0].variance[good])
        assert var_out == pytest.approx(var_in, rel=0.05)


def test_bad_pixels_spread_to_their_output_neighbours(f2_inputs):
    frames, _ = f2_inputs
    ad = copy.deepcopy(frames[1])
    ext = ad[0]
    assert not (ext.mask[100, 120] & DQ.bad_pixel)
    dq = np.array(ext.mask)
    dq[100, 120] |= DQ.bad_pixel
    ext.mask = dq
    sky = SkyWCS(ext.wcs).pixel_to_world(120.0, 100.0)
    p = F2Image([copy.deepcopy(frames[0]), ad])
    p.resampleToCommonFrame()
    out = p.streams["main"][1][0]
    x, y = SkyWCS(out.wcs).world_to_pixel(*sky)
    ix, iy = int(round(float(x))), int(round(float(y)))
    assert out.mask[iy, ix] & DQ.bad_pixel
    # the flag stays local: poly3 spreads it by at most 2 pixels
    flagged = np.argwhere(out.mask & DQ.bad_pixel)
    distance = np.hypot(flagged[:, 1] - x, flagged[:, 0] - y)
    assert np.sum(distance < 3) >= 4


def test_trim_data_keeps_the_reference_frame(f2_inputs):
    frames, _ = f2_inputs
    inputs = [copy.deepcopy(ad) for ad in frames[:3]]
    ref_wcs = copy.deepcopy(inputs[0][0].wcs)
    p = F2Image(inputs)
    p.resampleToCommonFrame(trim_data=True)
    out = p.streams["main"]
    assert all(ad[0].shape == frames[0][0].shape for ad in out)
    # the reference frame itself comes out unchanged (integer shift 0)
    np.testing.assert_allclose(out[0][0].data, frames[0][0].data, atol=1e-3)
    x, y = SkyWCS(out[0][0].wcs).world_to_pixel(*SkyWCS(ref_wcs).pixel_to_world(50.0, 70.0))
    assert float(x) == pytest.approx(50.0, abs=1e-6) and float(y) == pytest.approx(70.0, abs=1e-6)


@pytest.mark.parametrize("interpolant", ["nearest", "linear", "spline3"])
def test_other_interpolants_conserve_flux(f2_inputs, interpolant):
    frames, truth = f2_inputs
    inputs = [copy.deepcopy(ad) for ad in frames]
    p = F2Image(inputs)
    p.resampleToCommonFrame(interpolant=interpolant)
    out = p.streams["main"]
    out_wcs = SkyWCS(out[0][0].wcs)
    ratios = []
    for (ra, dec), _ in _bright_stars(truth, frames, min_snr=60.0).items():
        for ad_in, ad_out in zip(frames, out, strict=True):
            x, y = SkyWCS(ad_in[0].wcs).world_to_pixel(ra, dec)
            if not (20 < x < 235 and 20 < y < 235):
                continue
            flux_in, masked_in = _aperture_flux(ad_in[0], float(x), float(y), 10.0)
            xo, yo = out_wcs.world_to_pixel(ra, dec)
            flux_out, masked_out = _aperture_flux(ad_out[0], float(xo), float(yo), 10.0)
            if not (masked_in or masked_out):
                ratios.append(flux_out / flux_in)
    assert len(ratios) >= 3
    assert abs(np.median(ratios) - 1) < 0.01


def test_second_call_passes_through(f2_resampled, caplog):
    outputs, _, _ = f2_resampled
    copies = [copy.deepcopy(ad) for ad in outputs[:2]]
    before = copies[1][0].data.copy()
    with caplog.at_level(logging.WARNING):
        F2Image(copies).resampleToCommonFrame()
    assert any("already been resampled" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(copies[1][0].data, before)


def test_reoriented_frame_has_the_requested_scale_and_pa(f2_inputs):
    frames, _ = f2_inputs
    wcs, shape = frames[0][0].wcs, frames[0][0].shape
    for scale, pa in ((0.1, None), (None, 30.0), (0.25, -75.0)):
        new_wcs, new_shape = reoriented_wcs(wcs, shape, scale, pa)
        centre = ((new_shape[1] - 1) / 2, (new_shape[0] - 1) / 2)
        if scale is not None:
            assert pixel_scale(new_wcs, *centre) == pytest.approx(scale, rel=1e-6)
        else:
            assert pixel_scale(new_wcs, *centre) == pytest.approx(
                pixel_scale(wcs, (shape[1] - 1) / 2, (shape[0] - 1) / 2), rel=1e-6)
        if pa is not None:
            assert position_angle(new_wcs, new_shape) == pytest.approx(pa, abs=1e-4)
        # same sky at the centre
        old_centre = SkyWCS(wcs).pixel_to_world((shape[1] - 1) / 2, (shape[0] - 1) / 2)
        new_centre = SkyWCS(new_wcs).pixel_to_world(*centre)
        np.testing.assert_allclose(np.ravel(new_centre), np.ravel(old_centre), atol=1e-9)


def test_gsaoi_defaults():
    params = resolve_params(GSAOIImage, "resampleToCommonFrame")
    assert params["pixel_scale"].default == 0.02
    assert params["pa"].default == 0.0
    assert params["force_affine"].default is False


@pytest.fixture(scope="module")
def gsaoi_resampled(imaging_sim):
    directory, truth = imaging_sim("gsaoi-tutorial")
    names = truth["roles"]["science"]
    inputs = [truth_calibrated(directory, truth, name) for name in names]
    originals = copy.deepcopy(inputs)
    p = GSAOIImage(inputs)
    p.resampleToCommonFrame()
    return p.streams["main"], originals, truth


def test_gsaoi_arrays_are_mosaicked_onto_one_extension(gsaoi_resampled):
    outputs, originals, _ = gsaoi_resampled
    ext = outputs[0][0]
    assert all(len(ad) == 1 and ad[0].shape == ext.shape for ad in outputs)
    centre = ((ext.shape[1] - 1) / 2, (ext.shape[0] - 1) / 2)
    assert pixel_scale(ext.wcs, *centre) == pytest.approx(0.02, rel=1e-6)
    # north up at the reference's centre (the grid's PA drifts by ~0.001 deg across it)
    assert position_angle(ext.wcs, ext.shape) == pytest.approx(0.0, abs=0.01)
    # all four arrays of every input are inside, with the gaps between them empty
    out_wcs = SkyWCS(ext.wcs)
    for ad_out, ad_in in zip(outputs, originals, strict=True):
        for array in ad_in:
            ny, nx = array.shape
            x, y = out_wcs.world_to_pixel(*SkyWCS(array.wcs).pixel_to_world(
                np.array([5.0, nx - 6.0]), np.array([5.0, ny - 6.0])))
            for xi, yi in zip(x, y, strict=True):
                assert not ad_out[0].mask[int(round(yi)), int(round(xi))] & DQ.no_data
    assert "DETSEC" not in ext.hdr and ext.hdr["DATASEC"] == f"[1:{ext.shape[1]},1:{ext.shape[0]}]"


def test_gsaoi_stars_and_fluxes(gsaoi_resampled):
    """Truth stars: same output position in every frame and the same flux as on the arrays."""
    outputs, originals, truth = gsaoi_resampled
    out_wcs = SkyWCS(outputs[0][0].wcs)
    positions, ratios = [], []
    for ad_out, ad_in in zip(outputs, originals, strict=True):
        for array in ad_in:
            stars = truth_stars(truth, ad_in.filename, array, margin=30.0)
            for x, y, ra, dec, snr in zip(stars["x"], stars["y"], stars["ra"], stars["dec"],
                                          stars["snr"], strict=True):
                if snr < 30:
                    continue
                xo, yo = (float(v) for v in out_wcs.world_to_pixel(ra, dec))
                # the output pixels are 0.02/0.0197 larger: radius in output pixels
                flux_in, masked_in = _aperture_flux(array, float(x), float(y), 25.0)
                flux_out, masked_out = _aperture_flux(ad_out[0], xo, yo, 25.0 * 0.9828)
                if not (masked_in or masked_out):
                    ratios.append(flux_out / flux_in)
                positions.append(((ra, dec), centroid(ad_out[0].data, xo, yo, radius=4.0),
                                  (xo, yo)))
    assert len(ratios) >= 3
    assert abs(np.median(ratios) - 1) < 0.01
    offsets = np.array([np.subtract(measured, expected) for _, measured, expected in positions])
    assert np.all(np.hypot(*offsets.T) < 0.1)


def test_missing_wcs_is_an_error_naming_the_file(f2_inputs):
    frames, _ = f2_inputs
    inputs = [copy.deepcopy(ad) for ad in frames[:2]]
    inputs[1][0].wcs = None
    with pytest.raises(PrimitiveError, match=inputs[1].filename):
        F2Image(inputs).resampleToCommonFrame()
