"""Extensions of an opened file stay pending until pixels are used; BSCALE/BZERO from the scan."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata.fits import PendingExtension
from astrodata.headers import scan_fits


def _pending(ad) -> list[bool]:
    return [isinstance(nd, PendingExtension) for nd in ad._nddata]


def test_headers_shapes_and_items_do_not_build_extensions(science_file):
    path, data, _, _, objmask = science_file
    ad = astrodata.open(path)
    assert _pending(ad) == [True]
    assert ad.shape == [data.shape] and ad[0].shape == data.shape
    assert ad[0].hdr["CTYPE1"] == "RA---TAN" and ad.hdr["EXTVER"] == [1]
    ad[0].hdr["NEWKEY"] = 7
    assert ad[0].exposed >= {"OBJMASK", "OBJCAT"} and ad[0].ext_tables == {"OBJCAT"}
    np.testing.assert_array_equal(ad[0].OBJMASK, objmask)  # an item, read from the file
    assert _pending(ad) == [True]


def test_building_keeps_the_header_object_and_is_shared_by_slices(science_file):
    path, data, var, dq, _ = science_file
    ad = astrodata.open(path)
    header = ad[0].hdr
    header["NEWKEY"] = 7
    first = ad[0]
    np.testing.assert_array_equal(first.data, data)  # builds the NDAstroData
    assert _pending(ad) == [False]
    nd = ad[0].nddata
    assert isinstance(nd, astrodata.NDAstroData) and first.nddata is nd
    assert nd.meta["header"] is header and nd.meta["header"]["NEWKEY"] == 7
    np.testing.assert_array_equal(nd.variance, var)
    np.testing.assert_array_equal(nd.mask, dq)
    assert ad[0].wcs is not None  # the WCS recipe came along


def test_copy_and_pickle_of_an_unbuilt_object(science_file):
    path, data, _, _, _ = science_file
    ad = astrodata.open(path)
    clone = copy.deepcopy(ad)
    assert isinstance(clone[0].nddata, astrodata.NDAstroData)
    clone[0].data[0, 0] = -1.0
    ad2 = astrodata.open(path)
    restored = pickle.loads(pickle.dumps(ad2))
    assert _pending(restored) == [True]
    np.testing.assert_array_equal(restored[0].data, data)
    assert ad[0].data[0, 0] == data[0, 0]  # the copy did not change the original


def test_writing_an_unbuilt_object_gives_the_same_file(science_file, tmp_path):
    path, data, var, dq, _ = science_file
    out = astrodata.open(path).write(tmp_path / "copy.fits")
    back = astrodata.open(out)
    np.testing.assert_array_equal(back[0].data, data)
    np.testing.assert_array_equal(back[0].variance, var)
    np.testing.assert_array_equal(back[0].mask, dq)
    assert back.REFCAT["RAJ2000"][1] == pytest.approx(150.001)


@pytest.mark.parametrize(
    ("bitpix_data", "cards", "expected_dtype"),
    [
        (np.arange(12, dtype=np.int16), {"BZERO": 32768, "BSCALE": 1}, np.uint16),
        (np.arange(12, dtype=np.int16), {"BSCALE": 2.5, "BZERO": -3.0}, np.float32),
        (np.arange(12, dtype=np.int32), {"BSCALE": 0.5}, np.float64),
        (np.arange(12, dtype=np.float32), {}, np.dtype(">f4")),
    ],
)
def test_scaling_read_by_the_scan_matches_the_header(tmp_path, bitpix_data, cards,
                                                     expected_dtype):
    hdu = fits.ImageHDU(bitpix_data.reshape(3, 4), name="SCI", do_not_scale_image_data=True)
    for key, value in cards.items():
        hdu.header[key] = value
    path = tmp_path / "scaled.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    info = scan_fits(path).hdus[1]
    header = fits.getheader(path, 1)
    assert info._scaling is not None  # known from the scan: the header was not parsed
    scan_values = info.scaling()
    header_values = (header.get("BSCALE", 1), header.get("BZERO", 0))
    assert scan_values == header_values
    assert [type(v) for v in scan_values] == [type(v) for v in header_values]
    ad = astrodata.open(path)
    with fits.open(path) as hdul:
        expected = hdul[1].data
    assert ad[0].data.dtype == np.dtype(expected_dtype)
    np.testing.assert_array_equal(ad[0].data, expected)
