"""AstroDataLMI: class selection, tags and descriptors of simulated and hand-made LMI frames."""

import datetime as dt
import logging
import math

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata import Section
from astrodata.instruments.lmi import AstroDataLMI, lookup

_SCIENCE_PHU = {"INSTRUME": "LMI", "TELESCOP": "LDT", "OBSTYPE": "OBJECT",
                "IMAGETYP": "OBJECT", "OBJECT": "NGC 2392", "FILTERS": "SDSS-R",
                "EXPTIME": 120.0, "DATE-OBS": "2023-03-05T04:12:33.250", "CCDSUM": "2 2",
                "RA": "07:29:10.77", "DEC": "+20:54:42.5", "AIRMASS": 1.12,
                "DETECTOR": "e2v CCD231-C6"}
_SCIENCE_EXT = {"GAIN": 2.95, "RDNOISE": 5.8, "DATASEC": "[1:24,1:20]",
                "BIASSEC": "[25:32,1:20]", "TRIMSEC": "[2:23,1:20]",
                "CCDSEC": "[1:48,1:40]", "DETSEC": "[1:48,1:40]"}


def _frame(phu=None, ext=None, drop=(), name="lmi.20230305.0101.fits"):
    """An in-memory LMI frame (20 x 32 pixels): default keywords less `drop`, plus changes."""
    header = fits.Header({**{k: v for k, v in _SCIENCE_PHU.items() if k not in drop},
                          **(phu or {})})
    ad = astrodata.create(header)
    ext_header = fits.Header({**{k: v for k, v in _SCIENCE_EXT.items() if k not in drop},
                              **(ext or {})})
    ad.append(np.full((20, 32), 1000, dtype=np.uint16), header=ext_header)
    ad.filename = name
    return ad


# ---------------------------------------------------------------------------
# simulated files
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("role,tags", [
    ("bias", {"LMI", "BIAS", "CAL", "RAW", "UNPREPARED"}),
    ("dark", {"LMI", "DARK", "CAL", "RAW", "UNPREPARED"}),
    ("domeflat", {"LMI", "FLAT", "CAL", "DOMEFLAT", "IMAGE", "RAW", "UNPREPARED"}),
    ("skyflat", {"LMI", "FLAT", "CAL", "TWILIGHT", "IMAGE", "RAW", "UNPREPARED"}),
    ("science", {"LMI", "IMAGE", "RAW", "UNPREPARED"}),
])
def test_raw_frames_are_lmi_with_their_tags(lmi_night, role_files, role, tags):
    path, truth = lmi_night
    for name in role_files(truth, role):
        ad = astrodata.open(path / name)
        assert type(ad) is AstroDataLMI
        assert ad.tags == tags
        assert "GEMINI" not in ad.tags


def test_science_descriptors_match_the_truth(lmi_night, role_files):
    path, truth = lmi_night
    name = role_files(truth, "science", "r")[1]
    record = truth["files"][name]
    ext = record["extensions"][0]
    ad = astrodata.open(path / name)
    assert ad.instrument() == ad.instrument(generic=True) == "LMI"
    assert ad.telescope() == "LDT"
    assert ad.observation_type() == "OBJECT"
    assert ad.object() == record["object"]
    assert ad.exposure_time() == record["total_exptime"]
    assert ad.filter_name() == "SDSS-R" and ad.filter_name(pretty=True) == "r"
    assert ad.ut_datetime() == dt.datetime.fromisoformat(record["ut_start"])
    assert ad.ut_date() == dt.date(2023, 3, 5)
    assert ad.gain() == [ext["gain_e_per_adu"]]
    assert ad.read_noise() == [ext["read_noise_e"]]
    assert ad.saturation_level() == [ext["saturation_adu"]]
    assert ad.non_linear_level() == [math.floor(0.9 * 65535)]
    assert ad.binning() == "2x2" and ad.detector_x_bin() == ad.detector_y_bin() == 2
    assert ad.data_section() == [Section.from_string(ext["datasec"])]
    assert ad.overscan_section(pretty=True) == ["[385:416,1:385]"]
    assert ad.detector_section(pretty=True) == [ext["detsec"]]
    assert ad.array_section() == ad.detector_section()
    assert ad[0].data_section() == Section(0, 384, 0, 385)
    assert ad.data_label() == name[:-5]
    assert ad.coadds() == 1 and ad.is_in_adu()
    # the WCS reference point is where the telescope pointed
    ra, dec = record["centre_radec"]
    assert ad.wcs_ra() == pytest.approx(ra, abs=1e-6)
    assert ad.wcs_dec() == pytest.approx(dec, abs=1e-6)
    assert ad.target_ra(offset=True) == pytest.approx(ra, abs=2e-6)
    base_ra, base_dec = record["base_radec"]
    assert ad.target_ra() == pytest.approx(base_ra, abs=2e-6)
    assert ad.target_dec() == pytest.approx(base_dec, abs=2e-6)
    assert ad.pixel_scale() == pytest.approx(2 * truth["pixel_scale_arcsec"], rel=1e-6)
    assert ad.position_angle() == pytest.approx(0.0, abs=1e-6)
    assert ad.nominal_photometric_zeropoint() == [
        pytest.approx(truth["zeropoints"]["r"] - 2.5 * math.log10(2.89), abs=1e-6)]
    assert ad.group_id() == "OBJECT_2x2_r_Field_0700+3000_60s"


def test_single_hdu_file_gives_the_same_descriptors(lmi_night, role_files, tmp_path):
    """Raw files may hold the image in the primary HDU (keywords all in one header)."""
    path, truth = lmi_night
    name = role_files(truth, "science", "g")[0]
    with fits.open(path / name) as hdul:
        header = hdul[0].header.copy()
        for card in hdul[1].header.cards:
            if card.keyword not in ("XTENSION", "PCOUNT", "GCOUNT", "EXTNAME", "EXTVER") \
                    and not card.keyword.startswith("NAXIS") and card.keyword != "BITPIX":
                header[card.keyword] = (card.value, card.comment)
        single = fits.PrimaryHDU(data=hdul[1].data, header=header)
    single.writeto(tmp_path / name)
    one = astrodata.open(tmp_path / name)
    two = astrodata.open(path / name)
    assert type(one) is AstroDataLMI and len(one) == 1
    names = ("filter_name", "exposure_time", "gain", "read_noise", "data_section",
             "overscan_section", "detector_section", "binning", "ut_datetime", "wcs_ra",
             "wcs_dec", "pixel_scale", "data_label", "observation_type")
    assert one.descriptor_values(names) == two.descriptor_values(names)
    assert one.tags == two.tags


# ---------------------------------------------------------------------------
# header variants
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("phu,drop,kind,tags", [
    ({"OBSTYPE": "BIAS"}, (), "BIAS", {"BIAS", "CAL"}),
    ({"IMAGETYP": "ZERO"}, ("OBSTYPE",), "BIAS", {"BIAS", "CAL"}),
    ({"OBSTYPE": "DARK"}, (), "DARK", {"DARK", "CAL"}),
    ({"OBSTYPE": "DOME FLAT"}, (), "FLAT", {"FLAT", "CAL", "DOMEFLAT", "IMAGE"}),
    ({"IMAGETYP": "SKY FLAT"}, ("OBSTYPE",), "FLAT", {"FLAT", "CAL", "TWILIGHT", "IMAGE"}),
    ({}, (), "OBJECT", {"IMAGE"}),
])
def test_frame_types_from_obstype_or_imagetyp(phu, drop, kind, tags):
    ad = _frame(phu, drop=drop)
    assert ad.observation_type() == kind
    assert ad.tags == tags | {"LMI", "RAW", "UNPREPARED"}


@pytest.mark.parametrize("wheels,raw,pretty", [
    ({"FILTER1": "SDSS-G", "FILTER2": "OPEN"}, "SDSS-G", "g"),
    ({"FILTER1": "OPEN", "FILTER2": "V"}, "V", "V"),
    ({"FILTER1": "OPEN", "FILTER2": "OPEN"}, "OPEN", "open"),
    ({"FILTER1": "SDSS-R", "FILTER2": "OIII"}, "SDSS-R&OIII", "r&OIII"),
])
def test_filter_from_the_wheels_without_filters_keyword(wheels, raw, pretty):
    ad = _frame(wheels, drop=("FILTERS",))
    assert ad.filter_name() == raw
    assert ad.filter_name(pretty=True) == pretty


def test_time_from_date_and_ut_or_mjd():
    ad = _frame({"DATE-OBS": "2023-03-05", "UT": "04:12:33.25"})
    assert ad.ut_datetime() == dt.datetime(2023, 3, 5, 4, 12, 33, 250000)
    ad = _frame({"MJD-OBS": 60008.5}, drop=("DATE-OBS",))
    assert ad.ut_datetime() == dt.datetime(2023, 3, 5, 12, 0)
    ad = _frame(drop=("DATE-OBS",), name="lmi.20230306.0007.fits")
    assert ad.ut_date() == dt.date(2023, 3, 6)
    assert ad.ut_datetime(strict=True) is None


def test_missing_or_bad_values_give_none_and_a_warning(caplog):
    ad = _frame({"CCDSUM": "2x2"}, drop=("EXPTIME",))
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.exposure_time() is None
        assert ad.binning() is None
        assert ad.data_section() == [Section(0, 24, 0, 20)]
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "lmi.20230305.0101.fits: exposure_time(): keyword EXPTIME is missing" in messages
    assert "CCDSUM='2x2'" in messages
    bare = _frame(drop=("DATASEC",))
    assert bare.data_section() == [None]


def test_nominal_gain_without_header_values_and_sections_from_the_phu():
    ad = _frame(drop=("GAIN", "RDNOISE"))
    assert ad.gain() == [lookup.NOMINAL_GAIN]
    assert ad.read_noise() == [lookup.NOMINAL_READ_NOISE]
    ad = _frame({"DATASEC": "[1:30,1:20]"}, drop=("DATASEC",))
    assert ad.data_section(pretty=True) == ["[1:30,1:20]"]
    assert ad.trim_section() == [Section(1, 23, 0, 20)]
    assert ad.detector_roi_setting() == "Custom"


def test_position_angle_and_scale_from_a_rotated_cd_matrix():
    scale, angle = 0.24 / 3600.0, math.radians(30.0)
    cd = {"CD1_1": -scale * math.cos(angle), "CD1_2": scale * math.sin(angle),
          "CD2_1": scale * math.sin(angle), "CD2_2": scale * math.cos(angle)}
    wcs = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 12.0, "CRPIX2": 10.0,
           "CRVAL1": 112.29488, "CRVAL2": 20.91181, **cd}
    ad = _frame(ext=wcs)
    assert ad.position_angle() == pytest.approx(30.0, abs=1e-6)
    assert ad.pixel_scale() == pytest.approx(0.24, rel=1e-6)
    assert ad.ra() == pytest.approx(112.29488)


def test_pc_cdelt_wcs_and_unknown_frame_types():
    wcs = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 12.0, "CRPIX2": 10.0,
           "CRVAL1": 112.29488, "CRVAL2": 20.91181, "CDELT1": -0.24 / 3600.0,
           "CDELT2": 0.24 / 3600.0, "PC1_1": 0.0, "PC1_2": -1.0, "PC2_1": 1.0, "PC2_2": 0.0}
    ad = _frame({"OBSTYPE": "focus"}, ext=wcs)
    assert ad.pixel_scale() == pytest.approx(0.24, rel=1e-6)
    # +y points east (CD1_2 = -CDELT1 > 0): the position angle is 90 degrees
    assert ad.position_angle() == pytest.approx(90.0, abs=1e-6)
    assert ad.observation_type() == "FOCUS"
    assert ad.tags == {"LMI", "IMAGE", "RAW", "UNPREPARED"}


def test_other_telescopes_are_not_lmi():
    ad = _frame({"TELESCOP": "Gemini-South", "OBSERVAT": "Gemini-South"})
    assert type(ad) is not AstroDataLMI
    assert "LMI" not in ad.tags


# ---------------------------------------------------------------------------
# processed data
# ---------------------------------------------------------------------------
def test_prepared_levels_come_from_the_extension_keywords():
    from primitives.lmi import LMIImage

    ad = _frame()
    p = LMIImage([ad])
    p.prepare(require_wcs=False)
    assert {"PREPARED", "LMI", "IMAGE"} <= ad.tags and "RAW" not in ad.tags
    assert ad.phu["DATALAB"] == "lmi.20230305.0101"
    assert ad[0].hdr["SATLEVEL"] == 65535 and ad[0].hdr["GAIN"] == 2.95
    ad[0].hdr["SATLEVEL"] = 64000.0
    assert ad.saturation_level() == [64000.0]
    p.ADUToElectrons()
    assert ad.gain() == [1.0] and not ad.is_in_adu()
    assert ad.saturation_level() == [pytest.approx(64000.0 * 2.95)]


@pytest.mark.parametrize("keyword,obstype,expected,absent", [
    ("PROCBIAS", "BIAS", {"BIAS", "CAL", "PROCESSED"}, {"IMAGE"}),
    ("PROCFLAT", "DOME FLAT", {"FLAT", "DOMEFLAT", "PROCESSED", "IMAGE"}, set()),
    ("PROCSCI", "OBJECT", {"PROCESSED_SCIENCE", "PROCESSED", "IMAGE"}, set()),
    ("BPMASK", "OBJECT", {"BPM", "CAL", "PROCESSED"}, {"IMAGE"}),
])
def test_processed_products_are_tagged(keyword, obstype, expected, absent):
    ad = _frame({"OBSTYPE": obstype, keyword: "2023-03-05T12:00:00",
                 "GEM-TLM": "2023-03-05T12:00:00"})
    assert expected <= ad.tags
    assert not absent & ad.tags
    assert "RAW" not in ad.tags
