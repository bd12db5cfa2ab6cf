"""Session-wide test set-up: a throw-away PostgreSQL server for the calibration-database tests.

The calibration tests run against SQLite always and against PostgreSQL when
``ASTROREDUCE_TEST_PG_URL`` names a server. When it is unset and the Debian
PostgreSQL server binaries are present (``.ci/run`` installs them), the test
session starts its own server on 127.0.0.1 with ``.ci/start_postgres.sh`` and
stops it at the end, so ``python -m pytest`` alone runs the whole suite.
"""

from __future__ import annotations

import glob
import logging
import os
import subprocess
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parent.parent
_SCRIPT = _REPO / ".ci" / "start_postgres.sh"
_started: dict[str, str] = {}


def _start_postgres() -> None:
    if os.environ.get("ASTROREDUCE_TEST_PG_URL") or not _SCRIPT.exists():
        return
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return
    result = subprocess.run(["bash", str(_SCRIPT)], capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1:] or ["unknown error"]
        if os.environ.get("ASTROREDUCE_REQUIRE_PG"):
            raise pytest.UsageError(f"could not start PostgreSQL for the tests: {message[0]}")
        return
    for line in result.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line[len("export "):].split("=", 1)
            os.environ[key] = value
            _started[key] = value


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # xdist workers use the controller's server
        return
    _start_postgres()


def pytest_unconfigure(config: pytest.Config) -> None:
    data = _started.get("ASTROREDUCE_TEST_PG_DATA")
    if data:
        subprocess.run(["bash", str(_SCRIPT), "--stop", data], capture_output=True, timeout=120)


_OUR_LOGGERS = ("astrodata", "gempy", "primitives", "recipe_system")


@pytest.fixture(autouse=True)
def _isolated_logging():
    """Undo any logging configuration a test made (``logutils.config(mode='quiet')`` raises
    the root level), so that later tests' ``caplog`` still sees every record."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in _OUR_LOGGERS}
    root_level = root.level
    yield
    from gempy.utils import logutils

    logutils.reset()
    root.setLevel(root_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
