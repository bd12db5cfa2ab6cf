"""Class selection by the factory: most specific class, ambiguity, entry points."""

from __future__ import annotations

import importlib.metadata

import pytest
from astropy.io import fits

import astrodata
from astrodata import AstroData, NoMatchingClass
from astrodata.factory import ENTRY_POINT_GROUP, add_class, remove_class, select_class
from astrodata.fits import read_source


class AstroDataFamily(AstroData):
    @staticmethod
    def _matches_data(source):
        return source.phu.get("TELESCOP") == "FACTORY-TEST"


class AstroDataMember(AstroDataFamily):
    @staticmethod
    def _matches_data(source):
        return source[0].header.get("INSTRUME") == "MEMBER"


class AstroDataRival(AstroDataFamily):
    @staticmethod
    def _matches_data(source):
        return source.phu.get("INSTRUME") == "MEMBER" and "RIVAL" in source.phu


class AstroDataBroken(AstroData):
    @staticmethod
    def _matches_data(source):
        raise KeyError("crashes on every file")


@pytest.fixture
def family():
    classes = [AstroDataFamily, AstroDataMember, AstroDataRival, AstroDataBroken]
    for cls in classes:
        add_class(cls)
    yield
    for cls in classes:
        remove_class(cls)


def hdulist(**cards):
    return fits.HDUList([fits.PrimaryHDU(header=fits.Header(list(cards.items())))])


def test_base_class_matches_anything(family):
    assert type(astrodata.open(hdulist(OBJECT="x"))) is AstroData


def test_most_specific_candidate_wins(family):
    assert type(astrodata.open(hdulist(TELESCOP="FACTORY-TEST"))) is AstroDataFamily
    ad = astrodata.open(hdulist(TELESCOP="FACTORY-TEST", INSTRUME="MEMBER"))
    assert type(ad) is AstroDataMember


def test_ambiguity_is_an_error(family):
    with pytest.raises(NoMatchingClass, match="more than one.*AstroDataMember.*AstroDataRival"):
        astrodata.open(hdulist(TELESCOP="FACTORY-TEST", INSTRUME="MEMBER", RIVAL=1))


def test_no_match_is_an_error(family, monkeypatch):
    monkeypatch.setattr(astrodata.factory, "_registry", [AstroDataMember])
    with pytest.raises(NoMatchingClass, match="no AstroData class"):
        select_class(read_source(hdulist(OBJECT="x")))


def test_add_class_validates():
    with pytest.raises(astrodata.AstroDataError):
        add_class(int)


def test_entry_point_classes_are_registered():
    names = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert {"gemini", "f2", "gsaoi", "gmos", "niri"} <= names
    registered = astrodata.registered_classes()
    assert registered[0] is AstroData
    loaded = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded.append(ep.load())
        except Exception:
            continue
    for cls in loaded:
        assert cls in registered


def test_create_accepts_several_phu_forms(family):
    cards = [("TELESCOP", "FACTORY-TEST"), ("INSTRUME", "MEMBER")]
    for phu in (fits.Header(cards), fits.PrimaryHDU(header=fits.Header(cards)), dict(cards),
                cards):
        assert type(astrodata.create(phu)) is AstroDataMember
