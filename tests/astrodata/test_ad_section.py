"""Section: IRAF strings, numpy slices and geometry."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from astrodata import Section


def test_from_string_is_zero_based_end_exclusive():
    s = Section.from_string("[1:2048,1:4224]")
    assert s == (0, 2048, 0, 4224)
    assert (s.x1, s.x2, s.y1, s.y2) == (0, 2048, 0, 4224)
    assert s.shape == (4224, 2048)
    assert Section.from_string(" [ 33 : 64 , 5:10 ] ") == (32, 64, 4, 10)


def test_repr_names_the_axes():
    assert repr(Section(0, 1024, 0, 1024)) == "Section(x1=0, x2=1024, y1=0, y2=1024)"
    assert Section(x1=1, x2=3, y1=2, y2=9) == (1, 3, 2, 9)


def test_iraf_round_trip_and_binning():
    s = Section(2048, 2560, 0, 4224)
    assert s.asIRAFsection() == "[2049:2560,1:4224]"
    assert Section.from_string(s.asIRAFsection()) == s
    assert Section(0, 2048, 0, 4224).asIRAFsection(binning=(2, 2)) == "[1:1024,1:2112]"


def test_asslice_selects_the_same_pixels_as_iraf():
    image = np.arange(100).reshape(10, 10)
    s = Section.from_string("[3:5,2:4]")  # x 3..5, y 2..4 (1-based, inclusive)
    cut = image[s.asslice()]
    assert cut.shape == (3, 3)
    assert cut[0, 0] == image[1, 2]
    assert s.asslice(add_dims=1) == (slice(None), slice(1, 4), slice(2, 5))


def test_from_shape_covers_the_array():
    assert Section.from_shape((4224, 2048)) == Section(0, 2048, 0, 4224)


def test_geometry():
    big = Section(0, 100, 0, 50)
    small = Section(10, 20, 5, 15)
    assert big.contains(small) and not small.contains(big)
    assert big.overlap(Section(90, 120, 40, 60)) == Section(90, 100, 40, 50)
    assert big.overlap(Section(100, 120, 0, 10)) is None
    assert small.is_same_size(Section(50, 60, 0, 10))
    assert not small.is_same_size(Section(50, 61, 0, 10))
    assert small.shift(5, -5) == Section(15, 25, 0, 10)
    assert small.shift(3) == Section(13, 23, 5, 15)


@pytest.mark.parametrize("bad", ["1:10,1:10", "[1:10]x", "[0:10,1:5]", "[10:1,1:5]",
                                 "[*,1:5]", "[a:b,1:2]"])
def test_bad_strings_are_rejected(bad):
    with pytest.raises(ValueError):
        Section.from_string(bad)


def test_invalid_values_are_rejected():
    with pytest.raises(ValueError):
        Section(5, 1, 0, 2)
    with pytest.raises(ValueError):
        Section(1, 2, 3)
    with pytest.raises(ValueError):
        Section(0.5, 2, 0, 1)


def test_section_pickles_and_is_a_tuple():
    s = Section(1, 2, 3, 4)
    assert pickle.loads(pickle.dumps(s)) == s
    assert isinstance(s, tuple)
    x1, x2, y1, y2 = s
    assert (x1, y2) == (1, 4)
    assert Section(0, 4, 0, 3, 0, 2).z2 == 2
