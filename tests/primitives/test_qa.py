"""Tests of primitives.core.qa (measureIQ/BG/CC), the GMOS checks and storeProcessed*(force)."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import sys

import numpy as np
import pytest
from astropy.table import Table
from scipy import optimize

import astrodata
from gempy.sim.render import MoffatPSF
from primitives.core.qa import METRIC_KEYWORDS, read_metrics
from primitives.f2 import F2Image
from primitives.gmos import GMOS

sys.path.insert(0, os.path.dirname(__file__))
from imaging_frames import (  # noqa: E402
    imaging_sim_fixture,  # noqa: F401
    truth_calibrated,
)

F2_PIXEL_SCALE = 0.18


def _pixel_sampled_fwhm(fwhm_arcsec: float, beta: float) -> float:
    """FWHM (arcsec) of a Moffat PSF integrated over the F2 pixels (what FWHM_IMAGE measures)."""
    psf = MoffatPSF(fwhm_arcsec / F2_PIXEL_SCALE, beta)
    sub = (np.arange(48) + 0.5) / 48 - 0.5
    du, dv = np.meshgrid(sub, sub)

    def pixel(t: float) -> float:
        return float(psf.profile(np.hypot(t + du, dv)).mean())

    peak = pixel(0.0)
    half_width = optimize.brentq(lambda t: pixel(t) - peak / 2, 0.01, 3 * psf.fwhm)
    return 2.0 * half_width * F2_PIXEL_SCALE


@pytest.fixture
def f2_frames(imaging_sim, tmp_path, monkeypatch):
    """Three truth-calibrated F2 science frames in electrons (gain 1), sky added back."""
    monkeypatch.chdir(tmp_path)
    directory, truth = imaging_sim("f2-tutorial")
    frames = []
    for name in truth["roles"]["science"][:3]:
        ad = truth_calibrated(directory, truth, name)
        ext = ad[0]
        ext.hdr["GAIN"] = 1.0
        good = ext.mask == 0
        sky = np.float32(truth["files"][name]["sky_e_per_pix"])
        ext.data = np.where(good, ext.data + sky, ext.data).astype(np.float32)
        frames.append(ad)
    return frames, truth


def test_measure_iq_matches_the_simulated_psf(f2_frames):
    """MEANFWHM (mean FWHM_IMAGE of the stars) is the FWHM of the pixel-sampled PSF (to 5%)."""
    frames, truth = f2_frames
    p = F2Image(frames, mode="qa")
    p.detectSources()
    p.measureIQ()
    beta = truth["psf"]["beta"]
    for ad, name in zip(p.streams["main"], truth["roles"]["science"], strict=False):
        expected = _pixel_sampled_fwhm(truth["files"][name]["psf_fwhm_arcsec"], beta)
        assert ad.phu["IQNSRC"] >= 1
        assert abs(ad.phu["MEANFWHM"] / expected - 1.0) < 0.05, (name, ad.phu["MEANFWHM"])
        assert 0.0 <= ad.phu["MEANELLP"] < 0.15          # round simulated stars
        assert ad.phu["ZFWHM"] <= ad.phu["MEANFWHM"]       # airmass >= 1
    records = read_metrics("qa_metrics.jsonl")
    assert [r["metric"] for r in records] == ["iq"] * 3
    assert [r["filename"] for r in records] == [ad.filename for ad in p.streams["main"]]
    assert records[0]["fwhm_arcsec"] == pytest.approx(p.streams["main"][0].phu["MEANFWHM"],
                                                      abs=1e-4)


def test_measure_bg_gives_the_simulated_sky(f2_frames):
    """SKYLEVEL is the simulated sky (0.5%) and SKYMAG the sky brightness (0.02 mag)."""
    frames, truth = f2_frames
    p = F2Image(frames, mode="qa")
    p.detectSources()
    p.measureBG()
    zeropoint = 26.73                                      # F2 Y, f/16 (sim and lookup)
    for ad, name in zip(p.streams["main"], truth["roles"]["science"], strict=False):
        record = truth["files"][name]
        assert ad.phu["SKYLEVEL"] == pytest.approx(record["sky_e_per_pix"], rel=0.005)
        rate = record["sky_rate_e_per_s"] / F2_PIXEL_SCALE ** 2
        assert ad.phu["SKYMAG"] == pytest.approx(zeropoint - 2.5 * math.log10(rate), abs=0.02)
        noise = math.sqrt(record["sky_e_per_pix"] + 25.0)  # Poisson + 5 e- read noise
        assert ad.phu["SKYSIG"] == pytest.approx(noise, rel=0.15)
    assert {r["unit"] for r in read_metrics("qa_metrics.jsonl")} == {"electron"}


def test_measure_bg_of_a_sky_subtracted_frame_has_no_magnitude(f2_frames, caplog):
    frames, _ = f2_frames
    ad = frames[0]
    ad[0].data = (ad[0].data - np.float32(ad.phu.get("SKYLEVEL", 0) or np.median(ad[0].data))
                  - np.float32(50)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        F2Image([ad], mode="qa").measureBG()
    assert "SKYMAG" not in ad.phu and ad.phu["SKYLEVEL"] < 0
    assert "not positive" in caplog.text


def _reference_catalog(truth: dict, directory: str, path: str) -> str:
    catalog = Table.read(os.path.join(directory, "truth", "truth_catalog.ecsv"))
    table = Table({"RAJ2000": catalog["ra"], "DEJ2000": catalog["dec"],
                   "Ymag": catalog["mag_Y"]})
    table.write(path, format="ascii.ecsv", overwrite=True)
    return path


def test_measure_cc_recovers_the_zero_point(f2_frames, imaging_sim, tmp_path):
    """With a reference catalogue, MEANZP is the simulator's zero point and CLOUDEXT ~ 0."""
    frames, truth = f2_frames
    directory, _ = imaging_sim("f2-tutorial")
    refcat = _reference_catalog(truth, directory, str(tmp_path / "ref.ecsv"))
    p = F2Image(frames, mode="qa")
    p.detectSources()
    p.addReferenceCatalog(source=refcat)
    p.measureCC()
    for ad in p.streams["main"]:
        assert ad.phu["CCNSRC"] >= 3
        # FLUX_AUTO misses a few per cent of a Moffat star's light: zp within 0.1 mag
        assert ad.phu["MEANZP"] == pytest.approx(26.73, abs=0.1)
        assert abs(ad.phu["CLOUDEXT"]) < 0.15
    records = read_metrics("qa_metrics.jsonl")
    assert all(r["metric"] == "cc" and r["nsources"] >= 3 for r in records)


def test_measure_cc_without_reference_catalogue_warns_once(f2_frames, caplog):
    frames, _ = f2_frames
    p = F2Image(frames[:1], mode="qa")
    p.detectSources()
    with caplog.at_level(logging.WARNING):
        p.measureCC()
    warnings = [r for r in caplog.records if "measureCC" in r.getMessage()]
    assert len(warnings) == 1 and "REFCAT" in warnings[0].getMessage()
    assert "MEANZP" not in frames[0].phu
    (record,) = read_metrics("qa_metrics.jsonl")
    assert record["nsources"] == 0 and "reference catalogue" in record["reason"]


def test_measure_iq_without_sources_warns(f2_frames, caplog):
    frames, _ = f2_frames
    with caplog.at_level(logging.WARNING):
        F2Image(frames[:1], mode="qa").measureIQ()
    assert "no point source" in caplog.text and "MEANFWHM" not in frames[0].phu


def test_metrics_file_is_one_json_object_a_line(f2_frames):
    frames, _ = f2_frames
    p = F2Image(frames, mode="qa")
    p.detectSources()
    p.measureIQ()
    p.measureBG()
    with open("qa_metrics.jsonl") as handle:
        lines = handle.read().splitlines()
    assert len(lines) == 6
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert set(METRIC_KEYWORDS) >= {"MEANFWHM", "MEANELLP", "SKYLEVEL", "SKYMAG", "MEANZP"}


# -- storeProcessed*(force) ------------------------------------------------------------------
def test_store_flat_of_science_frames_needs_force(f2_frames, caplog):
    """A flat made from science frames is refused without force, converted with it."""
    frames, _ = f2_frames
    with caplog.at_level(logging.WARNING):
        F2Image([frames[0]], mode="sq").storeProcessedFlat()
    assert "not stored as a processed_flat" in caplog.text
    assert not os.path.exists(os.path.join("calibrations", "processed_flat",
                                           frames[0].filename))
    p = F2Image([frames[1]], mode="sq")
    p.storeProcessedFlat(force=True)
    ad = astrodata.open(p.processed_filenames[0])
    assert {"FLAT", "CAL", "PROCESSED"} <= set(ad.tags)
    assert ad.phu["OBSTYPE"] == "FLAT" and ad.phu["ORIGOBST"] == "OBJECT"
    assert ad.phu["DATALAB"].endswith("-SQ-FLAT") and "PROCFLAT" in ad.phu


# -- GMOS checks ------------------------------------------------------------------------------
@pytest.fixture
def gmos_bias(imaging_sim):
    directory, truth = imaging_sim("gmos-imaging")
    p = GMOS([astrodata.open(os.path.join(directory, truth["roles"]["bias"][0]))])
    p.prepare(require_wcs=False)
    p.addDQ(add_illum_mask=False)
    p.overscanCorrect()
    return p.streams["main"][0]


def test_check_bias_osco_passes_a_good_bias_and_flags_an_offset(gmos_bias, caplog):
    with caplog.at_level(logging.WARNING):
        GMOS([gmos_bias]).checkBiasOSCO()
    assert "overscan-corrected bias level" not in caplog.text
    gmos_bias[1].data = (gmos_bias[1].data + np.float32(20.0)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        GMOS([gmos_bias]).checkBiasOSCO()
    flagged = [r for r in caplog.records if "overscan-corrected bias level" in r.getMessage()]
    assert len(flagged) == 1 and f"extension {gmos_bias[1].id}" in flagged[0].getMessage()


def test_check_bias_bico_flags_a_residual(imaging_sim, caplog):
    """A bias corrected by the stack of the other biases is at zero; an offset is flagged."""
    directory, truth = imaging_sim("gmos-imaging")
    biases = [astrodata.open(os.path.join(directory, n)) for n in truth["roles"]["bias"]]
    p = GMOS(biases)
    p.prepare(require_wcs=False)
    p.addDQ(add_illum_mask=False)
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    frames = p.streams["main"]
    master = GMOS(frames[1:]).stackBiases()[0]
    ad = GMOS([frames[0]]).biasCorrect(bias=master)[0]
    with caplog.at_level(logging.WARNING):
        GMOS([ad]).checkBiasBICO()
    assert "bias-corrected bias level" not in caplog.text
    ad[0].data = (ad[0].data - np.float32(15.0)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        GMOS([ad]).checkBiasBICO()
    assert "bias-corrected bias level -1" in caplog.text


def test_check_flat_counts(imaging_sim, caplog):
    directory, truth = imaging_sim("gmos-imaging")
    twilight = sorted(n for n, r in truth["files"].items() if r["role"] == "twilight")[0]
    p = GMOS([astrodata.open(os.path.join(directory, twilight))])
    p.prepare(require_wcs=False)
    p.addDQ()                                              # flags the unilluminated amplifiers
    p.overscanCorrect()
    ad = p.streams["main"][0]
    with caplog.at_level(logging.WARNING):
        GMOS([ad]).checkFlatCounts()
    assert "flat level" not in caplog.text                 # ~12,500 e-: fine
    bright = copy.deepcopy(ad)
    bright[5].data = (bright[5].data * np.float32(2.5)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        GMOS([bright]).checkFlatCounts()
    flagged = [r.getMessage() for r in caplog.records if "flat level" in r.getMessage()]
    assert len(flagged) == 1 and "x saturation" in flagged[0]
    caplog.clear()
    for ext in ad:
        ext.data = (ext.data * np.float32(0.004)).astype(np.float32)   # ~200 e-
    with caplog.at_level(logging.WARNING):
        GMOS([ad]).checkFlatCounts()
    assert caplog.text.count("too faint") == 8              # the 8 illuminated amplifiers
