"""Fixtures for the astrodata core tests: small FITS files built in the tests."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

TAN_WCS = {
    "CTYPE1": "RA---TAN",
    "CTYPE2": "DEC--TAN",
    "CRPIX1": 20.5,
    "CRPIX2": 15.0,
    "CRVAL1": 150.0,
    "CRVAL2": -30.0,
    "CD1_1": -4.0e-5,
    "CD1_2": 1.5e-5,
    "CD2_1": 1.2e-5,
    "CD2_2": 4.2e-5,
}


def write_mef(path, phu_cards=None, extensions=()):
    """Write a PHU (no data) plus the given HDUs; return the path as str."""
    phu = fits.PrimaryHDU(header=fits.Header(list((phu_cards or {}).items())))
    fits.HDUList([phu, *extensions]).writeto(path, overwrite=True)
    return str(path)


def image_hdu(data, name="SCI", ver=None, cards=None):
    hdu = fits.ImageHDU(np.asarray(data))
    if name is not None:
        hdu.header["EXTNAME"] = name
    if ver is not None:
        hdu.header["EXTVER"] = ver
    for key, value in (cards or {}).items():
        hdu.header[key] = value
    return hdu


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def gmos_like_file(tmp_path, rng):
    """GMOS-like raw file: 3 extensions of uint16 stored as BITPIX 16 + BZERO 32768."""
    arrays = [rng.integers(0, 65536, size=(12, 10)).astype(np.uint16) for _ in range(3)]
    arrays[0][0, 0] = 65535
    arrays[0][0, 1] = 0
    arrays[0][0, 2] = 32768
    hdus = [image_hdu(a, "SCI", i + 1, TAN_WCS) for i, a in enumerate(arrays)]
    path = write_mef(tmp_path / "S20240101S0001.fits",
                     {"INSTRUME": "TESTCAM", "OBJECT": "NGC 300", "TELESCOP": "Test-1m"}, hdus)
    return path, arrays


@pytest.fixture
def science_file(tmp_path, rng):
    """One float32 SCI extension with a TAN WCS, VAR, DQ, OBJMASK, OBJCAT and a REFCAT."""
    data = rng.normal(100, 5, size=(30, 40)).astype(np.float32)
    var = np.full_like(data, 25.0)
    dq = np.zeros(data.shape, dtype=np.uint16)
    dq[3, 4] = 8
    objmask = (data > 105).astype(np.uint8)
    objcat = fits.BinTableHDU.from_columns(
        [fits.Column(name="X_IMAGE", format="E", array=np.array([1.5, 7.0])),
         fits.Column(name="Y_IMAGE", format="E", array=np.array([2.5, 9.0]))],
        name="OBJCAT")
    objcat.header["EXTVER"] = 1
    refcat = fits.BinTableHDU.from_columns(
        [fits.Column(name="RAJ2000", format="D", array=np.array([150.0, 150.001]))],
        name="REFCAT")
    hdus = [image_hdu(data, "SCI", 1, TAN_WCS), image_hdu(var, "VAR", 1),
            image_hdu(dq, "DQ", 1), image_hdu(objmask, "OBJMASK", 1), objcat, refcat]
    path = write_mef(tmp_path / "N20240101S0002_prepared.fits",
                     {"INSTRUME": "TESTCAM", "OBJECT": "M31", "ORIGNAME": "N20240101S0002.fits"},
                     hdus)
    return path, data, var, dq, objmask


class FitsBuilder:
    """What the ``fitsbuild`` fixture gives: ``image_hdu`` and ``write_mef``."""

    image_hdu = staticmethod(image_hdu)
    write_mef = staticmethod(write_mef)
    TAN_WCS = TAN_WCS


@pytest.fixture
def fitsbuild():
    return FitsBuilder()
