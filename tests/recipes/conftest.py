"""Fixtures of the recipe tests: simulated datasets, a working directory with a cal database."""

from __future__ import annotations

from pathlib import Path

import pytest

from gempy.sim import load_truth, make_dataset
from recipe_system.reduction.coreReduce import Reduce

_DATASETS: dict[str, tuple[Path, dict]] = {}


@pytest.fixture(scope="session")
def sim_dataset(tmp_path_factory):
    """``sim_dataset(name)`` -> (directory, truth) of a small simulated dataset (cached)."""

    def get(name: str) -> tuple[Path, dict]:
        if name not in _DATASETS:
            path = make_dataset(name, tmp_path_factory.mktemp(name), small=True, seed=0)
            _DATASETS[name] = (Path(path), load_truth(path))
        return _DATASETS[name]

    return get


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working directory whose dragonsrc names a fresh local calibration database."""
    rc = tmp_path / "dragonsrc"
    rc.write_text(f"[calibs]\ndatabases = {tmp_path / 'cal_manager.db'} get store\n")
    monkeypatch.setenv("DRAGONSRC", str(rc))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def reduce_files(files, recipename: str | None = None, mode: str = "sq",
                 uparms=None) -> Reduce:
    """Run ``Reduce`` on `files` in the current directory and return it."""
    r = Reduce()
    r.files.extend(str(f) for f in files)
    r.mode = mode
    if recipename:
        r.recipename = recipename
    if uparms:
        r.uparms = uparms
    r.runr()
    return r
