"""Tests of primitives.core.detector: ADUToElectrons, nonlinearityCorrect, scaleByExposureTime.

The non-linearity tests compare the corrected lamp flats of the simulator
(which applies the inverse of each instrument's correction) with the true
charge: (lamp + thermal) x true flat + dark current x time.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import astrodata
from astrodata import DQ
from gempy.sim import load_truth, make_dataset
from primitives.core.detector import LinearityCorrection
from primitives.errors import PrimitiveError
from primitives.f2 import F2, F2Image
from primitives.gsaoi import GSAOIImage
from primitives.niri import NIRIImage


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """``datasets(name)`` -> (directory, truth) of a small simulated dataset (made once)."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            path = make_dataset(name, tmp_path_factory.mktemp(name), small=True, seed=0)
            cache[name] = (path, load_truth(path))
        return cache[name]

    return get


def _prepared(cls, directory, name):
    p = cls([astrodata.open(os.path.join(directory, name))])
    return p, p.prepare()[0]


def _true_charge(truth, name, index):
    """Expected linear electrons of extension `index` of frame `name` (no noise)."""
    record = truth["files"][name]
    diffuse = record["lamp_e_per_pix"] + record["thermal_e_per_pix"] + record["sky_e_per_pix"]
    return diffuse * truth["flat"][index] + truth["dark"][index] * record["total_exptime"]


def _good(truth, index):
    return (truth["bpm"][index] == 0) & (truth["flat"][index] > 0.5)


# ---------------------------------------------------------------------------
# ADUToElectrons
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["science", "flat_lamp_on"])
def test_adu_to_electrons_scales_by_truth_gain(datasets, role, caplog):
    directory, truth = datasets("f2-tutorial")
    name = truth["roles"][role][0]
    gain = truth["files"][name]["extensions"][0]["gain_e_per_adu"]
    p, ad = _prepared(F2Image, directory, name)
    p.addVAR([ad], read_noise=True, poisson_noise=True)
    data, var = np.array(ad[0].data), np.array(ad[0].variance)
    sat, nonlin = ad.saturation_level()[0], ad.non_linear_level()[0]

    ad = p.ADUToElectrons([ad])[0]
    np.testing.assert_allclose(ad[0].data, data * gain, rtol=1e-6)
    np.testing.assert_allclose(ad[0].variance, var * gain ** 2, rtol=1e-6)
    assert ad.gain() == [1.0] and ad[0].hdr["GAIN"] == 1.0
    assert ad[0].hdr["BUNIT"] == "electron" and not ad.is_in_adu()
    assert ad.saturation_level() == [pytest.approx(sat * gain)]
    assert ad.non_linear_level() == [pytest.approx(nonlin * gain)]
    assert ad.saturation_level()[0] == pytest.approx(155400.0, rel=1e-4)  # the full well
    assert "ADUTOELE" in ad.phu and ad.filename.endswith("_ADUToElectrons.fits")

    converted = np.array(ad[0].data)
    p.ADUToElectrons([ad])
    np.testing.assert_array_equal(ad[0].data, converted)
    assert "already been processed by ADUToElectrons" in caplog.text


def test_adu_to_electrons_per_array_gains(datasets):
    directory, truth = datasets("gsaoi-tutorial")
    name = truth["roles"]["science"][0]
    p, ad = _prepared(GSAOIImage, directory, name)
    before = [np.array(ext.data) for ext in ad]
    p.ADUToElectrons([ad])
    for ext, data, record in zip(ad, before, truth["files"][name]["extensions"], strict=True):
        np.testing.assert_allclose(ext.data, data * record["gain_e_per_adu"], rtol=1e-6)


def test_adu_to_electrons_needs_the_gain(datasets):
    directory, truth = datasets("gsaoi-tutorial")
    name = truth["roles"]["science"][0]
    p, ad = _prepared(GSAOIImage, directory, name)
    del ad[1].hdr["GAIN"]
    with pytest.raises(PrimitiveError, match=r"_prepared\.fits: cannot determine gain.*"
                                             r"extension 2: keyword GAIN is missing"):
        p.ADUToElectrons([ad])


# ---------------------------------------------------------------------------
# nonlinearityCorrect
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dataset, cls", [("f2-tutorial", F2Image),
                                          ("gsaoi-tutorial", GSAOIImage),
                                          ("niri-imaging", NIRIImage)])
def test_nonlinearity_correction_recovers_true_charge(datasets, dataset, cls):
    directory, truth = datasets(dataset)
    name = truth["roles"]["flat_lamp_on"][0]
    p, ad = _prepared(cls, directory, name)
    p.ADUToElectrons([ad])
    raw = [np.array(ext.data) for ext in ad]
    p.nonlinearityCorrect([ad])
    for index, ext in enumerate(ad):
        expected = _true_charge(truth, name, index)
        good = _good(truth, index)
        corrected = np.median(ext.data[good] / expected[good]) - 1.0
        uncorrected = np.median(raw[index][good] / expected[good]) - 1.0
        # the task's limit is 0.2%; the noise allows a far tighter test
        assert abs(corrected) < 3e-4, (index, corrected)
        assert abs(uncorrected) > 4e-4
    assert "LINCORR" in ad.phu


def test_nonlinearity_correction_order_with_adu_to_electrons(datasets):
    directory, truth = datasets("f2-tutorial")
    name = truth["roles"]["flat_lamp_on"][0]
    p, first = _prepared(F2Image, directory, name)
    p.nonlinearityCorrect([first])
    p.ADUToElectrons([first])
    p, second = _prepared(F2Image, directory, name)
    p.ADUToElectrons([second])
    p.nonlinearityCorrect([second])
    np.testing.assert_allclose(first[0].data, second[0].data, rtol=2e-6)
    assert first.saturation_level() == pytest.approx(second.saturation_level(), rel=1e-6)


def test_nonlinearity_variance_and_levels(datasets):
    directory, truth = datasets("niri-imaging")
    name = truth["roles"]["flat_lamp_on"][0]
    p, ad = _prepared(NIRIImage, directory, name)
    p.addDQ([ad])
    p.addVAR([ad], read_noise=True, poisson_noise=True)
    data, var = np.array(ad[0].data), np.array(ad[0].variance)
    gain, coadds = ad.gain()[0], ad.coadds()
    sat = ad.saturation_level()[0]
    p.nonlinearityCorrect([ad])
    # NIRI, Medium Background, 256 rows, shallow well: c (1 + c (gamma + c eta))
    gamma, eta = 5.540988347e-7, 1.404726339e-12
    charge = data.astype(np.float64) * gain / coadds
    np.testing.assert_allclose(ad[0].data, charge * (1 + charge * (gamma + charge * eta))
                               * coadds / gain, rtol=1e-5)
    slope = 1 + 2 * gamma * charge + 3 * eta * charge ** 2
    np.testing.assert_allclose(ad[0].variance, var * slope ** 2, rtol=1e-5)
    sat_e = sat * gain / coadds
    assert ad.saturation_level()[0] == pytest.approx(
        sat_e * (1 + sat_e * (gamma + sat_e * eta)) * coadds / gain, rel=1e-6)
    # pixels read above the calibrated range (12000 x 12.3 e-) are flagged non-linear
    beyond = charge > 12000 * 12.3
    assert beyond.any()
    assert (ad[0].mask[beyond] & DQ.non_linear).all()


def test_nonlinearity_without_coefficients_leaves_data(datasets, caplog):
    directory, truth = datasets("niri-imaging")
    p, ad = _prepared(NIRIImage, directory, truth["roles"]["flat_lamp_on"][0])
    ad.phu["LNRS"] = 16        # (16, 16) Low Background: no 256-row coefficients
    data = np.array(ad[0].data)
    p.nonlinearityCorrect([ad])
    np.testing.assert_array_equal(ad[0].data, data)
    assert "LINCORR" not in ad.phu
    assert "no NIRI non-linearity coefficients" in caplog.text


def test_linearity_correction_polynomial():
    correction = LinearityCorrection(0.9999107, -4.2854848e-8, 1.0096585e-12)
    x = np.array([0.0, 1.0e4, 1.0e5], dtype=np.float32)
    expected = x * (0.9999107 - 4.2854848e-8 * x + 1.0096585e-12 * x * x)
    np.testing.assert_allclose(correction.apply(x), expected, rtol=1e-6)
    x = x[1:].astype(np.float64)
    numeric = (correction.apply(x + 10.0) - correction.apply(x - 10.0)) / 20.0
    np.testing.assert_allclose(correction.derivative(x), numeric, rtol=1e-6)


# ---------------------------------------------------------------------------
# scaleByExposureTime
# ---------------------------------------------------------------------------
def test_scale_by_exposure_time(datasets):
    directory, truth = datasets("f2-tutorial")
    long_dark, short_dark = truth["roles"]["dark"][0], truth["roles"]["dark_short"][0]
    p = F2([astrodata.open(os.path.join(directory, n)) for n in (long_dark, short_dark)])
    first, second = p.prepare()
    p.addVAR(read_noise=True)
    data, var = np.array(second[0].data), np.array(second[0].variance)
    sat = second.saturation_level()[0]
    p.scaleByExposureTime()
    assert first.exposure_time() == second.exposure_time() == 120.0
    np.testing.assert_allclose(second[0].data, data * 60.0, rtol=1e-6)
    np.testing.assert_allclose(second[0].variance, var * 3600.0, rtol=1e-6)
    assert second.phu["ORIGTEXP"] == 2.0
    assert second.saturation_level()[0] == pytest.approx(sat * 60.0)
    p, ad = _prepared(F2, directory, short_dark)
    p.scaleByExposureTime([ad], time=1.0)
    assert ad.exposure_time() == 1.0 and ad.phu["ORIGTEXP"] == 2.0
