"""A real F2 dark reduction re-run, and run with per-file primitives in worker processes."""

import os
import sys
from pathlib import Path

import pytest

import astrodata
from astrodata.provenance import md5sum
from primitives.f2 import F2

sys.path.insert(0, str(Path(__file__).resolve().parent / "rerun_support"))
pytest_plugins = ["rerun_fixtures"]
from rerun_fixtures import pixels  # noqa: E402

from recipe_system.reduction.coreReduce import Reduce  # noqa: E402

PER_FILE = ("prepare", "addDQ", "ADUToElectrons", "addVAR", "nonlinearityCorrect")
DARK = "S20131120S0115_dark.fits"


def dark_reduction(files, directory, monkeypatch, **attributes):
    directory.mkdir(exist_ok=True)
    monkeypatch.chdir(directory)
    from recipe_system.cal_service import LocalDB

    LocalDB(directory / "calibrations").init()
    r = Reduce()
    r.files = list(files)
    r.calibration_databases = [str(directory / "calibrations" / "cal_manager.db")]
    for name, value in attributes.items():
        setattr(r, name, value)
    r.runr()
    return r


def test_f2_dark_second_run_reuses_every_step(f2_raw, tmp_path, monkeypatch):
    darks = f2_raw["dark"][:5]
    first = dark_reduction(darks, tmp_path / "w", monkeypatch, jobs=1, checkpoint_min_seconds=0)
    assert first.output_filenames == [DARK]
    assert [s.primitive for s in first.step_reports] == [
        "prepare", "addDQ", "ADUToElectrons", "addVAR", "nonlinearityCorrect", "stackDarks",
        "storeProcessedDark"]
    product = tmp_path / "w" / DARK
    before = (md5sum(product), product.stat().st_mtime_ns)
    second = dark_reduction(darks, tmp_path / "w", monkeypatch, jobs=1,
                            checkpoint_min_seconds=0)
    assert [s.status for s in second.step_reports] == ["reused"] * 6 + ["always"]
    assert (md5sum(product), product.stat().st_mtime_ns) == before
    # the processed dark is in the database and in calibrations/ as before
    stored = tmp_path / "w" / "calibrations" / "processed_dark" / DARK
    assert pixels(stored) == pixels(product)
    assert astrodata.open(str(product)).phu["REDKEY"] == second.product_keys[DARK]


def test_f2_dark_with_per_file_primitives_in_workers_equals_serial(f2_raw, tmp_path,
                                                                   monkeypatch):
    for name in PER_FILE:
        monkeypatch.setattr(getattr(F2, name)._primitive, "per_file", True)
    darks = f2_raw["dark"][:4]
    serial = dark_reduction(darks, tmp_path / "serial", monkeypatch, jobs=1)
    parallel = dark_reduction(darks, tmp_path / "parallel", monkeypatch, jobs=2, min_pixels=0,
                              reprocess="always")
    assert serial.output_filenames == parallel.output_filenames == [DARK]
    assert pixels(tmp_path / "serial" / DARK) == pixels(tmp_path / "parallel" / DARK)
    a = astrodata.open(str(tmp_path / "serial" / DARK))
    b = astrodata.open(str(tmp_path / "parallel" / DARK))
    assert list(a.HISTORY["primitive"]) == list(b.HISTORY["primitive"])
    assert list(a.HISTORY["args"]) == list(b.HISTORY["args"])
    assert sorted(r["filename"] for r in a.PROVENANCE) == \
        sorted(r["filename"] for r in b.PROVENANCE) == sorted(os.path.basename(d)
                                                              for d in darks)
    for key in ("EXPTIME", "GAIN", "PROCDARK", "DATALAB"):
        assert a.phu.get(key) == b.phu.get(key) or a[0].hdr.get(key) == b[0].hdr.get(key)


@pytest.fixture(autouse=True)
def builtin_f2():
    """These tests use the real F2 primitives and recipes (not the rerun plug-in)."""
    from recipe_system import registry

    saved = (registry.primitive_modules().get("f2"), registry.recipe_packages().get("f2"))
    registry.register_primitives("f2", "primitives.f2")
    registry.register_recipes("f2", "recipes.f2")
    yield
    registry.register_primitives("f2", saved[0])
    registry.register_recipes("f2", saved[1])


def test_f2_dark_with_the_default_checkpoint_policy(f2_raw, tmp_path, monkeypatch):
    """'auto': the cheap steps' checkpoints roll, yet nothing is redone on a second run."""
    darks = f2_raw["dark"][:5]
    dark_reduction(darks, tmp_path / "w", monkeypatch, jobs=1)
    product = tmp_path / "w" / DARK
    expected = pixels(product)
    saved = list((tmp_path / "w" / ".reducecache" / "objects").rglob("*.fits"))
    # kept: the stacked dark (the last state) and the prepared frames addDQ asked
    # the calibration provider about (checking its record asks again); far fewer
    # than one per file and per-file step
    assert 5 + 1 <= len(saved) < 5 * 5
    second = dark_reduction(darks, tmp_path / "w", monkeypatch, jobs=1)
    assert [s.status for s in second.step_reports] == ["reused"] * 6 + ["always"]
    assert pixels(product) == expected
    # the product gone: the last state is loaded, still nothing recomputed
    product.unlink()
    third = dark_reduction(darks, tmp_path / "w", monkeypatch, jobs=1)
    assert [s.status for s in third.step_reports] == ["reused"] * 6 + ["always"]
    assert pixels(product) == expected
