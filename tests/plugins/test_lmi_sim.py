"""The LMI simulator mode: file layout, header keywords, bias, overscan and flat levels."""

import numpy as np
import pytest
from astropy.io import fits

from gempy.sim import DATASETS

_KEYWORDS = ("INSTRUME", "TELESCOP", "OBSTYPE", "IMAGETYP", "FILTERS", "EXPTIME",
             "DATE-OBS", "CCDSUM", "RA", "DEC", "AIRMASS", "OBJECT", "DETECTOR")
_EXT_KEYWORDS = ("GAIN", "RDNOISE", "DATASEC", "BIASSEC", "TRIMSEC", "CCDSEC", "DETSEC",
                 "CCDSUM", "CRPIX1", "CD1_1")


def _columns(section):
    x = section[1:-1].split(",")[0]
    first, last = (int(v) for v in x.split(":"))
    return slice(first - 1, last)


def test_dataset_is_registered_by_the_plugin_module(lmi_night):
    info = DATASETS["lmi-night"]
    assert info.instrument == "LMI"
    path, truth = lmi_night
    assert truth["instrument"] == "LMI" and truth["binning"] == [2, 2]
    assert {role: len(names) for role, names in truth["roles"].items()} == {
        "bias": 7, "domeflat": 5, "skyflat": 5, "science": 10, "dark": 3}


def test_raw_layout_and_keywords(lmi_night):
    path, truth = lmi_night
    for name, record in truth["files"].items():
        with fits.open(path / name) as hdul:
            assert len(hdul) == 2
            phu, header = hdul[0].header, hdul[1].header
            assert all(k in phu for k in _KEYWORDS), name
            assert all(k in header for k in _EXT_KEYWORDS), name
            assert hdul[1].data.dtype == np.uint16 and hdul[1].data.shape == (385, 416)
            assert phu["OBSTYPE"] == record["obstype"] == phu["IMAGETYP"]
            assert "T" in phu["DATE-OBS"] and phu["DATE-OBS"].startswith(record["ut_start"])
            assert header["BIASSEC"] == "[385:416,1:385]" and header["CCDSUM"] == "2 2"
    names = sorted(truth["files"])
    assert names[0] == "lmi.20230305.0001.fits" and len(names) == 30


def test_overscan_follows_each_frames_bias_level(lmi_night):
    path, truth = lmi_night
    for name in truth["roles"]["bias"] + truth["roles"]["science"]:
        level = truth["files"][name]["extensions"][0]["bias_level_adu"]
        with fits.open(path / name) as hdul:
            data = hdul[1].data.astype(float)
            overscan = data[:, _columns(hdul[1].header["BIASSEC"])]
        # 32 x 385 pixels of 2.08 ADU read noise: the mean is good to 0.02 ADU
        assert overscan.mean() == pytest.approx(level, abs=0.15)
        assert overscan.std() == pytest.approx(6.0 / 2.89, rel=0.1)


def test_dome_flats_show_the_true_flat_field(lmi_night):
    path, truth = lmi_night
    response = truth["flat"][0][:, :384]
    good = (truth["bpm"][0][:, :384] == 0) & (response > 0.5)
    for name in truth["roles"]["domeflat"]:
        record = truth["files"][name]
        level = record["extensions"][0]["bias_level_adu"]
        with fits.open(path / name) as hdul:
            data = hdul[1].data.astype(float)[:, :384]
        signal = (data - level) * 2.89
        expected = record["lamp_e_per_pix"] * 4 * response
        ratio = signal[good] / expected[good]
        # the bias structure (a few ADU) and the row noise are left in: 0.1% of 25000 ADU
        assert np.median(ratio) == pytest.approx(1.0, abs=2e-3)
        assert np.std(ratio) == pytest.approx(np.median(1 / np.sqrt(expected[good])), rel=0.15)
