"""GMOS simulator fringes: a pattern fixed on the detector, in the frames that should fringe.

The pattern model (``gempy.sim.fringe``) is checked on its own (unit rms,
ripples tens of pixels apart, the same detector pixel at every binning and
window); the datasets against their truth: the amplitude measured in each
raw frame (flat-fielded with the true flat) is the truth's, only night-sky
frames in fringing filters fringe, and the pattern is shared by every
dataset of one detector made with one seed. Last, the project's own GMOS
primitives make a fringe frame of the simulated z frames that is the truth
pattern, and fringeCorrect removes it.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata import Section
from gempy.sim.fringe import FRINGE_PERIODS, draw_fringe_model
from gempy.utils import logutils
from primitives.gmos import GMOS, GMOSImage

_SMALL_CCD = (528, 256)


def test_pattern_has_unit_rms_and_ripples_tens_of_pixels_apart():
    model = draw_fringe_model(np.random.default_rng(11), _SMALL_CCD)
    pattern = model.evaluate((0, _SMALL_CCD[1], 0, _SMALL_CCD[0]))
    assert pattern.shape == _SMALL_CCD and pattern.dtype == np.float32
    assert np.sqrt(np.mean(pattern.astype(float) ** 2)) == pytest.approx(1.0, rel=1e-4)
    assert abs(pattern.mean()) < 0.1
    # the power sits at spatial periods of tens of pixels: not noise, not a gradient
    power = np.abs(np.fft.fft2(pattern - pattern.mean())) ** 2
    fy = np.fft.fftfreq(_SMALL_CCD[0])[:, None]
    fx = np.fft.fftfreq(_SMALL_CCD[1])[None, :]
    period = 1.0 / np.maximum(np.hypot(fx, fy), 1e-9)
    in_band = power[(period > 0.6 * FRINGE_PERIODS[0]) & (period < 1.6 * FRINGE_PERIODS[1])]
    assert in_band.sum() > 0.8 * power.sum()


def test_pattern_is_fixed_on_the_detector_at_any_binning_and_window():
    model = draw_fringe_model(np.random.default_rng(5), _SMALL_CCD)
    full = model.evaluate((0, 256, 0, 528))
    window = model.evaluate((64, 192, 16, 400), (2, 2))
    binned = full[16:400, 64:192].astype(float).reshape(192, 2, 64, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(window, binned, atol=2e-5)
    other = draw_fringe_model(np.random.default_rng(6), _SMALL_CCD).evaluate((0, 256, 0, 528))
    assert abs(np.corrcoef(full.ravel(), other.ravel())[0, 1]) < 0.2


def _flat_fielded_electrons(path, truth, filename):
    """Per extension: (raw - bias) x gain / true flat, and the good, well-lit pixels."""
    record = truth["files"][filename]
    out = []
    with fits.open(path / filename) as hdul:
        for index, ext in enumerate(record["extensions"]):
            hdu = hdul[index + 1]
            data_sl = Section.from_string(ext["datasec"]).asslice()
            bias_sl = Section.from_string(hdu.header["BIASSEC"]).asslice()
            static = truth["bias"][index]
            # the static bias (truth) plus this frame's offset and row noise (its overscan)
            rows = (np.mean(hdu.data[bias_sl].astype(float), axis=1)
                    - np.mean(static[bias_sl], axis=1))
            adu = hdu.data[data_sl].astype(float) - static[data_sl] - rows[:, None]
            flat = truth["flat"][index][data_sl]
            good = (truth["bpm"][index][data_sl] == 0) & (flat > 0.5)
            electrons = np.where(good, adu * ext["gain_e_per_adu"] / np.where(good, flat, 1), 0)
            out.append((electrons, good))
    return out


def _fringe_amplitude(planes, patterns, truth, filename):
    """Clipped least-squares b of electrons = a + b x pattern over all good pixels."""
    record = truth["files"][filename]
    values = np.concatenate([e[g] for e, g in planes])
    model = np.concatenate([p[Section.from_string(x["datasec"]).asslice()][g]
                            for (_, g), p, x in zip(planes, patterns, record["extensions"],
                                                    strict=True)])
    keep = np.ones(values.size, bool)
    for _ in range(6):
        design = np.column_stack([np.ones(keep.sum()), model[keep]])
        (a, b), *_ = np.linalg.lstsq(design, values[keep], rcond=None)
        residual = values - a - b * model
        sigma = 1.4826 * np.median(np.abs(residual[keep]))
        keep = np.abs(residual) < 4 * sigma       # stars, galaxies and cosmic rays out
    return a, b


@pytest.mark.parametrize("name, band", [("gmos-imaging", "z"), ("gmos-n-e2v", "i")])
def test_raw_frames_carry_the_truth_fringes(small_dataset, name, band):
    path, truth = small_dataset(name)
    area = truth["binning"][0] * truth["binning"][1]
    frames = [f for f in truth["roles"]["science"] if truth["files"][f]["filter"] == band]
    assert len(frames) >= 5
    amplitudes, measured = [], []
    for filename in frames:
        record = truth["files"][filename]
        assert record["fringe_e_per_pix"] == pytest.approx(
            record["fringe_fraction"] * record["sky_e_per_pix"], rel=1e-3)
        # a few percent of the sky (rms), as on the real CCDs
        assert 0.01 < record["fringe_fraction"] < 0.06
        sky, b = _fringe_amplitude(_flat_fielded_electrons(path, truth, filename),
                                   truth["fringe"], truth, filename)
        assert sky == pytest.approx(record["sky_e_per_pix"] * area, rel=0.01)
        amplitudes.append(record["fringe_e_per_pix"] * area)
        measured.append(b)
    amplitudes, measured = np.array(amplitudes), np.array(measured)
    # each frame's fringes are the truth's (noise: ~0.5% of the amplitude)
    np.testing.assert_allclose(measured, amplitudes, rtol=0.03)
    # and they follow the frame: the amplitudes differ by more than the measurement error
    assert np.ptp(amplitudes) / amplitudes.mean() > 0.06


@pytest.mark.parametrize("name, band, role", [("gmos-imaging", "r", "science"),
                                              ("gmos-imaging", "i", "science"),
                                              ("gmos-imaging", "z", "twilight"),
                                              ("gmos-n-e2v", "r", "science")])
def test_other_frames_do_not_fringe(small_dataset, name, band, role):
    """Hamamatsu i and r, e2vDD r and twilights (a continuum) show no fringe pattern."""
    path, truth = small_dataset(name)
    area = truth["binning"][0] * truth["binning"][1]
    filename = next(f for f in truth["roles"][role] if truth["files"][f]["filter"] == band)
    record = truth["files"][filename]
    assert record["fringe_e_per_pix"] == 0.0 and record["fringe_fraction"] == 0.0
    sky, b = _fringe_amplitude(_flat_fielded_electrons(path, truth, filename), truth["fringe"],
                               truth, filename)
    assert abs(b) < 0.002 * sky
    assert sky == pytest.approx(record["sky_e_per_pix"] * area, rel=0.01)


def test_datasets_of_one_detector_share_the_pattern(small_dataset):
    """Same seed, same CCDs: the CCD2 fringes of the full frame, its ROI and 1x1 agree."""
    _, full = small_dataset("gmos-imaging")
    _, roi = small_dataset("gmos-imaging-ccd2")
    _, unbinned = small_dataset("gmos-imaging-1x1")
    ccd2 = [i for i, e in enumerate(full["files"][full["reference_layout_file"]]["extensions"])
            if e["array"] == "BI11-33-4k-1"]
    assert len(ccd2) == 4 and len(roi["fringe"]) == 4
    for k, index in enumerate(ccd2):
        np.testing.assert_array_equal(roi["fringe"][k], full["fringe"][index])
        section = Section.from_string(
            full["files"][full["reference_layout_file"]]["extensions"][index]["datasec"])
        section_1x1 = Section.from_string(
            unbinned["files"][unbinned["reference_layout_file"]]["extensions"][index]["datasec"])
        fine = unbinned["fringe"][index][section_1x1.asslice()].astype(float)
        ny, nx = fine.shape
        binned = fine.reshape(ny // 2, 2, nx // 2, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(full["fringe"][index][section.asslice()], binned, atol=2e-5)
    # overscan columns carry no pattern
    assert all(np.all(p[:, :32] == 0) or np.all(p[:, -32:] == 0) for p in full["fringe"])


def test_infrared_datasets_have_no_fringes(small_dataset):
    _, truth = small_dataset("niri-imaging")
    assert truth["fringe_file"] is None and "fringe" not in truth
    assert {r["fringe_e_per_pix"] for r in truth["files"].values()} == {0.0}


def _reduced(paths, cls, bias=None):
    """prepare -> addDQ -> addVAR -> overscanCorrect [-> biasCorrect -> ADUToElectrons]."""
    p = cls([astrodata.open(str(path)) for path in paths])
    p.prepare(require_wcs=False)
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    if bias is not None:
        p.biasCorrect(bias=bias)
        p.ADUToElectrons()
        p.addVAR(poisson_noise=True)
    return p.streams["main"]


def test_fringe_frame_of_the_z_frames_is_the_truth_pattern(small_dataset):
    """makeFringeFrame on the flat-fielded z frames recovers the truth pattern; fringeCorrect
    removes it."""
    logutils.config(mode="quiet")
    path, truth = small_dataset("gmos-imaging")
    area = truth["binning"][0] * truth["binning"][1]
    by_role = {role: [path / f for f in names if truth["files"][f]["filter"] in ("z", "")]
               for role, names in truth["roles"].items()}
    p = GMOS(_reduced(by_role["bias"], GMOS))
    p.stackBiases()
    bias = p.streams["main"][0]
    p = GMOSImage(_reduced(by_role["twilight"], GMOSImage, bias))
    p.stackFlats()
    p.normalizeFlat()
    flat = p.streams["main"][0]
    p = GMOSImage(_reduced(by_role["science"], GMOSImage, bias))
    p.flatCorrect(flat=flat)
    frames = p.streams["main"]
    maker = GMOSImage(copy.deepcopy(frames))
    maker.makeFringeFrame()
    fringe = maker.streams["main"][0]
    reference = truth["files"][truth["reference_layout_file"]]["extensions"]
    patterns = [p[Section.from_string(r["datasec"]).asslice()]
                for p, r in zip(truth["fringe"], reference, strict=True)]

    def amplitude(ad):
        """Clipped least-squares factor of the truth pattern in the frame's good pixels."""
        values = np.concatenate([np.asarray(e.data)[np.asarray(e.mask) == 0] for e in ad])
        model = np.concatenate([t[np.asarray(e.mask) == 0] for e, t in zip(ad, patterns,
                                                                           strict=True)])
        keep = np.ones(values.size, bool)
        for _ in range(5):
            design = np.column_stack([np.ones(keep.sum()), model[keep]])
            (a, b), *_ = np.linalg.lstsq(design, values[keep], rcond=None)
            residual = values - a - b * model
            keep = np.abs(residual) < 4 * 1.4826 * np.median(np.abs(residual[keep]))
        return b, np.corrcoef(values[keep] - a, model[keep])[0, 1]

    expected = np.array([truth["files"][ad.orig_filename]["fringe_e_per_pix"] * area
                         for ad in frames])
    b, correlation = amplitude(fringe)
    assert b == pytest.approx(expected.mean(), rel=0.05)
    assert correlation > 0.9
    p = GMOSImage(copy.deepcopy(frames))
    p.fringeCorrect(fringe=fringe, scale=True)
    for ad, before in zip(p.streams["main"], expected, strict=True):
        left, _ = amplitude(ad)
        # what is left is the noise of a five-frame fringe frame (~1% here)
        assert abs(left) < 0.03 * before
