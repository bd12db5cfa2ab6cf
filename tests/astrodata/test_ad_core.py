"""AstroData object model: slicing, attributes, append, crop, reset, naming, info."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import astrodata
from astrodata import AstroDataError


@pytest.fixture
def ad3(rng):
    ad = astrodata.create(fits.Header([("OBJECT", "three"), ("ORIGNAME", "N001.fits")]))
    for i in range(3):
        hdu = fits.ImageHDU(rng.normal(size=(6, 8)).astype(np.float32) + 10 * i)
        hdu.header["GAIN"] = 2.0 + i
        ad.append(hdu)
    ad.path = "/data/N001.fits"
    return ad


def test_slicing(ad3):
    assert len(ad3) == 3 and not ad3.is_sliced and not ad3.is_single
    one = ad3[1]
    assert one.is_single and one.is_sliced and one.id == 2 and len(one) == 1
    assert one.hdr["GAIN"] == 3.0
    sub = ad3[1:]
    assert sub.indices == [1, 2] and not sub.is_single and sub.hdr.get("GAIN") == [3.0, 4.0]
    assert sub[0].id == 2
    assert ad3[(0, 2)].indices == [0, 2]
    assert ad3[-1].id == 3
    with pytest.raises(AstroDataError):
        one[0]
    with pytest.raises(IndexError):
        ad3[5]
    assert [ext.id for ext in ad3] == [1, 2, 3]
    # slices share data with the parent
    one.data[0, 0] = 123.0
    assert ad3[1].data[0, 0] == 123.0
    with pytest.raises(AstroDataError, match="single slice"):
        ad3.id  # noqa: B018


def test_lists_on_full_objects(ad3):
    assert ad3.shape == [(6, 8)] * 3
    assert len(ad3.data) == 3 and ad3.mask == [None] * 3 and ad3.variance == [None] * 3
    assert isinstance(ad3.hdr, astrodata.headers.FitsHeaderCollection)
    with pytest.raises(AstroDataError, match="single slice"):
        ad3.data = np.zeros((6, 8))


def test_delete_only_unsliced(ad3):
    with pytest.raises(AstroDataError):
        del ad3[0:2][0]
    del ad3[0]
    assert len(ad3) == 2 and ad3.hdr.get("GAIN") == [3.0, 4.0]


def test_setting_uppercase_attributes(ad3):
    ad3[0].OBJMASK = np.ones((6, 8), dtype=np.uint8)
    ad3[0].OBJCAT = Table({"x": [1.0]})
    ad3.MYTABLE = Table({"a": [1, 2]})
    assert ad3[0].exposed == {"OBJMASK", "OBJCAT", "MYTABLE"}
    assert ad3.tables == {"MYTABLE"}
    with pytest.raises(AstroDataError, match="only tables"):
        ad3.OBJMASK = np.ones((6, 8))
    with pytest.raises(AttributeError, match="mask"):
        ad3[0].DQ = np.ones((6, 8))
    with pytest.raises(AttributeError, match="variance"):
        ad3[0].VAR = np.ones((6, 8))
    del ad3[0].OBJCAT
    del ad3.MYTABLE
    assert ad3[0].exposed == {"OBJMASK"}


def test_append_kinds(ad3, rng):
    from astropy.nddata import CCDData, VarianceUncertainty

    n = len(ad3)
    new = ad3.append(np.zeros((2, 2)))
    assert new.id == n + 1 and new.hdr["EXTNAME"] == "SCI" and new.hdr["EXTVER"] == n + 1
    ccd = CCDData(rng.normal(size=(3, 3)), unit="adu",
                  uncertainty=VarianceUncertainty(np.full((3, 3), 2.0)),
                  mask=np.eye(3, dtype=bool), meta={"FILTER": "r"})
    ext = ad3.append(ccd)
    assert np.array_equal(ext.variance, np.full((3, 3), 2.0))
    assert ext.mask.dtype == np.uint16 and ext.mask.tolist()[0] == [1, 0, 0]
    assert ext.hdr["BUNIT"] == "adu" and ext.hdr["FILTER"] == "r"
    copy_of_first = ad3.append(ad3[0])
    assert np.array_equal(copy_of_first.data, ad3[0].data)
    copy_of_first.data[0, 0] = -5
    assert ad3[0].data[0, 0] != -5  # appended as a copy
    with pytest.raises(AstroDataError):
        ad3.append(fits.PrimaryHDU())
    with pytest.raises(AstroDataError):
        ad3[0:2].append(np.zeros(2))
    table = ad3.append(Table({"a": [1]}), name="refcat")
    assert "REFCAT" in ad3.tables and table is ad3.REFCAT


def test_crop_keeps_variance_mask_objmask_and_wcs(fitsbuild, tmp_path, rng):
    data = rng.normal(size=(20, 30)).astype(np.float32)
    sci = fitsbuild.image_hdu(data, "SCI", 1, fitsbuild.TAN_WCS)
    path = fitsbuild.write_mef(tmp_path / "c.fits", {}, [
        sci, fitsbuild.image_hdu(np.ones_like(data), "VAR", 1),
        fitsbuild.image_hdu(np.arange(600, dtype=np.int16).reshape(20, 30), "DQ", 1),
        fitsbuild.image_hdu(np.ones((20, 30), np.uint8), "OBJMASK", 1)])
    ad = astrodata.open(path)
    world = ad[0].wcs(5, 4)
    ad.crop(5, 4, 14, 11)  # inclusive limits
    assert ad[0].shape == (8, 10)
    assert np.array_equal(ad[0].data, data[4:12, 5:15])
    assert ad[0].variance.shape == (8, 10) and ad[0].mask[0, 0] == 4 * 30 + 5
    assert ad[0].OBJMASK.shape == (8, 10)
    np.testing.assert_allclose(ad[0].wcs(0, 0), world, rtol=0, atol=1e-10)
    out = ad.write(tmp_path / "cropped.fits")
    back = astrodata.open(out)
    np.testing.assert_allclose(back[0].wcs(0, 0), world, rtol=0, atol=1e-9)
    assert fits.getheader(out, 1)["NAXIS1"] == 10


def test_reset(ad3):
    ext = ad3[0]
    ext.reset(np.ones((6, 8)), mask=np.zeros((6, 8), np.uint16), variance=np.ones((6, 8)))
    assert ext.mask is not None and ext.variance is not None
    ext.reset(np.zeros((6, 8)))  # mask/variance not given: unchanged
    assert ext.mask is not None
    ext.reset(np.zeros((6, 8)), mask=None)
    assert ext.mask is None and ext.variance is not None
    with pytest.raises(AstroDataError, match="shape"):
        ext.reset(np.zeros((6, 8)), variance=np.zeros((2, 2)))
    with pytest.raises(AstroDataError):
        ad3.reset(np.zeros((6, 8)))


def test_operate(ad3):
    ad3[0].mask = np.zeros((6, 8), np.uint16)
    ad3.operate(np.fliplr)
    assert ad3[0].mask.shape == (6, 8)


@pytest.mark.parametrize(
    "current, kwargs, result",
    [
        ("N001.fits", {"suffix": "_prepared"}, "N001_prepared.fits"),
        ("N001_prepared.fits", {"suffix": "_dqAdded", "strip": True}, "N001_dqAdded.fits"),
        ("N001_flat_stack.fits", {"suffix": "_x"}, "N001_flat_x.fits"),
        ("N001_flat_stack.fits", {"suffix": "_x", "strip": True}, "N001_x.fits"),
        ("N001_prepared.fits", {"prefix": "r"}, "rN001_prepared.fits"),
        ("aN001_prepared.fits", {"prefix": "b", "strip": True, "suffix": "_y"}, "bN001_y.fits"),
        ("aN001_prepared.fits", {"prefix": "b"}, "baN001_prepared.fits"),
        ("N001_prepared.fits", {}, "N001_prepared.fits"),
    ],
)
def test_update_filename(ad3, current, kwargs, result):
    ad3.filename = current
    ad3.update_filename(**kwargs)
    assert ad3.filename == result
    assert ad3.path == "/data/" + result


def test_update_filename_with_underscores_in_the_root():
    ad = astrodata.create(fits.Header([("ORIGNAME", "my_file.fits")]))
    ad.filename = "my_file.fits"
    ad.update_filename(suffix="_bias")
    assert ad.filename == "my_file_bias.fits"
    ad.update_filename(suffix="_stack")
    assert ad.filename == "my_file_stack.fits"


def test_filename_and_path(ad3):
    assert ad3.filename == "N001.fits"
    with pytest.raises(AstroDataError):
        ad3.filename = "/abs/x.fits"
    fresh = astrodata.create(fits.Header())
    with pytest.raises(AstroDataError):
        fresh.update_filename(suffix="_x")
    with pytest.raises(AstroDataError, match="no filename"):
        fresh.write()


def test_deepcopy_is_independent(ad3):
    other = copy.deepcopy(ad3)
    other[0].data[0, 0] = -99.0
    other.phu["OBJECT"] = "changed"
    assert ad3[0].data[0, 0] != -99.0 and ad3.phu["OBJECT"] == "three"
    assert type(other) is type(ad3)


def test_info_lists_extensions(ad3, capsys):
    ad3[0].variance = np.ones((6, 8))
    ad3[0].OBJCAT = Table({"x": [1.0, 2.0]})
    ad3.REFCAT = Table({"ra": [1.0]})
    ad3.info()
    text = capsys.readouterr().out
    assert "N001.fits" in text
    assert text.count("science") == 3
    assert ".variance" in text and ".OBJCAT" in text and ".REFCAT" in text
    assert "(6, 8)" in text


def test_nddata_is_astropy_nddata_usable_by_ccdproc(science_file):
    ccdproc = pytest.importorskip("ccdproc")
    from astropy.nddata import CCDData, NDData

    ad = astrodata.open(science_file[0])
    nd = ad[0].nddata
    assert isinstance(nd, NDData)
    ccd = CCDData(nd.data, unit="adu")
    trimmed = ccdproc.trim_image(ccd[2:10, 3:12])
    assert trimmed.shape == (8, 9)
    subtracted = ccdproc.subtract_overscan(ccd, overscan=ccd[:, 35:], overscan_axis=1,
                                           median=True)
    assert abs(np.median(subtracted.data[:, 35:])) < 1e-3
    back = ad.append(subtracted)
    assert back.hdr["BUNIT"] == "adu" and back.shape == (30, 40)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # ccdproc's own statistics of 2 frames
def test_to_ccddata_for_ccdproc(science_file):
    ccdproc = pytest.importorskip("ccdproc")
    path, data, var, dq, _ = science_file
    ad = astrodata.open(path)
    ccd = ad[0].nddata.to_ccddata(unit="electron")
    assert ccd.unit == "electron"
    assert np.array_equal(ccd.data, data)
    assert np.array_equal(ccd.uncertainty.array, var)
    assert ccd.mask.sum() == 1 and ccd.mask[3, 4]
    np.testing.assert_allclose(ccd.wcs.pixel_to_world_values(5, 6), ad[0].wcs(5, 6), atol=1e-10)
    combined = ccdproc.combine([ccd, ccd], method="average")
    np.testing.assert_allclose(combined.data[~ccd.mask], data[~ccd.mask], rtol=1e-6)

