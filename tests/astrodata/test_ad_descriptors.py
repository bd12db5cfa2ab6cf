"""Descriptors: @astro_data_descriptor, @returns_list, _keyword_for, descriptor_values."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata import AstroData, AstroDataError, astro_data_descriptor, returns_list
from astrodata.factory import add_class, remove_class


class AstroDataDescTest(AstroData):
    _keyword_dict = {"exposure_time": "EXPTIME", "object": "TARGNAME"}

    @staticmethod
    def _matches_data(source):
        return source.phu.get("INSTRUME") == "DESCTEST"

    @astro_data_descriptor
    def exposure_time(self):
        return self.phu.get(self._keyword_for("exposure_time"))

    @astro_data_descriptor
    @returns_list
    def gain(self):
        return self.hdr.get("GAIN") if not self.is_single else [self.hdr.get("GAIN")]

    @astro_data_descriptor
    @returns_list
    def pixel_scale(self):
        return 0.12

    @astro_data_descriptor
    @returns_list
    def broken_length(self):
        return [1, 2, 3, 4, 5]

    @astro_data_descriptor
    def raises(self):
        raise ValueError("bad header")

    def not_a_descriptor(self):
        return 1


class AstroDataDescChild(AstroDataDescTest):
    _keyword_dict = {"exposure_time": "EXPOSURE"}

    @staticmethod
    def _matches_data(source):
        return source.phu.get("INSTRUME") == "DESCTEST" and "CHILD" in source.phu


@pytest.fixture
def ad():
    add_class(AstroDataDescTest)
    add_class(AstroDataDescChild)
    phu = fits.Header([("INSTRUME", "DESCTEST"), ("EXPTIME", 30.0), ("TARGNAME", "M51"),
                       ("OBJECT", "ignored"), ("TELESCOP", "Test-1m")])
    exts = []
    for gain in (2.1, 2.2, 2.3):
        hdu = fits.ImageHDU(np.zeros((3, 4), dtype=np.float32))
        hdu.header["GAIN"] = gain
        exts.append(hdu)
    yield astrodata.create(phu, exts)
    remove_class(AstroDataDescTest)
    remove_class(AstroDataDescChild)


def test_returns_list_gives_one_value_per_extension(ad):
    assert ad.gain() == [2.1, 2.2, 2.3]
    assert ad[1].gain() == 2.2
    assert ad[1:].gain() == [2.2, 2.3]


def test_returns_list_broadcasts_a_scalar(ad):
    assert ad.pixel_scale() == [0.12, 0.12, 0.12]
    assert ad[0].pixel_scale() == 0.12


def test_returns_list_wrong_length_is_an_error(ad):
    with pytest.raises(AstroDataError, match="5 values for 3 extensions"):
        ad.broken_length()
    with pytest.raises(IndexError):
        ad[0].broken_length()


def test_descriptors_lists_marked_methods_only(ad):
    names = ad.descriptors
    assert {"exposure_time", "gain", "instrument", "object", "telescope"} <= set(names)
    assert "not_a_descriptor" not in names
    assert names == tuple(sorted(names))


def test_keyword_for_merges_along_the_mro(ad):
    assert ad._keyword_for("exposure_time") == "EXPTIME"
    assert ad._keyword_for("object") == "TARGNAME"   # subclass overrides the base OBJECT
    assert ad._keyword_for("instrument") == "INSTRUME"  # inherited from AstroData
    assert AstroDataDescChild._keyword_for("exposure_time") == "EXPOSURE"
    assert AstroDataDescChild._keyword_for("object") == "TARGNAME"
    with pytest.raises(AttributeError):
        ad._keyword_for("no_such_descriptor")


def test_base_descriptors_use_the_keyword_table(ad):
    assert ad.instrument() == "DESCTEST"
    assert ad.object() == "M51"
    assert ad.telescope() == "Test-1m"
    bare = astrodata.create(fits.Header())
    assert (bare.instrument(), bare.object(), bare.telescope()) == (None, None, None)


def test_descriptor_values_catches_errors(ad):
    values = ad.descriptor_values(["exposure_time", "raises", "gain", "nonexistent",
                                   "not_a_descriptor"])
    assert values == {"exposure_time": 30.0, "raises": None, "gain": [2.1, 2.2, 2.3],
                      "nonexistent": None, "not_a_descriptor": None}
    assert set(ad.descriptor_values()) == set(ad.descriptors)
