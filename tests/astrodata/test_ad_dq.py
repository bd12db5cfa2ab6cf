"""DQ bit values, names and named planes."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata import DQ, mask_plane


def test_bit_values_match_gemini():
    assert DQ.bits() == {"bad_pixel": 1, "non_linear": 2, "saturated": 4, "cosmic_ray": 8,
                         "no_data": 16, "overlap": 32, "unilluminated": 64}
    assert DQ.good == 0
    assert DQ.fail == 29
    assert DQ.not_signal == 65529
    assert DQ.datatype is np.uint16
    # every bit is a distinct power of two
    values = list(DQ.bits().values())
    assert all(v & (v - 1) == 0 for v in values) and len(set(values)) == len(values)


def test_names_and_planes():
    assert DQ.name_of(8) == "cosmic_ray"
    assert DQ.name_of(0) == "good"
    with pytest.raises(ValueError):
        DQ.name_of(3)
    assert DQ.names_in(1 | 4 | 64) == ["bad_pixel", "saturated", "unilluminated"]
    for alias, bit in {"BAD": 1, "NONLIN": 2, "SAT": 4, "CR": 8, "NODATA": 16, "OVERLAP": 32,
                       "UNILLUM": 64}.items():
        assert DQ.plane(alias) == bit
        assert DQ.plane(alias.lower()) == bit
    assert DQ.plane("cosmic_ray") == 8
    assert DQ.plane("fail") == 29
    with pytest.raises(ValueError, match="unknown DQ plane"):
        DQ.plane("CRX")


def test_mask_plane_on_slices_and_full_objects():
    dq = np.array([[0, 8, 9], [1, 4, 12]], dtype=np.uint16)
    ad = astrodata.create(fits.Header())
    ad.append(np.zeros((2, 3), dtype=np.float32))
    ad.append(np.zeros((2, 3), dtype=np.float32))
    ad[0].mask = dq
    cr = mask_plane(ad[0], "CR")
    assert cr.dtype == bool
    assert cr.tolist() == [[False, True, True], [False, False, True]]
    both = mask_plane(ad, "BAD")
    assert both[0].tolist() == [[False, False, True], [True, False, False]]
    assert not both[1].any() and both[1].shape == (2, 3)  # no mask -> nothing flagged
    assert mask_plane(dq, "SAT").sum() == 2
