"""Association rules per instrument: the right calibration is chosen among near misses."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from calframes import T0, build_frame, write_frame

from recipe_system.cal_service import ORIGIN_NOT_APPLICABLE, LocalDB, init_calibration_databases
from recipe_system.cal_service.association import (
    describe_target,
    rule_differences,
    select_candidates,
)
from recipe_system.cal_service.frame_values import frame_values
from recipe_system.cal_service.rules import RULES, CalibrationRule

DAY = dt.timedelta(days=1)


def _fill(db_location, caldir, specs):
    """Write and add calibrations: specs are (name, instrument, time, caltype, builder kwargs)."""
    db = LocalDB(db_location)
    db.init()
    for name, instrument, when, caltype, kwargs in specs:
        db.add_cal(write_frame(caldir, name, instrument, when, processed=caltype, **kwargs))
    return db


def _chosen(db, ad, caltype, procmode="sq"):
    found = db.lookup(ad, caltype, procmode)
    return None if found.path is None else found.chosen.filename


# -- Flamingos-2 ------------------------------------------------------------------
def test_f2_dark_matches_exposure_time_and_read_mode(db_location, caldir):
    dark = {"obstype": "DARK"}
    db = _fill(db_location, caldir, [
        ("right_dark.fits", "F2", T0 - 2 * DAY, "processed_dark", dark),
        ("exptime60_dark.fits", "F2", T0, "processed_dark", {**dark, "exptime": 60.0}),
        ("lnrs8_dark.fits", "F2", T0, "processed_dark", {**dark, "lnrs": 8}),
        ("old_dark.fits", "F2", T0 - 95 * DAY, "processed_dark", dark),
        ("ql_dark.fits", "F2", T0 - dt.timedelta(hours=1), "processed_dark",
         {**dark, "procmode": "ql"}),
    ])
    science = build_frame("F2", T0, filename="S20131121S0075.fits")
    assert _chosen(db, science, "processed_dark", "sq") == "right_dark.fits"
    # quick-look accepts the closer quick-look dark
    assert _chosen(db, science, "processed_dark", "ql") == "ql_dark.fits"


def test_f2_dark_outside_window_is_refused_and_explained(db_location, caldir):
    db = _fill(db_location, caldir, [
        ("old_dark.fits", "F2", T0 - 95 * DAY, "processed_dark", {"obstype": "DARK"}),
    ])
    science = build_frame("F2", T0, filename="S20131121S0075.fits")
    assert db.lookup(science, "processed_dark", "sq").path is None
    text = db.explain(science, "processed_dark", "sq")
    assert "old_dark.fits" in text
    assert "95.00 days apart (limit 90)" in text


def test_f2_flat_matches_filter_and_lyot_stop_not_read_mode(db_location, caldir):
    flat = {"obstype": "FLAT", "obsclass": "dayCal"}
    db = _fill(db_location, caldir, [
        ("right_flat.fits", "F2", T0 + 8 * DAY, "processed_flat", {**flat, "lnrs": 8}),
        ("j_flat.fits", "F2", T0, "processed_flat", {**flat, "filter2": "J_G0802"}),
        ("f32_flat.fits", "F2", T0, "processed_flat", {**flat, "lyot": "f/32_G5831"}),
        ("old_flat.fits", "F2", T0 - 120 * DAY, "processed_flat", flat),
    ])
    science = build_frame("F2", T0)
    assert _chosen(db, science, "processed_flat") == "right_flat.fits"
    text = db.explain(build_frame("F2", T0, filter2="H_G0803"), "processed_flat", "sq")
    assert "filter_name 'Open&Y_G0811' != 'Open&H_G0803'" in text


def test_f2_bpm_is_the_most_recent_before_the_frame(db_location, caldir):
    db = _fill(db_location, caldir, [
        ("old_bpm.fits", "F2", T0 - 300 * DAY, "processed_bpm", {"obstype": "BPM"}),
        ("recent_bpm.fits", "F2", T0 - 10 * DAY, "processed_bpm", {"obstype": "BPM"}),
        ("later_bpm.fits", "F2", T0 + DAY, "processed_bpm", {"obstype": "BPM"}),
    ])
    assert _chosen(db, build_frame("F2", T0), "processed_bpm") == "recent_bpm.fits"
    assert _chosen(db, build_frame("F2", T0 - 200 * DAY), "processed_bpm") == "old_bpm.fits"
    assert _chosen(db, build_frame("F2", T0 - 400 * DAY), "processed_bpm") is None


def test_f2_standard_within_one_day(db_location, caldir):
    std = {"obsclass": "partnerCal"}
    db = _fill(db_location, caldir, [
        ("std_today.fits", "F2", T0 + dt.timedelta(hours=20), "processed_standard", std),
        ("std_j.fits", "F2", T0, "processed_standard", {**std, "filter2": "J_G0802"}),
        ("std_old.fits", "F2", T0 - 2 * DAY, "processed_standard", std),
    ])
    assert _chosen(db, build_frame("F2", T0), "processed_standard") == "std_today.fits"
    assert _chosen(db, build_frame("F2", T0 - 3.5 * DAY), "processed_standard") is None


# -- GSAOI ------------------------------------------------------------------------
def test_gsaoi_full_frame_flat_serves_roi_standard(db_location, caldir):
    flat = {"obj": "Domeflat", "obsclass": "dayCal"}
    db = _fill(db_location, caldir, [
        ("full_flat.fits", "GSAOI", T0 - 5 * DAY, "processed_flat", flat),
        ("roi256_flat.fits", "GSAOI", T0, "processed_flat", {**flat, "roi": 256}),
        ("k_flat.fits", "GSAOI", T0, "processed_flat", {**flat, "filter1": "K_G1106"}),
        ("far_flat.fits", "GSAOI", T0 - 40 * DAY, "processed_flat", flat),
    ])
    standard = build_frame("GSAOI", T0, roi=1024, obsclass="partnerCal", filename="std.fits")
    assert _chosen(db, standard, "processed_flat") == "full_flat.fits"
    science = build_frame("GSAOI", T0 + DAY, filename="sci.fits")
    assert _chosen(db, science, "processed_flat") == "full_flat.fits"
    small = build_frame("GSAOI", T0, roi=128, filename="small.fits")
    assert _chosen(db, small, "processed_flat") == "roi256_flat.fits"
    text = db.explain(science, "processed_flat", "sq")
    assert "Chosen: full_flat.fits" in text
    nothing = build_frame("GSAOI", T0, filter1="Z_G1101", filename="z.fits")
    text = db.explain(nothing, "processed_flat", "sq")
    assert "roi256_flat.fits" in text and "filter_name" in text


def test_gsaoi_darks_do_not_apply(db_location, caldir):
    db = _fill(db_location, caldir, [])
    provider = init_calibration_databases(databases=[db])
    science = build_frame("GSAOI", T0, filename="sci.fits")
    answer = provider.get_calibrations([science], "processed_dark")
    assert answer.files == [None]
    assert answer.origins == [ORIGIN_NOT_APPLICABLE]
    assert "dark current is negligible" in provider.explain(science, "processed_dark")


# -- GMOS ---------------------------------------------------------------------------
_PREPARED = {"PREPARE": "2024-01-01T00:00:00", "GEM-TLM": "2024-01-01T00:00:00",
             "SUBOVER": "2024-01-01T00:00:00", "TRIMOVER": "2024-01-01T00:00:00",
             "GAINSET": "low"}


def test_gmos_bias_matches_binning_speed_gain_and_roi(db_location, caldir):
    bias = {"obstype": "BIAS", "obj": "Bias", "obsclass": "dayCal"}
    db = _fill(db_location, caldir, [
        ("right_bias.fits", "GMOS", T0 - 3 * DAY, "processed_bias", bias),
        ("bin1_bias.fits", "GMOS", T0, "processed_bias", {**bias, "binning": 1}),
        ("fast_bias.fits", "GMOS", T0, "processed_bias", {**bias, "speed": "fast"}),
        ("high_bias.fits", "GMOS", T0, "processed_bias", {**bias, "gain": "high"}),
        ("ccd2_bias.fits", "GMOS", T0, "processed_bias", {**bias, "roi": "CCD2"}),
        ("untrimmed_bias.fits", "GMOS", T0 - DAY, "processed_bias",
         {**bias, "phu_remove": ("TRIMOVER",)}),
        ("old_bias.fits", "GMOS", T0 - 91 * DAY, "processed_bias", bias),
    ])
    science = build_frame("GMOS", T0, phu_extra=_PREPARED, filename="sci.fits")
    assert _chosen(db, science, "processed_bias") == "right_bias.fits"
    text = db.explain(science, "processed_bias", "sq")
    assert "Chosen: right_bias.fits" in text
    # a CCD2 frame: the CCD2 bias and the full-frame one both contain it; closest wins
    ccd2 = build_frame("GMOS", T0, roi="CCD2", phu_extra=_PREPARED, filename="ccd2.fits")
    assert _chosen(db, ccd2, "processed_bias") == "ccd2_bias.fits"
    # raw frames do not compare the overscan state: the untrimmed bias is closer
    raw = build_frame("GMOS", T0, filename="raw.fits")
    assert _chosen(db, raw, "processed_bias") == "untrimmed_bias.fits"


def test_gmos_full_frame_bias_serves_a_ccd2_frame_but_not_the_reverse(db_location, caldir):
    bias = {"obstype": "BIAS", "obj": "Bias", "obsclass": "dayCal"}
    db = _fill(db_location, caldir, [
        ("full_bias.fits", "GMOS", T0 - 3 * DAY, "processed_bias", bias),
        ("ccd2_bias.fits", "GMOS", T0 - 10 * DAY, "processed_bias", {**bias, "roi": "CCD2"}),
    ])
    ccd2 = build_frame("GMOS", T0, roi="CCD2", phu_extra=_PREPARED, filename="ccd2.fits")
    assert _chosen(db, ccd2, "processed_bias") == "full_bias.fits"
    db.remove_cal("full_bias.fits")
    full = build_frame("GMOS", T0, phu_extra=_PREPARED, filename="full.fits")
    assert _chosen(db, full, "processed_bias") is None
    text = db.explain(full, "processed_bias", "sq")
    assert "ccd2_bias.fits" in text and "amp_read_area" in text


def test_gmos_bias_does_not_apply_to_a_bias(db_location, caldir):
    db = _fill(db_location, caldir, [
        ("bias.fits", "GMOS", T0, "processed_bias",
         {"obstype": "BIAS", "obj": "Bias", "obsclass": "dayCal"}),
    ])
    raw_bias = build_frame("GMOS", T0, obstype="BIAS", obj="Bias", filename="rawbias.fits")
    found = db.lookup(raw_bias, "processed_bias", "sq")
    assert found.path is None and "does not apply" in found.problem


def test_gmos_flat_and_fringe(db_location, caldir):
    twilight = {"obj": "Twilight", "obsclass": "dayCal"}
    db = _fill(db_location, caldir, [
        ("r_flat.fits", "GMOS", T0 - 10 * DAY, "processed_flat", twilight),
        ("g_flat.fits", "GMOS", T0, "processed_flat", {**twilight, "filter2": "g_G0325"}),
        ("fast_flat.fits", "GMOS", T0, "processed_flat", {**twilight, "speed": "fast"}),
        ("r_fringe.fits", "GMOS", T0 - 200 * DAY, "processed_fringe", {}),
        ("i_fringe.fits", "GMOS", T0, "processed_fringe", {"filter2": "i_G0327"}),
        ("r_fringe_old.fits", "GMOS", T0 - 400 * DAY, "processed_fringe", {}),
    ])
    science = build_frame("GMOS", T0, phu_extra=_PREPARED, filename="sci.fits")
    assert _chosen(db, science, "processed_flat") == "r_flat.fits"
    assert _chosen(db, science, "processed_fringe") == "r_fringe.fits"


def test_gmos_bpm_must_cover_the_frames_arrays(db_location, caldir):
    bpm = {"obstype": "BPM", "obj": "BPM"}
    db = _fill(db_location, caldir, [
        ("full_bpm.fits", "GMOS", T0 - 50 * DAY, "processed_bpm", bpm),
        ("bin1_bpm.fits", "GMOS", T0 - DAY, "processed_bpm", {**bpm, "binning": 1}),
        ("ccd2_bpm.fits", "GMOS", T0 - 2 * DAY, "processed_bpm", {**bpm, "roi": "CCD2"}),
    ])
    full = build_frame("GMOS", T0, filename="full.fits")
    assert _chosen(db, full, "processed_bpm") == "full_bpm.fits"
    ccd2 = build_frame("GMOS", T0, roi="CCD2", filename="ccd2.fits")
    assert _chosen(db, ccd2, "processed_bpm") == "ccd2_bpm.fits"


# -- NIRI -----------------------------------------------------------------------------
def test_niri_dark_coadds_tolerance_well_and_section(db_location, caldir):
    dark = {"obstype": "DARK", "obj": "Dark", "obsclass": "dayCal"}
    db = _fill(db_location, caldir, [
        ("right_dark.fits", "NIRI", T0 - 10 * DAY, "processed_dark", dark),
        ("near_exptime_dark.fits", "NIRI", T0 - DAY, "processed_dark",
         {**dark, "exptime": 20.005}),
        ("coadds_dark.fits", "NIRI", T0, "processed_dark",
         {**dark, "exptime": 10.0, "coadds": 2}),
        ("exptime_dark.fits", "NIRI", T0, "processed_dark", {**dark, "exptime": 20.05}),
        ("deep_dark.fits", "NIRI", T0, "processed_dark", {**dark, "well": "Deep"}),
        ("sub256_dark.fits", "NIRI", T0, "processed_dark", {**dark, "size": 256}),
        ("old_dark.fits", "NIRI", T0 - 200 * DAY, "processed_dark", dark),
    ])
    science = build_frame("NIRI", T0, filename="N1.fits")
    assert _chosen(db, science, "processed_dark") == "near_exptime_dark.fits"
    db.remove_cal("near_exptime_dark.fits")
    assert _chosen(db, science, "processed_dark") == "right_dark.fits"
    sub = build_frame("NIRI", T0, size=256, filename="N2.fits")
    assert _chosen(db, sub, "processed_dark") == "sub256_dark.fits"


def test_niri_full_frame_flat_serves_a_subarray(db_location, caldir):
    flat = {"obstype": "FLAT", "obj": "GCALflat", "obsclass": "dayCal"}
    db = _fill(db_location, caldir, [
        ("full_flat.fits", "NIRI", T0 - 20 * DAY, "processed_flat", flat),
        ("sub_j_flat.fits", "NIRI", T0, "processed_flat",
         {**flat, "size": 256, "filter2": "J_G0202"}),
        ("f32_flat.fits", "NIRI", T0, "processed_flat", {**flat, "camera": "f32"}),
        ("sub512_flat.fits", "NIRI", T0 - DAY, "processed_flat", {**flat, "size": 512}),
    ])
    sub = build_frame("NIRI", T0, size=256, filename="N2.fits")
    assert _chosen(db, sub, "processed_flat") == "sub512_flat.fits"
    full = build_frame("NIRI", T0, filename="N1.fits")
    assert _chosen(db, full, "processed_flat") == "full_flat.fits"


# -- ordering and processing modes -------------------------------------------------
def test_processing_rank_then_newest_added(db_location, caldir):
    dark = {"obstype": "DARK"}
    db = _fill(db_location, caldir, [
        ("ql_dark.fits", "F2", T0 - DAY, "processed_dark", {**dark, "procmode": "ql"}),
        ("sq_dark.fits", "F2", T0 - DAY, "processed_dark", dark),
    ])
    science = build_frame("F2", T0)
    # same distance: the science-quality one ranks first even in quick-look mode
    assert _chosen(db, science, "processed_dark", "ql") == "sq_dark.fits"
    assert _chosen(db, science, "processed_dark", "qa") == "sq_dark.fits"
    # two equivalent calibrations: the one added last wins
    db.add_cal(write_frame(caldir, "sq_dark_again.fits", "F2", T0 - DAY,
                           processed="processed_dark", **dark))
    assert _chosen(db, science, "processed_dark", "sq") == "sq_dark_again.fits"
    text = db.explain(build_frame("F2", T0 + 200 * DAY), "processed_dark", "sq")
    assert "ql_dark.fits" in text and "processed in 'ql' mode" in text


def test_sql_prefilter_agrees_with_the_python_rule(db_location, caldir):
    """For random calibrations and frames, the SQL query keeps exactly what the rule allows."""
    rng = random.Random(3)
    db = LocalDB(db_location)
    db.init()
    for i in range(40):
        kwargs = {"obstype": "DARK", "obj": "Dark", "obsclass": "dayCal",
                  "exptime": rng.choice([10.0, 20.0, 20.004, 20.02]),
                  "coadds": rng.choice([1, 2]), "well": rng.choice(["Shallow", "Deep"]),
                  "procmode": rng.choice(["sq", "ql", "qa"])}
        when = T0 + dt.timedelta(days=rng.uniform(-250, 250))
        db.add_cal(write_frame(caldir, f"d{i:02d}.fits", "NIRI", when,
                               processed="processed_dark", **kwargs))
    rule = RULES[("NIRI", "processed_dark")]
    with db.database.read_session() as session:
        rows = session.execute(db_rows_query()).all()
        everything = [dict(r._mapping) for r in rows]
        for j in range(12):
            frame = build_frame("NIRI", T0 + dt.timedelta(days=rng.uniform(-100, 100)),
                                exptime=20.0, coadds=rng.choice([1, 2]),
                                well=rng.choice(["Shallow", "Deep"]), filename=f"f{j}.fits")
            target = describe_target(frame, "processed_dark")
            for procmode in ("sq", "ql", "qa"):
                by_sql = {c.filename for c in select_candidates(session, rule, target.values,
                                                                procmode)}
                by_python = {row["filename"] for row in everything
                             if not rule_differences(rule, target.values, row, procmode)}
                assert by_sql == by_python


def db_rows_query():
    from sqlalchemy import select

    from recipe_system.cal_service.models import ProcessedCalibration

    return select(ProcessedCalibration.__table__)


def test_rules_read_descriptors_that_frames_provide():
    """Every descriptor a rule compares is read from frames of that instrument."""
    samples = {"F2": build_frame("F2", T0), "GSAOI": build_frame("GSAOI", T0),
               "GMOS": build_frame("GMOS", T0), "NIRI": build_frame("NIRI", T0)}
    for (instrument, caltype), rule in RULES.items():
        if instrument not in samples:  # a plug-in's rules (tested with the plug-in)
            continue
        values = frame_values(samples[instrument], rule.descriptors)
        for name in rule.match + tuple(rule.tolerances):
            if name in ("data_section",) and instrument != "NIRI":
                continue
            assert values.get(name) is not None, (instrument, caltype, name)


def test_rule_validation_and_summary():
    with pytest.raises(ValueError):
        CalibrationRule("X", "processed_flat", roi="pupil")
    text = RULES[("GMOS", "processed_bias")].summary()
    assert "amp_read_area must contain" in text and "90 days" in text
