"""CalibDB primitives: storing processed calibrations and finding them for correction primitives."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path

import pytest

import astrodata
from primitives.errors import CalibrationNotFoundError, ParameterError
from primitives.f2 import F2, F2Image
from primitives.gsaoi import GSAOIImage
from recipe_system.cal_service import LocalDB, init_calibration_databases

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipe_system" / "cal_service"))
from calframes import T0, build_frame, write_frame  # noqa: E402

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DRAGONSRC", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def database(tmp_path):
    db = LocalDB(tmp_path / "db" / "cal_manager.db")
    db.init()
    return db


def _raw(tmp_path, name, instrument="F2", when=T0, **kwargs):
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    path = write_frame(raw, name, instrument, when, **kwargs)
    return astrodata.open(str(path))


def test_store_processed_dark_marks_writes_and_stores(tmp_path, database, workdir):
    dark = _raw(tmp_path, "S20131120S0115.fits", obstype="DARK")
    assert "RAW" in dark.tags
    provider = init_calibration_databases(databases=[database])
    p = F2([dark], mode="sq", caldb=provider)
    out = p.storeProcessedDark()
    assert out == p.streams["main"] and out[0] is dark
    assert dark.filename == "S20131120S0115_dark.fits"
    assert dark.phu["PROCMODE"] == "sq"
    assert "PROCDARK" in dark.phu and "GEM-TLM" in dark.phu
    assert {"PROCESSED", "DARK"} <= dark.tags and "RAW" not in dark.tags
    assert dark.phu["DATALAB"] == "GS-2013B-Q-15-39-001-SQ-DARK"
    copy = workdir / "calibrations" / "processed_dark" / "S20131120S0115_dark.fits"
    assert copy.is_file()
    assert p.processed_filenames == [str(copy)]
    reopened = astrodata.open(str(copy))
    assert "PROCESSED" in reopened.tags
    assert [(f.name, f.path) for f in database.list_files()] == [
        ("S20131120S0115_dark.fits", str(copy.parent))]
    # storing again does not stack data-label suffixes
    p.storeProcessedDark()
    assert dark.phu["DATALAB"] == "GS-2013B-Q-15-39-001-SQ-DARK"
    assert database.count() == 1


def test_quicklook_products_are_not_used_by_science_quality(tmp_path, database, workdir):
    dark = _raw(tmp_path, "S20131120S0115.fits", obstype="DARK", when=T0 - DAY)
    provider = init_calibration_databases(databases=[database], mode="ql")
    F2([dark], mode="ql", caldb=provider).storeProcessedDark()
    assert dark.filename == "S20131120S0115_ql_dark.fits"
    assert dark.phu["DATALAB"].endswith("-QL-DARK")
    science = _raw(tmp_path, "S20131121S0075.fits")
    ql = F2Image([science], mode="ql", caldb=provider)
    assert ql._get_cal([science], "processed_dark") == [
        str(workdir / "calibrations" / "processed_dark" / "S20131120S0115_ql_dark.fits")]
    sq = F2Image([science], mode="sq",
                 caldb=init_calibration_databases(databases=[database], mode="sq"))
    with pytest.raises(CalibrationNotFoundError) as error:
        sq._get_cal([science], "processed_dark")
    message = str(error.value)
    assert message.startswith("S20131121S0075.fits: no processed_dark found.")
    assert "rule F2/processed_dark" in message and "processed in 'ql' mode" in message


def test_get_cal_modes(tmp_path, database, caplog):
    science = _raw(tmp_path, "S20131121S0075.fits")
    provider = init_calibration_databases(databases=[database])
    sq = F2Image([science], mode="sq", caldb=provider)
    with pytest.raises(CalibrationNotFoundError, match="no processed_flat found"):
        sq._get_cal([science], "processed_flat")
    assert sq._get_cal([science], "processed_flat", do_cal="skip") == [None]
    ql = F2Image([science], mode="ql", caldb=init_calibration_databases(
        databases=[database], mode="ql"))
    with caplog.at_level(logging.WARNING):
        assert ql._get_cal([science], "processed_flat") == [None]
    assert "Continuing without it (ql mode)" in caplog.text
    with pytest.raises(CalibrationNotFoundError):
        ql._get_cal([science], "processed_flat", do_cal="force")
    with pytest.raises(ParameterError, match="do_cal='always'"):
        ql._get_cal([science], "processed_flat", do_cal="always")
    nodb = F2Image([science], mode="sq")
    with pytest.raises(CalibrationNotFoundError, match="no calibration database is in use"):
        nodb._get_cal([science], "processed_flat")


def test_get_cal_sources_in_order(tmp_path, database, caplog):
    cals = tmp_path / "cals"
    cals.mkdir()
    db_flat = write_frame(cals, "db_flat.fits", "F2", T0, processed="processed_flat",
                          obstype="FLAT")
    user_flat = write_frame(cals, "user_flat.fits", "F2", T0, processed="processed_flat",
                            obstype="FLAT")
    pinned_flat = write_frame(cals, "pinned_flat.fits", "F2", T0, processed="processed_flat",
                              obstype="FLAT")
    param_flat = write_frame(cals, "param_flat.fits", "F2", T0, processed="processed_flat",
                             obstype="FLAT")
    database.add_cal(db_flat)
    provider = init_calibration_databases(databases=[database])
    sci = [_raw(tmp_path, "S1.fits"), _raw(tmp_path, "S2.fits", label="GS-2013B-Q-15-39-002")]
    p = F2Image(sci, mode="sq", caldb=provider)
    assert p._get_cal(sci, "processed_flat") == [str(db_flat)] * 2
    p = F2Image(sci, mode="sq", caldb=provider, ucals={"processed_flat": str(user_flat)})
    assert p._get_cal(sci, "processed_flat") == [str(user_flat)] * 2
    p.setCalibration(sci[:1], caltype="processed_flat", calfile=str(pinned_flat))
    assert p._get_cal(sci, "processed_flat") == [str(pinned_flat), str(user_flat)]
    assert p._get_cal(sci, "processed_flat", user_value=[str(param_flat), None]) == [
        str(param_flat), str(user_flat)]
    flat_ad = astrodata.open(str(param_flat))
    assert p._get_cal(sci, "processed_flat", user_value=flat_ad) == [flat_ad, flat_ad]
    with pytest.raises(CalibrationNotFoundError, match=r"gone\.fits: file not found"):
        p._get_cal(sci, "processed_flat", user_value=str(cals / "gone.fits"))
    with pytest.raises(ParameterError, match="3 processed_flat values given for 2 inputs"):
        p._get_cal(sci, "processed_flat", user_value=["a", "b", "c"])
    with caplog.at_level(logging.INFO):
        F2Image(sci, mode="sq", caldb=provider).getProcessedFlat()
    assert "received processed_flat" in caplog.text and "db_flat.fits" in caplog.text


def test_not_applicable_is_not_an_error_unless_forced(tmp_path, database):
    science = _raw(tmp_path, "S20170505S0095.fits", instrument="GSAOI")
    p = GSAOIImage([science], mode="sq", caldb=init_calibration_databases(databases=[database]))
    assert p._get_cal([science], "processed_dark") == [None]
    with pytest.raises(CalibrationNotFoundError, match="dark current is negligible"):
        p._get_cal([science], "processed_dark", do_cal="force")


def test_store_bpm_and_science_and_without_database(tmp_path, workdir):
    bpm = _raw(tmp_path, "S20131129S0320.fits", obstype="FLAT")
    p = F2([bpm], mode="sq")
    p.storeBPM()
    assert bpm.filename == "S20131129S0320_bpm.fits"
    assert "PROCBPM" in bpm.phu and {"BPM", "PROCESSED"} <= bpm.tags
    assert (workdir / "calibrations" / "processed_bpm" / "S20131129S0320_bpm.fits").is_file()
    science = _raw(tmp_path, "S20131121S0075.fits")
    F2Image([science], mode="sq").storeProcessedScience()
    assert science.filename == "S20131121S0075_image.fits"
    assert "PROCESSED_SCIENCE" in science.tags
    assert science.phu["DATALAB"].endswith("-SQ-IMAGE")
    assert (workdir / "calibrations" / "processed_science"
            / "S20131121S0075_image.fits").is_file()


def test_stored_flat_is_found_for_science(tmp_path, database, workdir):
    flat = _raw(tmp_path, "S20131129S0320.fits", obstype="FLAT", when=T0 + 8 * DAY)
    provider = init_calibration_databases(databases=[database])
    F2([flat], mode="sq", caldb=provider).storeProcessedFlat()
    science = build_frame("F2", T0, filename="S20131121S0075.fits")
    found = F2Image([science], mode="sq", caldb=provider)._get_cal([science], "processed_flat")
    assert found == [str(workdir / "calibrations" / "processed_flat"
                         / "S20131129S0320_flat.fits")]
