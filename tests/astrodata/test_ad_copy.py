"""A deep copy of an AstroData is independent of the original, loaded or not."""

import copy

import numpy as np
from astropy.io import fits

import astrodata


def _write(path, gz=False):
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI")])
    hdul.writeto(path)
    if gz:
        import gzip
        import shutil
        with open(path, "rb") as src, gzip.open(str(path) + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        return str(path) + ".gz"
    return str(path)


def test_deepcopy_of_unloaded_object_does_not_share_pixels(tmp_path):
    ad = astrodata.open(_write(tmp_path / "a.fits"))
    dup = copy.deepcopy(ad)
    dup[0].data[0, 0] = -999.0
    assert ad[0].data[0, 0] == 0.0
    assert dup[0].data[0, 0] == -999.0


def test_deepcopy_of_loaded_object_does_not_share_pixels(tmp_path):
    ad = astrodata.open(_write(tmp_path / "a.fits"))
    assert ad[0].data.shape == (3, 4)  # loads the pixels
    dup = copy.deepcopy(ad)
    dup[0].data += 1
    assert ad[0].data[1, 1] == 5.0
    assert dup[0].data[1, 1] == 6.0


def test_pixels_of_a_gzipped_file_are_writable_and_file_untouched(tmp_path):
    path = _write(tmp_path / "a.fits", gz=True)
    before = open(path, "rb").read()
    ad = astrodata.open(path)
    ad[0].data[0, 0] = 42.0
    assert ad[0].data[0, 0] == 42.0
    assert open(path, "rb").read() == before
