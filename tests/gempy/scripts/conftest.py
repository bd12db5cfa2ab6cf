"""Fixtures for the helper CLI tests: simulated tutorial data and in-process CLI runs."""

from __future__ import annotations

import io
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from gempy.sim import load_truth, make_dataset


def _raw_files_only(tmp_path_factory, dataset: str) -> Path:
    """Simulate ``dataset`` (small) and move its raw files alone into ``<root>/playdata``.

    The truth files stay in ``<root>/sim``, so that ``../playdata/*.fits``
    matches exactly the raw files, as in a tutorial's data package.
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
def gsaoi_playground(gsaoi_playdata, monkeypatch) -> Path:
    """A fresh working directory next to ``playdata`` (the tutorial's ``playground``)."""
    playground = gsaoi_playdata.parent / f"playground-{uuid.uuid4().hex[:8]}"
    playground.mkdir()
    monkeypatch.chdir(playground)
    return playground


@dataclass
class CliResult:
    """Exit status and captured output of one CLI run."""

    status: int
    out: str
    err: str

    @property
    def out_lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


@pytest.fixture
def run_cli(capsys):
    """Run a CLI ``main`` in-process: ``run_cli(main, *argv, stdin=None)`` -> CliResult."""

    def run(main, *argv, stdin: str | None = None) -> CliResult:
        capsys.readouterr()
        if stdin is None:
            status = main(list(argv))
        else:
            status = main(list(argv), stdin=io.StringIO(stdin))
        captured = capsys.readouterr()
        return CliResult(status, captured.out, captured.err)

    return run
