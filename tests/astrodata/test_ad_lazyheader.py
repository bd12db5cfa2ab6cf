"""LazyHeader answers like astropy's Header, without building cards until needed."""

from __future__ import annotations

import copy
import pickle
import warnings

import pytest
from astropy.io import fits

from astrodata.headers import LazyHeader, _card_image, set_new_keyword


def header_text(header: fits.Header) -> str:
    """Card images as they are in a file, without the END card."""
    text = header.tostring()
    return text[: text.index("END" + " " * 77)]


def sample_header() -> fits.Header:
    h = fits.Header()
    h["SIMPLE"] = True
    h["BITPIX"] = 16
    h["NAXIS"] = 0
    h["EXTEND"] = (False, "no extensions")
    h["OBJECT"] = ("NGC 300  ", "trailing spaces are stripped")
    h["QUOTE"] = "it's / not a comment"
    h["EMPTY"] = ""
    h["SPACES"] = "   leading kept"
    h["INT"] = -42
    h["BIGINT"] = 12345678901234
    h["FLOAT"] = 1.5e-7
    h["NEGFLT"] = -0.25
    h["WHOLE"] = 3.0
    h["UNDEF"] = None
    h["BOOLT"] = True
    h["BOOLF"] = False
    h["COMMENT"] = "a comment card"
    h["HISTORY"] = "a history card"
    h.append(fits.Card("DUP", 1))
    h.append(fits.Card("DUP", 2), useblanks=False, bottom=True)
    h["DATE-OBS"] = "2024-01-02"
    h["GEM-TLM"] = "2024-01-02T00:00:00"
    h.append(fits.Card("", "", ""), bottom=True)
    return h


KEYS = ["SIMPLE", "bitpix", "OBJECT", "QUOTE", "EMPTY", "SPACES", "INT", "BIGINT", "FLOAT",
        "NEGFLT", "WHOLE", "UNDEF", "BOOLT", "BOOLF", "DUP", "DATE-OBS", "GEM-TLM", "MISSING",
        " object ", "EXTEND"]


def test_reads_match_astropy_without_building_cards():
    ref = sample_header()
    ref = fits.Header.fromstring(ref.tostring())  # as read from a file
    lazy = LazyHeader(text=header_text(ref))
    for key in KEYS:
        assert (key in lazy) == (key in ref), key
        assert lazy.get(key, "dflt") == ref.get(key, "dflt"), key
        assert type(lazy.get(key)) is type(ref.get(key)), key
        if key in ref:
            assert lazy[key] == ref[key]
        else:
            with pytest.raises(KeyError):
                lazy[key]
    assert list(lazy.keys()) == list(ref.keys())
    assert list(lazy) == list(ref)
    assert len(lazy) == len(ref)
    assert "COMMENT" in lazy and "HISTORY" in lazy
    assert not lazy.is_materialized()


@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
def test_double_precision_exponent_and_odd_values():
    text = ("DVAL    =               1.5D+03 / Fortran exponent".ljust(80)
            + "CPLX    = (1.0, 2.0)".ljust(80)
            + "NOEQ      this card has no value indicator".ljust(80))
    lazy = LazyHeader(text=text)
    ref = fits.Header.fromstring(text)
    assert lazy["DVAL"] == ref["DVAL"] == 1500.0
    assert not lazy.is_materialized()
    assert lazy["CPLX"] == ref["CPLX"]  # left to astropy
    assert lazy.is_materialized()


def test_commentary_and_changes_build_the_real_header():
    ref = fits.Header.fromstring(sample_header().tostring())
    lazy = LazyHeader(text=header_text(ref))
    assert list(lazy["COMMENT"]) == ["a comment card"]
    assert lazy.is_materialized()
    lazy2 = LazyHeader(text=header_text(ref))
    lazy2["OBJECT"] = "changed"
    assert lazy2["OBJECT"] == "changed" and lazy2.is_materialized()
    assert lazy2.comments["EXTEND"] == "no extensions"


def test_hierarch_and_continue_fall_back_to_astropy():
    ref = fits.Header()
    ref["HIERARCH ESO DET CHIP"] = "ccd1"
    ref["LONGSTR"] = "x" * 150
    ref["OBJECT"] = "M1"
    text = header_text(ref)
    lazy = LazyHeader(text=text)
    assert lazy["OBJECT"] == "M1"
    assert lazy["LONGSTR"] == "x" * 150
    assert lazy["ESO DET CHIP"] == "ccd1"
    assert list(lazy.keys()) == list(fits.Header.fromstring(text).keys())


def test_copy_pickle_and_tostring_are_those_of_astropy():
    ref = fits.Header.fromstring(sample_header().tostring())
    lazy = LazyHeader(text=header_text(ref))
    assert lazy.tostring() == ref.tostring()
    dup = lazy.copy()
    dup["NEW"] = 1
    assert "NEW" not in lazy
    assert copy.deepcopy(lazy) == ref
    again = pickle.loads(pickle.dumps(LazyHeader(text=header_text(ref))))
    assert again["OBJECT"] == ref["OBJECT"] and again == ref


def test_add_new_gives_the_same_header_as_astropy():
    base = fits.Header([("SIMPLE", True), ("OBJECT", "x")])
    lazy = LazyHeader(text=header_text(base))
    assert lazy["OBJECT"] == "x"  # index built before the addition
    set_new_keyword(lazy, "ORIGNAME", "N001.fits", "Original filename")
    assert not lazy.is_materialized()
    assert lazy["ORIGNAME"] == "N001.fits" and list(lazy)[-1] == "ORIGNAME"
    expected = base.copy()
    expected["ORIGNAME"] = ("N001.fits", "Original filename")
    assert lazy.tostring() == expected.tostring()
    # with trailing commentary cards astropy inserts before them: we defer to it
    base.add_history("done")
    lazy = LazyHeader(text=header_text(base))
    set_new_keyword(lazy, "ORIGNAME", "N001.fits", "Original filename")
    expected = base.copy()
    expected["ORIGNAME"] = ("N001.fits", "Original filename")
    assert list(lazy.keys()) == list(expected.keys())


def test_modified_flag():
    lazy = LazyHeader(text=header_text(fits.Header([("A", 1)])))
    assert not lazy._modified
    set_new_keyword(lazy, "B", 2, "")
    assert lazy._modified
    plain = LazyHeader([("A", 1)])
    assert plain.is_materialized() and plain["A"] == 1


@pytest.mark.parametrize("value", ["S20170505S0000.fits", "a", "", "12345678", "123456789",
                                   "with 'quote'", "trailing ", "  lead", "x" * 67, "x" * 68,
                                   "N20131121S0075_flat_with_a_long_suffix_stacked.fits"])
@pytest.mark.parametrize("comment", ["Original filename prior to processing", "", None, "c" * 60])
def test_new_card_image_is_the_one_astropy_writes(value, comment):
    """The file-name card added on open is formatted without astropy, to the same bytes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        assert _card_image("ORIGNAME", value, comment) == fits.Card("ORIGNAME", value,
                                                                    comment).image
