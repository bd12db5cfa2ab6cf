"""Tests of primitives.core.stack: stackFrames and its dark, flat, bias and sky variants."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

import astrodata
from astrodata import DQ
from gempy.library import stacking
from primitives.errors import ParameterError, PrimitiveError
from primitives.f2 import F2, F2Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nearir_frames  # noqa: E402
from nearir_frames import detector_stages, raw  # noqa: E402

sim = nearir_frames.sim

SHAPE = (40, 50)


def _frame(index: int, data, variance=None, mask=None, obstype="OBJECT", exptime=60.0,
           gain=4.0, read_noise=5.0, airmass=1.1, tables=None):
    """A prepared-looking in-memory F2 frame with one extension."""
    phu = {"INSTRUME": "F2", "OBSERVAT": "Gemini-South", "TELESCOP": "Gemini-South",
           "OBSTYPE": obstype, "GRISM": "Open", "DATALAB": f"GS-2013B-Q-1-1-{index:03d}",
           "ORIGNAME": f"S20131121S{index:04d}.fits", "AIRMASS": airmass, "EXPTIME": exptime,
           "PREPARE": "2024-01-01T00:00:00", "GEM-TLM": "2024-01-01T00:00:00", "LNRS": 8,
           "DATE-OBS": "2013-11-21", "TIME-OBS": f"02:{index % 60:02d}:00"}
    if obstype == "DARK":
        phu["FILTER1"] = "DK_G0807"
    ad = astrodata.create(phu)
    ext = ad.append(np.asarray(data, dtype=np.float32))
    if variance is not None:
        ext.variance = np.asarray(variance, dtype=np.float32)
    if mask is not None:
        ext.mask = np.asarray(mask, dtype=np.uint16)
    ext.hdr["GAIN"] = gain
    ext.hdr["RDNOISE"] = read_noise
    ad.filename = f"S20131121S{index:04d}_flatCorrected.fits"
    for name, value in (tables or {}).items():
        setattr(ad, name, value)
    return ad


def _random_frames(n=5, seed=1, **kwargs):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        data = 100 + rng.normal(0, 3, SHAPE)
        data[rng.random(SHAPE) < 0.01] += 500  # cosmic rays
        variance = np.full(SHAPE, 9.0) + rng.random(SHAPE)
        mask = np.where(rng.random(SHAPE) < 0.02, DQ.bad_pixel, 0)
        frames.append(_frame(10 + i, data, variance, mask, **kwargs))
    return frames


def test_stackframes_equals_library_and_writes_stack_keywords():
    frames = _random_frames()
    p = F2Image(frames)
    out = p.stackFrames()
    assert len(out) == 1 and p.streams["main"] == out
    stack = out[0]
    expected = stacking.stack([f[0].data for f in frames], [f[0].variance for f in frames],
                              [f[0].mask for f in frames], operation="mean",
                              reject_method="sigclip", memory=10**9)
    assert np.array_equal(stack[0].data, expected.data)
    assert np.array_equal(stack[0].variance, expected.variance)
    assert np.array_equal(stack[0].mask, expected.mask)
    assert stack[0].data.dtype == np.float32 and stack[0].variance.dtype == np.float32
    assert stack[0].mask.dtype == np.uint16
    assert stack.phu["NCOMBINE"] == 5
    assert [stack.phu[f"IMCMB{i:03d}"] for i in range(1, 6)] == \
        [f"S20131121S{10 + i:04d}.fits" for i in range(5)]
    assert stack.phu["DATALAB"] == "GS-2013B-Q-1-1-010-STACK"
    assert stack.filename == "S20131121S0010_stack.fits"
    assert "STACKFRM" in stack.phu
    assert stack.phu["AIRMASS"] == pytest.approx(1.1)
    assert stack[0].hdr["RDNOISE"] == pytest.approx(5.0)
    # inputs are untouched
    assert all(f.filename.endswith("_flatCorrected.fits") for f in frames)


def test_stack_gain_read_noise_airmass_and_refcat():
    rng = np.random.default_rng(2)
    gains, noises, airmasses = [2.0, 4.0, 4.0], [3.0, 4.0, 12.0], [1.0, 1.2, 1.5]
    cat = [Table({"RAJ2000": [1.0, 2.0], "DEJ2000": [3.0, 4.0], "Id": [1, 2]}),
           Table({"RAJ2000": [2.0, 5.0], "DEJ2000": [4.0, 6.0], "Id": [1, 2]}),
           Table({"RAJ2000": [7.0], "DEJ2000": [8.0], "Id": [1]})]
    frames = [_frame(i, rng.normal(50, 1, SHAPE), gain=g, read_noise=rn, airmass=am,
                     tables={"REFCAT": c})
              for i, (g, rn, am, c) in enumerate(zip(gains, noises, airmasses, cat, strict=True))]
    stack = F2Image(frames).stackFrames()[0]
    assert stack[0].hdr["GAIN"] == pytest.approx(3 / (1 / 2 + 1 / 4 + 1 / 4))
    assert stack[0].hdr["RDNOISE"] == pytest.approx(np.sqrt((9 + 16 + 144) / 3))
    assert stack.phu["AIRMASS"] == pytest.approx(np.mean(airmasses))
    assert len(stack.REFCAT) == 4
    assert sorted(stack.REFCAT["RAJ2000"]) == [1.0, 2.0, 5.0, 7.0]
    assert list(stack.REFCAT["Id"]) == [1, 2, 3, 4]


def test_fewer_than_two_inputs_pass_through(caplog):
    frame = _random_frames(1)[0]
    with caplog.at_level(logging.WARNING):
        out = F2Image([frame]).stackFrames()
    assert out == [frame] and "STACKFRM" not in frame.phu
    assert "at least two" in caplog.text


def test_stack_refuses_mismatched_shapes():
    frames = _random_frames(2)
    frames.append(_frame(30, np.zeros((40, 51))))
    with pytest.raises(PrimitiveError, match="shape"):
        F2Image(frames).stackFrames()


def test_minmax_needs_enough_frames_but_stackflats_adapts(caplog):
    frames = _random_frames(2)
    with pytest.raises(ParameterError, match="nlow"):
        F2Image(frames).stackFrames(reject_method="minmax", nlow=1, nhigh=1)
    with caplog.at_level(logging.WARNING):
        flat = F2Image(_random_frames(2)).stackFlats()[0]
    assert "minmax rejection uses nlow=1, nhigh=0" in caplog.text or \
        "minmax rejection uses nlow=0, nhigh=1" in caplog.text
    assert "STACKFLT" in flat.phu and flat.phu["NCOMBINE"] == 2


@pytest.mark.parametrize("mode", ["scale", "zero"])
def test_scale_and_zero_bring_frames_to_the_first(mode):
    rng = np.random.default_rng(3)
    base = 1000 + rng.normal(0, 1, SHAPE)
    factors = [1.0, 1.5, 0.8, 2.0]
    frames = [_frame(i, base * f if mode == "scale" else base + 300 * (f - 1), np.ones(SHAPE))
              for i, f in enumerate(factors)]
    stack = F2Image(frames).stackFrames(**{mode: True}, reject_method="none")[0]
    np.testing.assert_allclose(stack[0].data, base, rtol=2e-4)
    if mode == "scale":
        # variances scaled by the square of the factors, then averaged / n
        expected_var = np.mean([(1 / f) ** 2 for f in factors]) / len(factors)
        np.testing.assert_allclose(stack[0].variance, expected_var, rtol=1e-3)


def test_lazy_inputs_in_strips_equal_one_pass(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(4)
    shape = (400, 400)
    frames = [_frame(i, rng.normal(10, 2, shape), rng.random(shape) + 1,
                     np.where(rng.random(shape) < 0.05, DQ.cosmic_ray, 0)) for i in range(5)]
    paths = []
    for ad in frames:
        path = tmp_path / ad.filename
        ad.write(str(path))
        paths.append(str(path))
    in_memory = F2Image(frames).stackFrames(memory=None, reject_method="varclip")[0]
    lazy = [astrodata.open(p) for p in paths]
    assert not lazy[0][0].nddata.is_loaded()
    # 5 frames x 160000 px x 10 bytes = 8 MB > half of 0.01 GB: several strips
    stripped = F2Image(lazy).stackFrames(memory=0.01, reject_method="varclip")[0]
    assert not lazy[0][0].nddata.is_loaded()  # read by windows, never loaded whole
    assert np.array_equal(stripped[0].data, in_memory[0].data)
    assert np.array_equal(stripped[0].variance, in_memory[0].variance)
    assert np.array_equal(stripped[0].mask, in_memory[0].mask)


def test_rejection_map_is_attached_and_written(tmp_path):
    frames = _random_frames(6)
    stack = F2Image(frames).stackFrames(save_rejection_map=True, reject_method="varclip")[0]
    rejmap = stack[0].REJMAP
    assert rejmap.dtype == np.int16 and rejmap.shape == SHAPE
    assert rejmap.max() >= 1  # the cosmic rays
    stack.write(str(tmp_path / stack.filename))
    again = astrodata.open(str(tmp_path / stack.filename))
    assert np.array_equal(again[0].REJMAP, rejmap)


def test_stackdarks_checks_tags_and_exposure_times():
    darks = [_frame(i, np.full(SHAPE, 5.0), np.ones(SHAPE), obstype="DARK") for i in range(3)]
    assert all("DARK" in d.tags for d in darks)
    out = F2(darks).stackDarks()[0]
    assert {"STACKDRK", "STACKFRM"} <= set(out.phu)
    with pytest.raises(PrimitiveError, match="not darks"):
        F2(darks[:2] + [_frame(9, np.zeros(SHAPE))]).stackDarks()
    odd = darks[:2] + [_frame(7, np.zeros(SHAPE), obstype="DARK", exptime=60.02)]
    with pytest.raises(PrimitiveError, match=r"exposure time .*60\.02"):
        F2(odd).stackDarks()
    within = darks[:2] + [_frame(8, np.zeros(SHAPE), obstype="DARK", exptime=60.005)]
    assert F2(within).stackDarks()[0].phu["NCOMBINE"] == 3


def test_stackskyframes_masks_objects_without_touching_inputs():
    rng = np.random.default_rng(5)
    frames = []
    for i in range(4):
        data = 200 + rng.normal(0, 1, SHAPE)
        objmask = np.zeros(SHAPE, np.uint8)
        y, x = 10 + 5 * i, 10 + 8 * i
        data[y - 1:y + 2, x - 1:x + 2] += 1000  # a star, elsewhere in each frame
        objmask[y, x] = 1  # only its centre: dilation must cover the rest
        ad = _frame(40 + i, data, np.ones(SHAPE), np.zeros(SHAPE))
        ad[0].OBJMASK = objmask
        frames.append(ad)
    before = [f[0].mask.copy() for f in frames]
    params = dict(operation="mean", reject_method="none", scale=False)
    masked = F2Image(frames).stackSkyFrames(frames, dilation=2, **params)[0]
    unmasked = F2Image(frames).stackSkyFrames(frames, mask_objects=False, **params)[0]
    assert masked[0].data.max() < 210
    assert unmasked[0].data.max() > 400
    assert masked.filename.endswith("_skyStacked.fits")
    assert {"STACKSKY", "STACKFRM"} <= set(masked.phu)
    for frame, mask in zip(frames, before, strict=True):
        assert np.array_equal(frame[0].mask, mask)


def test_master_dark_level_matches_truth(sim):
    """stackDarks of the 120 s F2 darks = truth dark current x 120 s, within the noise."""
    directory, truth = sim("f2-tutorial")
    names = [n for n in truth["roles"]["dark"] if truth["files"][n]["exptime"] == 120.0]
    p = F2(raw(directory, names))
    detector_stages(p, dark=True)
    dark = p.stackDarks()[0]
    assert dark.phu["NCOMBINE"] == len(names)
    good = truth["bpm"][0] == 0
    residual = dark[0].data[good] - truth["dark"][0][good] * 120.0
    sigma = np.sqrt(np.median(dark[0].variance[good]))
    # the scatter of the master around the truth is what its variance plane says
    spread = 1.4826 * np.median(np.abs(residual - np.median(residual)))
    assert spread == pytest.approx(sigma, rel=0.1)
    # the level: varclip with Poisson variances from the data biases the mean high by
    # ~0.05 sigma at 36 e-; allow 0.1 sigma of the master
    assert abs(np.median(residual)) < 0.1 * sigma
