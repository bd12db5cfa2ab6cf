"""The caldb command: init, add, list, remove, config, explain, check; bad input handling."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from calframes import T0, build_frame, write_frame

import astrodata
from recipe_system.scripts.caldb import main

DAY = dt.timedelta(days=1)


def _dark(caldir, name, when=T0 - DAY, **kwargs):
    return write_frame(caldir, name, "F2", when, processed="processed_dark", obstype="DARK",
                       **kwargs)


def _rsys(directory: Path) -> None:
    rsys = Path(os.environ["HOME"]) / ".geminidr" / "rsys.cfg"
    rsys.parent.mkdir(exist_ok=True)
    rsys.write_text(f"[calibs]\nstandalone = True\ndatabase_dir = {directory}\n")


def test_tutorial_session(tmp_path, caldir, capsys):
    """caldb init / add / list / remove as in the GSAOI tutorial."""
    playground = tmp_path / "playground"
    playground.mkdir()
    _rsys(playground)
    assert main(["init"]) == 0
    assert "Initialized calibration database" in capsys.readouterr().out
    assert (playground / "cal_manager.db").is_file()
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [f"Database: {playground / 'cal_manager.db'}",
                                "There are no files in the database"]
    dark = _dark(caldir, "S20131120S0115_dark.fits")
    flat = write_frame(caldir, "S20131129S0320_flat.fits", "F2", T0,
                       processed="processed_flat", obstype="FLAT")
    assert main(["add", str(dark), str(flat)]) == 0
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [f"{'S20131120S0115_dark.fits':30} {caldir}",
                         f"{'S20131129S0320_flat.fits':30} {caldir}"]
    assert main(["remove", "S20131120S0115_dark.fits"]) == 0
    assert main(["list", "-v"]) == 0
    out = capsys.readouterr().out
    assert "S20131120S0115_dark.fits" not in out and "processed_flat" in out
    assert dark.exists()


def test_bad_input_one_line_per_file_and_nonzero_exit(tmp_path, caldir, capsys):
    database = tmp_path / "db"
    assert main(["init", "-d", str(database)]) == 0
    good = _dark(caldir, "good_dark.fits")
    raw = write_frame(caldir, "S20131121S0075.fits", "F2", T0)
    junk = caldir / "junk.fits"
    junk.write_text("hello\n" * 500)
    capsys.readouterr()
    status = main(["add", "-d", str(database), str(raw), str(caldir / "missing.fits"),
                   str(junk), str(good)])
    assert status == 1
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 3
    assert "S20131121S0075.fits: not a processed calibration (no PROCESSED tag)" in errors[0]
    assert "missing.fits: file not found" in errors[1]
    assert "junk.fits: cannot be read" in errors[2]
    assert all(line.startswith("caldb add: refused ") for line in errors)
    assert "Traceback" not in captured.err
    # the good file was added anyway
    assert main(["list", "-d", str(database)]) == 0
    assert "good_dark.fits" in capsys.readouterr().out
    # removing an unknown name
    assert main(["remove", "-d", str(database), "nothing.fits", "good_dark.fits"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"caldb remove: nothing.fits: not in the database "
                   f"{database / 'cal_manager.db'}"]


def test_changed_checksum_is_reported(tmp_path, caldir, capsys):
    database = tmp_path / "db"
    dark = _dark(caldir, "d_dark.fits")
    other = _dark(caldir, "e_dark.fits")
    assert main(["add", "-d", str(database), str(dark), str(other)]) == 0
    assert main(["check", "-d", str(database)]) == 0
    assert "All 2 registered file(s) are present and unchanged" in capsys.readouterr().out
    ad = astrodata.open(str(dark))
    ad[0].data = np.full((4, 4), 7, dtype=np.float32)
    ad.write(str(dark), overwrite=True)
    os.remove(other)
    assert main(["check", "-d", str(database)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "d_dark.fits: changed on disk since it was added" in err[0]
    assert "e_dark.fits: registered in" in err[1] and "no longer exists" in err[1]
    # explain says why the changed file is not used
    science = tmp_path / "sci.fits"
    build_frame("F2", T0).write(str(science))
    assert main(["explain", "-d", str(database), str(science), "--type",
                 "processed_dark"]) == 0
    out = capsys.readouterr().out
    assert "Skipped d_dark.fits: changed on disk" in out
    # re-adding updates the entry and the check passes again
    assert main(["add", "-d", str(database), str(dark)]) == 0
    assert "Updated d_dark.fits" in capsys.readouterr().out


def test_explain_every_applicable_type(tmp_path, caldir, capsys):
    database = tmp_path / "db"
    assert main(["add", "-d", str(database), str(_dark(caldir, "d_dark.fits")),
                 str(write_frame(caldir, "j_flat.fits", "F2", T0, processed="processed_flat",
                                 obstype="FLAT", filter2="J_G0802"))]) == 0
    science = tmp_path / "S20131121S0075.fits"
    build_frame("F2", T0).write(str(science))
    assert main(["explain", "-d", str(database), str(science)]) == 0
    out = capsys.readouterr().out
    assert "processed_dark for S20131121S0075.fits" in out
    assert "Chosen: d_dark.fits" in out
    assert "processed_flat for S20131121S0075.fits" in out
    assert "filter_name 'Open&J_G0802' != 'Open&Y_G0811'" in out
    assert "processed_bpm" in out and "processed_bias" not in out
    assert main(["explain", "-d", str(database), str(tmp_path / "none.fits")]) == 1
    assert "none.fits: cannot be read" in capsys.readouterr().err


def test_config_command(tmp_path, capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "No configuration file found" in out
    assert str(Path.cwd() / "calibrations" / "cal_manager.db") in out
    rc = tmp_path / "my.rc"
    rc.write_text(f"[calibs]\ndatabases = {tmp_path}/a.db get\n    {tmp_path}/b.db get store\n")
    assert main(["config", "-c", str(rc)]) == 0
    out = capsys.readouterr().out
    assert f"Configuration file: {rc}" in out
    assert "Get: True   Store: False" in out and "Get: True   Store: True" in out
    assert f"act on: {tmp_path}/b.db" in out
    assert main(["-c", str(tmp_path / "absent.rc"), "config"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"caldb config: {tmp_path / 'absent.rc'}: configuration file not found"


def test_list_uninitialised_and_usage_errors(tmp_path, capsys):
    assert main(["list", "-d", str(tmp_path / "x.db")]) == 1
    assert "does not exist (run 'caldb init')" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert main([]) == 2


def test_console_script_runs_as_a_program(tmp_path, caldir):
    database = tmp_path / "db"
    raw = write_frame(caldir, "S1.fits", "F2", T0)
    result = subprocess.run(
        [sys.executable, "-m", "recipe_system.scripts.caldb", "add", "-d", str(database),
         str(raw)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"caldb add: refused {raw}: not a processed calibration (no PROCESSED tag)"]
