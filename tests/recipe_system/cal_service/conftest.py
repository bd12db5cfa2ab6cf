"""Fixtures of the calibration-service tests: isolated HOME and working directory, databases.

Every database test runs against SQLite and, when ``ASTROREDUCE_TEST_PG_URL``
is set, against that PostgreSQL server (``db_location`` fixture; the
PostgreSQL cases carry ``@pytest.mark.postgres``). They are skipped only when
the variable is unset, and fail instead if ``ASTROREDUCE_REQUIRE_PG`` is set.
Frames are built by :mod:`calframes`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# the frame builder `calframes` sits beside this file (tests use --import-mode=importlib)
sys.path.insert(0, str(Path(__file__).resolve().parent))

PG_URL_VARIABLE = "ASTROREDUCE_TEST_PG_URL"


# -- fixtures -----------------------------------------------------------------
@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """A private HOME and working directory, no $DRAGONSRC, no active calservice."""
    from recipe_system.cal_service import clear_calservice

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DRAGONSRC", raising=False)
    monkeypatch.chdir(work)
    clear_calservice()
    yield
    clear_calservice()


def _postgres_url() -> str:
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        if os.environ.get("ASTROREDUCE_REQUIRE_PG"):
            pytest.fail(f"{PG_URL_VARIABLE} is not set although ASTROREDUCE_REQUIRE_PG is")
        pytest.skip(f"{PG_URL_VARIABLE} is not set (start a server with .ci/start_postgres.sh)")
    return url


def _wipe(url: str) -> None:
    """Drop the calibration tables, leaving the database as never initialised."""
    from recipe_system.cal_service.database import CalibrationDatabase
    from recipe_system.cal_service.models import Base

    database = CalibrationDatabase(url)
    with database.write_connection() as conn:
        Base.metadata.drop_all(conn)
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_location(request, tmp_path) -> str:
    """A fresh, empty database location: an SQLite file, or the test PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "db" / "cal_manager.db")
        return
    url = _postgres_url()
    _wipe(url)
    yield url
    _wipe(url)


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL test URL, emptied before and after the test."""
    url = _postgres_url()
    _wipe(url)
    yield url
    _wipe(url)


@pytest.fixture
def caldir(tmp_path) -> Path:
    """A directory for calibration files."""
    path = tmp_path / "cals"
    path.mkdir()
    return path
