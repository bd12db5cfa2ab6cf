"""Fixtures for the dataselect library tests: simulated tutorial data sets (headers only used)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from astropy.io import fits

from gempy.sim import load_truth, make_dataset


def _raw_files_only(tmp_path_factory, dataset: str) -> Path:
    """Simulate ``dataset`` (small) and move its raw files alone into a ``playdata`` directory.

    The truth files stay behind, so that ``playdata/*.fits`` holds exactly
    what a tutorial's data package holds.
    """
    root = tmp_path_factory.mktemp(dataset)
    sim = root / "sim"
    make_dataset(dataset, sim, small=True, seed=0)
    playdata = root / "playdata"
    playdata.mkdir()
    for name in load_truth(sim)["files"]:
        shutil.move(sim / name, playdata / name)
    return playdata


@pytest.fixture(scope="session")
def f2_playdata(tmp_path_factory) -> Path:
    """The F2 tutorial's raw files (seed 001), simulated small."""
    return _raw_files_only(tmp_path_factory, "f2-tutorial")


@pytest.fixture(scope="session")
def gsaoi_playdata(tmp_path_factory) -> Path:
    """The GSAOI tutorial's raw files (seed 003), simulated small."""
    return _raw_files_only(tmp_path_factory, "gsaoi-tutorial")


@pytest.fixture
def edited_copy(tmp_path):
    """Copy a raw file and change PHU keywords (value None deletes the keyword)."""

    def make(source: Path, name: str, **changes) -> str:
        target = tmp_path / name
        shutil.copy(source, target)
        with fits.open(target, mode="update") as hdul:
            for key, value in changes.items():
                key = key.replace("_", "-") if key in ("DATE_OBS", "TIME_OBS") else key
                if value is None:
                    hdul[0].header.remove(key, ignore_missing=True)
                else:
                    hdul[0].header[key] = value
        return str(target)

    return make
