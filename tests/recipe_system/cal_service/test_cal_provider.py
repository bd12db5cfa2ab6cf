"""The provider cascade (user_cal > cache pins > databases), storing, explain, the tutorial API."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from calframes import T0, build_frame, write_frame

from recipe_system import cal_service
from recipe_system.cal_service import (
    CalibrationService,
    LocalDB,
    UserCalibrationError,
    init_calibration_databases,
    read_cal_cache,
    set_calservice,
    write_cal_cache,
)
from recipe_system.errors import ConfigError

DAY = dt.timedelta(days=1)


def _dark(caldir, name, when=T0 - DAY, **kwargs):
    return write_frame(caldir, name, "F2", when, processed="processed_dark", obstype="DARK",
                       **kwargs)


@pytest.fixture
def science():
    return build_frame("F2", T0, filename="S20131121S0075.fits")


def test_cascade_user_cal_then_cache_then_database(db_location, caldir, science, tmp_path):
    db = LocalDB(db_location)
    db.add_cal(_dark(caldir, "db_dark.fits"))
    mine = _dark(caldir, "my_dark.fits")
    pinned = _dark(caldir, "pinned_dark.fits")

    provider = init_calibration_databases(databases=[db])
    answer = provider.get_calibrations([science], "processed_dark")
    assert answer.files == [str(caldir / "db_dark.fits")]
    assert answer.origins == [db.name]

    cache = write_cal_cache(tmp_path / "pins.json",
                            {"GS-2013B-Q-15-39-001": {"processed_dark": str(pinned)}})
    provider = init_calibration_databases(databases=[db], cal_cache=cache)
    answer = provider.get_calibrations([science], "processed_dark")
    assert answer.files == [str(pinned)]
    assert answer.origins[0].startswith("cal_cache")

    provider = init_calibration_databases(ucals=[f"processed_dark:{mine}"], databases=[db],
                                          cal_cache=cache)
    answer = provider.get_calibrations([science], "dark")
    assert answer.files == [str(mine)] and answer.origins == ["user_cal"]
    assert "user_cal" in provider.explain(science, "processed_dark")

    nothing = init_calibration_databases(databases=[db])
    answer = nothing.get_calibrations([science], "processed_flat")
    assert answer == ([None], [None])


def test_user_cals_are_checked(caldir):
    with pytest.raises(UserCalibrationError, match=r"nothing\.fits: user calibration file"):
        init_calibration_databases(ucals={"processed_flat": str(caldir / "nothing.fits")},
                                   databases=[])
    with pytest.raises(UserCalibrationError, match="caltype:file"):
        init_calibration_databases(ucals=["flat.fits"], databases=[])
    with pytest.raises(UserCalibrationError, match="'sky' is not a calibration type"):
        init_calibration_databases(ucals=[("sky", str(caldir))], databases=[])


def test_store_goes_to_store_databases_only(db_location, tmp_path, caldir, science):
    getter = LocalDB(tmp_path / "get_only.db", get=True, store=False)
    getter.init()
    storer = LocalDB(db_location, get=True, store=True)
    provider = init_calibration_databases(databases=[getter, storer])
    path = _dark(caldir, "new_dark.fits")
    provider.store_calibration(path, "processed_dark")
    assert getter.count() == 0
    assert [f.name for f in storer.list_files()] == ["new_dark.fits"]
    answer = provider.get_calibrations([science], "processed_dark")
    assert answer.files == [str(path)] and answer.origins == [storer.name]
    with pytest.raises(cal_service.CalibrationRefused, match="is a processed_dark"):
        provider.store_calibration(path, "processed_flat")


def test_config_flags_decide_get_and_store(tmp_path, caldir, science):
    rc = tmp_path / "rc"
    rc.write_text(f"[calibs]\ndatabases = {tmp_path}/get.db\n    {tmp_path}/store.db store\n")
    provider = init_calibration_databases(config_file=rc)
    [get_db, store_db] = provider.databases
    assert (get_db.get, get_db.store) == (True, False)
    assert (store_db.get, store_db.store) == (False, True)
    path = _dark(caldir, "new_dark.fits")
    provider.store_calibration(path, "processed_dark")
    # stored in a database that is not used for look-ups: nothing found
    assert provider.get_calibrations([science], "processed_dark").files == [None]
    assert store_db.count() == 1 and not get_db.exists()


def test_explain_texts(db_location, caldir, science, tmp_path):
    db = LocalDB(db_location)
    db.add_cal(_dark(caldir, "far_dark.fits", when=T0 - 100 * DAY))
    provider = init_calibration_databases(databases=[db])
    text = provider.explain(science, "processed_dark")
    assert "rule F2/processed_dark" in text
    assert "exposure_time=120" in text and "read_mode='1'" in text
    assert "far_dark.fits" in text and "100.00 days apart (limit 90)" in text
    text = provider.explain(science, "processed_bias")
    assert "infrared arrays have no bias frames" in text
    empty = init_calibration_databases(databases=[])
    assert "no calibration database is configured" in empty.explain(science, "processed_dark")
    path = tmp_path / "sci.fits"
    science.write(str(path))
    text = cal_service.explain(str(path), "processed_dark",
                               config_file=_rc(tmp_path, db_location))
    assert "far_dark.fits" in text


def _rc(tmp_path: Path, location: str) -> Path:
    rc = tmp_path / "explain.rc"
    rc.write_text(f"[calibs]\ndatabases = {location} get store\n")
    return rc


def test_cal_cache_roundtrip_and_editing(db_location, caldir, tmp_path):
    db = LocalDB(db_location)
    db.add_cal(_dark(caldir, "a_dark.fits", when=T0 - DAY))
    other = _dark(caldir, "b_dark.fits", when=T0 - 50 * DAY)
    frames = [build_frame("F2", T0, filename="one.fits"),
              build_frame("F2", T0 + DAY, filename="two.fits", label="GS-2013B-Q-15-39-002")]
    provider = init_calibration_databases(databases=[db])
    provider.get_calibrations(frames, "processed_dark")
    assert set(provider.choices) == {"GS-2013B-Q-15-39-001", "GS-2013B-Q-15-39-002"}
    cache = write_cal_cache(tmp_path / "cache" / "cals.json", provider.choices)
    assert read_cal_cache(cache) == {k: dict(v) for k, v in provider.choices.items()}
    # the user pins another dark for the second frame, with a path relative to the cache
    data = json.loads(cache.read_text())
    data["GS-2013B-Q-15-39-002"]["processed_dark"] = os.path.relpath(other, cache.parent)
    cache.write_text(json.dumps(data))
    pinned = init_calibration_databases(databases=[db], cal_cache=cache)
    answer = pinned.get_calibrations(frames, "processed_dark")
    assert answer.files == [str(caldir / "a_dark.fits"), str(other)]


def test_cal_cache_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.json: calibration cache not found"):
        read_cal_cache(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"bad\.json: not valid JSON"):
        read_cal_cache(bad)
    bad.write_text(json.dumps({"X": {"processed_sky": "a.fits"}}))
    with pytest.raises(ConfigError, match="unknown calibration type 'processed_sky'"):
        read_cal_cache(bad)
    bad.write_text(json.dumps(["a"]))
    with pytest.raises(ConfigError, match="expected an object"):
        read_cal_cache(bad)
    with pytest.raises(ConfigError, match="unknown calibration type"):
        write_cal_cache(tmp_path / "w.json", {"X": {"flatfield": "a.fits"}})


def test_tutorial_api_with_rsys_cfg(tmp_path, monkeypatch, caldir, science):
    """The F2 and GSAOI tutorials' calls, configured by ~/.geminidr/rsys.cfg."""
    monkeypatch.setenv("path_to_my_data", str(tmp_path / "data"))
    rsys = Path(os.environ["HOME"]) / ".geminidr" / "rsys.cfg"
    rsys.parent.mkdir()
    rsys.write_text("[calibs]\nstandalone = True\n"
                    "database_dir = ${path_to_my_data}/f2img_tutorial/playground\n")
    caldb = cal_service.CalibrationService()
    caldb.config()
    caldb.init()
    cal_service.set_calservice()
    database = tmp_path / "data" / "f2img_tutorial" / "playground" / "cal_manager.db"
    assert database.is_file()
    dark = _dark(caldir, "S20131120S0115_dark.fits")
    caldb.add_cal(str(dark))
    assert [(f.name, f.path) for f in caldb.list_files()] == [
        ("S20131120S0115_dark.fits", str(caldir))]
    # a later reduction in this process uses that database (and stores into it)
    provider = init_calibration_databases()
    assert provider.get_calibrations([science], "processed_dark").files == [str(dark)]
    assert provider.databases[0].store
    caldb.remove_cal("S20131120S0115_dark.fits")
    assert list(caldb.list_files()) == []


def test_set_calservice_with_a_directory(tmp_path, caldir, science):
    config = set_calservice(local_db_dir=tmp_path)
    assert config.databases[0].location == str(tmp_path / "cal_manager.db")
    provider = init_calibration_databases()
    provider.store_calibration(_dark(caldir, "x_dark.fits"), "processed_dark")
    assert LocalDB(tmp_path).count() == 1
    cal_service.clear_calservice()
    default = init_calibration_databases()
    assert default.databases[0].name == str(Path.cwd() / "calibrations" / "cal_manager.db")


def test_service_uses_db_dir_and_refuses_raw(tmp_path, caldir):
    caldb = CalibrationService()
    caldb.config(db_dir=tmp_path / "here")
    caldb.init()
    raw = write_frame(caldir, "S1.fits", "F2", T0)
    with pytest.raises(cal_service.CalibrationRefused, match=r"S1\.fits: not a processed"):
        caldb.add_cal(raw)
    assert list(caldb.list_files()) == []


def test_reduce_stores_in_the_default_database_and_finds_it(tmp_path, caldir):
    """With no configuration, a reduction stores into ./calibrations/cal_manager.db and the
    tutorial's add_cal of the output updates the same entry."""
    from recipe_system.reduction.coreReduce import Reduce

    raw = write_frame(caldir, "S20131120S0115.fits", "F2", T0 - DAY, obstype="DARK")
    reduce_darks = Reduce()
    reduce_darks.files.append(str(raw))
    reduce_darks.recipename = "storeProcessedDark"
    reduce_darks.runr()
    stored = Path.cwd() / "calibrations" / "processed_dark" / "S20131120S0115_dark.fits"
    assert reduce_darks.processed_filenames == [str(stored)]
    db = LocalDB(Path.cwd() / "calibrations")
    assert [(f.name, f.path) for f in db.list_files()] == [
        ("S20131120S0115_dark.fits", str(stored.parent))]
    caldb = CalibrationService()
    caldb.config()
    result = caldb.add_cal(reduce_darks.output_filenames[0])
    assert result.action in ("updated", "unchanged") and db.count() == 1
    science = build_frame("F2", T0, filename="S20131121S0075.fits")
    found = init_calibration_databases().get_calibrations([science], "processed_dark")
    assert found.files == [os.path.abspath(reduce_darks.output_filenames[0])]
