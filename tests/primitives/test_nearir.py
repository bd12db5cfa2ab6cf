"""Tests of primitives.core.nearir: lamp flats, bad pixel masks, first-frame removal, readout.

The flats are compared with the simulator's true flat (pixel response x
illumination); the bad pixel masks with its true bad pixels (hot, cold, dead,
dead column).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import astrodata
from astrodata import DQ
from primitives.errors import CalibrationNotFoundError, ParameterError, PrimitiveError
from primitives.f2 import F2Image
from primitives.gsaoi import GSAOIImage
from primitives.niri import NIRIImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nearir_frames  # noqa: E402
from nearir_frames import detector_stages, raw  # noqa: E402

sim = nearir_frames.sim


def _flat_vs_truth(flat, truth):
    """Per extension: (median, rms) of flat / truth flat, and the noise the flat's variance gives.

    The truth is normalized like the flat: by its median over the pixels
    normalizeFlat used (no DQ flag, all extensions together).
    """
    truth_level = np.median(np.concatenate([t[ext.mask == 0] for t, ext in
                                            zip(truth["flat"], flat, strict=True)]))
    stats = []
    for index, ext in enumerate(flat):
        good = (ext.mask == 0) & (truth["bpm"][index] == 0)
        ratio = ext.data[good] / (truth["flat"][index][good] / truth_level)
        expected = np.median(np.sqrt(ext.variance[good]) / ext.data[good])
        stats.append((np.median(ratio), ratio.std(), expected))
    return stats


def test_f2_lamp_flat_matches_the_true_flat(sim):
    directory, truth = sim("f2-tutorial")
    p = F2Image(raw(directory, truth["roles"]["flat_lamp_on"] + truth["roles"]["flat_lamp_off"]))
    detector_stages(p)
    lamp = p.makeLampFlat()[0]
    assert lamp.filename == "S20131129S0320_lampstack.fits" and "LAMPSTK" in lamp.phu
    assert lamp.phu["NCOMBINE"] == len(truth["roles"]["flat_lamp_on"])
    # on - off leaves the lamp signal only: 1200 e-/s x 20 s x response
    good = (lamp[0].mask == 0) & (truth["bpm"][0] == 0)
    expected = 1200.0 * 20.0 * truth["flat"][0][good]
    assert np.median(lamp[0].data[good] / expected) == pytest.approx(1.0, abs=0.002)
    flat = p.normalizeFlat()[0]
    assert np.median(flat[0].data[flat[0].mask == 0]) == pytest.approx(1.0, abs=1e-5)
    ((median, rms, noise),) = _flat_vs_truth(flat, truth)
    assert median == pytest.approx(1.0, abs=0.001)
    # the flat differs from the truth by its noise only (tolerance 10% on the rms)
    assert rms == pytest.approx(noise, rel=0.1)
    flat = p.thresholdFlatfield()[0]
    unilluminated = (flat[0].mask & DQ.unilluminated) > 0
    assert np.all(flat[0].data[unilluminated] == 1.0)
    # the field stop: ~82% of the pixels are illuminated
    assert 0.78 < 1 - unilluminated.mean() < 0.86


def test_gsaoi_dome_flat_keeps_the_relative_gains_of_the_arrays(sim):
    directory, truth = sim("gsaoi-tutorial")
    p = GSAOIImage(raw(directory, truth["roles"]["flat_lamp_on"][:6]
                       + truth["roles"]["flat_lamp_off"][:6]))
    detector_stages(p)
    p.makeLampFlat()
    flat = p.normalizeFlat()[0]
    stats = _flat_vs_truth(flat, truth)
    medians = [s[0] for s in stats]
    # normalized over all arrays together: each array keeps its response relative to the others
    assert max(medians) - min(medians) < 0.001
    assert np.median(medians) == pytest.approx(1.0, abs=0.002)
    for _, rms, noise in stats:
        assert rms == pytest.approx(noise, rel=0.1)


def test_lamp_flat_without_lamp_off_or_on(sim, caplog):
    directory, truth = sim("f2-tutorial")
    p = F2Image(raw(directory, truth["roles"]["flat_lamp_on"]))
    p.prepare()
    with caplog.at_level(logging.WARNING):
        flat = p.makeLampFlat()[0]
    assert "No lamp-off flats" in caplog.text
    assert flat.phu["NCOMBINE"] == len(truth["roles"]["flat_lamp_on"])
    q = F2Image(raw(directory, truth["roles"]["flat_lamp_off"]))
    q.prepare()
    with pytest.raises(PrimitiveError, match="no lamp-on flat"):
        q.makeLampFlat()


def _as_k_band(ad):
    ad.phu["FILTER2"] = "Ks_G0804"
    ad.phu["WAVELENG"] = 21570.0
    return ad


def test_f2_k_band_flat_is_flats_minus_darks(sim):
    directory, truth = sim("f2-tutorial")
    flats = [_as_k_band(ad) for ad in raw(directory, truth["roles"]["flat_lamp_off"][:4])]
    darks = raw(directory, truth["roles"]["dark_short"][:4])
    for dark in darks:  # pretend the darks were taken with the flats' exposure time
        dark.phu["EXPTIME"] = flats[0].phu["EXPTIME"]
    assert flats[0].wavelength_band() == "K"
    p = F2Image(flats + darks)
    detector_stages(p)
    inputs = list(p.streams["main"])
    flat = p.makeLampFlat()[0]
    expected_flat = p.stackFrames([a for a in inputs if "FLAT" in a.tags])[0]
    expected_dark = p.stackFrames([a for a in inputs if "DARK" in a.tags])[0]
    np.testing.assert_allclose(flat[0].data, expected_flat[0].data - expected_dark[0].data,
                               rtol=1e-6, atol=1e-3)
    assert flat.filename.endswith("_lampstack.fits")
    # without darks, the processed dark must come from the calibration service
    q = F2Image([_as_k_band(ad) for ad in raw(directory, truth["roles"]["flat_lamp_off"][:3])])
    detector_stages(q)
    with pytest.raises(CalibrationNotFoundError, match="processed_dark"):
        q.makeLampFlat()


def _bpm_scores(bpm, truth, edge=3):
    """(completeness, purity, n_true, n_found) of the bad pixels away from the field edge."""
    found_all, true_all = [], []
    for index, ext in enumerate(bpm):
        bad_truth = (truth["bpm"][index] & DQ.bad_pixel) > 0
        dark_region = (truth["bpm"][index] & DQ.unilluminated) > 0
        near_edge = ndimage.binary_dilation(dark_region, iterations=edge) if edge else \
            dark_region
        usable = ~near_edge
        found_all.append(((ext.data & DQ.bad_pixel) > 0)[usable])
        true_all.append(bad_truth[usable])
    found, true = np.concatenate(found_all), np.concatenate(true_all)
    hits = int((found & true).sum())
    return hits / true.sum(), hits / max(found.sum(), 1), int(true.sum()), int(found.sum())


def test_f2_bpm_recovers_the_true_bad_pixels(sim):
    """The tutorial's makeProcessedBPM: flats first, then the 2 s darks."""
    directory, truth = sim("f2-tutorial")
    names = truth["roles"]["flat_lamp_on"] + truth["roles"]["flat_lamp_off"] \
        + truth["roles"]["dark_short"]
    p = F2Image(raw(directory, names))
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.ADUToElectrons()
    p.selectFromInputs(tags="DARK", outstream="darks")
    p.selectFromInputs(tags="FLAT")
    p.stackFrames(stream="darks")
    p.makeLampFlat()
    p.normalizeFlat()
    bpm = p.makeBPM()[0]
    assert bpm.filename == "S20131129S0320_bpm.fits"
    assert bpm.phu["OBJECT"] == "BPM" and "BPMASK" in bpm.phu and "BPM" in bpm.tags
    assert bpm[0].data.dtype == np.uint16 and set(np.unique(bpm[0].data)) <= {0, 1}
    assert bpm[0].mask is None and bpm[0].variance is None
    completeness, purity, n_true, n_found = _bpm_scores(bpm, truth)
    print(f"F2 BPM: completeness {completeness:.3f}, purity {purity:.3f} "
          f"({n_true} true bad pixels, {n_found} flagged, field edge excluded)")
    assert completeness > 0.9 and purity > 0.9
    # the written mask reads back as a BPM
    path = bpm.write(str(Path(directory) / bpm.filename), overwrite=True)
    again = astrodata.open(path)
    assert "BPM" in again.tags and np.array_equal(again[0].data, bpm[0].data)


def test_bpm_thresholds_are_in_adu_and_converted_for_electrons(sim):
    directory, truth = sim("f2-tutorial")
    flats = raw(directory, truth["roles"]["flat_lamp_on"][:2] + truth["roles"]["flat_lamp_off"][:2])
    darks = raw(directory, truth["roles"]["dark_short"][:3])
    results = {}
    for in_electrons in (False, True):
        p = F2Image([astrodata.open(ad.path) for ad in flats + darks])
        p.prepare()
        if in_electrons:
            p.ADUToElectrons()
        p.selectFromInputs(tags="DARK", outstream="darks")
        p.selectFromInputs(tags="FLAT")
        p.stackFrames(stream="darks")
        p.makeLampFlat()
        p.normalizeFlat()
        results[in_electrons] = p.makeBPM(dark_lo_thresh=-50.0, dark_hi_thresh=200.0)[0][0].data
    # the same pixels whatever the units of the dark (limits x gain 4.44 in electrons)
    assert np.array_equal(results[False], results[True])
    with pytest.raises(ParameterError, match="dark_lo_thresh"):
        p.makeBPM(dark_lo_thresh=10.0, dark_hi_thresh=5.0)
    with pytest.raises(PrimitiveError, match="darks"):
        F2Image([astrodata.open(flats[0].path)]).makeBPM()


def test_gsaoi_bpm_without_darks_uses_the_flat(sim, caplog):
    directory, truth = sim("gsaoi-tutorial")
    p = GSAOIImage(raw(directory, truth["roles"]["flat_lamp_on"][:4]
                       + truth["roles"]["flat_lamp_off"][:4]))
    detector_stages(p)
    p.makeLampFlat()
    p.normalizeFlat()
    with caplog.at_level(logging.WARNING):
        bpm = p.makeBPM()[0]
    assert "no stacked dark" in caplog.text
    # only cold and dead pixels show in a flat (hot ones need darks)
    # (GSAOI adds no illumination mask: the unlit border of each array is flagged too, and
    # is left out of the comparison with the truth's bad pixels)
    found, cold, bad, border = [], [], [], []
    for index, ext in enumerate(bpm):
        response = truth["flat"][index] / np.median(truth["flat"][index])
        is_bad = (truth["bpm"][index] & DQ.bad_pixel) > 0
        lit = (truth["bpm"][index] & DQ.unilluminated) == 0
        found.append(((ext.data & DQ.bad_pixel) > 0)[lit])
        cold.append((is_bad & (response < 0.5))[lit])
        bad.append(is_bad[lit])
        border.append(((ext.data & DQ.bad_pixel) > 0)[~lit])
    found, cold, bad, border = (np.concatenate(x) for x in (found, cold, bad, border))
    assert cold.sum() > 50
    assert (found & cold).sum() / cold.sum() > 0.9
    assert (found & bad).sum() / found.sum() > 0.9
    assert border.mean() > 0.99


def test_remove_first_frame(sim, caplog):
    directory, truth = sim("niri-imaging")
    names = truth["roles"]["science"]
    p = NIRIImage(raw(directory, names[::-1]))
    out = p.removeFirstFrame()
    assert sorted(ad.filename for ad in out) == sorted(names[1:])
    with caplog.at_level(logging.WARNING):
        out = p.removeFirstFrame(remove_first=False, remove_files=[names[3], "nothere.fits"])
    assert len(out) == len(names) - 2 and names[3] not in [ad.filename for ad in out]
    assert "nothere.fits is not among the inputs" in caplog.text


def test_clean_readout_removes_an_injected_pattern(sim):
    directory, truth = sim("niri-imaging")
    p = NIRIImage(raw(directory, truth["roles"]["science"][1:2]))
    p.prepare()
    p.ADUToElectrons()
    ad = p.streams["main"][0]
    # a flat-fielded, sky-subtracted frame (perfect flat from the truth): shot noise only
    response = truth["flat"][0]
    flattened = np.asarray(ad[0].data) / np.where(response > 0.1, response, 1.0)
    flattened -= np.median(flattened)
    original = np.where(truth["bpm"][0] == 0, flattened, 0.0).astype(np.float32)
    ny, nx = original.shape
    pattern = np.random.default_rng(3).normal(0, 300, (4, 16)).astype(np.float32)
    pattern -= pattern.mean()
    polluted = original.copy()
    polluted[:ny // 2, nx // 2:] += np.tile(pattern, (ny // 8, nx // 32))
    ad[0].data = polluted
    skipped = p.cleanReadout()[0]
    assert np.array_equal(skipped[0].data, polluted) and "CLEANRDT" not in skipped.phu
    cleaned = p.cleanReadout(clean="default", level_bias_offset=False,
                             pat_strength_thres=50.0)[0]
    quadrant = (slice(0, ny // 2), slice(nx // 2, nx))
    before = np.std(polluted[quadrant] - original[quadrant])
    after = np.std(cleaned[0].data[quadrant] - original[quadrant])
    assert after < 0.1 * before
    # the other quadrants have no pattern above the threshold: untouched
    assert np.array_equal(cleaned[0].data[:ny // 2, :nx // 2], original[:ny // 2, :nx // 2])
    assert "CLEANRDT" in cleaned.phu and cleaned.filename.endswith("_readoutCleaned.fits")
