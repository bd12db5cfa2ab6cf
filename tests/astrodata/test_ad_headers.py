"""Header-only FITS scanning and FitsHeaderCollection."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata.errors import AstroDataError, FileFormatError
from astrodata.headers import BLOCK_SIZE, FitsHeaderCollection, scan_fits


def test_scan_records_headers_and_data_offsets(tmp_path, rng, fitsbuild):
    arrays = [rng.normal(size=(7, 5)).astype(np.float32), np.arange(6, dtype=np.int16)]
    path = fitsbuild.write_mef(
        tmp_path / "a.fits",
        {"OBJECT": "it's a / test"},
        [fitsbuild.image_hdu(arrays[0], "SCI", 1), fitsbuild.image_hdu(arrays[1], "DQ", 1)],
    )
    scan = scan_fits(path)
    assert [h.name for h in scan.hdus] == [None, "SCI", "DQ"]
    assert scan.phu["OBJECT"] == "it's a / test"
    assert scan.hdus[1].shape == (7, 5) and scan.hdus[1].bitpix == -32
    assert scan.hdus[2].shape == (6,) and scan.hdus[2].data_size == 12
    raw = open(path, "rb").read()
    for info, arr in zip(scan.hdus[1:], arrays, strict=True):
        assert info.data_offset % BLOCK_SIZE == 0
        stored = np.frombuffer(
            raw, dtype=arr.dtype.newbyteorder(">"), count=arr.size, offset=info.data_offset
        )
        assert np.array_equal(stored.reshape(arr.shape), arr)


def test_scan_gzip(tmp_path, rng, fitsbuild):
    data = rng.normal(size=(4, 4))
    plain = fitsbuild.write_mef(
        tmp_path / "b.fits", {"OBJECT": "gz"}, [fitsbuild.image_hdu(data, "SCI", 1)]
    )
    gz = tmp_path / "b.fits.gz"
    gz.write_bytes(gzip.compress(open(plain, "rb").read()))
    scan = scan_fits(gz)
    assert scan.compressed and scan.phu["OBJECT"] == "gz"
    ad = astrodata.open(gz)
    assert np.array_equal(ad[0].data, data)


def test_truncated_file_is_rejected_naming_the_file(tmp_path, rng, fitsbuild):
    path = fitsbuild.write_mef(
        tmp_path / "full.fits", {}, [fitsbuild.image_hdu(rng.normal(size=(50, 50)), "SCI", 1)]
    )
    raw = open(path, "rb").read()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(raw[: 2 * BLOCK_SIZE + 1000])  # data need 20000 bytes
    with pytest.raises(AstroDataError, match=r"cut\.fits.*truncated"):
        astrodata.open(cut)
    cut_gz = tmp_path / "cut.fits.gz"
    cut_gz.write_bytes(gzip.compress(raw[: 2 * BLOCK_SIZE + 1000]))
    with pytest.raises(AstroDataError, match=r"cut\.fits\.gz.*truncated"):
        astrodata.open(cut_gz)
    header_cut = tmp_path / "hcut.fits"
    header_cut.write_bytes(raw[: BLOCK_SIZE + 800])
    with pytest.raises(FileFormatError, match=r"hcut\.fits"):
        astrodata.open(header_cut)


def test_non_fits_files_are_rejected(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("SIMPLE is not how this starts\n" * 200)
    with pytest.raises(AstroDataError, match=r"notes\.txt: not a FITS file"):
        astrodata.open(text)
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    with pytest.raises(AstroDataError, match=r"empty\.fits"):
        astrodata.open(empty)
    with pytest.raises(AstroDataError, match=r"missing\.fits: no such file"):
        astrodata.open(tmp_path / "missing.fits")
    with pytest.raises(AstroDataError, match="directory"):
        astrodata.open(tmp_path)
    bad_gz = tmp_path / "bad.fits.gz"
    bad_gz.write_bytes(b"\x1f\x8b" + os.urandom(500))
    with pytest.raises(AstroDataError, match=r"bad\.fits\.gz"):
        astrodata.open(bad_gz)


def test_header_collection():
    headers = [fits.Header([("GAIN", 2.0, "e-/ADU"), ("A", 1)]), fits.Header([("GAIN", 3.0)])]
    coll = FitsHeaderCollection(headers)
    assert len(coll) == 2
    assert coll.get("GAIN") == [2.0, 3.0]
    assert coll.get("A", default=-1) == [1, -1]
    assert "A" in coll and "B" not in coll
    assert coll["GAIN"] == [2.0, 3.0]
    with pytest.raises(KeyError) as err:
        coll["A"]
    assert err.value.missing_at == [1]
    coll.set("RDNOISE", 5.0, "read noise")
    assert coll.get("RDNOISE") == [5.0, 5.0]
    assert coll.get_comment("RDNOISE") == ["read noise", "read noise"]
    assert coll.get_comment("A") == ["", None]
    coll.set_comment("GAIN", "gain")
    assert headers[0].comments["GAIN"] == "gain"
    coll.remove("A")
    assert "A" not in headers[0]
    with pytest.raises(KeyError):
        del coll["A"]
    with pytest.raises(KeyError):
        coll.set_comment("A", "x")
