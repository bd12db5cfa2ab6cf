"""Tests of the CCD mix-in: subtractOverscan, trimOverscan, overscanCorrect, biasCorrect.

Science checks use small simulated GMOS datasets (Hamamatsu 2x2 and 1x1,
GMOS-N e2vDD) against the simulator's truth: the static bias of every
amplifier (``truth_bias.fits``), its level, gain and read noise.
"""

from __future__ import annotations

import copy
import hashlib
import os
import sys

import numpy as np
import pytest

import astrodata
from astrodata import DQ
from primitives.core.ccd import collapse_overscan, fit_overscan, measure_overscan
from primitives.errors import PrimitiveError
from primitives.gmos import GMOS

sys.path.insert(0, os.path.dirname(__file__))
from gmos_frames import (  # noqa: E402
    dataset,
    files,
    master_bias,
    overscan_corrected,
    quiet,
    raw,
    static_bias_structure,
    truth_extension,
)


# ---------------------------------------------------------------------------
# the overscan measurement on synthetic strips
# ---------------------------------------------------------------------------
def _strip(rng, level, nrows=400, ncols=30, noise=3.0):
    return level[:, None] + rng.normal(0.0, noise, (nrows, ncols))


def test_row_by_row_level_ignores_cosmic_rays_and_flagged_pixels():
    rng = np.random.default_rng(1)
    level = 500.0 + 2.0 * np.sin(np.arange(400) / 17.0)
    strip = _strip(rng, level)
    strip[50, 3] += 5000.0      # cosmic ray
    strip[120, 7:10] += 800.0
    mask = np.zeros(strip.shape, dtype=np.uint16)
    strip[200, :5] = 60000.0    # flagged pixels
    mask[200, :5] = DQ.bad_pixel
    measured = measure_overscan(strip, mask, function="none")
    # each row value is the mean of ~30 pixels: 3/sqrt(30) = 0.55 ADU
    assert np.std(measured.level - level) < 0.7
    assert abs(measured.level[50] - level[50]) < 2.5
    assert abs(measured.level[120] - level[120]) < 2.5
    assert abs(measured.level[200] - level[200]) < 2.5
    assert measured.noise == pytest.approx(3.0, rel=0.1)
    assert np.median(measured.variance) == pytest.approx(9.0 / 30, rel=0.15)


@pytest.mark.parametrize("function,order", [("spline3", None), ("spline3", 6),
                                            ("chebyshev", None), ("chebyshev", 3)])
def test_fitted_level_follows_a_smooth_bias(function, order):
    rng = np.random.default_rng(2)
    x = np.linspace(-1, 1, 400)
    level = 800.0 + 3.0 * x + 4.0 * x ** 2 - 2.0 * x ** 3
    strip = _strip(rng, level)
    measured = measure_overscan(strip, function=function, order=order, niter=2)
    # a fit averages the row noise (0.55 ADU) over many rows
    assert np.sqrt(np.mean((measured.level - level) ** 2)) < 0.25
    assert np.all(measured.variance < 0.3 ** 2)


def test_chebyshev_degree_chosen_from_the_noise():
    rng = np.random.default_rng(3)
    x = np.linspace(-1, 1, 500)
    strip = _strip(rng, 700.0 + 5.0 * x ** 2, nrows=500)
    values, counts, noise = collapse_overscan(strip)
    constant, _, _ = fit_overscan(values, counts, noise, "chebyshev", order=0)
    automatic, _, _ = fit_overscan(values, counts, noise, "chebyshev", order=None)
    truth = 700.0 + 5.0 * x ** 2
    assert np.std(constant - truth) > 1.0
    assert np.sqrt(np.mean((automatic - truth) ** 2)) < 0.2


def test_fit_rejection_and_excluded_rows():
    rng = np.random.default_rng(4)
    level = np.full(300, 400.0)
    strip = _strip(rng, level, nrows=300)
    strip[:24] += 30.0          # bad bottom rows, excluded from the fit
    strip[150:153] += 40.0      # a glitch, rejected by the fit's clipping
    measured = measure_overscan(strip, function="chebyshev", order=2, niter=3, grow=1,
                                fit_from=24)
    assert np.abs(measured.level - 400.0).max() < 0.5
    assert measured.rejected >= 3


def test_unknown_function_and_empty_overscan_are_errors():
    with pytest.raises(ValueError, match="function"):
        fit_overscan(np.ones(10), np.ones(10, int), 1.0, "cubic")
    strip = np.ones((20, 5))
    with pytest.raises(ValueError, match="usable"):
        measure_overscan(strip, np.ones((20, 5), dtype=np.uint16), function="none")


# ---------------------------------------------------------------------------
# simulated GMOS biases
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gmos-imaging", "gmos-n-e2v", "gmos-imaging-1x1",
                                  "gmos-imaging-ccd2"])
def test_overscan_corrected_bias_is_the_static_bias_structure(name, tmp_path_factory):
    directory, truth = dataset(name, tmp_path_factory)
    paths = files(name, tmp_path_factory, "bias")[:2]
    first = astrodata.open(paths[0])
    descriptors = {"read_noise": first.read_noise(), "gain": first.gain(),
                   "saturation_level": first.saturation_level()}
    for ad in overscan_corrected(paths):
        assert {"OVERSCAN_SUBTRACTED", "OVERSCAN_TRIMMED"} <= ad.tags
        assert ad.filename.endswith("_overscanCorrected.fits")
        for index, ext in enumerate(ad):
            record = truth_extension(truth, ad.orig_filename, index)
            section = astrodata.Section.from_string(record["datasec"])
            assert ext.shape == (section.y2 - section.y1, section.x2 - section.x1)
            assert ext.data.dtype == np.float32 and ext.variance.dtype == np.float32
            assert ext.mask.dtype == np.uint16
            residual = ext.data - static_bias_structure(truth, record, index)
            rn_adu = record["read_noise_e"] / record["gain_e_per_adu"]
            # bias level ~ 0 once the truth structure (ramp, slope) is removed
            assert abs(residual.mean()) < 5 * rn_adu / np.sqrt(residual.size) + 0.03
            assert np.std(residual) == pytest.approx(rn_adu, rel=0.08)
            # the overscan level is the frame's bias level; its noise the read noise
            assert ext.hdr["OVERSCAN"] == pytest.approx(record["bias_level_adu"], abs=0.3)
            assert ext.hdr["OVERRMS"] == pytest.approx(rn_adu, rel=0.1)
            # addVAR's read noise (lookup-table values) plus the noise of each row's
            # overscan level (the mean of 26-27 columns)
            table = (descriptors["read_noise"][index] / descriptors["gain"][index]) ** 2
            expected = table + ext.hdr["OVERRMS"] ** 2 / 26.5
            assert np.median(ext.variance) == pytest.approx(expected, rel=0.02)
            # the ADC limit comes down by the level subtracted (the full well may be lower)
            limit = min(descriptors["saturation_level"][index], 65535 - ext.hdr["OVERSCAN"])
            assert ext.hdr["SATLEVEL"] == pytest.approx(limit, abs=0.01)
            assert "BIASSEC" not in ext.hdr and ext.hdr["DATASEC"].startswith("[1:")


@pytest.mark.parametrize("function", ["none", "spline3", "chebyshev"])
def test_overscan_functions_leave_no_bias_level(function, tmp_path_factory):
    directory, truth = dataset("gmos-imaging", tmp_path_factory)
    ad = overscan_corrected(files("gmos-imaging", tmp_path_factory, "bias")[:1],
                            function=function, niter=2)[0]
    offsets = []
    for index, ext in enumerate(ad):
        record = truth_extension(truth, ad.orig_filename, index)
        offsets.append((ext.data - static_bias_structure(truth, record, index)).mean())
    # Row by row follows the simulated row noise (0.7 ADU, correlated over ~15 rows):
    # the mean of an amplifier then scatters by 2.2 ADU x sqrt(1/8448 + 1/(27 x 264))
    # = 0.035 ADU. A fit does not follow it, and its mean over the ~18 correlation
    # lengths of an amplifier scatters by 0.7/sqrt(18) = 0.17 ADU more.
    assert np.abs(offsets).max() < (0.12 if function == "none" else 0.5)
    assert np.sqrt(np.mean(np.square(offsets))) < (0.06 if function == "none" else 0.25)


def test_contaminated_overscan_columns_are_skipped(tmp_path_factory):
    """Hamamatsu: 4 columns next to the data and 1 at the far edge are not used."""
    quiet()
    p = GMOS(raw(files("gmos-imaging", tmp_path_factory, "bias")[:1]))
    p.prepare(require_wcs=False)
    clean = p.streams["main"][0]
    dirty = copy.deepcopy(clean)
    for ext, overscan, data in zip(dirty, dirty.overscan_section(), dirty.data_section(),
                                   strict=True):
        values = np.array(ext.data)
        # a little charge spilled into the columns touching the data (kept by the clipping)
        near = slice(overscan.x1, overscan.x1 + 4) if overscan.x1 >= data.x2 \
            else slice(overscan.x2 - 4, overscan.x2)
        far = overscan.x2 - 1 if overscan.x1 >= data.x2 else overscan.x1
        values[:, near] += 4.0
        values[:, far] += 4.0
        ext.data = values
    levels = {}
    for label, ad, options in (("clean", clean, {}), ("dirty", dirty, {}),
                               ("clean0", clean, {"nbiascontam": 0}),
                               ("dirty0", dirty, {"nbiascontam": 0})):
        q = GMOS([copy.deepcopy(ad)])
        q.subtractOverscan(**options)
        levels[label] = np.array([ext.hdr["OVERSCAN"] for ext in q.streams["main"][0]])
    np.testing.assert_allclose(levels["dirty"], levels["clean"], atol=1e-3)
    # without skipping, 4 of the 31 columns used carry +4 ADU: 0.52 ADU more (a little
    # less, as the 3-sigma clipping drops the highest of those pixels)
    shift = levels["dirty0"] - levels["clean0"]
    assert np.all((shift > 0.4) & (shift < 16.0 / 31.0 + 0.02))


def test_overscan_primitives_are_idempotent_and_leave_raw_files(tmp_path_factory):
    path = files("gmos-imaging", tmp_path_factory, "bias")[0]
    with open(path, "rb") as handle:
        before = hashlib.md5(handle.read()).hexdigest()
    ad = overscan_corrected([path])[0]
    data = [np.array(ext.data) for ext in ad]
    p = GMOS([ad])
    p.overscanCorrect()
    p.subtractOverscan()
    p.trimOverscan()
    for ext, old in zip(p.streams["main"][0], data, strict=True):
        np.testing.assert_array_equal(ext.data, old)
    with open(path, "rb") as handle:
        assert hashlib.md5(handle.read()).hexdigest() == before


def test_missing_overscan_section_names_the_file(tmp_path_factory):
    path = files("gmos-imaging", tmp_path_factory, "bias")[0]
    quiet()
    p = GMOS(raw([path]))
    p.prepare(require_wcs=False)
    ad = p.streams["main"][0]
    del ad[0].hdr["BIASSEC"]
    with pytest.raises(PrimitiveError, match=r"S20220305S0301.*extension 1.*overscan"):
        p.subtractOverscan()


# ---------------------------------------------------------------------------
# master bias and biasCorrect
# ---------------------------------------------------------------------------
def test_master_bias_matches_the_truth_bias(tmp_path_factory):
    directory, truth = dataset("gmos-imaging", tmp_path_factory)
    bias = master_bias("gmos-imaging", tmp_path_factory)
    nframes = len(truth["roles"]["bias"])
    assert bias.phu["NCOMBINE"] == nframes and "BIAS" in bias.tags
    first = truth["roles"]["bias"][0]
    for index, ext in enumerate(bias):
        record = truth_extension(truth, first, index)
        structure = static_bias_structure(truth, record, index)
        residual = ext.data - structure
        sigma = record["read_noise_e"] / record["gain_e_per_adu"] / np.sqrt(nframes)
        assert abs(residual.mean()) < 0.05
        # noise of the mean of N frames (plus the overscan rows' own noise)
        assert np.std(residual) == pytest.approx(sigma, rel=0.15)
        # the variance plane describes that noise
        assert np.sqrt(np.median(ext.variance)) == pytest.approx(np.std(residual), rel=0.12)
        # the structure is really there: removing it lowers the scatter
        assert np.std(residual) < np.std(ext.data)


def test_bias_correct_removes_the_bias_structure(tmp_path_factory):
    directory, truth = dataset("gmos-imaging", tmp_path_factory)
    bias = master_bias("gmos-imaging", tmp_path_factory)
    frame = overscan_corrected(files("gmos-imaging", tmp_path_factory, "twilight", "r")[:1])[0]
    before = [np.array(ext.data) for ext in frame]
    before_var = [np.array(ext.variance) for ext in frame]
    p = GMOS([frame])
    p.biasCorrect(bias=bias)
    out = p.streams["main"][0]
    assert out.phu["BIASIM"] == bias.filename and "BIASCORR" in out.phu
    assert out.filename.endswith("_biasCorrected.fits")
    for ext, old, old_var, cal in zip(out, before, before_var, bias, strict=True):
        np.testing.assert_allclose(ext.data, old - cal.data, atol=1e-3)
        np.testing.assert_allclose(ext.variance, old_var + cal.variance, rtol=1e-5)
        assert np.all((ext.mask & cal.mask) == cal.mask)
    # a second call changes nothing
    again = [np.array(ext.data) for ext in out]
    p.biasCorrect(bias=bias)
    for ext, old in zip(out, again, strict=True):
        np.testing.assert_array_equal(ext.data, old)


def _roi(ad, indices, rows=None):
    """A frame of some extensions of `ad` (optionally only rows y0:y1), as an ROI readout."""
    out = astrodata.create(ad.phu.copy())
    out.filename = ad.filename
    for i in indices:
        ext = ad[i]
        nd = ext.nddata if rows is None else ext.nddata[rows[0]:rows[1], :]
        nd = copy.deepcopy(nd)
        header = nd.meta["header"]
        if rows is not None:
            ybin = ad.detector_y_bin()
            for key in ("DETSEC", "CCDSEC"):
                section = astrodata.Section.from_string(header[key])
                header[key] = astrodata.Section(
                    section.x1, section.x2, section.y1 + rows[0] * ybin,
                    section.y1 + rows[1] * ybin).asIRAFsection()
            header["DATASEC"] = f"[1:{nd.shape[1]},1:{nd.shape[0]}]"
        out.append(nd)
    return out


def test_full_frame_bias_is_cut_to_a_smaller_roi(tmp_path_factory):
    """A CCD2 ROI (and a band of rows of it) gets exactly the same region of the bias."""
    bias = master_bias("gmos-imaging", tmp_path_factory)
    frame = overscan_corrected(files("gmos-imaging", tmp_path_factory, "twilight", "r")[:1])[0]
    full = GMOS([copy.deepcopy(frame)])
    full.biasCorrect(bias=bias)
    reference = full.streams["main"][0]
    ccd2 = GMOS([_roi(frame, range(4, 8))])
    ccd2.biasCorrect(bias=bias)
    for ext, ref in zip(ccd2.streams["main"][0], [reference[i] for i in range(4, 8)],
                        strict=True):
        np.testing.assert_array_equal(ext.data, ref.data)
    band = GMOS([_roi(frame, range(4, 8), rows=(100, 180))])
    band.biasCorrect(bias=bias)
    for ext, ref in zip(band.streams["main"][0], [reference[i] for i in range(4, 8)],
                        strict=True):
        np.testing.assert_array_equal(ext.data, ref.data[100:180])


def test_bias_must_match_the_frame(tmp_path_factory):
    bias = master_bias("gmos-imaging", tmp_path_factory)
    frame = overscan_corrected(files("gmos-imaging", tmp_path_factory, "twilight", "r")[:1])[0]
    other_gain = copy.deepcopy(bias)
    other_gain.phu["GAINSET"] = "high"
    with pytest.raises(PrimitiveError, match="gain setting"):
        GMOS([copy.deepcopy(frame)]).biasCorrect(bias=other_gain)
    unbinned = master_bias("gmos-imaging-1x1", tmp_path_factory)
    with pytest.raises(PrimitiveError, match="binning"):
        GMOS([copy.deepcopy(frame)]).biasCorrect(bias=unbinned)
    quiet()
    untrimmed = GMOS(raw(files("gmos-imaging", tmp_path_factory, "twilight", "r")[:1]))
    untrimmed.prepare(require_wcs=False)
    with pytest.raises(PrimitiveError, match="overscan"):
        untrimmed.biasCorrect(bias=bias)


def test_bias_correct_skips_or_requires_a_bias(tmp_path_factory):
    frame = overscan_corrected(files("gmos-imaging", tmp_path_factory, "twilight", "r")[:1])[0]
    data = np.array(frame[0].data)
    p = GMOS([frame], mode="ql")
    p.biasCorrect(do_cal="skip")
    np.testing.assert_array_equal(p.streams["main"][0][0].data, data)
    assert "BIASCORR" not in p.streams["main"][0].phu
    from primitives.errors import CalibrationNotFoundError
    with pytest.raises(CalibrationNotFoundError):
        GMOS([frame], mode="sq").biasCorrect()
