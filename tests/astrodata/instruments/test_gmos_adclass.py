"""AstroDataGmos: GMOS-N/S tags, amplifier layouts and per-amp descriptors."""

import datetime as dt
import logging
import math

import pytest

import astrodata
from astrodata import Section
from astrodata.instruments.gmos import AstroDataGmos
from astrodata.instruments.gmos import lookup as gmos_lookup

# Real tag sets (GMOS-N imaging tutorial, typewalk).
REAL_TAG_SETS = {
    "bias_2017": "AT_ZENITH AZEL_TARGET BIAS CAL GEMINI GMOS NON_SIDEREAL NORTH RAW UNPREPARED",
    "bias_2022": "BIAS CAL GEMINI GMOS NORTH RAW UNPREPARED",
    "science": "GEMINI GMOS IMAGE NORTH RAW SIDEREAL UNPREPARED",
    "twilight": "CAL FLAT GEMINI GMOS IMAGE NORTH RAW SIDEREAL TWILIGHT UNPREPARED",
    "acquisition": "ACQUISITION GEMINI GMOS IMAGE NORTH RAW SIDEREAL UNPREPARED",
    "bpm": "BPM CAL GEMINI GMOS NORTH OVERSCAN_TRIMMED PREPARED PROCESSED",
}

S_CCDS = gmos_lookup.CCDS["GMOS-S Hamamatsu"]
S_2023_CCDS = gmos_lookup.CCDS["GMOS-S Hamamatsu 2023"]


def gmos_s_2023(raw, **kwargs):
    kwargs.setdefault("date", "2024-03-01")
    return raw.gmos("science", site="S", ccds=S_2023_CCDS, DETECTOR="GMOS + Ham-2", **kwargs)


@pytest.mark.parametrize("binning", [(1, 1), (2, 2)])
@pytest.mark.parametrize("kind", sorted(REAL_TAG_SETS))
def test_raw_tag_sets_are_exactly_the_real_ones(raw, open_raw, kind, binning):
    date = "2022-10-01" if kind == "bias_2022" else "2017-06-10"
    ad = open_raw(raw.gmos(kind, site="N", binning=binning, date=date))
    assert isinstance(ad, AstroDataGmos)
    assert len(ad) == 12
    assert ad.tags == set(REAL_TAG_SETS[kind].split())


@pytest.mark.parametrize("kind", ["bias_2017", "science", "twilight"])
def test_e2vdd_tag_sets(raw, open_raw, kind):
    ad = open_raw(raw.gmos(kind, site="N", detector="e2vdd", date="2015-01-10"))
    assert len(ad) == 6
    assert ad.tags == set(REAL_TAG_SETS[kind].split())


def test_spectroscopy_and_mask_tags(raw, open_raw):
    longslit = open_raw(raw.gmos("science", GRATING="B600+_G5307", CENTWAVE=520.0, MASKTYP=1,
                                 MASKNAME="1.0arcsec", OBSMODE="LONGSLIT"))
    assert {"SPECT", "LS"} <= longslit.tags
    assert not {"IMAGE", "MOS", "THRUSLIT"} & longslit.tags
    assert longslit.disperser() == "B600+_G5307"
    assert longslit.disperser(stripID=True) == "B600+"
    assert longslit.disperser(pretty=True) == "B600"
    assert longslit.central_wavelength(asNanometers=True) == pytest.approx(520.0)
    assert longslit.focal_plane_mask() == "1.0arcsec"
    mos = open_raw(raw.gmos("science", GRATING="R400+_G5325", MASKTYP=1,
                            MASKNAME="GS2015BQ054-01", OBSMODE="MOS"))
    assert {"SPECT", "MOS"} <= mos.tags and "LS" not in mos.tags
    ifu = open_raw(raw.gmos("science", GRATING="R400+_G5325", MASKTYP=-1, MASKNAME="IFU-R",
                            OBSMODE="IFU"))
    assert {"IFU", "ONESLIT_RED", "SPECT"} <= ifu.tags
    two_slit = open_raw(raw.gmos("science", GRATING="R400+_G5325", MASKTYP=-1,
                                 MASKNAME="gsifu_slits_mdf", OBSMODE="IFU"))
    assert {"IFU", "TWOSLIT"} <= two_slit.tags
    thru_slit = open_raw(raw.gmos("science", MASKTYP=1, MASKNAME="1.0arcsec"))
    assert {"IMAGE", "THRUSLIT", "LS"} <= thru_slit.tags
    nod = open_raw(raw.gmos("science", GRATING="R400+_G5325", NODPIX=1536, ANODCNT=8,
                            BNODCNT=8, OBSMODE="LONGSLIT"))
    assert "NODANDSHUFFLE" in nod.tags
    assert nod.nod_count() == (8, 8) and nod.shuffle_pixels() == 1536
    arc = open_raw(raw.gmos("science", OBSTYPE="ARC", GRATING="R400+_G5325"))
    assert {"ARC", "CAL", "SPECT"} <= arc.tags
    dark = open_raw(raw.gmos("science", OBSTYPE="DARK"))
    assert {"DARK", "CAL"} <= dark.tags and "IMAGE" not in dark.tags
    slit_twilight = open_raw(raw.gmos("twilight", GRATING="R400+_G5325", OBSMODE="LONGSLIT"))
    assert {"TWILIGHT", "SLITILLUM"} <= slit_twilight.tags and "FLAT" not in slit_twilight.tags
    gcal = open_raw(raw.gmos("science", OBSTYPE="FLAT", GCALLAMP="QH", GCALSHUT="OPEN"))
    assert {"GCALFLAT", "FLAT", "CAL"} <= gcal.tags
    assert not {"LAMPON", "GCAL_IR_ON"} & gcal.tags
    hartmann = open_raw(raw.gmos("science", OBSTYPE="FLAT", FILTER1="Hartmann_A_G0337"))
    assert "FLAT" not in hartmann.tags
    dome = open_raw(raw.gmos("science", OBJECT="Domeflat", OBSCLASS="dayCal"))
    assert {"DOMEFLAT", "FLAT", "CAL"} <= dome.tags
    standard = open_raw(raw.gmos("science", SENSFUNC="2015-11-21T10:00:00"))
    assert {"PROCESSED", "STANDARD", "CAL"} <= standard.tags and "RAW" not in standard.tags


# ---------------------------------------------------------------------------
# layout


@pytest.mark.parametrize(
    "binning, sections",
    [
        ((1, 1), [("[1:512,1:4224]", "[513:544,1:4224]"), ("[33:544,1:4224]", "[1:32,1:4224]")]),
        ((2, 2), [("[1:256,1:2112]", "[257:288,1:2112]"), ("[33:288,1:2112]", "[1:32,1:2112]")]),
    ],
)
def test_hamamatsu_amplifier_layout(raw, open_raw, binning, sections):
    ad = open_raw(raw.gmos("science", site="S", binning=binning))
    assert ad.binning() == f"{binning[0]}x{binning[1]}"
    assert (ad.detector_x_bin(), ad.detector_y_bin()) == binning
    names = ad.array_name()
    assert names[:4] == [f"BI5-36-4k-2, {n}" for n in (4, 3, 2, 1)]
    assert names[4] == "BI11-33-4k-1, 4" and names[11] == "BI12-34-4k-1, 1"
    data = ad.data_section(pretty=True)
    overscan = ad.overscan_section(pretty=True)
    for ext in range(12):
        assert (data[ext], overscan[ext]) == sections[ext % 2]
    assert ad.array_section(pretty=True)[:4] == [
        "[1:512,1:4224]", "[513:1024,1:4224]", "[1025:1536,1:4224]", "[1537:2048,1:4224]"]
    detsec = ad.detector_section()
    assert detsec[4] == Section(2048, 2560, 0, 4224)
    assert [d.x1 for d in detsec] == sorted(d.x1 for d in detsec)
    assert ad.amp_read_area()[4] == "'BI11-33-4k-1, 4':[2049:2560,1:4224]"
    assert ad[4].amp_read_area() == "'BI11-33-4k-1, 4':[2049:2560,1:4224]"


def test_e2vdd_amplifier_layout(raw, open_raw):
    ad = open_raw(raw.gmos("science", site="N", detector="e2vdd", date="2015-01-10"))
    assert ad.array_name()[:2] == ["e2v 10031-23-05, right", "e2v 10031-23-05, left"]
    assert ad.detector_section(pretty=True) == [
        "[1025:2048,1:4608]", "[1:1024,1:4608]", "[3073:4096,1:4608]", "[2049:3072,1:4608]",
        "[4097:5120,1:4608]", "[5121:6144,1:4608]"]
    assert ad.overscan_section(pretty=True)[:2] == ["[1:32,1:2304]", "[513:544,1:2304]"]
    assert ad.data_section(pretty=True)[:2] == ["[33:544,1:2304]", "[1:512,1:2304]"]
    assert ad.detector_name(pretty=True) == "e2vDD"
    assert ad.pixel_scale() == pytest.approx(0.07288 * 2)
    assert ad.detector_roi_setting() == "Full Frame"


def test_inconsistent_binning_gives_none(raw, open_raw, caplog):
    hdulist = raw.gmos("science")
    hdulist[7].header["CCDSUM"] = "1 1"
    ad = open_raw(hdulist)
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.detector_x_bin() is None
        assert ad.binning() is None
    assert "different CCDSUM" in caplog.text


# ---------------------------------------------------------------------------
# readout


@pytest.mark.parametrize(
    "ampinteg, raw_gain, speed, setting, mode",
    [(11880, 1.6, "slow", "low", "Normal"), (5000, 1.6, "fast", "low", "Acquisition"),
     (5000, 5.2, "fast", "high", "Bright"), (11880, 5.2, "slow", "high", "Engineering")],
)
def test_read_speed_gain_setting_and_read_mode(raw, open_raw, ampinteg, raw_gain, speed,
                                               setting, mode):
    ad = open_raw(raw.gmos("science", ampinteg=ampinteg, raw_gain=raw_gain))
    assert ad.read_speed_setting() == speed
    assert ad.gain_setting() == setting
    assert ad.read_mode() == mode


def test_gain_setting_is_a_majority_vote(raw, open_raw):
    hdulist = raw.gmos("science", raw_gain=1.6)
    hdulist[3].header["GAIN"] = 5.1
    assert open_raw(hdulist).gain_setting() == "low"


def test_e2v_read_speed_threshold(raw, open_raw):
    slow = open_raw(raw.gmos("science", site="N", detector="e2vdd", ampinteg=5000,
                             date="2015-01-10"))
    fast = open_raw(raw.gmos("science", site="N", detector="e2vdd", ampinteg=1000,
                             date="2015-01-10"))
    assert (slow.read_speed_setting(), fast.read_speed_setting()) == ("slow", "fast")


def test_gains_and_read_noise_lie_in_the_reference_ranges(raw, open_raw):
    ad = open_raw(raw.gmos("science", ampinteg=11880, date="2018-05-01"))
    gains, noises = ad.gain(), ad.read_noise()
    reference = {  # slow/low ranges over the amps of each CCD (gain, read noise)
        "BI5-36-4k-2": ((1.834, 1.878), (4.04, 4.28)),
        "BI11-33-4k-1": ((1.84, 1.933), (3.90, 4.29)),
        "BI12-34-4k-1": ((1.652, 1.813), (3.53, 4.15)),
    }
    for name, gain, noise in zip(ad.array_name(), gains, noises, strict=True):
        (g_lo, g_hi), (r_lo, r_hi) = reference[name.split(",")[0]]
        assert g_lo <= gain <= g_hi
        assert r_lo <= noise <= r_hi
    # The raw header GAIN (1.6 everywhere) is not used.
    assert len(set(gains)) > 3


def test_tables_change_with_the_date(raw, open_raw):
    def amp1_of_ccd3(date):
        ad = open_raw(gmos_s_2023(raw, ampinteg=11880, date=date))
        return ad[11].array_name(), ad[11].gain(), ad[11].read_noise()

    # BI12-34-4k-1 amp 1, slow/low: 1.652 e-/ADU and 3.53 e- until 2023-12-13, then 1.594 and
    # 3.39; on 2023-12-14 the new gain applies but the old read noise (">" boundary).
    assert amp1_of_ccd3("2023-12-13") == ("BI12-34-4k-1, 1", pytest.approx(1.652),
                                          pytest.approx(3.53))
    assert amp1_of_ccd3("2023-12-14") == ("BI12-34-4k-1, 1", pytest.approx(1.594),
                                          pytest.approx(3.53))
    assert amp1_of_ccd3("2023-12-15")[2] == pytest.approx(3.39)


def test_unsupported_mode_gives_none(raw, open_raw, caplog):
    ad = open_raw(raw.gmos("science", ampinteg=11880, raw_gain=5.2))
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.gain() == [None] * 12
    assert "slow/high" in caplog.text


def test_saturation(raw, open_raw):
    binned = open_raw(raw.gmos("science", ampinteg=11880, binning=(2, 2)))
    assert binned.saturation_level() == [65535] * 12
    assert binned.non_linear_level() == binned.saturation_level()
    unbinned = open_raw(raw.gmos("science", ampinteg=11880, binning=(1, 1)))
    wells = gmos_lookup.FULL_WELLS["GMOS + Hamamatsu_new"]
    expected = [min(wells[a] / g, 65535) for a, g in
                zip(unbinned.array_name(), unbinned.gain(), strict=True)]
    assert unbinned.saturation_level() == pytest.approx(expected)
    assert min(expected) < 65535  # some amps fill their wells before the ADC saturates
    high_gain = open_raw(raw.gmos("science", ampinteg=5000, raw_gain=5.2, binning=(1, 1)))
    assert all(19000 < s < 25000 for s in high_gain.saturation_level())
    # Once the overscan level is subtracted, the ADC limit drops by that much.
    hdulist = raw.gmos("science", ampinteg=11880, binning=(2, 2))
    for hdu in hdulist[1:]:
        hdu.header["OVERSCAN"] = 1012.5
    assert open_raw(hdulist).saturation_level() == [65535 - 1012.5] * 12


def test_gains_after_prepare_and_adu_to_electrons(raw, open_raw):
    ad = open_raw(raw.gmos("science", ampinteg=11880))
    raw_gains = ad.gain()
    astrodata.mark_history(ad, "prepare")
    for ext, gain in zip(ad, raw_gains, strict=True):
        ext.hdr["GAIN"] = gain
        ext.hdr["GAINORIG"] = gain
    assert ad.gain() == raw_gains
    assert ad.gain_setting() == "low"
    astrodata.mark_history(ad, "ADUToElectrons")
    ad.hdr.set("GAIN", 1.0)
    ad.hdr.set("BUNIT", "electron")
    assert ad.gain() == [1.0] * 12
    assert ad.gain_setting() == "low"  # from GAINORIG
    ad.phu["GAINSET"] = "high"
    assert ad.gain_setting() == "high"


# ---------------------------------------------------------------------------
# regions of interest


@pytest.mark.parametrize(
    "rois, setting",
    [
        ({"DETRO1X": 1, "DETRO1XS": 3072, "DETRO1Y": 1, "DETRO1YS": 2112}, "Full Frame"),
        ({"DETRO1X": 2049, "DETRO1XS": 1024, "DETRO1Y": 1, "DETRO1YS": 2112}, "CCD2"),
        ({"DETRO1X": 1, "DETRO1XS": 3072, "DETRO1Y": 1625, "DETRO1YS": 512},
         "Central Spectrum"),
        ({"DETRO1X": 2923, "DETRO1XS": 150, "DETRO1Y": 1987, "DETRO1YS": 150}, "Central Stamp"),
        ({"DETRO1X": 101, "DETRO1XS": 500, "DETRO1Y": 1, "DETRO1YS": 2112}, "Custom"),
    ],
)
def test_detector_roi_setting(raw, open_raw, rois, setting):
    ad = open_raw(raw.gmos("science", binning=(2, 2), **rois))
    assert ad.detector_roi_setting() == setting


def test_rois_requested(raw, open_raw):
    ad = open_raw(raw.gmos("science", binning=(2, 2), DETRO2X=2049, DETRO2XS=512, DETRO2Y=101,
                           DETRO2YS=256))
    assert ad.detector_rois_requested() == [Section(0, 6144, 0, 4224),
                                            Section(2048, 3072, 100, 612)]
    no_roi = open_raw(raw.gmos("science", drop=["DETRO1X", "DETRO1XS", "DETRO1Y", "DETRO1YS"]))
    assert no_roi.detector_rois_requested() == []
    assert no_roi.detector_roi_setting() == "Undefined"


# ---------------------------------------------------------------------------
# other descriptors


def test_optical_configuration(raw, open_raw):
    ad = open_raw(raw.gmos("science", site="S"))
    assert ad.filter_name() == "open1-6&r_G0326"
    assert ad.filter_name(pretty=True) == "r"
    assert ad.focal_plane_mask() == "Imaging"
    assert ad.disperser() == "MIRROR"
    assert ad.central_wavelength() is None
    assert ad.camera() == "GMOS-S"
    assert ad.detector_name() == ",".join(S_CCDS)
    assert ad.detector_name(pretty=True) == "Hamamatsu-S"
    assert open_raw(raw.gmos("science", site="N", date="2017-06-10")).detector_name(
        pretty=True) == "Hamamatsu-N"
    assert ad.effective_wavelength(asMicrometers=True) == pytest.approx(0.63)


def test_exposure_time_has_no_coadds(raw, open_raw, caplog):
    assert open_raw(raw.gmos("science", EXPTIME=30.0, COADDS=3)).exposure_time() == 30.0
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert open_raw(raw.gmos("science", EXPTIME=20000.0)).exposure_time() is None
    assert "EXPTIME=20000.0" in caplog.text


def test_pixel_scale_position_angle_offsets(raw, open_raw):
    south = open_raw(raw.gmos("science", site="S", binning=(2, 2), PA=90.0, POFFSET=1.6,
                              QOFFSET=-0.8, INPORT=1))
    assert south.pixel_scale() == pytest.approx(0.16)
    assert south.position_angle() == pytest.approx(270.0)
    assert south.detector_x_offset() == pytest.approx(10.0)
    assert south.detector_y_offset() == pytest.approx(5.0)  # GMOS-S flips y on port 1
    north = open_raw(raw.gmos("science", site="N", binning=(1, 1), date="2017-06-10",
                              POFFSET=0.807, QOFFSET=0.807, INPORT=1))
    assert north.pixel_scale() == pytest.approx(0.0807)
    assert north.detector_x_offset() == pytest.approx(-10.0)  # GMOS-N flips x on port 1
    assert north.detector_y_offset() == pytest.approx(10.0)


def test_group_id_matches_the_reference_form(raw, open_raw):
    ad = open_raw(raw.gmos("science", site="S", ampinteg=5000))
    areas = ad.amp_read_area()
    assert ad.group_id() == f"GS-2015B-Q-54-30_r_2_2_Acquisition_{areas}"
    assert ad.group_id().startswith(
        "GS-2015B-Q-54-30_r_2_2_Acquisition_[\"'BI5-36-4k-2, 4':[1:512,1:4224]\", ")
    assert "\"'BI11-33-4k-1, 4':[2049:2560,1:4224]\"" in ad.group_id()
    bias = open_raw(raw.gmos("bias_2022", site="S", ampinteg=5000))
    assert bias.group_id() == f"2_2_Acquisition_{areas}"
    twilight = open_raw(raw.gmos("twilight", site="S", ampinteg=5000, OBSID="GS-CAL-1"))
    assert twilight.group_id() == f"r_2_2_Acquisition_{areas}"
    dark = open_raw(raw.gmos("science", OBSTYPE="DARK", ampinteg=5000, EXPTIME=600.0))
    assert dark.group_id() == f"600.0_2_2_Acquisition_{areas}"
    slow = open_raw(raw.gmos("science", site="S", ampinteg=11880))
    assert slow.group_id() != ad.group_id()


def test_nominal_zeropoints(raw, open_raw):
    ad = open_raw(raw.gmos("science", site="S", ampinteg=11880))
    expected = [28.23 - 2.5 * math.log10(g) for g in ad.gain()]
    assert ad.nominal_photometric_zeropoint() == pytest.approx(expected)


def test_missing_amp_name_in_one_extension(raw, open_raw, caplog):
    ad = open_raw(raw.gmos("science", ext_drop={5: ["AMPNAME"]}))
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        gains = ad.gain()
        areas = ad.amp_read_area()
    assert len(gains) == 12 and gains[4] is None
    assert all(g is not None for i, g in enumerate(gains) if i != 4)
    assert areas[4] is None and areas[5] == "'BI11-33-4k-1, 3':[2561:3072,1:4224]"
    assert "extension 5" in caplog.text and "AMPNAME" in caplog.text


def test_missing_readout_keywords(raw, open_raw, caplog):
    ad = open_raw(raw.gmos("science", drop=["AMPINTEG", "DETTYPE", "DETECTOR", "DATE-OBS",
                                            "DATE", "GRATING"]))
    assert "GMOS" in ad.tags and "IMAGE" in ad.tags  # OBSMODE still says IMAGE
    with caplog.at_level(logging.WARNING, logger="astrodata"):
        assert ad.read_speed_setting() is None
        assert ad.read_mode() is None
        assert ad.gain() == [None] * 12
        assert ad.pixel_scale() is None
    assert "AMPINTEG" in caplog.text or "unknown GMOS detector" in caplog.text


# ---------------------------------------------------------------------------
# lookup tables


def test_per_amp_tables_cover_every_amp_inside_the_ranges():
    era = gmos_lookup.era_index(dt.date(2018, 1, 1))
    for ccd in gmos_lookup.CCDS["GMOS-N Hamamatsu"] + S_CCDS:
        for amp in gmos_lookup.amp_names(ccd):
            for mode in (("slow", "low"), ("fast", "low"), ("fast", "high")):
                assert (*mode, amp) in gmos_lookup.GAIN[era]
                assert (*mode, amp) in gmos_lookup.READ_NOISE[era]
                assert (*mode, amp) in gmos_lookup.BIAS_LEVEL[era]
            assert ("slow", "high", amp) not in gmos_lookup.GAIN[era]
    # Amplifier 1 and 4 of a CCD take the ends of its range.
    gain = gmos_lookup.GAIN[era]
    assert gain[("fast", "high", "BI13-20-4k-1, 1")] == 5.04
    assert gain[("fast", "high", "BI13-20-4k-1, 4")] == 5.21
    assert gmos_lookup.era_index(dt.date(2006, 8, 30)) == 0
    assert gmos_lookup.era_index(dt.date(2023, 12, 14)) == 4
    assert gmos_lookup.era_index(dt.date(2023, 12, 14), read_noise=True) == 3
    # High gain is about three times low gain on every Hamamatsu amp.
    for (_speed, setting, amp), value in gain.items():
        if setting == "high" and amp.startswith("BI"):
            assert 2.4 < value / gain[("fast", "low", amp)] < 3.8


def test_full_wells_and_geometry():
    wells = gmos_lookup.FULL_WELLS["GMOS-N + Hamamatsu"]
    assert all(wells[a] == 129000 for a in gmos_lookup.amp_names("BI13-20-4k-1"))
    assert all(121000 <= w <= 129000 for w in wells.values())
    assert len(gmos_lookup.FULL_WELLS["GMOS + Ham-2"]) == 12
    layout = gmos_lookup.hamamatsu_layout(S_CCDS, 2, 2)
    assert [a["NAXIS1"] for a in layout] == ["288"] * 12
    assert layout[4]["DETSEC"] == "[2049:2560,1:4224]"
    shifts = gmos_lookup.MOSAIC_SHIFTS["GMOS-S Hamamatsu"]
    # CCD1 and CCD3 sit one CCD width plus about one chip gap from CCD2.
    assert -shifts["CCD1"]["shift"][0] - 2048 == pytest.approx(61, abs=5)
    assert shifts["CCD3"]["shift"][0] - 2048 == pytest.approx(61, abs=5)
