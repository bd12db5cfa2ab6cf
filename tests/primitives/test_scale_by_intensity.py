"""Tests of Preprocess.scaleByIntensity: frames brought to the intensity of the first."""

from __future__ import annotations

import numpy as np
import pytest

import astrodata
from astrodata import DQ
from primitives.errors import PrimitiveError
from primitives.f2 import F2Image

SHAPE = (30, 40)


def _frame(index: int, level: float, seed: int, gradient: float = 0.0):
    phu = {"INSTRUME": "F2", "OBSERVAT": "Gemini-South", "TELESCOP": "Gemini-South",
           "OBSTYPE": "OBJECT", "GRISM": "Open", "DATALAB": f"GS-2013B-Q-1-1-{index:03d}",
           "EXPTIME": 60.0, "PREPARE": "2024-01-01T00:00:00", "GEM-TLM": "2024-01-01T00:00:00"}
    ad = astrodata.create(phu)
    rng = np.random.default_rng(seed)
    x = np.arange(SHAPE[1])[np.newaxis, :] * np.ones(SHAPE)
    data = level * (1.0 + gradient * x) + rng.normal(0, 1, SHAPE)
    ext = ad.append(data.astype(np.float32))
    ext.variance = np.full(SHAPE, 4.0, dtype=np.float32)
    ext.mask = np.zeros(SHAPE, dtype=np.uint16)
    ad.filename = f"S20131121S{index:04d}_darkCorrected.fits"
    return ad


def test_frames_match_the_first_and_variance_scales_by_the_square():
    frames = [_frame(1, 1000.0, 1), _frame(2, 2000.0, 2), _frame(3, 500.0, 3)]
    out = F2Image(frames).scaleByIntensity()
    medians = [float(np.median(ad[0].data)) for ad in out]
    assert medians[1] == pytest.approx(medians[0], rel=1e-4)
    assert medians[2] == pytest.approx(medians[0], rel=1e-4)
    assert out[1].phu["INTSCALE"] == pytest.approx(0.5, rel=2e-3)
    assert out[2].phu["INTSCALE"] == pytest.approx(2.0, rel=2e-3)
    assert np.allclose(out[1][0].variance, 4.0 * out[1].phu["INTSCALE"] ** 2, rtol=1e-5)
    assert out[0].phu["INTSCALE"] == 1.0
    assert all(ad.filename.endswith("_scaled.fits") and "SCALEINT" in ad.phu for ad in out)


def test_masked_pixels_do_not_enter_the_statistic():
    first, second = _frame(1, 1000.0, 1), _frame(2, 1000.0, 2)
    second[0].data[:, :30] = 1e6                    # 75% of the frame is garbage, flagged
    second[0].mask[:, :30] = DQ.bad_pixel
    out = F2Image([first, second]).scaleByIntensity()
    assert out[1].phu["INTSCALE"] == pytest.approx(1.0, abs=2e-3)


def test_section_limits_the_measured_region():
    # same level in the first 10 columns, twice as bright on the right of the second frame
    first, second = _frame(1, 1000.0, 1), _frame(2, 1000.0, 2, gradient=0.05)
    whole = F2Image([first, second]).scaleByIntensity()[1].phu["INTSCALE"]
    first, second = _frame(1, 1000.0, 1), _frame(2, 1000.0, 2, gradient=0.05)
    left = F2Image([first, second]).scaleByIntensity(section="[1:2,1:30]")[1].phu["INTSCALE"]
    assert whole < 0.6                               # median of 1 + 0.05 x: ~1.98
    assert left == pytest.approx(1.0 / 1.025, rel=5e-3)


def test_non_positive_intensity_is_an_error():
    first, second = _frame(1, 1000.0, 1), _frame(2, 0.0, 2)
    second[0].data = second[0].data - np.float32(10.0)
    with pytest.raises(PrimitiveError, match="cannot scale"):
        F2Image([first, second]).scaleByIntensity()
