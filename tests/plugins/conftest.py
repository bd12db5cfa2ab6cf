"""Fixtures for the LMI plug-in tests: a simulated ``lmi-night`` and an isolated home directory."""

import pytest

from gempy.utils import logutils


@pytest.fixture(scope="session")
def lmi_night(tmp_path_factory):
    """``(path, truth)`` of the small simulated LMI night (written once per session)."""
    import gempy.sim.instruments.lmi  # noqa: F401 - registers 'lmi-night'
    from gempy.sim import load_truth, make_dataset

    path = tmp_path_factory.mktemp("lmi-night")
    make_dataset("lmi-night", path, small=True, seed=3)
    return path, load_truth(path)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the real ~/.dragons; logging is reset afterwards."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DRAGONSRC", raising=False)
    yield home
    logutils.reset()


def _role_files(truth, role, band=None):
    names = truth["roles"][role]
    if band is not None:
        names = [n for n in names if truth["files"][n]["filter"] == band]
    return sorted(names, key=lambda n: truth["files"][n]["ut_start"])


@pytest.fixture(scope="session")
def role_files():
    """``role_files(truth, role, band=None)``: raw file names of a truth role, in time order."""
    return _role_files
