"""AstroDataF2: Flamingos-2 tags and descriptors against the reference's worked values."""

import logging
import math

import numpy as np
import pytest

import astrodata
from astrodata.instruments.f2 import AstroDataF2
from astrodata.instruments.f2 import lookup as f2_lookup

# Real tag sets (F2 imaging tutorial, typewalk), plus the twilight/standard
# sets that follow from the rules.
REAL_TAG_SETS = {
    "dark": "AT_ZENITH AZEL_TARGET CAL DARK F2 GEMINI NON_SIDEREAL RAW SOUTH UNPREPARED",
    "dark_2020": "CAL DARK F2 GEMINI RAW SOUTH UNPREPARED",
    "science": "F2 GEMINI IMAGE RAW SIDEREAL SOUTH UNPREPARED",
    "standard": "F2 GEMINI IMAGE RAW SIDEREAL SOUTH UNPREPARED",
    "flat_off": "AZEL_TARGET CAL F2 FLAT GCALFLAT GCAL_IR_OFF GEMINI IMAGE LAMPOFF NON_SIDEREAL "
                "RAW SOUTH UNPREPARED",
    "flat_on": "AZEL_TARGET CAL F2 FLAT GCALFLAT GCAL_IR_ON GEMINI IMAGE LAMPON NON_SIDEREAL "
               "RAW SOUTH UNPREPARED",
    "twilight": "CAL F2 GEMINI IMAGE RAW SIDEREAL SOUTH TWILIGHT UNPREPARED",
}


@pytest.mark.parametrize("kind", sorted(REAL_TAG_SETS))
def test_raw_tag_sets_are_exactly_the_real_ones(raw, open_raw, kind):
    ad = open_raw(raw.f2(kind))
    assert isinstance(ad, AstroDataF2)
    assert ad.tags == set(REAL_TAG_SETS[kind].split())


def test_a_dk_filter_alone_makes_a_dark(raw, open_raw):
    ad = open_raw(raw.f2("science", FILTER2="DK_G0807"))
    assert {"DARK", "CAL"} <= ad.tags
    assert "IMAGE" not in ad.tags


def test_slit_and_spectroscopy_tags(raw, open_raw):
    thru_slit = open_raw(raw.f2("science", MOSPOS="2pix-slit", MASKNAME="2pix-slit"))
    assert {"IMAGE", "LS", "THRUSLIT"} <= thru_slit.tags
    assert "SPECT" not in thru_slit.tags
    longslit = open_raw(raw.f2("science", GRISM="JH_G5801", DECKER="Long_slit",
                               MOSPOS="4pix-slit", MASKNAME="4pix-slit"))
    assert {"LS", "SPECT"} <= longslit.tags
    assert not {"IMAGE", "THRUSLIT"} & longslit.tags
    assert longslit.dispersion_axis() == [2]
    assert longslit.focal_plane_mask() == "4pix-slit"
    assert longslit.disperser(pretty=True) == "JH"
    mos = open_raw(raw.f2("science", GRISM="HK_G5802", DECKER="mos", MOSPOS="mos1"))
    assert {"MOS", "SPECT"} <= mos.tags
    arc = open_raw(raw.f2("science", OBSTYPE="ARC", GRISM="JH_G5801"))
    assert {"ARC", "CAL"} <= arc.tags


@pytest.mark.parametrize(
    "lnrs, gain, read_noise, saturation, non_linear",
    [(1, 4.44, 11.7, 35000, 25200), (4, 1.11, 6.0, 140000, 100800),
     (6, 0.74, 5.3, 210000, 151200), (8, 0.555, 5.0, 280000, 201600)],
)
def test_detector_properties_by_read_mode(raw, open_raw, lnrs, gain, read_noise, saturation,
                                          non_linear):
    ad = open_raw(raw.f2("science", lnrs=lnrs))
    assert ad.read_mode() == str(lnrs)
    assert ad.gain() == [pytest.approx(gain)]
    assert ad.read_noise() == [pytest.approx(read_noise)]
    assert ad.saturation_level() == [saturation]
    assert ad.non_linear_level() == [non_linear]
    assert ad[0].gain() == pytest.approx(gain)


def test_coadds_are_summed(raw, open_raw):
    ad = open_raw(raw.f2("science", exptime=15.0, coadds=4))
    assert ad.exposure_time() == pytest.approx(60.0)
    assert ad.saturation_level() == [140000]
    assert ad.read_noise() == [pytest.approx(11.7 * 2)]


def test_read_mode_ignores_readmode(raw, open_raw):
    ad = open_raw(raw.f2("science", lnrs=8, READMODE="Bright"))
    assert ad.read_mode() == "8"


def test_filter_name(raw, open_raw):
    ad = open_raw(raw.f2("science"))
    assert ad.filter_name() == "Open&Y_G0811"
    assert ad.filter_name(pretty=True) == "Y"
    assert ad.filter_name(stripID=True) == "Open&Y"
    assert ad.filter_name(pretty=True, keepID=True) == "Y_G0811"
    dark = open_raw(raw.f2("dark"))
    assert dark.filter_name() == "J_G0802&DK_G0807"
    assert dark.filter_name(pretty=True) == "dark"
    assert open_raw(raw.f2("science", FILTER2="Open")).filter_name(pretty=True) == "open"
    assert open_raw(raw.f2("science", FILTER1="Block")).filter_name(pretty=True) == "blank"
    # A filter in the Lyot wheel joins the name; the f/16 stop does not.
    lyot_filter = open_raw(raw.f2("science", LYOT="K-blue_G0814", FILTER2="Open"))
    assert lyot_filter.filter_name() == "Open&Open&K-blue_G0814"
    assert lyot_filter.filter_name(pretty=True) == "K-blue"


def test_filter_keywords_before_2010(raw, open_raw):
    ad = open_raw(raw.f2("science", FILT1POS="Open", FILT2POS="J_G0802",
                         **{"DATE-OBS": "2009-11-02", "DATE": "2009-11-02"}))
    assert ad.filter_name(pretty=True) == "J"


def test_camera_lyot_mask_and_disperser(raw, open_raw):
    ad = open_raw(raw.f2("science"))
    assert ad.camera() == "f/16_G5830"
    assert ad.camera(pretty=True) == "f/16"
    assert ad.lyot_stop() == "f/16_G5830" and ad.lyot_stop(stripID=True) == "f/16"
    assert ad.focal_plane_mask() == "Open"
    assert ad.decker() == "Open"
    assert ad.disperser() == "Open"
    from_focus = open_raw(raw.f2("science", LYOT="GEMS_under"))
    assert from_focus.camera() == "f/16_G5830"
    from_scale = open_raw(raw.f2("science", LYOT="GEMS_under", drop=["FOCUS"]))
    assert from_scale.camera(pretty=True) == "f/16"
    assert open_raw(raw.f2("science", LYOT="Undefined")).lyot_stop() is None


def test_central_wavelength(raw, open_raw):
    ad = open_raw(raw.f2("science"))
    assert ad.central_wavelength(asMicrometers=True) == pytest.approx(1.02)
    assert ad.central_wavelength() == pytest.approx(1.02e-6)
    klong = open_raw(raw.f2("science", FILTER2="K-long_G0812", WAVELENG=21000.0))
    assert klong.central_wavelength(asNanometers=True) == pytest.approx(2200.0)
    jh = open_raw(raw.f2("science", FILTER2="JH_G0816"))
    assert jh.central_wavelength(asMicrometers=True) == pytest.approx(1.3385)
    assert ad.effective_wavelength(asMicrometers=True) == pytest.approx(1.02)
    assert ad.wavelength_band() == "Y"


def test_pixel_scale_from_the_cd_matrix(raw, open_raw):
    assert open_raw(raw.f2("science")).pixel_scale() == pytest.approx(0.17974)


def test_offsets_position_angle(raw, open_raw):
    ad = open_raw(raw.f2("science", XOFFSET=2.0, YOFFSET=-3.0, PA=10.0,
                         POFFSET=-0.17974 * 20, QOFFSET=0.17974 * 10))
    # F2's array axes are swapped and negated relative to the telescope's.
    assert ad.telescope_x_offset() == pytest.approx(3.0)
    assert ad.telescope_y_offset() == pytest.approx(-2.0)
    assert ad.position_angle() == pytest.approx(100.0)
    assert ad.detector_x_offset() == pytest.approx(-10.0)
    assert ad.detector_y_offset() == pytest.approx(20.0)
    flipped = open_raw(raw.f2("science", POFFSET=-0.17974 * 20, INPORT=1))
    assert flipped.detector_y_offset() == pytest.approx(-20.0)
    assert open_raw(raw.f2("science", PA=270.0)).position_angle() == pytest.approx(0.0)


def test_raw_sections_are_the_whole_array(raw, open_raw):
    ad = open_raw(raw.f2("science", shape=(1, 2048, 2048)))
    assert ad[0].data.dtype.name == "int32" and ad[0].data.shape == (1, 2048, 2048)
    full = astrodata.Section(0, 2048, 0, 2048)
    assert ad.data_section() == [full]
    assert ad.detector_section() == [full]
    assert ad.array_section(pretty=True) == ["[1:2048,1:2048]"]


def test_prepared_data_read_the_header(raw, open_raw):
    ad = open_raw(raw.f2("science", lnrs=8))
    astrodata.mark_history(ad, "prepare")
    ad[0].hdr["DATASEC"] = "[5:2044,5:2044]"
    ad[0].hdr["GAIN"] = 0.555
    ad[0].hdr["RDNOISE"] = 5.0
    ad[0].hdr["SATLEVEL"] = 155400.0
    ad[0].hdr["NONLINEA"] = 111888.0
    assert ad.data_section(pretty=True) == ["[5:2044,5:2044]"]
    assert ad.saturation_level() == [155400.0]
    assert ad.non_linear_level() == [111888.0]
    astrodata.mark_history(ad, "ADUToElectrons")
    assert ad.gain() == [1.0]


def test_group_id(raw, open_raw):
    science = open_raw(raw.f2("science", lnrs=8))
    section = "[Section(x1=0, x2=4, y1=0, y2=4)]"
    assert science.group_id() == f"GS-2013B-Q-15-39_Y_f/16_G5830_120.0_8_{section}"
    dark = open_raw(raw.f2("dark", exptime=2.0))
    assert dark.group_id() == f"2.0_1_1_{section}"
    flat = open_raw(raw.f2("flat_on", exptime=6.0))
    assert flat.group_id() == f"Y_f/16_G5830_6.0_GS-2013B-Q-15-39_1_{section}_F2_IMAGE_FLAT"
    assert open_raw(raw.f2("flat_off", exptime=6.0)).group_id() == flat.group_id()
    twilight = open_raw(raw.f2("twilight", exptime=9.0))
    assert twilight.group_id() == f"Y_f/16_G5830_1_{section}_F2_IMAGE_TWILIGHT"
    # Darks of different exposure times never stack together.
    assert open_raw(raw.f2("dark", exptime=120.0)).group_id() != dark.group_id()


def test_nominal_zeropoint(raw, open_raw):
    ad = open_raw(raw.f2("science", lnrs=8))
    # 26.73 mag gives 1 e-/s; in ADU (0.555 e-/ADU) the zeropoint is brighter by 2.5 log g.
    assert ad.nominal_photometric_zeropoint() == [pytest.approx(26.73 - 2.5 * math.log10(0.555))]


def test_missing_keywords(raw, open_raw, caplog):
    ad = open_raw(raw.f2("science", drop=["LNRS", "EXPTIME", "FILTER2", "GRISM"]))
    assert ad.tags == {"F2", "GEMINI", "RAW", "SIDEREAL", "SOUTH", "UNPREPARED"}
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.read_mode() is None
        assert ad.gain() == [None]
        assert ad[0].saturation_level() is None
        assert ad.exposure_time() is None
        assert ad.filter_name() is None
        # The grouping key still exists; the missing values show as None.
        assert ad.group_id() == ("GS-2013B-Q-15-39_None_f/16_G5830_None_None_"
                                 "[Section(x1=0, x2=4, y1=0, y2=4)]")
    for name in ("read_mode()", "gain()", "exposure_time()", "filter_name()"):
        assert name in caplog.text
    assert "LNRS" in caplog.text


def test_lookup_tables():
    assert set(f2_lookup.ARRAY_PROPERTIES) == {"1", "4", "6", "8"}
    props = f2_lookup.ARRAY_PROPERTIES["8"]
    assert props.well_depth == 155400.0 and props.linear_limit == 0.72
    c0, c1, c2 = f2_lookup.NONLINEARITY_COEFFICIENTS
    # F2 under-reports high counts: the correction factor grows with the signal
    # and stays within 1% up to 100000 electrons.
    factor = [c0 + c1 * x + c2 * x * x for x in (1e4, 5e4, 1e5)]
    assert factor == sorted(factor)
    assert all(abs(f - 1) < 0.01 for f in factor)
    assert f2_lookup.illumination_circle((2048, 2048)) == (1049.9, 1055.0, 1054.4)
    x0, y0, r = f2_lookup.illumination_circle((1, 512, 512))
    assert (x0, y0, r) == pytest.approx((262.1, 263.375, 263.6))
    # About 82% of a full frame is illuminated.
    yy, xx = np.mgrid[0:2048:4, 0:2048:4]
    inside = (xx - 1049.9) ** 2 + (yy - 1055.0) ** 2 <= 1054.4**2
    assert inside.mean() == pytest.approx(0.82, abs=0.02)
