"""Fixtures for the tutorial integration tests: simulated tutorial directories and real commands.

Every flow runs the way a user runs it: a ``playdata`` directory of raw files
written by ``gempy.sim``, a ``playground`` working directory next to it, and a
throw-away ``HOME`` whose ``~/.geminidr/rsys.cfg`` names the calibration
database (``[calibs] standalone = True / database_dir = playground``), as the
tutorials say. Commands are the installed console scripts (``reduce``,
``caldb``, ``dataselect``, ``showd``, ``typewalk``) or a tutorial's Python
script, each in a subprocess, so no test shares logging or calibration state
with another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gempy.sim import load_truth, make_dataset

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@dataclass
class CommandResult:
    """One command of a tutorial run: what was typed, its exit status and output."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class TutorialRun:
    """A tutorial directory tree: ``playdata`` (raw + truth), ``playground``, a private HOME.

    Attributes
    ----------
    root : Path
        Top directory holding ``playdata``, ``playground`` and ``home``.
    dataset : str
        gempy.sim dataset name.
    history : list of CommandResult
        Every command run so far, in order.
    outputs : dict
        Results a test module chose to keep by name.
    """

    root: Path
    dataset: str
    small: bool
    history: list[CommandResult] = field(default_factory=list)
    outputs: dict[str, CommandResult] = field(default_factory=dict)

    @property
    def playdata(self) -> Path:
        return self.root / "playdata"

    @property
    def playground(self) -> Path:
        return self.root / "playground"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def truth(self) -> dict:
        return load_truth(self.playdata)

    def env(self) -> dict[str, str]:
        """The environment of the user's shell: our HOME, no DRAGONSRC override."""
        env = {k: v for k, v in os.environ.items() if k != "DRAGONSRC"}
        env["HOME"] = str(self.home)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def run(self, *args: str, stdin: str | None = None, check: bool = True,
            timeout: float = 900) -> CommandResult:
        """Run a command in the playground; fail the test with its stderr if it fails."""
        argv = [str(a) for a in args]
        executable = _console_script(argv[0])
        start = time.perf_counter()
        proc = subprocess.run([executable, *argv[1:]], cwd=self.playground, env=self.env(),
                              input=stdin, capture_output=True, text=True, timeout=timeout)
        result = CommandResult(argv, proc.returncode, proc.stdout, proc.stderr,
                               time.perf_counter() - start)
        self.history.append(result)
        if check and proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            pytest.fail(f"`{' '.join(argv)}` exited with {proc.returncode}:\n{tail}",
                        pytrace=False)
        return result

    def run_script(self, name: str, timeout: float = 900) -> CommandResult:
        """Run ``tests/integration/scripts/<name>`` with python from the playground."""
        return self.run(sys.executable, str(SCRIPTS / name), timeout=timeout)


def _console_script(name: str) -> str:
    """The installed console script of this interpreter's environment (or ``name`` itself)."""
    if os.path.isabs(name):
        return name
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"console script {name!r} is not installed (pip install -e .)")
    return found


def make_tutorial(root: Path, dataset: str, small: bool = True, seed: int = 0) -> TutorialRun:
    """Simulate ``dataset`` into ``root/playdata`` and set up the playground and rsys.cfg."""
    run = TutorialRun(root=root, dataset=dataset, small=small)
    make_dataset(dataset, run.playdata, small=small, seed=seed)
    run.playground.mkdir(parents=True)
    config = run.home / ".geminidr" / "rsys.cfg"
    config.parent.mkdir(parents=True)
    config.write_text(f"[calibs]\nstandalone = True\ndatabase_dir = {run.playground}\n")
    return run


@pytest.fixture(scope="module")
def tutorial_factory(tmp_path_factory):
    """``factory(dataset, small=True, seed=0) -> TutorialRun`` in a fresh directory."""

    def factory(dataset: str, small: bool = True, seed: int = 0) -> TutorialRun:
        root = tmp_path_factory.mktemp(dataset.replace("-", "_"))
        return make_tutorial(root, dataset, small=small, seed=seed)

    return factory
