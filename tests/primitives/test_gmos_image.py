"""Tests of the GMOS and GMOSImage primitives: flats, QE correction, fringe frames.

Science checks on small simulated GMOS datasets against the simulator's
truth: the twilight flat against the true pixel response x illumination,
the QE factors against a known CCD scaling, and fringe removal against a
fringe pattern added to the frames here (the simulator does not make
fringes).
"""

from __future__ import annotations

import copy
import os
import sys

import numpy as np
import pytest

import astrodata
from astrodata import DQ
from primitives.core.visualize import group_arrays
from primitives.errors import PrimitiveError
from primitives.gmos import GMOS, GMOSImage
from primitives.gmos.gmos_image import flat_rejection, needs_fringe_correction
from primitives.params import default_values

sys.path.insert(0, os.path.dirname(__file__))
from gmos_frames import (  # noqa: E402
    data_section,
    dataset,
    electrons,
    files,
    fringe_pattern,
    master_bias,
    master_flat,
    quiet,
    raw,
    science,
    truth_extension,
)


def test_gmos_defaults_and_tables():
    overscan = default_values(GMOS, "subtractOverscan")
    assert overscan["function"] == "none" and overscan["nbiascontam"] is None
    assert default_values(GMOS, "overscanCorrect")["function"] == "none"
    assert default_values(GMOSImage, "stackFlats")["scale"] is True
    assert default_values(GMOSImage, "makeFringeFrame")["reject_method"] == "varclip"
    assert [flat_rejection(n) for n in (1, 2, 3, 5, 6, 10, 11, 20)] == [
        (0, 0), (0, 0), (1, 1), (1, 1), (2, 2), (2, 2), (2, 3), (2, 3)]
    assert needs_fringe_correction("z", "Hamamatsu") and needs_fringe_correction("Y", "EEV")
    assert needs_fringe_correction("i", "e2vDD") and not needs_fringe_correction("i",
                                                                                 "Hamamatsu")
    assert not needs_fringe_correction("r", "EEV")


def test_gain_setting_survives_conversion_to_electrons(tmp_path_factory):
    quiet()
    p = GMOS(raw(files("gmos-imaging", tmp_path_factory, "bias")[:1]))
    p.prepare(require_wcs=False)
    p.ADUToElectrons()
    ad = p.streams["main"][0]
    assert ad.phu["GAINSET"] == "low" and ad.gain_setting() == "low"
    assert ad.gain() == [1.0] * len(ad)


# ---------------------------------------------------------------------------
# flats
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gmos-imaging", "gmos-n-e2v"])
def test_twilight_flat_matches_the_true_response(name, tmp_path_factory):
    directory, truth = dataset(name, tmp_path_factory)
    flat = master_flat(name, "r", tmp_path_factory)
    twilights = [f for f in truth["roles"]["twilight"] if truth["files"][f]["filter"] == "r"]
    assert "FLAT" in flat.tags
    assert flat.phu["NCOMBINE"] == len(twilights) and "NORMLIZE" in flat.phu
    # the flat is in electrons as converted with the lookup-table gains, which differ from
    # the simulator's amplifier gains by a few percent: the true flat of each amplifier,
    # seen through those gains, is response x illumination x (table gain / true gain)
    table_gains = astrodata.open(f"{directory}/{twilights[0]}").gain()
    expected = []
    for index in range(len(flat)):
        record = truth_extension(truth, twilights[0], index)
        true_flat = truth["flat"][index][data_section(record).asslice()]
        expected.append(true_flat * table_gains[index] / record["gain_e_per_adu"])
    ccd2 = group_arrays(flat)[1].indices
    level = np.median(np.concatenate([expected[i][flat[i].mask == 0] for i in ccd2]))
    # CCD2's median is 1 (up to the pixels thresholdFlatfield flagged afterwards)
    assert np.median(np.concatenate([flat[i].data[flat[i].mask == 0] for i in ccd2])) == \
        pytest.approx(1.0, abs=1e-3)
    lit = 0
    for index, ext in enumerate(flat):
        good = ext.mask == 0
        truth_values = expected[index] / level
        # dark pixels are flagged unilluminated and set to 1
        dark = truth_values < 0.005
        assert np.all(ext.mask[dark] & DQ.unilluminated)
        assert np.all(ext.data[dark] == 1.0)
        good &= truth_values > 0.5
        if good.sum() < 1000:
            continue
        lit += 1
        residual = (ext.data - truth_values)[good]
        sigma = np.sqrt(ext.variance[good])
        assert abs(residual.mean()) < 5 * np.median(sigma) / np.sqrt(good.sum()) + 2e-4
        # the scatter about the truth is the noise the variance plane says (the trimmed
        # mean of minmax rejection is a little less noisy than the plane claims)
        assert 0.7 < np.std(residual / sigma) < 1.1
    assert lit >= len(flat) // 2


def test_stack_flats_scales_to_ccd2_and_rejects_by_number(tmp_path_factory):
    flats = electrons(files("gmos-imaging", tmp_path_factory, "twilight", "i"),
                      master_bias("gmos-imaging", tmp_path_factory))
    levels = [np.median(np.concatenate([ad[i].data[ad[i].mask == 0]
                                        for i in group_arrays(ad)[1].indices]))
              for ad in flats]
    # the twilight fades by 28 percent a frame
    assert levels[1] / levels[0] == pytest.approx(0.72, rel=0.05)
    p = GMOSImage(copy.deepcopy(flats))
    p.stackFlats(save_rejection_map=True)
    stack = p.streams["main"][0]
    assert "STACKFLT" in stack.phu and stack.phu["NCOMBINE"] == 5
    ccd2 = np.concatenate([stack[i].data[stack[i].mask == 0]
                           for i in group_arrays(stack)[1].indices])
    assert np.median(ccd2) == pytest.approx(levels[0], rel=2e-3)
    # 5 flats: minmax 1/1, so every pixel has 2 rejected values
    assert np.median(stack[5].nddata.meta["other"]["REJMAP"]) == 2
    two = GMOSImage(copy.deepcopy(flats[:2]))
    two.stackFlats(save_rejection_map=True)
    assert np.all(two.streams["main"][0][5].nddata.meta["other"]["REJMAP"] == 0)


def test_normalize_flat_separate_extensions(tmp_path_factory):
    flat = master_flat("gmos-imaging", "r", tmp_path_factory)
    # undo nothing: normalizing a fresh stack per extension gives each a median of 1
    flats = electrons(files("gmos-imaging", tmp_path_factory, "twilight", "r"),
                      master_bias("gmos-imaging", tmp_path_factory))
    p = GMOSImage(flats)
    p.stackFlats()
    p.normalizeFlat(separate_ext=True)
    out = p.streams["main"][0]
    for ext, ccd2_normalized in zip(out, flat, strict=True):
        lit = (ext.mask == 0)
        if lit.sum() > 1000:
            assert np.median(ext.data[lit]) == pytest.approx(1.0, abs=0.02)
        assert ext.data.dtype == np.float32 and ccd2_normalized.data.dtype == np.float32


# ---------------------------------------------------------------------------
# QE correction
# ---------------------------------------------------------------------------
def test_qe_correct_matches_the_ccd_sky_levels(tmp_path_factory):
    frames = science("gmos-imaging", "r", tmp_path_factory)
    # flat-fielded with a twilight flat: the simulated CCDs agree already
    p = GMOSImage(copy.deepcopy(frames))
    p.QECorrect(common=False)
    for ad in p.streams["main"]:
        factors = [ad[i].hdr.get("QEFACTOR") for i in range(len(ad))]
        assert all(f is None or abs(f - 1) < 0.005 for f in factors)
        assert "QECORR" in ad.phu and ad.filename.endswith("_QECorrected.fits")
    # CCD1 3 percent low, CCD3 5 percent low (as a redder night sky would make them)
    tilted = copy.deepcopy(frames)
    for ad in tilted:
        groups = group_arrays(ad)
        for k, factor in ((0, 0.97), (2, 1 / 1.05)):
            for i in groups[k].indices:
                ad[i].multiply(np.float32(factor))
    before = [[np.array(ext.data) for ext in ad] for ad in tilted]
    p = GMOSImage(tilted)
    p.QECorrect()
    for ad, old in zip(p.streams["main"], before, strict=True):
        groups = group_arrays(ad)
        assert ad[groups[0].indices[0]].hdr["QEFACTOR"] == pytest.approx(1 / 0.97, abs=0.003)
        assert ad[groups[2].indices[0]].hdr["QEFACTOR"] == pytest.approx(1.05, abs=0.003)
        np.testing.assert_array_equal(ad[groups[1].indices[0]].data, old[groups[1].indices[0]])
    # given factors are applied as they are
    given = GMOSImage(copy.deepcopy(frames[:1]))
    given.QECorrect(factors=[1.1, 0.9])
    ad = given.streams["main"][0]
    groups = group_arrays(ad)
    i1, i3 = groups[0].indices[0], groups[2].indices[0]
    np.testing.assert_allclose(ad[i1].data, frames[0][i1].data * np.float32(1.1), rtol=1e-6)
    np.testing.assert_allclose(ad[i3].data, frames[0][i3].data * np.float32(0.9), rtol=1e-6)
    with pytest.raises(PrimitiveError, match="two numbers"):
        GMOSImage(copy.deepcopy(frames[:1])).QECorrect(factors=[1.1])


# ---------------------------------------------------------------------------
# fringes
# ---------------------------------------------------------------------------
def _fringed(frames, truth, fraction, seed=5):
    """Frames with a fixed fringe pattern of `fraction` x sky (+-20%) added; and the amplitudes."""
    rng = np.random.default_rng(seed)
    amplitudes = []
    for ad in frames:
        sky = truth["files"][ad.orig_filename]["sky_e_per_pix"] * 4    # 2x2 binned pixels
        amplitude = fraction * sky * rng.uniform(0.8, 1.2)
        for ext, plane in zip(ad, fringe_pattern(ad), strict=True):
            ext.data = (ext.data + amplitude * plane).astype(np.float32)
        amplitudes.append(amplitude)
    return amplitudes


def _fringe_left(corrected, clean):
    """Amplitude of the fringe pattern in corrected - clean (clipped least squares)."""
    numerator = denominator = 0.0
    for ext, reference, plane in zip(corrected, clean, fringe_pattern(corrected), strict=True):
        good = (ext.mask == 0) & (reference.mask == 0)
        difference = (ext.data - reference.data)[good]
        pattern = plane[good]
        deviation = np.abs(difference - np.median(difference))
        keep = deviation < 6 * 1.4826 * np.median(deviation)
        numerator += float(np.sum(difference[keep] * pattern[keep]))
        denominator += float(np.sum(pattern[keep] ** 2))
    return numerator / denominator


@pytest.mark.parametrize("subtract_median", [None, True])
def test_fringe_frame_removes_a_fringe_pattern(subtract_median, tmp_path_factory, capsys):
    directory, truth = dataset("gmos-n-e2v", tmp_path_factory)
    clean = science("gmos-n-e2v", "i", tmp_path_factory)
    frames = copy.deepcopy(clean)
    amplitudes = _fringed(frames, truth, 0.05)
    maker = GMOSImage(copy.deepcopy(frames))
    maker.makeFringeFrame(subtract_median_image=subtract_median)
    fringe = maker.streams["main"][0]
    assert len(maker.streams["main"]) == 1 and fringe.filename.endswith("_fringe.fits")
    assert "MKFRINGE" in fringe.phu and fringe.phu["NCOMBINE"] == len(frames)
    # the fringe frame is the mean pattern
    assert _fringe_left(fringe, _zeros_like(fringe)) == pytest.approx(np.mean(amplitudes),
                                                                       rel=0.03)
    p = GMOSImage(frames)
    p.fringeCorrect(fringe=fringe, scale=True)
    left = []
    for ad, reference, amplitude in zip(p.streams["main"], clean, amplitudes, strict=True):
        assert ad.phu["FRINGEIM"] == fringe.filename and "FRNGCORR" in ad.phu
        # the fitted scale follows each frame's fringe amplitude
        assert ad.phu["FRNGSCAL"] == pytest.approx(amplitude / np.mean(amplitudes), abs=0.09)
        left.append(_fringe_left(ad, reference) / amplitude)
    with capsys.disabled():
        print(f"\n  fringe (5% of sky, rms {0.86 * np.mean(amplitudes):.1f} e-) left after "
              f"fringeCorrect (subtract_median_image={subtract_median}): "
              + ", ".join(f"{100 * v:+.1f}%" for v in left))
    assert np.all(np.abs(left) < 0.1)
    assert np.sqrt(np.mean(np.square(left))) < 0.07


def _zeros_like(ad):
    out = copy.deepcopy(ad)
    for ext in out:
        ext.data = np.zeros_like(ext.data)
        ext.mask = np.zeros_like(ext.mask)
    return out


def test_fringe_correct_only_where_fringes_are(tmp_path_factory):
    frames = science("gmos-imaging", "r", tmp_path_factory)[:1]
    before = np.array(frames[0][5].data)
    p = GMOSImage(frames)
    p.fringeCorrect()       # r on Hamamatsu: nothing to do, no fringe frame needed
    ad = p.streams["main"][0]
    assert "FRNGCORR" not in ad.phu
    np.testing.assert_array_equal(ad[5].data, before)
    p.makeFringeFrame()      # nothing made either
    assert p.streams["main"] == [ad]


def test_fringe_frame_needs_one_filter_and_dithers(tmp_path_factory):
    frames = science("gmos-n-e2v", "i", tmp_path_factory)
    with pytest.raises(PrimitiveError, match="at least 3"):
        GMOSImage(frames[:2]).makeFringeFrame()
    other = copy.deepcopy(frames[0])
    other.phu["FILTER2"] = "z_G0304"
    with pytest.raises(PrimitiveError, match="different filters"):
        GMOSImage(frames[1:4] + [other]).makeFringeFrame()
    maker = GMOSImage(copy.deepcopy(frames))
    maker.makeFringeFrame()
    fringe = maker.streams["main"][0]
    adu = copy.deepcopy(frames[0])
    adu.phu["BUNIT"] = "adu"
    for ext in adu:
        ext.hdr["BUNIT"] = "adu"
    del adu.phu["ADUTOELE"]
    assert adu.is_in_adu()
    with pytest.raises(PrimitiveError, match="electrons"):
        GMOSImage([adu]).fringeCorrect(fringe=fringe)
