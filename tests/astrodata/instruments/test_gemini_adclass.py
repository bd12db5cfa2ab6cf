"""AstroDataGemini: class selection, Gemini-wide tags and generic descriptors."""

import datetime as dt
import logging
import math

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata.instruments.f2 import AstroDataF2
from astrodata.instruments.gemini import AstroDataGemini
from astrodata.instruments.gmos import AstroDataGmos
from astrodata.instruments.gsaoi import AstroDataGsaoi
from astrodata.instruments.niri import AstroDataNiri


def gnirs(raw, kind="science", wcs=True, **values):
    """A Gemini file of an instrument without its own class (GNIRS): AstroDataGemini."""
    phu = raw.phu("GNIRS", "N", kind, "2016-01-02", "05:41:15.2", progid="GN-2016A-Q-11",
                  obsnum=25)
    phu["OBSTYPE"] = "OBJECT"
    phu["OBSCLASS"] = "science"
    phu["EXPTIME"] = 20.0
    phu["COADDS"] = 3
    phu["FILTER1"] = "Open"
    phu["FILTER2"] = "Kshort_G1105"
    for key, value in values.items():
        if value is None:
            phu.remove(key, ignore_missing=True)
        else:
            phu[key] = value
    ext = fits.ImageHDU(np.zeros((4, 4), dtype=np.float32), name="SCI", ver=1)
    ext.header["DATASEC"] = "[1:1024,1:1022]"
    ext.header["DETSEC"] = "[1:1024,1:1022]"
    ext.header["ARRAYNAM"] = "SN7638228.1"
    if wcs:
        raw.wcs(ext.header, 0.15, 83.8221, -5.3911, (512.0, 511.0), rotation_deg=30.0)
    return fits.HDUList([fits.PrimaryHDU(header=phu), ext])


# ---------------------------------------------------------------------------
# class selection


def test_entry_points_register_every_instrument_class():
    classes = astrodata.registered_classes()
    for cls in (AstroDataGemini, AstroDataF2, AstroDataGsaoi, AstroDataGmos, AstroDataNiri):
        assert cls in classes


@pytest.mark.parametrize(
    "builder, kwargs, expected",
    [
        ("f2", {}, AstroDataF2),
        ("gsaoi", {}, AstroDataGsaoi),
        ("gmos", {"site": "S"}, AstroDataGmos),
        ("gmos", {"site": "N"}, AstroDataGmos),
        ("niri", {}, AstroDataNiri),
    ],
)
def test_open_picks_the_most_specific_class(raw, open_raw, builder, kwargs, expected):
    ad = open_raw(getattr(raw, builder)("science", **kwargs))
    assert type(ad) is expected
    assert isinstance(ad, AstroDataGemini)


def test_flam_is_f2_and_other_gemini_instruments_are_gemini(raw, open_raw):
    assert type(open_raw(raw.f2("science", INSTRUME="FLAM"))) is AstroDataF2
    assert type(open_raw(gnirs(raw))) is AstroDataGemini


def test_non_gemini_file_is_plain_astrodata(raw, open_raw):
    hdulist = gnirs(raw, OBSERVAT="Palomar", TELESCOP="Hale 200-inch")
    ad = open_raw(hdulist)
    assert type(ad) is astrodata.AstroData
    assert not isinstance(ad, AstroDataGemini)


def test_telescop_alone_marks_gemini_data(raw, open_raw):
    ad = open_raw(gnirs(raw, OBSERVAT=None))
    assert type(ad) is AstroDataGemini
    assert "GEMINI" in ad.tags
    assert not {"NORTH", "SOUTH"} & ad.tags  # the site tag needs OBSERVAT


def test_create_selects_the_instrument_class(raw):
    phu = raw.gmos("science", site="S")[0].header
    ad = astrodata.create(phu, [np.zeros((4, 6), dtype=np.uint16)])
    assert type(ad) is AstroDataGmos
    assert ad.instrument() == "GMOS-S"
    assert ad.instrument(generic=True) == "GMOS"


def test_gemini_descriptor_set_is_complete(raw, open_raw):
    expected = {
        "airmass", "amp_read_area", "array_name", "array_section", "binning", "camera",
        "cass_rotator_pa", "central_wavelength", "coadds", "data_label", "data_section", "dec",
        "decker", "detector_name", "detector_roi_setting", "detector_section", "detector_x_bin",
        "detector_y_bin", "detector_x_offset", "detector_y_offset", "disperser",
        "dispersion_axis", "exposure_time", "is_coadds_summed", "filter_name",
        "focal_plane_mask", "gain", "gain_setting", "gcal_lamp", "group_id", "is_ao",
        "is_in_adu", "local_time", "lyot_stop", "nominal_photometric_zeropoint",
        "non_linear_level", "observation_class", "observation_type", "observation_id",
        "observation_epoch", "overscan_section", "pixel_scale", "position_angle", "program_id",
        "pupil_mask", "qa_state", "ra", "raw_bg", "raw_cc", "raw_iq", "raw_wv", "requested_bg",
        "requested_cc", "requested_iq", "requested_wv", "read_mode", "read_noise",
        "read_speed_setting", "saturation_level", "target_ra", "target_dec",
        "telescope_x_offset", "telescope_y_offset", "ut_date", "ut_datetime", "ut_time",
        "wavefront_sensor", "wavelength_band", "wcs_ra", "wcs_dec", "well_depth_setting",
        "calibration_key", "instrument", "object", "telescope", "elevation", "azimuth",
        "effective_wavelength", "nominal_atmospheric_extinction",
    }
    for builder in ("f2", "gsaoi", "gmos", "niri"):
        ad = open_raw(getattr(raw, builder)("science"))
        assert expected <= set(ad.descriptors), builder


# ---------------------------------------------------------------------------
# tags


def test_processing_history_changes_raw_and_prepared(raw, open_raw):
    ad = open_raw(gnirs(raw))
    assert {"RAW", "UNPREPARED", "GEMINI", "NORTH", "SIDEREAL"} <= ad.tags
    astrodata.mark_history(ad, "prepare")
    assert "PREPARED" in ad.tags
    assert not {"RAW", "UNPREPARED"} & ad.tags
    astrodata.mark_history(ad, "overscanCorrect")
    assert {"OVERSCAN_SUBTRACTED", "OVERSCAN_TRIMMED"} <= ad.tags
    assert "PROCESSED" not in ad.tags
    ad.phu["PROCDARK"] = "2016-01-03T10:00:00"
    assert "PROCESSED" in ad.tags


def test_processed_science_blocks_raw_even_without_gem_tlm(raw, open_raw):
    ad = open_raw(gnirs(raw, PROCSCI="2016-01-03T10:00:00"))
    assert {"PROCESSED_SCIENCE", "PROCESSED"} <= ad.tags
    assert "RAW" not in ad.tags


def test_bpm_blocks_the_tags_copied_from_raw_frames(raw, open_raw):
    ad = open_raw(gnirs(raw, "azel", OBSTYPE="DARK", BPMASK="2016-01-03T10:00:00",
                        OBSMODE="IMAGE", GCALLAMP="IRhigh", GCALSHUT="OPEN"))
    assert {"BPM", "CAL", "PROCESSED"} <= ad.tags
    assert not {"IMAGE", "NON_SIDEREAL", "AZEL_TARGET", "GCALFLAT", "LAMPON", "GCAL_IR_ON",
                "DARK"} & ad.tags


def test_gcal_lamp_tags(raw, open_raw):
    on = open_raw(gnirs(raw, "azel", OBSTYPE="FLAT", GCALLAMP="QH", GCALSHUT="OPEN"))
    assert {"GCALFLAT", "FLAT", "CAL", "GCAL_IR_ON", "LAMPON"} <= on.tags
    off = open_raw(gnirs(raw, "azel", OBSTYPE="FLAT", GCALLAMP="No Value", GCALSHUT="CLOSED"))
    assert {"GCAL_IR_OFF", "LAMPOFF"} <= off.tags
    assert "GCALFLAT" not in off.tags
    low = open_raw(gnirs(raw, "azel", OBSTYPE="FLAT", GCALLAMP="IRlow", GCALSHUT="OPEN"))
    assert "LAMPON" in low.tags and "GCALFLAT" not in low.tags
    # A processed flat keeps FLAT but loses the lamp state.
    processed = open_raw(gnirs(raw, "azel", OBSTYPE="FLAT", GCALLAMP="IRhigh", GCALSHUT="OPEN",
                               PROCFLAT="2016-01-03T10:00:00"))
    assert {"FLAT", "PROCESSED"} <= processed.tags
    assert not {"LAMPON", "GCAL_IR_ON"} & processed.tags


@pytest.mark.parametrize(
    "values, present, absent",
    [
        ({"OBSCLASS": "acq"}, {"ACQUISITION"}, set()),
        ({"OBSCLASS": "acqCal"}, {"ACQUISITION"}, set()),
        ({"OBSMODE": "LONGSLIT"}, {"LONGSLIT", "SPECT"}, {"IMAGE"}),
        ({"OBSMODE": "IMAGE"}, {"IMAGE"}, {"SPECT"}),
        ({"DATATYPE": "marked-nodandchop"}, {"NODCHOP"}, set()),
        ({"PROCFRNG": "2016"}, {"FRINGE", "CAL", "PROCESSED"}, set()),
        ({"OBSTYPE": "MASK", "OBSMODE": "IMAGE"}, {"MASK"}, {"IMAGE"}),
        ({"EXTRACT": "2016"}, {"EXTRACTED"}, set()),
        ({"PROCTELL": "2016"}, {"TELLURIC", "CAL"}, set()),
        ({"RATRACK": 0.12}, {"NON_SIDEREAL"}, {"SIDEREAL"}),
        ({"DECTRACK": "junk"}, {"NON_SIDEREAL"}, {"SIDEREAL"}),
        ({"FRAME": "APPT", "TRKFRAME": None}, {"SIDEREAL"}, {"NON_SIDEREAL"}),
        ({"FRAME": None, "TRKFRAME": None}, set(), {"SIDEREAL", "NON_SIDEREAL"}),
        ({"FRAME": "AZEL_TOPO", "AIRMASS": 1.0}, {"AZEL_TARGET", "AT_ZENITH"}, set()),
    ],
)
def test_gemini_tag_rules(raw, open_raw, values, present, absent):
    tags = open_raw(gnirs(raw, **values)).tags
    assert present <= tags
    assert not absent & tags


# ---------------------------------------------------------------------------
# descriptors


def test_identification_and_conditions(raw, open_raw):
    ad = open_raw(gnirs(raw, RAWBG="20-percentile", REQIQ="85-percentile", RAWWV="UNKNOWN"))
    assert ad.observation_id() == "GN-2016A-Q-11-25"
    assert ad.data_label() == "GN-2016A-Q-11-25-004"
    assert ad.program_id() == "GN-2016A-Q-11"
    assert ad.group_id() == ad.observation_id()
    assert ad.observation_class() == "science" and ad.observation_type() == "OBJECT"
    assert (ad.raw_iq(), ad.raw_bg(), ad.raw_cc(), ad.raw_wv()) == (70, 20, 100, None)
    assert (ad.requested_iq(), ad.requested_bg()) == (85, 100)
    ad.phu["DATALAB"] = "GN-2016A-Q-11-25-004_stack"
    assert ad.calibration_key() == "GN-2016A-Q-11-25-004"


@pytest.mark.parametrize(
    "pireq, gemqa, state",
    [("YES", "USABLE", "Pass"), ("NO", "USABLE", "Usable"), ("YES", "BAD", "Fail"),
     ("CHECK", "USABLE", "CHECK"), ("YES", "CHECK", "CHECK"), ("UNKNOWN", "BAD", "Undefined"),
     ("YES", "UNKNOWN", "Undefined")],
)
def test_qa_state(raw, open_raw, pireq, gemqa, state):
    assert open_raw(gnirs(raw, RAWPIREQ=pireq, RAWGEMQA=gemqa)).qa_state() == state


def test_ut_datetime_from_date_and_time_keywords(raw, open_raw):
    ad = open_raw(gnirs(raw))
    assert ad.ut_datetime() == dt.datetime(2016, 1, 2, 5, 41, 15, 200000)
    assert ad.ut_date() == dt.date(2016, 1, 2)
    assert ad.ut_time() == dt.time(5, 41, 15, 200000)
    assert ad.local_time() == dt.time(20, 12, 33, 500000)


def test_ut_datetime_fallbacks(raw, open_raw):
    # A full ISO datetime in DATE-OBS is used as it is.
    ad = open_raw(gnirs(raw, **{"DATE-OBS": "2016-01-02T06:00:01.5"}))
    assert ad.ut_datetime() == dt.datetime(2016, 1, 2, 6, 0, 1, 500000)
    # No time keyword: MJD-OBS (57389.25 = 2016-01-02T06:00).
    no_time = {"UT": None, "TIME-OBS": None, "UTSTART": None}
    ad = open_raw(gnirs(raw, **no_time, **{"MJD-OBS": 57389.25}))
    assert ad.ut_datetime() == dt.datetime(2016, 1, 2, 6, 0)
    # Neither date nor time keywords: OBSSTART.
    ad = open_raw(gnirs(raw, **no_time, **{"DATE-OBS": None, "DATE": None,
                                           "OBSSTART": "2016-01-02T07:08:09"}))
    assert ad.ut_datetime() == dt.datetime(2016, 1, 2, 7, 8, 9)
    # Old NIRI DD/MM/YY dates.
    ad = open_raw(gnirs(raw, **{"DATE-OBS": "17/03/01", "DATE": None}))
    assert ad.ut_date() == dt.date(2001, 3, 17)


def test_ut_date_from_the_file_name_unless_strict(raw, write_raw, caplog):
    hdulist = gnirs(raw, **{"DATE-OBS": None, "DATE": None})
    ad = astrodata.open(write_raw(hdulist, "N20160102S0373.fits"))
    assert ad.ut_date() == dt.date(2016, 1, 2)
    assert ad.ut_datetime() == dt.datetime(2016, 1, 2, 5, 41, 15, 200000)
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.ut_datetime(strict=True) is None
    assert "ut_datetime" in caplog.text and "N20160102S0373.fits" in caplog.text


def test_exposure_time_is_summed_over_coadds_until_prepared(raw, open_raw):
    ad = open_raw(gnirs(raw))
    assert ad.coadds() == 3
    assert ad.exposure_time() == pytest.approx(60.0)
    astrodata.mark_history(ad, "prepare")
    assert ad.exposure_time() == pytest.approx(20.0)
    assert open_raw(gnirs(raw, COADDS=None)).coadds() == 1
    assert open_raw(gnirs(raw, EXPTIME=-1.0)).exposure_time() is None


def test_pointing_descriptors(raw, open_raw, caplog):
    ad = open_raw(gnirs(raw, PA=45.0, CRPA=-101.3, XOFFSET=1.5, YOFFSET=-2.0))
    assert ad.position_angle() == 45.0
    assert ad.cass_rotator_pa() == -101.3
    assert (ad.telescope_x_offset(), ad.telescope_y_offset()) == (1.5, -2.0)
    assert ad.elevation() == 61.5 and ad.azimuth() == 211.2
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert open_raw(gnirs(raw, AIRMASS=-9999.0)).airmass() is None
        assert open_raw(gnirs(raw, CRPA=400.0)).cass_rotator_pa() is None
    assert "airmass" not in caplog.text  # a placeholder is not a malformed value


def test_ra_dec_prefer_the_wcs(raw, open_raw):
    ad = open_raw(gnirs(raw))
    assert (ad.ra(), ad.dec()) == pytest.approx((83.8221, -5.3911))
    assert (ad.wcs_ra(), ad.wcs_dec()) == pytest.approx((83.8221, -5.3911))
    assert (ad.target_ra(), ad.target_dec()) == pytest.approx((201.365063, -43.019112))
    no_wcs = open_raw(gnirs(raw, wcs=False))
    assert no_wcs.wcs_ra() is None
    assert (no_wcs.ra(), no_wcs.dec()) == pytest.approx((201.365063, -43.019112))


def test_target_coordinates_with_offsets_proper_motion_and_icrs(raw, open_raw):
    ad = open_raw(gnirs(raw, RA="13:25:27.615", DEC="-43:01:08.80", RAOFFSET=36.0,
                        DECOFFSE=-18.0, PMRA=0.01, PMDEC=-0.5, EPOCH=2000.0))
    ra0, dec0 = 201.3650625, -(43 + 1 / 60 + 8.8 / 3600)
    years = 2016 + (dt.datetime(2016, 1, 2, 5, 41, 15, 200000)
                    - dt.datetime(2016, 1, 1)).total_seconds() / (366 * 86400) - 2000
    assert ad.target_ra(pm=False) == pytest.approx(ra0, abs=1e-9)
    assert ad.target_dec(pm=True) == pytest.approx(dec0 - 0.5 * years / 3600, abs=1e-9)
    assert ad.target_ra(pm=True) == pytest.approx(ra0 + 0.01 * 15 * years / 3600, abs=1e-9)
    offset_ra = ad.target_ra(offset=True, pm=False)
    assert (offset_ra - ra0) * 3600 * math.cos(math.radians(dec0)) == pytest.approx(36.0)
    assert ad.target_dec(offset=True, pm=False) == pytest.approx(dec0 - 18.0 / 3600)
    # FK5 J2000 and ICRS differ by tens of milliarcseconds.
    icrs_ra = ad.target_ra(pm=False, icrs=True)
    assert 1e-6 < abs(icrs_ra - ra0) * 3600 < 0.1


def test_pixel_scale_and_detector_offsets(raw, open_raw):
    ad = open_raw(gnirs(raw, POFFSET=3.0, QOFFSET=-1.5))
    assert ad.pixel_scale() == pytest.approx(0.15)
    assert ad.detector_x_offset() == pytest.approx(20.0)
    assert ad.detector_y_offset() == pytest.approx(-10.0)
    bottom_port = open_raw(gnirs(raw, POFFSET=3.0, INPORT=1))
    assert bottom_port.detector_x_offset() == pytest.approx(-20.0)
    no_wcs = open_raw(gnirs(raw, wcs=False, PIXSCALE=0.05))
    assert no_wcs.pixel_scale() == pytest.approx(0.05)


def test_sections_and_amp_read_area(raw, open_raw):
    ad = open_raw(gnirs(raw))
    assert ad.data_section() == [astrodata.Section(0, 1024, 0, 1022)]
    assert ad[0].data_section() == astrodata.Section(0, 1024, 0, 1022)
    assert ad[0].detector_section(pretty=True) == "[1:1024,1:1022]"
    assert ad.amp_read_area() == ["'SN7638228.1':[1:1024,1:1022]"]
    assert ad.binning() == "1x1"


@pytest.mark.parametrize(
    "filters, raw_name, pretty",
    [
        (("Open", "Kshort_G1105"), "Open&Kshort_G1105", "Kshort"),
        (("Kprime_G1104", "Clear"), "Kprime_G1104&Clear", "Kprime"),
        (("open1-6", "r_G0326"), "open1-6&r_G0326", "r"),
        (("ND2.0_G0703", "J_G0802"), "ND2.0_G0703&J_G0802", "J"),
        (("Blocked_G1121", "Clear"), "Blocked_G1121&Clear", "blank"),
        (("J_G0802", "DK_G0807"), "J_G0802&DK_G0807", "J&dark"),
        (("Open", "Clear"), "Open&Clear", "open"),
    ],
)
def test_base_filter_name(raw, open_raw, filters, raw_name, pretty):
    ad = open_raw(gnirs(raw, FILTER1=filters[0], FILTER2=filters[1]))
    assert ad.filter_name() == raw_name
    assert ad.filter_name(pretty=True) == pretty


def test_filter_name_stripid_and_keepid(raw, open_raw):
    ad = open_raw(gnirs(raw))
    assert ad.filter_name(stripID=True) == "Open&Kshort"
    assert ad.filter_name(pretty=True, keepID=True) == "Kshort_G1105"


def test_instrument_configuration_descriptors(raw, open_raw):
    ad = open_raw(gnirs(raw, CAMERA="ShortBlue_G5540", DECKER="SCXD_G5531",
                        FPMASK="0.30arcsec_G5530", DISPERSR="32/mm_G5533", AOFOLD="IN",
                        GCALLAMP="IRhigh", GCALSHUT="CLOSED", PWFS2_ST="guiding",
                        OIWFS_ST="guiding", READMODE="Bright Objects", WELDEPTH="Shallow"))
    assert ad.camera() == "ShortBlue_G5540" and ad.camera(pretty=True) == "ShortBlue"
    assert ad.decker(stripID=True) == "SCXD"
    assert ad.focal_plane_mask(pretty=True) == "0.30arcsec"
    assert ad.disperser() == "32/mm_G5533"
    assert ad.is_ao() is True
    assert ad.gcal_lamp() == "Off"
    assert ad.wavefront_sensor() == "OIWFS&PWFS2"
    assert ad.read_mode() == "Bright Objects"
    assert ad.well_depth_setting() == "Shallow"
    assert ad.detector_roi_setting() == "Fixed"
    assert ad.dispersion_axis() is None
    assert open_raw(gnirs(raw, GCALLAMP="QH", GCALSHUT="OPEN")).gcal_lamp() == "QH"
    assert open_raw(gnirs(raw, AOFOLD=None)).is_ao() is False


def test_wavelength_band_and_extinction(raw, open_raw):
    gmos = open_raw(raw.gmos("science", site="S", AIRMASS=1.5))
    assert gmos.effective_wavelength(asMicrometers=True) == pytest.approx(0.63)
    assert gmos.wavelength_band() == "r"
    # Cerro Pachon r band: 0.10 mag per airmass.
    assert gmos.nominal_atmospheric_extinction() == pytest.approx(0.05)
    ad = open_raw(gnirs(raw))
    assert ad.wavelength_band() == "K"


def test_gain_keywords_and_units(raw, open_raw):
    ad = open_raw(gnirs(raw))
    for key, value in (("GAIN", 2.5), ("RDNOISE", 7.0), ("SATLEVEL", 11000.0),
                       ("NONLINEA", 9000.0)):
        ad.hdr.set(key, value)
    assert (ad.gain(), ad.read_noise()) == ([2.5], [7.0])
    assert (ad.saturation_level(), ad.non_linear_level()) == ([11000.0], [9000.0])
    assert ad.is_in_adu() is True
    ad[0].hdr["BUNIT"] = "electron"
    assert ad.is_in_adu() is False
    assert ad.gain() == [1.0]


# ---------------------------------------------------------------------------
# missing and malformed keywords


def test_missing_keywords_give_none_and_a_warning(raw, write_raw, caplog):
    hdulist = gnirs(raw, EXPTIME=None, OBSID=None, RAWIQ="garbage", UT=None, **{
        "TIME-OBS": None, "UTSTART": None, "DATE-OBS": "sometime", "DATE": None})
    path = write_raw(hdulist, "N20160102S0001.fits")
    ad = astrodata.open(path)
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.exposure_time() is None
        assert ad.observation_id() is None
        assert ad.group_id() is None
        assert ad.raw_iq() is None
        assert ad.ut_time() is None
        assert ad.read_noise() == [None]
        assert ad[0].read_noise() is None
    assert "N20160102S0001.fits: exposure_time(): keyword EXPTIME is missing" in caplog.text
    assert "observation_id()" in caplog.text and "read_noise()" in caplog.text
    # The date still comes from the file name.
    assert ad.ut_date() == dt.date(2016, 1, 2)
    values = ad.descriptor_values()
    assert values["exposure_time"] is None and values["coadds"] == 3


def test_malformed_values_give_none(raw, open_raw, caplog):
    ad = open_raw(gnirs(raw, COADDS="many", AIRMASS="high", PA="north", RA="somewhere",
                        wcs=False))
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.coadds() is None
        assert ad.exposure_time() is None
        assert ad.airmass() is None
        assert ad.position_angle() is None
        assert ad.ra() is None
    assert caplog.text.count("WARNING") >= 5


def test_missing_tag_keywords_degrade_to_no_tag(raw, open_raw):
    ad = open_raw(gnirs(raw, OBSERVAT=None, OBSTYPE=None, OBSCLASS=None, FRAME=None,
                        TRKFRAME=None))
    assert ad.tags == {"GEMINI", "RAW", "UNPREPARED"}


def test_pointing_follows_a_changed_wcs(raw, open_raw):
    from astrodata.wcs import fits_header_to_gwcs

    ad = open_raw(gnirs(raw))
    header_values = (ad.wcs_ra(), ad.wcs_dec(), ad.pixel_scale())
    assert ad[0].wcs is not None  # building the gWCS does not change the answers
    assert (ad.wcs_ra(), ad.wcs_dec(), ad.pixel_scale()) == pytest.approx(header_values,
                                                                          abs=1e-9)
    # Registration replaces the WCS: 3.6 arcsec north, pixels twice as large.
    moved = ad[0].hdr.copy()
    moved["CRVAL2"] += 0.001
    for key in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
        moved[key] *= 2
    ad[0].wcs = fits_header_to_gwcs(moved)
    assert ad[0].hdr["CRVAL2"] == pytest.approx(-5.3911)
    assert ad.wcs_dec() == pytest.approx(-5.3901, abs=1e-9)
    assert ad.dec() == pytest.approx(-5.3901, abs=1e-9)
    assert ad.pixel_scale() == pytest.approx(0.30, rel=1e-6)
