"""PROVENANCE and HISTORY tables."""

from __future__ import annotations

import hashlib
import json

import numpy as np
from astropy.io import fits

import astrodata
from astrodata import provenance


def test_add_provenance_skips_duplicates():
    ad = astrodata.create(fits.Header())
    assert provenance.add_provenance(ad, "a.fits", "111", "prepare")
    assert not provenance.add_provenance(ad, "a.fits", "111", "prepare")
    assert provenance.add_provenance(ad, "b.fits", "222", "stackFrames")
    assert list(ad.PROVENANCE["filename"]) == ["a.fits", "b.fits"]
    assert ad.PROVENANCE.colnames == list(provenance.PROVENANCE_COLUMNS)


def test_history_columns_grow_with_long_arguments():
    ad = astrodata.create(fits.Header())
    provenance.add_history(ad, "prepare", {"suffix": "_p"}, "2024-01-01T00:00:00",
                           "2024-01-01T00:00:01")
    long_args = {"files": ["N%04d.fits" % i for i in range(50)]}
    provenance.add_history(ad, "stackFrames", long_args, "2024-01-01T00:00:02",
                           "2024-01-01T00:00:09")
    assert json.loads(ad.HISTORY["args"][1]) == long_args  # not truncated
    assert ad.HISTORY.colnames == list(provenance.HISTORY_COLUMNS)


def test_clone_and_summary(tmp_path):
    src = astrodata.create(fits.Header())
    provenance.add_provenance(src, "a.fits", "111", "prepare")
    provenance.add_history(src, "prepare", '{"x": 1}', "t0", "t1")
    dst = astrodata.create(fits.Header())
    provenance.clone_provenance(src.PROVENANCE, dst)
    provenance.clone_history(src.HISTORY, dst)
    provenance.clone_history(src.HISTORY, dst)
    assert len(dst.PROVENANCE) == 1 and len(dst.HISTORY) == 1
    text = provenance.provenance_summary(dst)
    assert "a.fits" in text and "prepare" in text and '"x": 1' in text
    empty = provenance.provenance_summary(astrodata.create(fits.Header()))
    assert "No provenance" in empty and "No history" in empty


def test_md5sum(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc" * 1000)
    assert provenance.md5sum(f) == hashlib.md5(b"abc" * 1000).hexdigest()


def test_provhistory_is_renamed_on_read(tmp_path):
    ad = astrodata.create(fits.Header())
    ad.append(np.zeros((2, 2)))
    provenance.add_history(ad, "prepare", "{}", "t0", "t1")
    path = ad.write(tmp_path / "h.fits")
    with fits.open(path, mode="update") as hdul:
        hdul["HISTORY"].header["EXTNAME"] = "PROVHISTORY"
    back = astrodata.open(path)
    assert back.tables == {"HISTORY"} and back.HISTORY["primitive"][0] == "prepare"
