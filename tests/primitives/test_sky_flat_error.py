"""The flat field's error through stackSkyFrames and skyCorrect, against Monte-Carlo truth.

Every pixel of a frame is one realisation: a uniform sky (and, on a patch of
the science frame, a bright source) with Gaussian photon noise, divided by a
processed flat whose per-pixel error (1%) is drawn once. The true noise of a
result is then the scatter of (result - truth) over pixels, and the VAR plane
must describe it: chi2 = mean((result - truth)**2 / VAR) = 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

import astrodata
from primitives.core import flat_error
from primitives.f2 import F2Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_stack import _frame  # noqa: E402

SHAPE = (150, 160)
SKY = 20_000.0           # electrons per pixel
SOURCE = 60_000.0        # the patch's extra signal on the science frame
FLAT_ERROR = 0.01        # relative error of the processed flat per pixel
PATCH = (slice(20, 70), slice(20, 70))
NSKIES = 5


def _flat(name: str, seed: int):
    """A processed flat: 1 + its error, VAR = (1% of it)**2; the truth response is 1."""
    rng = np.random.default_rng(seed)
    value = 1.0 + rng.normal(0.0, FLAT_ERROR, SHAPE)
    flat = _frame(900 + seed, value, (FLAT_ERROR * value) ** 2, np.zeros(SHAPE))
    flat.phu["OBSTYPE"] = "FLAT"
    flat.filename = name
    return flat


def _frames(seed: int = 3):
    """Raw-like frames in electrons (flat response 1): science (patch) first, then skies."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(1 + NSKIES):
        level = SKY * (1.0 + 0.01 * i)        # the sky changes a little between frames
        truth = np.full(SHAPE, level)
        if i == 0:
            truth[PATCH] += SOURCE
        data = truth + rng.normal(0.0, 1.0, SHAPE) * np.sqrt(truth)
        ad = _frame(20 + i, data, truth, np.zeros(SHAPE))
        ad.phu["TIME-OBS"] = f"02:{10 + i:02d}:00"
        frames.append(ad)
    return frames


def _chi2(ext, truth: np.ndarray, where) -> float:
    values = np.asarray(ext.data, float)[where] - truth[where]
    return float(np.mean(values**2 / np.asarray(ext.variance, float)[where]))


def _sky_corrected(sky_flat_seed: int, **params):
    """The science frame after skyCorrect; the skies divided by flat `sky_flat_seed`."""
    flat = _flat("S20131129S0320_flat.fits", 1)
    other = flat if sky_flat_seed == 1 else _flat("S20131201S0001_flat.fits", sky_flat_seed)
    frames = _frames()
    p = F2Image(frames)
    science = p.flatCorrect([frames[0]], flat=flat)[0]
    skies = p.flatCorrect(frames[1:], flat=other)
    science.SKYTABLE = Table({"SKYNAME": [s.filename for s in skies]})
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[PATCH] = 1
    science[0].OBJMASK = mask
    p.streams["sky"] = skies
    out = p.skyCorrect([science], **params)[0]
    return out, flat, other


@pytest.mark.parametrize("params", [{}, {"scale_sky": False},
                                    {"scale_sky": False, "offset_sky": True}],
                         ids=["scaled", "plain", "offset"])
def test_sky_corrected_variance_with_one_flat(params):
    """Frame and skies divided by one flat: chi2 = 1 on blank sky and on the source.

    Without the covariance the flat's error (1% of 20,000 e-, as large as the
    photon noise) would be counted twice on blank sky: chi2 about 0.6.
    """
    out, flat, _ = _sky_corrected(1, **params)
    ext = out[0]
    blank = np.ones(SHAPE, bool)
    blank[20:80, 10:80] = False               # the patch and a margin
    source = np.zeros(SHAPE, bool)
    source[PATCH] = True
    residual_sky = float(np.median(ext.data[blank]))
    if params:   # unscaled, the sky stack keeps the first sky's level, 1% above the frame's
        assert abs(residual_sky) < (10 if params.get("offset_sky") else 250)
    else:
        assert abs(residual_sky) < 10
    # truth: 0 on blank sky, the source on the patch (the flat's response is 1)
    truth = np.where(source, SOURCE, 0.0) + residual_sky
    assert _chi2(ext, truth, blank) == pytest.approx(1.0, abs=0.04)
    assert _chi2(ext, truth, source) == pytest.approx(1.0, abs=0.06)
    # the source's VAR still holds its flat error: (60,000 x 1%)**2 = 3.6e5 of about 4.4e5
    relvar = flat[0].variance / flat[0].data ** 2
    share = np.median((ext.data[source] ** 2 * relvar[source]) / ext.variance[source])
    assert 0.6 < share < 0.95


def test_sky_corrected_variance_with_another_flat():
    """Skies divided by another flat: no covariance, the skies' common flat error is kept."""
    out, flat, other = _sky_corrected(2)
    assert not flat_error.flat_error_of(None, out).same_flat(
        flat_error.flat_error_of(None, other_frame_of(other)))
    ext = out[0]
    blank = np.ones(SHAPE, bool)
    blank[20:80, 10:80] = False
    residual_sky = float(np.median(ext.data[blank]))
    truth = np.full(SHAPE, residual_sky)
    assert _chi2(ext, truth, blank) == pytest.approx(1.0, abs=0.04)


def other_frame_of(flat):
    """A frame header naming `flat` (to look its error up)."""
    ad = _frame(99, np.zeros(SHAPE))
    ad.phu["FLATIM"] = flat.filename
    return ad


def test_sky_stack_keeps_the_common_flat_error():
    """The median of skies divided by one flat keeps that flat's error in full: chi2 = 1.

    The flat's error is the same in every input, so the median does not
    reduce it; treating it as independent noise (f(m) of it) makes the
    stack's VAR too small by about a third here.
    """
    flat = _flat("S20131129S0320_flat.fits", 1)
    frames = _frames(seed=5)[1:]
    p = F2Image(frames)
    skies = p.flatCorrect(frames, flat=flat)
    stack = p.stackSkyFrames(skies)[0]
    # truth: the first sky's level (the others are scaled to it)
    assert _chi2(stack[0], np.full(SHAPE, SKY * 1.01), np.ones(SHAPE, bool)) == \
        pytest.approx(1.0, abs=0.04)


def test_user_parameter_of_the_nested_sky_stack_wins(caplog):
    """``-p stackSkyFrames:operation=mean`` reaches the stack skyCorrect makes (logged).

    skyCorrect passes every stackSkyFrames parameter it inherits (its default,
    or ``skyCorrect:operation``); a user value addressed to stackSkyFrames by
    name replaces the one passed.
    """
    for uparms, expected in (({"stackSkyFrames:operation": "mean"}, "mean"),
                             ({"stackSkyFrames:operation": "mean",
                               "skyCorrect:operation": "lmedian"}, "mean"),
                             ({"skyCorrect:operation": "lmedian"}, "lmedian"),
                             ({}, "median")):
        frames = _frames()
        p = F2Image([astrodata.create(ad.phu.copy()) for ad in frames[:1]], uparms=uparms)
        science, skies = frames[0], frames[1:]
        science.SKYTABLE = Table({"SKYNAME": [s.filename for s in skies]})
        p.streams["sky"] = skies
        caplog.clear()
        with caplog.at_level("INFO"):
            p.skyCorrect([science])
        combining = [r.getMessage() for r in caplog.records if "Combining" in r.getMessage()]
        assert combining and f"with {expected} and" in combining[0], combining
        replaced = any("stackSkyFrames:operation='mean' replaces" in r.getMessage()
                       for r in caplog.records)
        assert replaced == ("stackSkyFrames:operation" in uparms)
