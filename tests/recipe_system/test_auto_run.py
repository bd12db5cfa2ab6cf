"""reduce --auto end to end: the tutorial folders give the manual flows' products, pixel for pixel.

The manual flows are the tutorials' own Python (``tests/integration/scripts``:
F2 API chapter, GSAOI API chapter), run in a subprocess from a ``manual``
directory beside ``playdata`` with ``~/.geminidr/rsys.cfg`` naming the
database, as the tutorials say. The automatic flows run in an ``auto``
directory beside it: F2 with the ``reduce --auto ../playdata`` command and no
configuration file at all (the default ``./calibrations/cal_manager.db``),
GSAOI with ``Reduce.auto`` and an ``rsys.cfg``. Every product of the manual
flow must exist under the same name and have the same SCI, VAR and DQ planes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import astrodata
from gempy.sim import make_dataset
from recipe_system.auto import AutoReduceError
from recipe_system.cal_service import LocalDB
from recipe_system.reduction.coreReduce import Reduce
from recipe_system.scripts.reduce import main

SCRIPTS = Path(__file__).resolve().parents[1] / "integration" / "scripts"


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DRAGONSRC"}
    env["HOME"] = str(home)
    return env


def _rsys(home: Path, database_dir: Path) -> None:
    config = home / ".geminidr" / "rsys.cfg"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"[calibs]\nstandalone = True\ndatabase_dir = {database_dir}\n")


def _run(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=_environment(home), capture_output=True,
                            text=True, timeout=1200)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        pytest.fail(f"`{' '.join(args)}` exited with {result.returncode}:\n{tail}",
                    pytrace=False)
    return result


def _reduce_command() -> str:
    beside = Path(sys.executable).parent / "reduce"
    return str(beside) if beside.exists() else "reduce"


def _manual(root: Path, script: str) -> Path:
    """Run a tutorial's API script from ``root/manual``; return that directory."""
    manual, home = root / "manual", root / "home_manual"
    manual.mkdir()
    _rsys(home, manual)
    _run([sys.executable, str(SCRIPTS / script)], manual, home)
    return manual


def _products(directory: Path) -> set[str]:
    """Products of a flow: FITS files written in the working directory."""
    return {p.name for p in directory.glob("*.fits")}


def _assert_same_pixels(name: str, manual: Path, auto: Path) -> None:
    a = astrodata.open(str(manual / name))
    b = astrodata.open(str(auto / name))
    assert len(a) == len(b), name
    for i, (ea, eb) in enumerate(zip(a, b, strict=True)):
        for plane in ("data", "variance", "mask"):
            x, y = getattr(ea, plane), getattr(eb, plane)
            assert (x is None) == (y is None), f"{name}[{i}].{plane}"
            if x is None:
                continue
            x, y = np.asarray(x), np.asarray(y)
            assert x.shape == y.shape, f"{name}[{i}].{plane}"
            if plane == "mask":
                np.testing.assert_array_equal(x, y, err_msg=f"{name}[{i}] DQ")
            else:
                scale = float(np.nanmax(np.abs(x))) or 1.0
                np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-6 * scale,
                                           equal_nan=True, err_msg=f"{name}[{i}].{plane}")


@pytest.mark.slow
def test_f2_auto_command_equals_the_api_tutorial(tmp_path):
    root = tmp_path / "f2img_tutorial"
    make_dataset("f2-tutorial", root / "playdata", small=True)
    manual = _manual(root, "f2_api_tutorial.py")

    auto, home = root / "auto", root / "home_auto"
    auto.mkdir()
    home.mkdir()                                   # no configuration file at all
    plan_text = _run([_reduce_command(), "--auto", "../playdata", "--dry-run"], auto,
                     home).stdout
    assert list(auto.iterdir()) == []
    _run([_reduce_command(), "--auto", "../playdata"], auto, home)

    expected = {"S20131120S0115_dark.fits", "S20131129S0320_bpm.fits",
                "S20131129S0320_flat.fits", "S20131121S0075_image.fits"}
    assert expected <= _products(manual)
    assert _products(manual) == _products(auto)       # intermediate files included
    for name in sorted(_products(manual)):
        _assert_same_pixels(name, manual, auto)
    for name in expected:                              # the dry run named them
        assert name in plan_text
    # the processed dark and flat were added to the default database, as caldb add does
    registered = {f.name for f in LocalDB(auto / "calibrations" / "cal_manager.db")
                  .list_files()}
    assert {"S20131120S0115_dark.fits", "S20131129S0320_flat.fits"} <= registered
    assert "S20131129S0320_bpm.fits" not in registered    # given as addDQ:user_bpm
    assert (auto / "reduce.log").is_file()
    assert not list(auto.glob("*_crash.fits"))


@pytest.mark.slow
def test_gsaoi_auto_api_equals_the_api_tutorial(tmp_path, monkeypatch, isolated_home):
    root = tmp_path / "gsaoiimg_tutorial"
    make_dataset("gsaoi-tutorial", root / "playdata", small=True)
    manual = _manual(root, "gsaoi_api_tutorial.py")

    auto = root / "auto"
    auto.mkdir()
    _rsys(isolated_home, auto)
    monkeypatch.chdir(auto)
    reduction = Reduce()
    # the tutorial turns the additive sky offset off for the science target only
    reduction.uparms.append(("science:skyCorrect:offset_sky", False))
    plan = reduction.auto("../playdata")
    assert [s.status for s in plan.steps] == ["done"] * 3
    for step in plan.steps:                       # the plan named what was written
        assert step.outputs and set(step.outputs) <= set(step.expected_outputs)

    science = {f"S20170505S{n:04d}_skyCorrected.fits" for n in range(95, 111)}
    standard = {f"S20170504S{n:04d}_skyCorrected.fits" for n in range(114, 118)}
    manual_products = _products(manual)
    assert "S20170505S0030_flat.fits" in manual_products
    assert len(manual_products & science) == 9                 # the on-target frames
    assert manual_products & standard
    assert set(reduction.output_filenames) == set(plan.output_filenames)
    assert set(plan.science_products) == manual_products & (science | standard)
    # the tutorial script ends with an alignAndStack of the sky-subtracted frames (our
    # stand-in for disco_stu), which auto mode does not run
    reduced = {p for p in manual_products if not p.endswith("_stack.fits")}
    assert _products(auto) == reduced
    for name in sorted(reduced):
        _assert_same_pixels(name, manual, auto)
    registered = {f.name for f in LocalDB(auto).list_files()}
    assert "S20170505S0030_flat.fits" in registered


def test_a_failed_calibration_step_stops_what_depends_on_it(tmp_path, monkeypatch, capsys):
    """Flats that cannot be reduced: the science that needs them is not run; one error line."""
    source = tmp_path / "source"
    make_dataset("f2-tutorial", source, small=True)
    folder = tmp_path / "playdata"
    folder.mkdir()
    for path in sorted(source.glob("S2013112[69]S*.fits")) + \
            sorted(source.glob("S20131121S007*.fits")):
        os.link(path, folder / path.name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    reduction = Reduce()
    reduction.uparms = [("flat:thresholdFlatfield:upper", "notanumber")]
    with pytest.raises(AutoReduceError) as caught:
        reduction.auto(str(folder))
    plan = caught.value.plan
    assert [(s.role, s.status) for s in plan.steps] == [("flat", "failed"),
                                                       ("science", "not run")]
    assert "notanumber" in plan.steps[0].error
    assert plan.steps[1].error == "needs step 1 which did not succeed"
    assert "step 1 (flat, S20131126S1111.fits)" in str(caught.value)
    assert not list(work.glob("*_image.fits"))

    capsys.readouterr()
    status = main(["--auto", str(folder), "-p", "flat:thresholdFlatfield:upper=notanumber",
                   "--logmode", "quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert len(err) == 1 and err[0].startswith("reduce: error: 2 of 2 step(s)")
