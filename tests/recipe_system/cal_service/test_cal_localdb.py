"""LocalDB: adding, refusing, updating, listing, removing, verifying files; concurrency."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import multiprocessing
import os
import sqlite3

import numpy as np
import pytest
from calframes import T0, build_frame, write_frame

import astrodata
from recipe_system.cal_service import (
    CalibrationRefused,
    DatabaseNotInitialised,
    LocalDB,
    NotInDatabase,
)
from recipe_system.cal_service.models import ProcessedCalibration
from recipe_system.errors import CalibrationDatabaseError, ReduceError

DAY = dt.timedelta(days=1)
DARK = {"obstype": "DARK"}


def _dark(caldir, name, when=T0 - DAY, **kwargs):
    return write_frame(caldir, name, "F2", when, processed="processed_dark", **{**DARK, **kwargs})


def test_add_list_remove(db_location, caldir):
    db = LocalDB(db_location)
    assert not db.exists()
    db.init()
    assert db.exists()
    path = _dark(caldir, "S20131120S0115_dark.fits")
    result = db.add_cal(path)
    assert (result.filename, result.caltype, result.action) == (
        "S20131120S0115_dark.fits", "processed_dark", "added")
    files = list(db.list_files())
    assert [(f.name, f.path) for f in files] == [("S20131120S0115_dark.fits", str(caldir))]
    row = db.list_calibrations()[0]
    assert row.checksum == hashlib.md5(path.read_bytes()).hexdigest()
    assert row.size == path.stat().st_size
    assert row.processing == "sq" and row.instrument_family == "F2"
    assert row.exposure_time == 120.0 and row.read_mode == "1"
    assert row.descriptors["exposure_time"] == 120.0
    assert "PROCESSED" in row.tags.split()
    db.remove_cal("S20131120S0115_dark.fits")
    assert list(db.list_files()) == []
    assert path.exists()
    with pytest.raises(NotInDatabase, match="S20131120S0115_dark.fits"):
        db.remove_cal(path)


def test_readd_updates_and_unchanged(db_location, caldir):
    db = LocalDB(db_location)
    db.init()
    path = _dark(caldir, "d_dark.fits")
    assert db.add_cal(path).action == "added"
    assert db.add_cal(path).action == "unchanged"
    first = db.list_calibrations()[0].checksum
    ad = astrodata.open(str(path))
    ad.phu["EXPTIME"] = 60.0
    ad.write(str(path), overwrite=True)
    assert db.add_cal(path).action == "updated"
    rows = db.list_calibrations()
    assert len(rows) == 1
    assert rows[0].checksum != first and rows[0].exposure_time == 60.0
    # another copy of the same name elsewhere replaces the entry
    other = caldir / "copy"
    other.mkdir()
    (other / "d_dark.fits").write_bytes(path.read_bytes())
    assert db.add_cal(other / "d_dark.fits").action == "updated"
    assert db.list_calibrations()[0].path == str(other / "d_dark.fits")


def test_refusals_name_the_file(db_location, caldir):
    db = LocalDB(db_location)
    db.init()
    with pytest.raises(CalibrationRefused, match=r"nowhere\.fits: file not found"):
        db.add_cal(caldir / "nowhere.fits")
    text = caldir / "notes.fits"
    text.write_text("not a FITS file\n" * 300)
    with pytest.raises(CalibrationRefused, match=r"notes\.fits: cannot be read"):
        db.add_cal(text)
    raw = write_frame(caldir, "S20131121S0075.fits", "F2", T0)
    with pytest.raises(CalibrationRefused, match=r"S20131121S0075\.fits: not a processed"
                                                 r" calibration \(no PROCESSED tag\)"):
        db.add_cal(raw)
    flat = write_frame(caldir, "f_flat.fits", "F2", T0, processed="processed_flat",
                       obstype="FLAT")
    with pytest.raises(CalibrationRefused, match="is a processed_flat, not a processed_dark"):
        db.add_cal(flat, caltype="processed_dark")
    # refusals are recipe-system errors
    assert issubclass(CalibrationRefused, ReduceError)
    assert db.count() == 0


def test_lookup_skips_changed_and_missing_files(db_location, caldir, caplog):
    db = LocalDB(db_location)
    db.init()
    near = _dark(caldir, "near_dark.fits", when=T0 - DAY)
    middle = _dark(caldir, "middle_dark.fits", when=T0 - 2 * DAY)
    far = _dark(caldir, "far_dark.fits", when=T0 - 3 * DAY)
    for path in (near, middle, far):
        db.add_cal(path)
    science = build_frame("F2", T0, filename="sci.fits")
    assert db.lookup(science, "processed_dark", "sq").path == str(near)
    # changed content: skipped with a warning, the next one is used
    ad = astrodata.open(str(near))
    ad[0].data = np.ones((4, 4), dtype=np.float32)
    ad.write(str(near), overwrite=True)
    os.remove(middle)
    with caplog.at_level(logging.WARNING, logger="recipe_system.cal_service"):
        found = db.lookup(science, "processed_dark", "sq")
    assert found.path == str(far)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "near_dark.fits changed on disk since it was added" in messages
    assert "middle_dark.fits no longer exists" in messages
    text = db.explain(science, "processed_dark", "sq")
    assert "Skipped near_dark.fits: changed on disk" in text
    assert "Chosen: far_dark.fits" in text
    states = {s.filename: s.status for s in db.check_files()}
    assert states == {"near_dark.fits": "changed", "middle_dark.fits": "missing",
                      "far_dark.fits": "ok"}
    # re-adding registers the new content
    db.add_cal(near)
    assert db.lookup(science, "processed_dark", "sq").path == str(near)


def test_touched_file_is_still_used(db_location, caldir):
    db = LocalDB(db_location)
    db.init()
    path = _dark(caldir, "d_dark.fits")
    db.add_cal(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    science = build_frame("F2", T0)
    assert db.lookup(science, "processed_dark", "sq").path == str(path)
    assert db.list_calibrations()[0].mtime_ns == path.stat().st_mtime_ns


def test_add_directory(db_location, caldir):
    db = LocalDB(db_location)
    db.init()
    _dark(caldir, "a_dark.fits")
    write_frame(caldir, "raw.fits", "F2", T0)
    sub = caldir / "sub"
    sub.mkdir()
    write_frame(sub, "b_flat.fits", "F2", T0, processed="processed_flat", obstype="FLAT")
    added = db.add_directory(caldir)
    assert [a.filename for a in added] == ["a_dark.fits"]
    added = db.add_directory(caldir, walk=True)
    assert sorted(a.filename for a in added) == ["a_dark.fits", "b_flat.fits"]
    assert db.count() == 2


def test_init_wipe_and_uninitialised(db_location, caldir):
    db = LocalDB(db_location)
    with pytest.raises(DatabaseNotInitialised, match="caldb init"):
        list(db.list_files())
    science = build_frame("F2", T0)
    found = db.lookup(science, "processed_dark", "sq")
    assert found.path is None and "has not been created" in found.problem
    db.add_cal(_dark(caldir, "a_dark.fits"))
    assert db.count() == 1
    db.init()
    assert db.count() == 1
    db.init(wipe=True)
    assert db.count() == 0


def test_sqlite_file_is_wal_and_foreign_database_is_refused(tmp_path, caldir):
    location = tmp_path / "cal_manager.db"
    db = LocalDB(location)
    db.init()
    with sqlite3.connect(location) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # a directory means cal_manager.db inside it
    assert LocalDB(tmp_path).name == str(location)
    foreign = tmp_path / "dragons.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE diskfile (id INTEGER PRIMARY KEY, filename TEXT)")
    other = LocalDB(foreign)
    with pytest.raises(CalibrationDatabaseError, match="not an astroreduce calibration database"):
        other.init()
    with pytest.raises(CalibrationDatabaseError, match="not an astroreduce calibration database"):
        other.add_cal(_dark(caldir, "a_dark.fits"))


def _worker(location, paths, start, errors):
    start.wait(30)
    db = LocalDB(location)
    try:
        science = build_frame("F2", T0)
        for i, path in enumerate(paths):
            db.add_cal(path)
            if i % 10 == 0:
                db.lookup(science, "processed_dark", "sq")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        errors.put(f"{type(exc).__name__}: {exc}")


def test_four_processes_adding_fifty_each(db_location, caldir):
    """Four processes add 50 calibrations each at the same time: 200 rows, no error."""
    db = LocalDB(db_location)
    db.init()
    template = _dark(caldir, "template.fits")
    data = template.read_bytes()
    groups = []
    for worker in range(4):
        names = []
        for i in range(50):
            path = caldir / f"w{worker}_{i:02d}_dark.fits"
            path.write_bytes(data)
            names.append(str(path))
        groups.append(names)
    context = multiprocessing.get_context("fork")
    start = context.Event()
    errors = context.Queue()
    workers = [context.Process(target=_worker, args=(db_location, g, start, errors))
               for g in groups]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(240)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    assert db.count() == 200
    with db.database.read_session() as session:
        names = {row.filename for row in session.query(ProcessedCalibration)}
    assert names == {os.path.basename(p) for g in groups for p in g}
