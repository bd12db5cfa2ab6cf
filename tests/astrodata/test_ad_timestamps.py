"""Timestamp keywords and mark_history."""

from __future__ import annotations

import re

import pytest
from astropy.io import fits

import astrodata
from astrodata.errors import AstroDataError
from astrodata.timestamps import IMPLIED_TIMESTAMPS, TIMESTAMP_KEYWORDS, mark_history

STORE_PRIMITIVES = {name for name in TIMESTAMP_KEYWORDS if name.startswith("storeProcessed")}


def test_keywords_are_valid_fits_and_distinct():
    values = list(TIMESTAMP_KEYWORDS.values())
    assert len(values) == len(set(values))
    for keyword in values:
        assert re.fullmatch(r"[A-Z0-9_-]{1,8}", keyword), keyword


def test_reference_keywords():
    expected = {"prepare": "PREPARE", "standardizeObservatoryHeaders": "SDZHDRSG",
                "standardizeInstrumentHeaders": "SDZHDRSI", "standardizeStructure": "SDZSTRUC",
                "standardizeWCS": "SDZWCS", "validateData": "VALDATA", "addDQ": "ADDDQ",
                "addVAR": "ADDVAR", "subtractOverscan": "SUBOVER", "trimOverscan": "TRIMOVER",
                "biasCorrect": "BIASCORR", "darkCorrect": "DARKCORR", "flatCorrect": "FLATCORR",
                "nonlinearityCorrect": "LINCORR", "ADUToElectrons": "ADUTOELE",
                "stackFrames": "STACKFRM", "makeBPM": "BPMASK", "normalizeFlat": "NORMLIZE",
                "mosaicDetectors": "MOSAIC", "tileArrays": "TILEARRY",
                "storeProcessedDark": "PROCDARK", "storeProcessedFlat": "PROCFLAT"}
    for prim, keyword in expected.items():
        assert TIMESTAMP_KEYWORDS[prim] == keyword


def test_no_keyword_creates_a_wrong_tag():
    for prim, keyword in TIMESTAMP_KEYWORDS.items():
        assert ("PREPAR" in keyword) == (prim == "prepare"), prim
        assert keyword.startswith("PROC") == (prim in STORE_PRIMITIVES), prim
        if "SUBOVER" in keyword or "TRIMOVER" in keyword:
            assert prim in ("subtractOverscan", "trimOverscan")
        assert keyword not in ("GEM-TLM", "GMOSAIC", "GBIAS", "GIFLAT", "GIFRINGE", "EXTRACT",
                               "PROCTELL")
        if keyword == "BPMASK":
            assert prim == "makeBPM"


def test_mark_history_writes_keyword_and_last_modification():
    ad = astrodata.create(fits.Header([("OBJECT", "x")]))
    stamp = mark_history(ad, "addDQ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", stamp)
    assert ad.phu["ADDDQ"] == stamp
    assert ad.phu["GEM-TLM"] == stamp
    assert "addDQ" in ad.phu.comments["ADDDQ"]


def test_mark_history_custom_keyword_and_comment():
    ad = astrodata.create(fits.Header())
    mark_history(ad, "myPrimitive", keyword="MYPRIM", comment="my own step")
    assert ad.phu.comments["MYPRIM"] == "my own step"
    assert "GEM-TLM" in ad.phu


def test_overscan_correct_implies_subtract_and_trim():
    ad = astrodata.create(fits.Header())
    mark_history(ad, "overscanCorrect")
    for prim in IMPLIED_TIMESTAMPS["overscanCorrect"]:
        assert TIMESTAMP_KEYWORDS[prim] in ad.phu
    assert {"SUBOVER", "TRIMOVER", "OVERSCAN"} <= set(ad.phu)


def test_unknown_primitive_needs_a_keyword():
    ad = astrodata.create(fits.Header())
    with pytest.raises(AstroDataError, match="noSuchPrimitive"):
        mark_history(ad, "noSuchPrimitive")
    with pytest.raises(KeyError):
        mark_history(ad, "noSuchPrimitive")
    assert "GEM-TLM" not in ad.phu
