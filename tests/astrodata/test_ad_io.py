"""Reading FITS into AstroData (structure, scaling, laziness) and writing it back."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import astrodata
from astrodata import AstroDataError
from astrodata.fits import FitsFile
from astrodata.nddata import LazyArray


def test_single_hdu_file_becomes_phu_plus_one_sci(tmp_path, rng):
    data = rng.normal(size=(6, 8)).astype(np.float32)
    hdu = fits.PrimaryHDU(data)
    hdu.header["OBJECT"] = "single"
    hdu.writeto(tmp_path / "single.fits")
    ad = astrodata.open(tmp_path / "single.fits")
    assert len(ad) == 1
    assert ad.phu["OBJECT"] == "single"
    assert ad.phu["NAXIS"] == 0 and "NAXIS1" not in ad.phu
    assert ad[0].hdr["EXTNAME"] == "SCI" and ad[0].hdr["EXTVER"] == 1
    assert np.array_equal(ad[0].data, data)
    assert ad.object() == "single"


def test_phu_only_file_has_no_extensions(tmp_path):
    fits.PrimaryHDU().writeto(tmp_path / "empty.fits")
    ad = astrodata.open(tmp_path / "empty.fits")
    assert len(ad) == 0 and ad.data == []


def test_unnamed_image_hdus_become_numbered_sci(tmp_path, rng, fitsbuild):
    arrays = [rng.normal(size=(3, 3)) + i for i in range(3)]
    path = fitsbuild.write_mef(
        tmp_path / "unnamed.fits", {}, [fitsbuild.image_hdu(a, name=None) for a in arrays]
    )
    ad = astrodata.open(path)
    assert len(ad) == 3
    assert ad.hdr.get("EXTNAME") == ["SCI"] * 3
    assert ad.hdr.get("EXTVER") == [1, 2, 3]
    for ext, arr in zip(ad, arrays, strict=True):
        assert np.array_equal(ext.data, arr)


def test_extensions_sorted_by_extver_with_their_var_and_dq(tmp_path, rng, fitsbuild):
    sci2, sci1 = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    var1 = np.full((2, 2), 4.0)
    hdus = [
        fitsbuild.image_hdu(sci2, "SCI", 2),
        fitsbuild.image_hdu(np.ones((2, 2), np.int16), "DQ", 2),
        fitsbuild.image_hdu(sci1, "SCI", 1),
        fitsbuild.image_hdu(var1, "VAR", 1),
    ]
    ad = astrodata.open(fitsbuild.write_mef(tmp_path / "order.fits", {}, hdus))
    assert np.array_equal(ad[0].data, sci1) and np.array_equal(ad[0].variance, var1)
    assert ad[0].mask is None
    assert np.array_equal(ad[1].data, sci2) and ad[1].variance is None
    assert ad[1].mask.dtype == np.uint16 and ad[1].mask.sum() == 4


def test_gmos_uint16_round_trips_exactly(gmos_like_file, tmp_path):
    path, arrays = gmos_like_file
    header = fits.getheader(path, 1)
    assert header["BITPIX"] == 16 and header["BZERO"] == 32768
    ad = astrodata.open(path)
    for ext, arr in zip(ad, arrays, strict=True):
        assert ext.data.dtype == np.uint16
        assert np.array_equal(ext.data, arr)
    assert ad[0].data[0, :3].tolist() == [65535, 0, 32768]
    out = ad.write(tmp_path / "copy.fits")
    assert fits.getheader(out, 1)["BZERO"] == 32768
    again = astrodata.open(out)
    for ext, arr in zip(again, arrays, strict=True):
        assert ext.data.dtype == np.uint16 and np.array_equal(ext.data, arr)
    # window reads of scaled data are exact too
    assert np.array_equal(again[0].nddata.window[0:2, 0:3].data, arrays[0][0:2, 0:3])


def test_scaled_float_data(tmp_path, fitsbuild):
    raw = np.arange(12, dtype=np.int16).reshape(3, 4)
    hdu = fits.ImageHDU(raw, name="SCI")
    hdu.header["BSCALE"] = 0.5
    hdu.header["BZERO"] = 10.0
    path = fitsbuild.write_mef(tmp_path / "scaled.fits", {}, [hdu])
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        stored = hdul[1].data.copy()
    ad = astrodata.open(path)
    assert ad[0].data.dtype == np.float32
    assert np.allclose(ad[0].data, stored * 0.5 + 10.0)


def test_f2_like_3d_int32_stays_as_read(tmp_path, rng, fitsbuild):
    raw = rng.integers(-1000, 100000, size=(1, 8, 8)).astype(np.int32)
    path = fitsbuild.write_mef(
        tmp_path / "f2.fits", {"INSTRUME": "F2"}, [fitsbuild.image_hdu(raw, name=None)]
    )
    ad = astrodata.open(path)
    assert ad[0].shape == (1, 8, 8)
    assert ad[0].data.dtype.kind == "i" and ad[0].data.dtype.itemsize == 4
    assert np.array_equal(ad[0].data, raw)


def test_open_reads_no_pixels(gmos_like_file, monkeypatch):
    path, arrays = gmos_like_file

    def forbidden(self):
        raise AssertionError("pixels were read")

    monkeypatch.setattr(FitsFile, "buffer", forbidden)
    ad = astrodata.open(path)
    assert ad.shape == [(12, 10)] * 3
    assert ad.tags == frozenset()
    assert ad.instrument() == "TESTCAM"
    assert ad.hdr.get("EXTVER") == [1, 2, 3]
    assert all(isinstance(nd._data, LazyArray) for nd in ad.nddata)
    assert ad[0].nddata.dtype == np.uint16
    monkeypatch.undo()
    assert np.array_equal(ad[1].data, arrays[1])
    assert not isinstance(ad.nddata[1]._data, LazyArray)
    assert isinstance(ad.nddata[2]._data, LazyArray)


def test_has_mask_and_variance_without_loading(science_file, monkeypatch):
    path = science_file[0]
    monkeypatch.setattr(FitsFile, "buffer", lambda self: (_ for _ in ()).throw(AssertionError))
    ad = astrodata.open(path)
    nd = ad[0].nddata
    assert nd.has_mask() and nd.has_variance()
    assert not nd.is_loaded()


def test_window_reads_only_a_section(science_file):
    path, data, var, dq, _ = science_file
    ad = astrodata.open(path)
    nd = ad[0].nddata
    win = nd.window[5:9, 10:20]
    assert win.shape == (4, 10)
    assert np.array_equal(win.data, data[5:9, 10:20])
    assert np.array_equal(win.variance, var[5:9, 10:20])
    assert np.array_equal(win.mask, dq[5:9, 10:20])
    assert not nd.is_loaded()  # the parent arrays are still unread


def test_uppercase_attributes_and_tables(science_file):
    path, data, var, dq, objmask = science_file
    ad = astrodata.open(path)
    assert ad.tables == {"REFCAT"}
    assert ad[0].ext_tables == {"OBJCAT"}
    assert list(ad[0].OBJCAT["X_IMAGE"]) == [1.5, 7.0]
    assert ad[0].OBJMASK.dtype == np.uint8 and np.array_equal(ad[0].OBJMASK, objmask)
    assert ad.REFCAT["RAJ2000"][1] == pytest.approx(150.001)
    assert ad[0].REFCAT is ad.REFCAT  # a slice sees top-level tables too
    with pytest.raises(AttributeError):
        ad.OBJCAT  # noqa: B018  (extension items need a slice)
    with pytest.raises(AttributeError):
        ad[0].NOPE  # noqa: B018
    assert ad[0].exposed == {"OBJCAT", "OBJMASK", "REFCAT"}


def test_write_read_round_trip(science_file, tmp_path):
    path, data, var, dq, objmask = science_file
    ad = astrodata.open(path)
    ad[0].OBJCAT.add_row([3.0, 4.0])
    ad.SKYTABLE = Table({"frame": ["a.fits", "b.fits"], "level": [10.0, 12.5]})
    astrodata.add_provenance(ad, "N20240101S0002.fits", "0123abcd", "prepare")
    astrodata.add_history(
        ad, "prepare", {"suffix": "_prepared"}, "2024-01-01T00:00:00", "2024-01-01T00:00:02"
    )
    out = ad.write(tmp_path / "round.fits")
    with fits.open(out) as hdul:
        names = [(h.name, h.header.get("EXTVER")) for h in hdul]
        assert hdul[0].header["NEXTEND"] == len(hdul) - 1
        assert hdul["VAR"].data.dtype == np.dtype(">f4")
        assert hdul["DQ"].header["BITPIX"] == 16
        assert hdul["OBJMASK"].header["BITPIX"] == 8
    assert names[:6] == [
        ("PRIMARY", None),
        ("SCI", 1),
        ("VAR", 1),
        ("DQ", 1),
        ("OBJCAT", 1),
        ("OBJMASK", 1),
    ]
    assert [n for n, _ in names[6:]] == ["HISTORY", "PROVENANCE", "REFCAT", "SKYTABLE"]
    assert all(v is None for _, v in names[6:])
    back = astrodata.open(out)
    assert np.array_equal(back[0].data, data)
    assert np.array_equal(back[0].variance, var)
    assert np.array_equal(back[0].mask, dq)
    assert np.array_equal(back[0].OBJMASK, objmask)
    assert list(back[0].OBJCAT["X_IMAGE"]) == [1.5, 7.0, 3.0]
    assert back.tables == {"REFCAT", "SKYTABLE", "PROVENANCE", "HISTORY"}
    assert list(back.SKYTABLE["frame"]) == ["a.fits", "b.fits"]
    assert back.PROVENANCE["md5"][0] == "0123abcd"
    assert back.HISTORY["args"][0] == '{"suffix": "_prepared"}'
    assert back.phu["ORIGNAME"] == "N20240101S0002.fits"


def test_orignname_added_on_read(gmos_like_file):
    ad = astrodata.open(gmos_like_file[0])
    assert ad.phu["ORIGNAME"] == "S20240101S0001.fits"
    assert ad.orig_filename == "S20240101S0001.fits"
    assert ad.filename == "S20240101S0001.fits"
    assert ad.path == os.path.abspath(gmos_like_file[0])


def test_write_refuses_existing_files(gmos_like_file, tmp_path):
    path = gmos_like_file[0]
    ad = astrodata.open(path)
    before = open(path, "rb").read()
    with pytest.raises(AstroDataError, match="exists"):
        ad.write()
    with pytest.raises(AstroDataError, match="exists"):
        ad.write(path)
    assert open(path, "rb").read() == before
    other = tmp_path / "other.fits"
    other.write_bytes(b"keep me")
    with pytest.raises(AstroDataError, match=r"other\.fits: file exists"):
        ad.write(other)
    assert other.read_bytes() == b"keep me"


def test_overwrite_own_file_keeps_unread_pixels_valid(gmos_like_file):
    path, arrays = gmos_like_file
    ad = astrodata.open(path)
    ad.phu["NEWKEY"] = "yes"
    ad.write(overwrite=True)  # pixels never read before the file is replaced
    assert np.array_equal(ad[2].data, arrays[2])
    again = astrodata.open(path)
    assert again.phu["NEWKEY"] == "yes"
    assert np.array_equal(again[0].data, arrays[0])


def _leftovers(directory):
    return sorted(p for p in os.listdir(directory) if p.startswith("."))


def test_failed_write_leaves_nothing(gmos_like_file, tmp_path, monkeypatch):
    ad = astrodata.open(gmos_like_file[0])
    target = tmp_path / "out.fits"

    def explode(self, fileobj, *args, **kwargs):
        with open(fileobj, "wb") as fh:
            fh.write(b"SIMPLE  =                    T" + b" " * 100)  # a partial file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", explode)
    with pytest.raises(AstroDataError, match=r"out\.fits: cannot write \(No space left"):
        ad.write(target)
    assert not target.exists()
    assert _leftovers(tmp_path) == []
    # an existing target is left untouched by a failed overwrite
    target.write_bytes(b"previous version")
    with pytest.raises(AstroDataError):
        ad.write(target, overwrite=True)
    assert target.read_bytes() == b"previous version"
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only directories")
def test_write_into_read_only_directory(gmos_like_file, tmp_path):
    ad = astrodata.open(gmos_like_file[0])
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(AstroDataError, match="ro"):
            ad.write(ro / "x.fits")
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o755)


def test_write_to_missing_directory(gmos_like_file, tmp_path):
    ad = astrodata.open(gmos_like_file[0])
    with pytest.raises(AstroDataError, match="does not exist"):
        ad.write(tmp_path / "nowhere" / "x.fits")


def test_gzip_output(gmos_like_file, tmp_path):
    path, arrays = gmos_like_file
    out = astrodata.open(path).write(tmp_path / "c.fits.gz")
    assert open(out, "rb").read(2) == b"\x1f\x8b"
    assert np.array_equal(astrodata.open(out)[1].data, arrays[1])


def test_open_hdulist_and_create(rng):
    data = rng.normal(size=(3, 3))
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data)])
    hdul[0].header["OBJECT"] = "mem"
    ad = astrodata.open(hdul)
    assert ad.path is None and ad.object() == "mem"
    assert np.array_equal(ad[0].data, data)
    ad[0].data[0, 0] = -1  # our header copy is ours, the HDUList stays as it was
    assert "ORIGNAME" not in hdul[0].header
    made = astrodata.create(
        {"OBJECT": "new", "EXPTIME": 3.0}, [fits.ImageHDU(data), np.zeros((2, 2))]
    )
    assert len(made) == 2 and made.phu["EXPTIME"] == 3.0
    with pytest.raises(AstroDataError):
        astrodata.create(42)


def test_unwritable_directory_error_names_the_file(gmos_like_file, tmp_path, monkeypatch):
    """What a read-only directory does to a non-root user, simulated for any user."""
    import tempfile

    ad = astrodata.open(gmos_like_file[0])

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(AstroDataError, match=r"locked\.fits: cannot write \(Permission denied"):
        ad.write(tmp_path / "locked.fits")
    assert not (tmp_path / "locked.fits").exists()


def test_overwrite_own_file_keeps_unread_tables_valid(science_file):
    path = science_file[0]
    ad = astrodata.open(path)
    ad.phu["NEWKEY"] = 1
    ad.write(overwrite=True)
    assert ad.REFCAT["RAJ2000"][0] == pytest.approx(150.0)
    assert list(ad[0].OBJCAT["X_IMAGE"]) == [1.5, 7.0]
    assert astrodata.open(path).phu["NEWKEY"] == 1


def test_pickle_round_trip_for_process_pools(science_file):
    import pickle

    path, data, var, dq, objmask = science_file
    ad = astrodata.open(path)
    lazy = pickle.loads(pickle.dumps(ad))  # nothing read yet: only headers travel
    assert type(lazy) is type(ad) and lazy.filename == ad.filename
    assert np.array_equal(lazy[0].data, data) and np.array_equal(lazy[0].mask, dq)
    assert lazy.REFCAT["RAJ2000"][0] == pytest.approx(150.0)
    ad[0].data += 1  # loaded and changed
    ad[0].wcs  # noqa: B018 - built from the header
    changed = pickle.loads(pickle.dumps(ad))
    assert np.array_equal(changed[0].data, data + 1)
    np.testing.assert_allclose(changed[0].wcs(2, 3), ad[0].wcs(2, 3))
    assert changed.tags == ad.tags
