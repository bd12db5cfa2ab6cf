"""Fixtures for the recipe-system tests: small raw-like files of each instrument and type."""

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from gempy.utils import logutils

_SOUTH = {"TELESCOP": "Gemini-South", "OBSERVAT": "Gemini-South"}
_NORTH = {"TELESCOP": "Gemini-North", "OBSERVAT": "Gemini-North"}

#: kind -> (PHU keywords, number of extensions). Headers follow gemini-headers.md.
FRAME_KINDS = {
    "f2_dark": ({**_SOUTH, "INSTRUME": "F2", "OBSTYPE": "DARK", "OBJECT": "Dark",
                 "GRISM": "Open", "OBSCLASS": "dayCal", "EXPTIME": 120.0}, 1),
    "f2_flat": ({**_SOUTH, "INSTRUME": "F2", "OBSTYPE": "FLAT", "OBJECT": "GCALflat",
                 "GRISM": "Open", "GCALLAMP": "QH", "GCALSHUT": "OPEN",
                 "OBSCLASS": "dayCal", "EXPTIME": 20.0}, 1),
    "f2_science": ({**_SOUTH, "INSTRUME": "F2", "OBSTYPE": "OBJECT", "OBJECT": "NGC1",
                    "GRISM": "Open", "OBSCLASS": "science", "EXPTIME": 120.0}, 1),
    "gsaoi_flat": ({**_SOUTH, "INSTRUME": "GSAOI", "OBSTYPE": "FLAT", "OBJECT": "Domeflat",
                    "OBSCLASS": "dayCal", "EXPTIME": 30.0}, 4),
    "gsaoi_science": ({**_SOUTH, "INSTRUME": "GSAOI", "OBSTYPE": "OBJECT",
                       "OBJECT": "NGC5128", "OBSCLASS": "science", "EXPTIME": 60.0}, 4),
    "gmos_bias": ({**_NORTH, "INSTRUME": "GMOS-N", "OBSTYPE": "BIAS", "OBJECT": "Bias",
                   "GRATING": "MIRROR", "OBSCLASS": "dayCal", "EXPTIME": 0.0}, 3),
    "gmos_twilight": ({**_NORTH, "INSTRUME": "GMOS-N", "OBSTYPE": "OBJECT",
                       "OBJECT": "Twilight", "GRATING": "MIRROR", "OBSCLASS": "dayCal",
                       "EXPTIME": 5.0}, 3),
    "gmos_science": ({**_NORTH, "INSTRUME": "GMOS-N", "OBSTYPE": "OBJECT", "OBJECT": "M51",
                      "GRATING": "MIRROR", "OBSCLASS": "science", "EXPTIME": 300.0}, 3),
    "gmos_thruslit": ({**_NORTH, "INSTRUME": "GMOS-N", "OBSTYPE": "OBJECT", "OBJECT": "M51",
                       "GRATING": "MIRROR", "MASKTYP": 1, "MASKNAME": "1.0arcsec",
                       "OBSCLASS": "acq", "EXPTIME": 30.0}, 3),
    "niri_dark": ({**_NORTH, "INSTRUME": "NIRI", "OBSTYPE": "DARK", "OBJECT": "Dark",
                   "FILTER3": "H_G0203", "OBSCLASS": "dayCal", "EXPTIME": 20.0}, 1),
    "niri_flat": ({**_NORTH, "INSTRUME": "NIRI", "OBSTYPE": "FLAT", "OBJECT": "GCALflat",
                   "FILTER3": "H_G0203", "GCALLAMP": "IRhigh", "GCALSHUT": "OPEN",
                   "OBSCLASS": "dayCal", "EXPTIME": 20.0}, 1),
    "niri_science": ({**_NORTH, "INSTRUME": "NIRI", "OBSTYPE": "OBJECT", "OBJECT": "M1",
                      "FILTER3": "H_G0203", "OBSCLASS": "science", "EXPTIME": 20.0}, 1),
}


def write_frame(path, kind, value=1.0, shape=(6, 8), **extra):
    """Write a small raw-like file of `kind` at `path` and return the path (str)."""
    keywords, n_ext = FRAME_KINDS[kind]
    phu = fits.Header({**keywords, **extra})
    ad = astrodata.create(phu)
    for i in range(n_ext):
        ad.append(np.full(shape, value + i, dtype=np.float32))
    ad.write(str(path))
    return str(path)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the real ~/.dragons or ~/.geminidr; logging reset after."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DRAGONSRC", raising=False)
    yield home
    logutils.reset()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory (cwd) beside a ``raw`` directory holding the inputs."""
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "raw").mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def make_frame(tmp_path):
    """``make_frame(name, kind, **keywords)`` writes ``raw/<name>`` and returns its path."""
    (tmp_path / "raw").mkdir(exist_ok=True)

    def make(name, kind, value=1.0, **extra):
        return write_frame(tmp_path / "raw" / name, kind, value=value, **extra)
    return make
