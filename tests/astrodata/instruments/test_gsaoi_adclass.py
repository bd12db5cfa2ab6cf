"""AstroDataGsaoi: GSAOI tags and per-array descriptors against the reference's worked values."""

import logging
import math

import pytest

import astrodata
from astrodata.instruments.gsaoi import AstroDataGsaoi
from astrodata.instruments.gsaoi import lookup as gsaoi_lookup

# Real tag sets (GSAOI imaging tutorial, typewalk); the dark follows from the rules.
REAL_TAG_SETS = {
    "domeflat_on": "AZEL_TARGET CAL DOMEFLAT FLAT GEMINI GSAOI IMAGE LAMPON NON_SIDEREAL RAW "
                   "SOUTH UNPREPARED",
    "domeflat_off": "AZEL_TARGET CAL DOMEFLAT FLAT GEMINI GSAOI IMAGE LAMPOFF NON_SIDEREAL RAW "
                    "SOUTH UNPREPARED",
    "science": "GEMINI GSAOI IMAGE RAW SIDEREAL SOUTH UNPREPARED",
    "standard": "GEMINI GSAOI IMAGE RAW SIDEREAL SOUTH UNPREPARED",
    "dark": "CAL DARK GEMINI GSAOI RAW SOUTH UNPREPARED",
}

ARRAYS = ["H2RG-032-074", "H2RG-032-064", "H2RG-032-071", "H2RG-032-061"]


@pytest.mark.parametrize("kind", sorted(REAL_TAG_SETS))
def test_raw_tag_sets_are_exactly_the_real_ones(raw, open_raw, kind):
    ad = open_raw(raw.gsaoi(kind))
    assert isinstance(ad, AstroDataGsaoi)
    assert len(ad) == 4
    assert ad.tags == set(REAL_TAG_SETS[kind].split())


def test_twilight_and_flat_tags(raw, open_raw):
    twilight = open_raw(raw.gsaoi("science", OBJECT="Twilight", OBSCLASS="dayCal"))
    assert {"TWILIGHT", "FLAT", "CAL", "IMAGE"} <= twilight.tags
    flat = open_raw(raw.gsaoi("science", OBSTYPE="FLAT"))
    assert {"FLAT", "CAL", "IMAGE"} <= flat.tags
    assert not {"LAMPON", "LAMPOFF", "DOMEFLAT"} & flat.tags


def test_layout_descriptors(raw, open_raw):
    ad = open_raw(raw.gsaoi("science"))
    assert ad.array_name() == ARRAYS
    assert ad.detector_section(pretty=True) == [
        "[2049:4096,1:2048]", "[1:2048,1:2048]", "[1:2048,2049:4096]", "[2049:4096,2049:4096]"]
    assert ad.array_section() == [astrodata.Section(0, 2048, 0, 2048)] * 4
    assert ad.data_section() == [astrodata.Section(0, 2048, 0, 2048)] * 4
    assert ad[2].array_name() == "H2RG-032-071"
    assert ad[2].detector_section() == astrodata.Section(0, 2048, 2048, 4096)
    assert ad.amp_read_area()[0] == "'H2RG-032-074':[2049:4096,1:2048]"


@pytest.mark.parametrize(
    "lnrs, speed, read_noise",
    [(2, "Bright Objects", [26.53, 19.10, 27.24, 32.26]),
     (8, "Faint Objects", [13.63, 9.85, 14.22, 16.78]),
     (16, "Very Faint Objects", [10.22, 7.44, 10.61, 12.79])],
)
def test_per_array_properties(raw, open_raw, lnrs, speed, read_noise):
    ad = open_raw(raw.gsaoi("science", lnrs=lnrs))
    assert ad.read_speed_setting() == speed
    assert ad.read_mode() == "FOWLER"
    assert ad.gain() == pytest.approx([2.434, 2.010, 2.411, 2.644])
    assert ad.read_noise() == pytest.approx(read_noise)
    assert ad.saturation_level() == [52400, 50250, 53700, 52300]
    assert ad.non_linear_level() == [38252, 32160, 40812, 39225]


def test_coadds_are_averaged(raw, open_raw):
    ad = open_raw(raw.gsaoi("science", lnrs=8, coadds=4, exptime=15.0))
    assert ad.is_coadds_summed() is False
    assert ad.exposure_time() == pytest.approx(15.0)
    # Averaging 4 coadds halves the read noise (rounded to 0.01 e-).
    assert ad.read_noise() == pytest.approx([6.82, 4.92, 7.11, 8.39])
    assert ad.saturation_level() == [52400, 50250, 53700, 52300]


def test_unknown_lnrs(raw, open_raw, caplog):
    ad = open_raw(raw.gsaoi("science", lnrs=4))
    assert ad.read_speed_setting() == "Unknown"
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.gain() == [None] * 4
    assert "no GSAOI array properties" in caplog.text


def test_optical_and_pointing_descriptors(raw, open_raw):
    ad = open_raw(raw.gsaoi("science", QOFFSET=0.196558, POFFSET=-0.393116))
    assert ad.filter_name() == "Kshort_G1105&Clear"
    assert ad.filter_name(pretty=True) == "Kshort"
    assert ad.camera() == "GSAOI" and ad.detector_name() == "GSAOI"
    assert ad.central_wavelength(asMicrometers=True) == pytest.approx(2.15)
    assert ad.wavelength_band() == "K"
    assert ad.is_ao() is True
    assert "GEMS" in ad.wavefront_sensor().split("&")
    assert ad.pixel_scale() == pytest.approx(0.0196558)
    assert ad.detector_y_offset() == pytest.approx(-10.0)
    assert ad.detector_x_offset() == pytest.approx(-20.0)
    assert (ad.wcs_ra(), ad.wcs_dec()) == pytest.approx((201.365, -43.019))
    kprime = open_raw(raw.gsaoi("science", FILTER1="Kprime_G1104"))
    assert kprime.filter_name(pretty=True) == "Kprime"
    assert open_raw(raw.gsaoi("domeflat_on")).is_ao() is False


def test_group_id(raw, open_raw):
    sections = ("[Section(x1=2048, x2=4096, y1=0, y2=2048), Section(x1=0, x2=2048, y1=0, "
                "y2=2048), Section(x1=0, x2=2048, y1=2048, y2=4096), Section(x1=2048, x2=4096, "
                "y1=2048, y2=4096)]")
    science = open_raw(raw.gsaoi("science"))
    assert science.group_id() == f"GS-2017A-Q-29-13_Kshort_60.0_FOWLER_{sections}"
    flat_on = open_raw(raw.gsaoi("domeflat_on", exptime=30.0))
    flat_off = open_raw(raw.gsaoi("domeflat_off", exptime=30.0, OBSID="GS-2017A-Q-29-14"))
    # Dome flats group by program, not by observation.
    assert flat_on.group_id() == f"Kshort_30.0_GS-2017A-Q-29_FOWLER_{sections}"
    assert flat_off.group_id() == flat_on.group_id()


def test_nominal_zeropoints_per_array(raw, open_raw):
    ad = open_raw(raw.gsaoi("science"))
    expected = [z - 2.5 * math.log10(g) for z, g in
                zip((26.201, 26.287, 26.154, 26.192), (2.434, 2.010, 2.411, 2.644), strict=True)]
    assert ad.nominal_photometric_zeropoint() == pytest.approx(expected)


def test_missing_array_id_in_one_extension(raw, open_raw, caplog):
    hdulist = raw.gsaoi("science")
    del hdulist[3].header["ARRAYID"]
    ad = open_raw(hdulist)
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.array_name() == ["H2RG-032-074", "H2RG-032-064", None, "H2RG-032-061"]
        gains = ad.gain()
    assert gains[2] is None and gains[3] == pytest.approx(2.644)
    assert "extension 3" in caplog.text


def test_prepared_and_mosaicked(raw, open_raw):
    ad = open_raw(raw.gsaoi("science"))
    astrodata.mark_history(ad, "prepare")
    ad.hdr.set("GAIN", 1.0)
    ad.hdr.set("SATLEVEL", 120000.0)
    assert ad.gain() == [1.0] * 4
    assert ad.saturation_level() == [120000.0] * 4
    astrodata.mark_history(ad, "mosaicDetectors")
    for ext in ad:
        del ext.hdr["ARRAYID"]
    assert ad.array_name() == ["GSAOI"] * 4


def test_lookup_tables():
    assert set(gsaoi_lookup.ARRAY_PROPERTIES) == {
        (speed, array) for speed in gsaoi_lookup.READ_SPEED_BY_LNRS.values() for array in ARRAYS}
    assert [gsaoi_lookup.ARRAY_LAYOUT[i][0] for i in range(1, 5)] == ARRAYS
    assert gsaoi_lookup.TILE_GAPS == (145, 140)
    # The mosaic shifts are the array size plus about the tile gap.
    shift = gsaoi_lookup.MOSAIC_GEOMETRY[(2048, 0)]["shift"]
    assert shift[0] - 2048 == pytest.approx(145, abs=10)
    props = gsaoi_lookup.ARRAY_PROPERTIES[("Faint Objects", "H2RG-032-061")]
    assert props.coefficients[0] == pytest.approx(0.9958842)
    assert gsaoi_lookup.NOMINAL_ZEROPOINTS[("Kshort", "H2RG-032-064")] == 26.287
