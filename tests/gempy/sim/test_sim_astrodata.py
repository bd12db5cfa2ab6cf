"""The simulated files through astrodata: tags and descriptors as in the tutorials and reference."""

from __future__ import annotations

import numpy as np
import pytest

astrodata = pytest.importorskip("astrodata")

F2_TAGS = {
    "dark": "AT_ZENITH AZEL_TARGET CAL DARK F2 GEMINI NON_SIDEREAL RAW SOUTH UNPREPARED",
    "dark_short": "AT_ZENITH AZEL_TARGET CAL DARK F2 GEMINI NON_SIDEREAL RAW SOUTH UNPREPARED",
    "science": "F2 GEMINI IMAGE RAW SIDEREAL SOUTH UNPREPARED",
    "flat_lamp_off": "AZEL_TARGET CAL F2 FLAT GCALFLAT GCAL_IR_OFF GEMINI IMAGE LAMPOFF "
                     "NON_SIDEREAL RAW SOUTH UNPREPARED",
    "flat_lamp_on": "AZEL_TARGET CAL F2 FLAT GCALFLAT GCAL_IR_ON GEMINI IMAGE LAMPON "
                    "NON_SIDEREAL RAW SOUTH UNPREPARED",
}
GSAOI_TAGS = {
    "flat_lamp_on": "AZEL_TARGET CAL DOMEFLAT FLAT GEMINI GSAOI IMAGE LAMPON NON_SIDEREAL RAW "
                    "SOUTH UNPREPARED",
    "flat_lamp_off": "AZEL_TARGET CAL DOMEFLAT FLAT GEMINI GSAOI IMAGE LAMPOFF NON_SIDEREAL RAW "
                     "SOUTH UNPREPARED",
    "science": "GEMINI GSAOI IMAGE RAW SIDEREAL SOUTH UNPREPARED",
    "sky": "GEMINI GSAOI IMAGE RAW SIDEREAL SOUTH UNPREPARED",
    "standard": "GEMINI GSAOI IMAGE RAW SIDEREAL SOUTH UNPREPARED",
}


@pytest.mark.parametrize("name, expected", [("f2-tutorial", F2_TAGS),
                                            ("gsaoi-tutorial", GSAOI_TAGS)])
def test_tags_match_the_tutorial_typewalk(small_dataset, name, expected):
    path, truth = small_dataset(name)
    for role, tags in expected.items():
        for fname in truth["roles"][role]:
            assert astrodata.open(path / fname).tags == set(tags.split()), (role, fname)


def test_niri_and_gmos_tags(small_dataset):
    path, truth = small_dataset("niri-imaging")
    science = astrodata.open(path / truth["roles"]["science"][0])
    assert science.tags == {"RAW", "GEMINI", "NORTH", "SIDEREAL", "UNPREPARED", "IMAGE", "NIRI"}
    flat = astrodata.open(path / truth["roles"]["flat_lamp_on"][0])
    assert {"FLAT", "LAMPON", "GCALFLAT", "NIRI", "CAL"} <= flat.tags
    path, truth = small_dataset("gmos-imaging")
    assert astrodata.open(path / truth["roles"]["bias"][0]).tags == {
        "BIAS", "CAL", "GEMINI", "GMOS", "RAW", "SOUTH", "UNPREPARED"}
    assert astrodata.open(path / truth["roles"]["twilight"][0]).tags == {
        "CAL", "FLAT", "GEMINI", "GMOS", "IMAGE", "RAW", "SIDEREAL", "SOUTH", "TWILIGHT",
        "UNPREPARED"}
    path, truth = small_dataset("gmos-n-e2v")
    assert astrodata.open(path / truth["roles"]["bias"][0]).tags == {
        "AT_ZENITH", "AZEL_TARGET", "BIAS", "CAL", "GEMINI", "GMOS", "NON_SIDEREAL", "NORTH",
        "RAW", "UNPREPARED"}


def test_f2_descriptors(small_dataset):
    path, truth = small_dataset("f2-tutorial")
    exposure = {"science": 120.0, "dark": 120.0, "dark_short": 2.0, "flat_lamp_on": 20.0,
                "flat_lamp_off": 20.0}
    for role, value in exposure.items():
        ad = astrodata.open(path / truth["roles"][role][0])
        assert ad.exposure_time() == pytest.approx(value)
    ad = astrodata.open(path / truth["roles"]["science"][0])
    assert ad.filter_name(pretty=True) == "Y"
    assert ad.filter_name() == "Open&Y_G0811"
    assert ad.observation_class() == "science"
    assert ad.read_mode() == "8"
    assert ad.gain()[0] == pytest.approx(0.555)
    assert ad.saturation_level()[0] == 280000
    assert ad.position_angle() == pytest.approx(90.0)
    assert ad.pixel_scale() == pytest.approx(truth["pixel_scale_arcsec"], rel=1e-4)
    dark = astrodata.open(path / truth["roles"]["dark"][0])
    assert dark.observation_class() == "dayCal" and dark.object() == "Dark"
    assert dark.read_mode() == ad.read_mode()


def test_gsaoi_descriptors(small_dataset):
    path, truth = small_dataset("gsaoi-tutorial")
    ad = astrodata.open(path / truth["roles"]["science"][0])
    assert ad.filter_name() == "Kshort_G1105&Clear"
    assert ad.filter_name(pretty=True) == "Kshort"
    assert ad.exposure_time() == pytest.approx(60.0)
    assert ad.object() == "NGC5128" and ad.observation_class() == "science"
    assert ad.array_name() == ["H2RG-032-074", "H2RG-032-064", "H2RG-032-071", "H2RG-032-061"]
    assert ad.gain() == pytest.approx([2.434, 2.010, 2.411, 2.644])
    std = astrodata.open(path / truth["roles"]["standard"][0])
    assert std.object() == "9132" and std.observation_class() == "partnerCal"
    assert std.exposure_time() == pytest.approx(30.0)


def test_gmos_descriptors_match_the_truth(small_dataset):
    path, truth = small_dataset("gmos-imaging")
    fname = truth["roles"]["science"][0]
    ad = astrodata.open(path / fname)
    assert ad.filter_name(pretty=True) == "r"
    assert ad.detector_x_bin() == 2 and ad.detector_y_bin() == 2
    assert ad.read_speed_setting() == "slow" and ad.gain_setting() == "low"
    expected = [e["gain_e_per_adu"] for e in truth["files"][fname]["extensions"]]
    assert [ad[i].hdr["GAIN"] for i in range(len(ad))] == expected
    # the simulator takes its gains from astrodata's table: one source, exact agreement
    assert ad.gain() == expected
    assert ad.array_name()[0] == "BI5-36-4k-2, 4"


@pytest.mark.parametrize("name", ["f2-tutorial", "niri-imaging", "gsaoi-tutorial",
                                  "gmos-imaging"])
def test_detector_offsets_are_the_pixel_shift_of_the_sky(small_dataset, name):
    """Between two dithers a star moves by the change of detector_x/y_offset (descriptors)."""
    path, truth = small_dataset(name)
    catalog = truth["catalog"]
    names = truth["roles"]["science"][:3]
    ads = [astrodata.open(path / n) for n in names]
    positions = []
    for ad in ads:
        x, y = ad[1 if name == "gmos-imaging" else 0].wcs.invert(catalog["ra"][0],
                                                                 catalog["dec"][0])
        positions.append(np.array([x, y], float))
    binning = truth["binning"][0]
    for ad, pos in zip(ads[1:], positions[1:], strict=True):
        expected = np.array([ad.detector_x_offset() - ads[0].detector_x_offset(),
                             ad.detector_y_offset() - ads[0].detector_y_offset()])
        assert pos - positions[0] == pytest.approx(expected / (1 if name != "gmos-imaging"
                                                                else 1), abs=0.05 * binning)
