"""AstroDataNiri: NIRI tags and descriptors against the reference's worked values."""

import logging
import math

import pytest

import astrodata
from astrodata import Section
from astrodata.instruments.niri import AstroDataNiri
from astrodata.instruments.niri import lookup as niri_lookup

# Real science set (test_niri.py); the calibration sets follow from the rules.
REAL_TAG_SETS = {
    "science": "RAW GEMINI NORTH SIDEREAL UNPREPARED IMAGE NIRI",
    "dark": "CAL DARK GEMINI NIRI NORTH RAW UNPREPARED",
    "flat_on": "AZEL_TARGET CAL FLAT GCALFLAT GCAL_IR_ON GEMINI IMAGE LAMPON NIRI NON_SIDEREAL "
               "NORTH RAW UNPREPARED",
    "flat_off": "AZEL_TARGET CAL FLAT GCALFLAT GCAL_IR_OFF GEMINI IMAGE LAMPOFF NIRI "
                "NON_SIDEREAL NORTH RAW UNPREPARED",
    "twilight": "CAL FLAT GEMINI IMAGE NIRI NORTH RAW SIDEREAL TWILIGHT UNPREPARED",
}


@pytest.mark.parametrize("kind", sorted(REAL_TAG_SETS))
def test_raw_tag_sets(raw, open_raw, kind):
    ad = open_raw(raw.niri(kind))
    assert isinstance(ad, AstroDataNiri)
    assert ad.tags == set(REAL_TAG_SETS[kind].split())


def test_grism_makes_a_spectrum(raw, open_raw):
    ad = open_raw(raw.niri("science", FILTER3="Kgrism_G5204", FILTER1="K_G0204"))
    assert {"SPECT", "LS"} <= ad.tags and "IMAGE" not in ad.tags
    assert ad.disperser() == "Kgrism_G5204"
    assert ad.disperser(stripID=True) == "Kgrism"
    assert ad.filter_name() == "K_G0204"
    arc = open_raw(raw.niri("science", OBSTYPE="ARC", FILTER3="Jgrism_G5202"))
    assert "ARC" in arc.tags


@pytest.mark.parametrize(
    "lnrs, ndavgs, mode, noise",
    [(16, 16, "Low Background", 12.3), (1, 16, "Medium Background", 35.0),
     (1, 1, "High Background", 70.0), (4, 4, "Unknown", 35.0)],
)
def test_read_mode_and_read_noise(raw, open_raw, lnrs, ndavgs, mode, noise):
    ad = open_raw(raw.niri("science", lnrs=lnrs, ndavgs=ndavgs, coadds=4))
    assert ad.read_mode() == mode
    assert ad.read_noise() == [pytest.approx(noise * 2)]  # x sqrt(4 coadds)


def test_worked_values_five_shallow_coadds(raw, open_raw):
    ad = open_raw(raw.niri("science", coadds=5, exptime=2.001, well="Shallow"))
    assert ad.well_depth_setting() == "Shallow"
    assert ad.gain() == [12.3]
    assert ad.saturation_level() == [81300]
    assert ad.non_linear_level() == [56910]
    assert ad.exposure_time() == 10.005
    assert ad.coadds() == 5


def test_deep_well(raw, open_raw):
    ad = open_raw(raw.niri("science", coadds=1, well="Deep"))
    assert ad.well_depth_setting() == "Deep"
    assert ad.saturation_level() == [22764]  # 280000 e- / 12.3
    assert ad.non_linear_level() == [15934]


def test_unknown_well_depth(raw, open_raw, caplog):
    ad = open_raw(raw.niri("science", A_VDDUC=-3.0, A_VDET=-3.0))
    assert ad.well_depth_setting() == "Unknown"
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.saturation_level() == [None]
    assert "well depth setting is 'Unknown'" in caplog.text


@pytest.mark.parametrize(
    "filters, raw_name, pretty",
    [
        (("Kprime_G0206", "open", "pupil38_G5218"), "Kprime_G0206", "K(prime)"),
        (("Kshort_G0205", "open", "open"), "Kshort_G0205", "K(short)"),
        (("H2v=1-0S1_G0220", "K_G0204", "open"), "H2v=1-0S1_G0220&K_G0204", "H2 1-0 S1"),
        (("Y_G0241", "PK50_G0236", "open"), "PK50_G0236&Y_G0241", "Y"),
        (("J_G0202", "open", "open"), "J_G0202", "J"),
        (("blank", "J_G0202", "open"), "blank", "blank"),
        (("open", "open", "open"), "open", "open"),
        (("Bra_G0238", "open", "open"), "Bra_G0238", "Br(alpha)"),
    ],
)
def test_filter_name(raw, open_raw, filters, raw_name, pretty):
    values = dict(zip(("FILTER1", "FILTER2", "FILTER3"), filters, strict=True))
    ad = open_raw(raw.niri("science", **values))
    assert ad.filter_name() == raw_name
    assert ad.filter_name(pretty=True) == pretty


def test_optics(raw, open_raw):
    ad = open_raw(raw.niri("science"))
    assert ad.camera() == "f6"
    assert ad.focal_plane_mask() == "f6-cam_G5208"
    assert ad.focal_plane_mask(stripID=True) == "f6-cam"
    assert ad.disperser() == "MIRROR"
    assert ad.pupil_mask() == "pupil38_G5218"
    assert open_raw(raw.niri("science", FILTER3="open")).pupil_mask() == "MIRROR"
    assert ad.effective_wavelength(asMicrometers=True) == pytest.approx(2.12)
    assert ad.wavelength_band() == "K"


def test_full_frame_sections(raw, open_raw):
    ad = open_raw(raw.niri("science", size=1024))
    full = Section(0, 1024, 0, 1024)
    assert ad.data_section() == [full]
    assert ad.detector_section() == [full]
    assert ad.array_section(pretty=True) == ["[1:1024,1:1024]"]
    assert ad.detector_roi_setting() == "Full Frame"


def test_central_subarray(raw, open_raw):
    ad = open_raw(raw.niri("science", size=256, rows=(384, 639), cols=(384, 639)))
    assert ad.data_section(pretty=True) == ["[1:256,1:256]"]
    assert ad.detector_section(pretty=True) == ["[385:640,385:640]"]
    assert ad.detector_roi_setting() == "Central256"
    assert open_raw(raw.niri("science", size=4)).detector_roi_setting() == "Custom"


def test_pixel_scale_and_offsets(raw, open_raw):
    ad = open_raw(raw.niri("science", POFFSET=1.171, QOFFSET=-2.342))
    assert ad.pixel_scale() == pytest.approx(0.1171)
    assert ad.detector_x_offset() == pytest.approx(10.0)
    assert ad.detector_y_offset() == pytest.approx(20.0)
    bottom = open_raw(raw.niri("science", POFFSET=1.171, INPORT=1))
    assert bottom.detector_x_offset() == pytest.approx(-10.0)
    ao = open_raw(raw.niri("science", POFFSET=1.171, INPORT=1, AOFOLD="IN"))
    assert ao.detector_x_offset() == pytest.approx(10.0)  # not flipped with AO


def test_pixel_scale_from_the_camera(raw, open_raw):
    hdulist = raw.niri("science", CAMERA="f32")
    for key in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
        del hdulist[1].header[key]
    assert open_raw(hdulist).pixel_scale() == pytest.approx(0.0219)


def test_group_id(raw, open_raw):
    section = "[Section(x1=0, x2=1024, y1=0, y2=1024)]"
    science = open_raw(raw.niri("science"))
    assert science.group_id() == (
        f"GN-2016A-Q-11-25_K(prime)_f6_Medium Background_Shallow_{section}")
    dark = open_raw(raw.niri("dark", exptime=2.001, coadds=5))
    assert dark.group_id() == f"10.005_5_Medium Background_Shallow_{section}"
    flat = open_raw(raw.niri("flat_on"))
    assert flat.group_id().endswith("_NIRI_IMAGE_FLAT")
    assert open_raw(raw.niri("flat_off")).group_id() == flat.group_id()
    assert open_raw(raw.niri("twilight")).group_id().endswith("_NIRI_IMAGE_TWILIGHT")


def test_nominal_zeropoint(raw, open_raw):
    ad = open_raw(raw.niri("science"))
    assert ad.nominal_photometric_zeropoint() == [
        pytest.approx(26.40 - 2.5 * math.log10(12.3))]
    astrodata.mark_history(ad, "ADUToElectrons")
    assert ad.nominal_photometric_zeropoint() == [pytest.approx(26.40)]


def test_prepared_values(raw, open_raw):
    ad = open_raw(raw.niri("science"))
    astrodata.mark_history(ad, "prepare")
    ad[0].hdr["RDNOISE"] = 78.3
    ad[0].hdr["SATLEVEL"] = 1000000.0
    assert ad.read_noise() == [78.3]
    assert ad.saturation_level() == [1000000.0]
    assert ad.exposure_time() == pytest.approx(2.001)  # prepare makes EXPTIME the total


def test_missing_keywords(raw, open_raw, caplog):
    ad = open_raw(raw.niri("science", drop=["LNRS", "A_VDET", "FILTER3", "COADDS"]))
    # FILTER3 decides IMAGE/SPECT: without it neither tag is given.
    assert ad.tags == {"GEMINI", "NIRI", "NORTH", "RAW", "SIDEREAL", "UNPREPARED"}
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.read_mode() is None
        assert ad.well_depth_setting() is None
        assert ad.saturation_level() == [None]
        assert ad.filter_name() is None
        assert ad.disperser() is None
    assert ad.coadds() == 1
    assert "LNRS" in caplog.text and "A_VDET" in caplog.text and "FILTER3" in caplog.text


def test_lookup_tables():
    table = niri_lookup.NONLINEARITY_COEFFICIENTS
    assert set(table) == {
        ("Low Background", 1024, "Shallow"), ("Medium Background", 1024, "Shallow"),
        ("Medium Background", 256, "Shallow"), ("High Background", 1024, "Shallow"),
        ("High Background", 1024, "Deep")}
    deep = table[("High Background", 1024, "Deep")]
    assert deep.max_counts == pytest.approx(21000 * 12.3)
    # The correction raises the counts: NIRI is sub-linear near full well.
    c = 100000.0
    assert c * (1 + c * (deep.gamma + c * deep.eta)) > c
    for name in niri_lookup.FILTER_NAME_MAPPING.values():
        assert name in niri_lookup.FILTER_WAVELENGTHS
