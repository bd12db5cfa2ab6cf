"""gempy.library.stacking against a plain per-pixel reference, and its documented rules."""

import numpy as np
import pytest
from astropy.stats import sigma_clip

from gempy.library import stacking
from gempy.library.order_statistics import median_variance_factor
from gempy.library.stacking import StackResult, scale_zero_factors, stack

OPERATIONS = ["mean", "wtmean", "median", "lmedian"]
REJECTIONS = ["none", "minmax", "sigclip", "varclip"]

# Badness ranking of the DQ bits, worst first; no_data .. cosmic_ray.
RANKED_BITS = [16, 64, 1, 32, 8]


# --------------------------------------------------------------------------
# Reference implementation: one pixel at a time, plain numpy, written from
# the documented rules rather than from the kernel.
# --------------------------------------------------------------------------
def reference_class(dq: int) -> int:
    for rank, bit in enumerate(RANKED_BITS):
        if dq & bit:
            return len(RANKED_BITS) - rank
    return 0


def reference_keep(x, v, reject, nframes, nlow, nhigh, lsigma, hsigma, mclip, max_iters):
    n = len(x)
    keep = np.ones(n, dtype=bool)
    if reject == "minmax":
        nl = int(n * nlow / nframes + 0.001)
        nh = int(n * nhigh / nframes + 0.001)
        order = np.argsort(x, kind="stable")
        keep[order[:nl]] = False
        keep[order[n - nh:]] = False
    elif reject == "sigclip":
        for _ in range(max_iters):
            current = x[keep]
            if current.size < 2:
                break
            centre = np.median(current) if mclip else current.mean()
            spread = current.std()
            new = keep & (x >= centre - lsigma * spread) & (x <= centre + hsigma * spread)
            if new.sum() in (0, keep.sum()):
                break
            keep = new
    elif reject == "varclip":
        for _ in range(max_iters):
            current = x[keep]
            if current.size < 2:
                break
            centre = np.median(current) if mclip else current.mean()
            sigma = np.sqrt(v)
            bad = keep & ((x - centre > hsigma * sigma) | (centre - x > lsigma * sigma))
            if bad.sum() in (0, keep.sum()):
                break
            keep &= ~bad
    return keep


def reference_pixel(x, v, m, has_var, operation, reject, nframes, **clip):
    """(value, variance, dq, nrejected) for the inputs of one pixel (already selected)."""
    if x.size == 0:
        return 0.0, 0.0, 16, 0
    if reject == "varclip" and not has_var:
        reject = "sigclip"
    keep = reference_keep(x, v, reject, nframes, **clip) if nframes > 1 else np.ones(x.size, bool)
    nrej = x.size - keep.sum()
    ninputs = x.size  # before rejection: the median's variance is that of a median of these
    x, v, m = x[keep], v[keep], m[keep]
    n = x.size
    dq = int(np.bitwise_or.reduce(m)) if m.size else 0
    mean = x.mean()
    sample_var = ((x - mean) ** 2).sum() / (n * (n - 1)) if n > 1 else 0.0
    if operation == "mean" or (operation == "wtmean" and not has_var):
        return mean, (v.sum() / n**2 if has_var else sample_var), dq, nrej
    if operation == "wtmean":
        if n == 1:
            return x[0], v[0], dq, nrej
        if np.any(v == 0):
            return x[v == 0].mean(), 0.0, dq, nrej
        return (x / v).sum() / (1 / v).sum(), 1 / (1 / v).sum(), dq, nrej
    order = np.argsort(x, kind="stable")
    chosen = order[(n - 1) // 2]
    value = np.median(x) if operation == "median" else x[chosen]
    factor = median_variance_factor(ninputs, lower=operation == "lmedian")
    variance = factor * (v.sum() / n if has_var else n * sample_var)
    return value, variance, dq, nrej


def reference_stack(data, variance=None, mask=None, operation="mean", reject_method="sigclip",
                    hsigma=3.0, lsigma=3.0, mclip=True, max_iters=None, nlow=0, nhigh=0,
                    scale=None, zero=None, apply_dq=True):
    data = np.asarray(data, dtype=np.float64)
    nframes, ny, nx = data.shape
    has_var = variance is not None
    var = np.asarray(variance, np.float64) if has_var else np.zeros_like(data)
    dqs = np.asarray(mask, np.int64) if (mask is not None and apply_dq) else np.zeros(data.shape,
                                                                                   np.int64)
    s = np.ones(nframes) if scale is None else np.asarray(scale, np.float64)
    z = np.zeros(nframes) if zero is None else np.asarray(zero, np.float64)
    clip = dict(nlow=nlow, nhigh=nhigh, lsigma=lsigma, hsigma=hsigma, mclip=mclip,
                max_iters=100 if max_iters is None else max_iters)
    out = [np.zeros((ny, nx)) for _ in range(4)]
    for y in range(ny):
        for xi in range(nx):
            x = data[:, y, xi]
            v = var[:, y, xi]
            valid = np.isfinite(x)
            if has_var:
                valid &= np.isfinite(v) & (v >= 0)
            classes = np.array([reference_class(int(q)) for q in dqs[:, y, xi]])
            if valid.any():
                valid &= classes == classes[valid].min()
            xs = x[valid] * s[valid] + z[valid]
            vs = v[valid] * s[valid] ** 2
            result = reference_pixel(xs, vs, dqs[valid, y, xi], has_var, operation,
                                     reject_method, nframes, **clip)
            for k in range(4):
                out[k][y, xi] = result[k]
    return out


def assert_matches(result: StackResult, expected, rtol=1e-6, check_variance=True):
    value, variance, dq, nrej = expected
    np.testing.assert_allclose(result.data, value, rtol=rtol, atol=1e-5)
    if check_variance:
        np.testing.assert_allclose(result.variance, variance, rtol=rtol, atol=1e-7)
    np.testing.assert_array_equal(result.mask, dq)
    if result.rejection_map is not None:
        np.testing.assert_array_equal(result.rejection_map, nrej)


# --------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------
def make_frames(nframes, shape=(40, 50), seed=1, with_bad=True, outliers=True):
    """Random frames with distinct values per pixel, variances, DQ and a few NaN/inf."""
    rng = np.random.default_rng(seed)
    level = 1000.0
    data = (level + 10.0 * rng.standard_normal((nframes,) + shape)).astype(np.float32)
    if outliers:
        hit = rng.random(data.shape) < 0.04
        data[hit] += rng.choice([-1, 1], hit.sum()) * rng.uniform(60, 500, hit.sum())
    variance = rng.uniform(50.0, 150.0, data.shape).astype(np.float32)
    mask = np.zeros(data.shape, np.uint16)
    if with_bad:
        for bit, fraction in ((1, 0.05), (2, 0.03), (4, 0.03), (8, 0.05), (16, 0.03),
                              (32, 0.03), (64, 0.03)):
            mask[rng.random(data.shape) < fraction] |= bit
        data[rng.random(data.shape) < 0.01] = np.nan
        data[rng.random(data.shape) < 0.005] = np.inf
        variance[rng.random(data.shape) < 0.005] = np.nan
    # Distinct values at every pixel, so that which of two tied inputs is
    # rejected (and so the variance and DQ carried along) is never ambiguous.
    for y in range(shape[0]):
        for x in range(shape[1]):
            column = data[:, y, x]
            while True:
                finite = column[np.isfinite(column)]
                values, counts = np.unique(finite, return_counts=True)
                if counts.max(initial=1) == 1:
                    break
                for value in values[counts > 1]:
                    tied = np.flatnonzero(column == value)[1:]
                    column[tied] = np.nextafter(column[tied], np.float32(np.inf))
    return data, variance, mask


@pytest.fixture(scope="module")
def frames9():
    return make_frames(9, seed=11)


@pytest.fixture(scope="module")
def frames8_clean():
    return make_frames(8, seed=12, with_bad=False)


# --------------------------------------------------------------------------
# Every operation x rejection against the reference
# --------------------------------------------------------------------------
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("reject", REJECTIONS)
@pytest.mark.parametrize("with_variance", [True, False])
def test_every_combination_with_dq_nan_and_inf(frames9, operation, reject, with_variance):
    data, variance, mask = frames9
    var = variance if with_variance else None
    kwargs = dict(operation=operation, reject_method=reject, hsigma=2.5, lsigma=2.0,
                  nlow=2, nhigh=3)
    result = stack(list(data), var, list(mask), save_rejection_map=True, **kwargs)
    assert result.data.dtype == np.float32 and result.mask.dtype == np.uint16
    assert result.variance.dtype == np.float32 and result.rejection_map.dtype == np.int16
    assert np.all(np.isfinite(result.data)) and np.all(np.isfinite(result.variance))
    assert_matches(result, reference_stack(data, var, mask, **kwargs))


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("reject", REJECTIONS)
def test_every_combination_even_count_without_dq(frames8_clean, operation, reject):
    data, variance, _ = frames8_clean
    kwargs = dict(operation=operation, reject_method=reject, nlow=1, nhigh=1)
    result = stack(data, variance, save_rejection_map=True, **kwargs)
    assert_matches(result, reference_stack(data, variance, **kwargs))
    if reject != "none":
        assert result.rejection_map.sum() > 0


@pytest.mark.parametrize("reject", ["sigclip", "varclip"])
@pytest.mark.parametrize("max_iters", [1, 2, None])
def test_clipping_about_the_mean_and_iteration_limit(frames9, reject, max_iters):
    data, variance, mask = frames9
    kwargs = dict(operation="mean", reject_method=reject, mclip=False, max_iters=max_iters,
                  hsigma=2.0, lsigma=2.0)
    result = stack(data, variance, mask, save_rejection_map=True, **kwargs)
    assert_matches(result, reference_stack(data, variance, mask, **kwargs))


def test_sigclip_mean_equals_astropy_sigma_clip(frames8_clean):
    data, _, _ = frames8_clean
    result = stack(data, operation="mean", reject_method="sigclip", hsigma=2.5, lsigma=2.5)
    clipped = sigma_clip(data.astype(np.float64), sigma=2.5, maxiters=None, axis=0,
                         cenfunc="median", stdfunc="std")
    np.testing.assert_allclose(result.data, clipped.mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("nframes", [2, 3, 5, 17, 33, 40])
@pytest.mark.parametrize("operation,reject", [("median", "none"), ("lmedian", "minmax"),
                                              ("mean", "sigclip"), ("median", "varclip")])
def test_various_frame_counts(nframes, operation, reject):
    data, variance, mask = make_frames(nframes, shape=(6, 70), seed=nframes)
    kwargs = dict(operation=operation, reject_method=reject, nlow=nframes // 4,
                  nhigh=nframes // 3, hsigma=2.0, lsigma=2.0)
    result = stack(data, variance, mask, save_rejection_map=True, **kwargs)
    assert_matches(result, reference_stack(data, variance, mask, **kwargs))


@pytest.mark.parametrize("nframes,shape", [(7, (4, 300)), (300, (2, 70))])
@pytest.mark.parametrize("operation,reject", [("mean", "sigclip"), ("median", "minmax"),
                                              ("lmedian", "none")])
def test_rows_of_several_tiles(nframes, shape, operation, reject):
    # Rows wider than a tile (the kernel works in tiles of up to 128 columns,
    # fewer for hundreds of frames) and their partial last tile.
    data, variance, mask = make_frames(nframes, shape=shape, seed=nframes + 1)
    kwargs = dict(operation=operation, reject_method=reject, nlow=1, nhigh=2)
    result = stack(data, variance, mask, save_rejection_map=True, **kwargs)
    assert_matches(result, reference_stack(data, variance, mask, **kwargs))


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("reject", REJECTIONS)
def test_scale_and_zero_are_applied_first(frames9, operation, reject):
    data, variance, mask = frames9
    scale = np.linspace(0.8, 1.3, 9)
    zero = np.linspace(-30.0, 25.0, 9)
    kwargs = dict(operation=operation, reject_method=reject, nlow=1, nhigh=2)
    result = stack(data, variance, mask, scale=scale, zero=zero, save_rejection_map=True,
                   **kwargs)
    expected = reference_stack(data, variance, mask, scale=scale, zero=zero, **kwargs)
    assert_matches(result, expected)
    # Same as stacking frames scaled by hand.
    scaled = data * scale[:, None, None] + zero[:, None, None]
    by_hand = stack(scaled, variance * scale[:, None, None] ** 2, mask, **kwargs)
    np.testing.assert_allclose(result.data, by_hand.data, rtol=1e-6)


# --------------------------------------------------------------------------
# Edge cases and documented rules
# --------------------------------------------------------------------------
def test_single_frame_is_returned_as_it_is():
    data, variance, mask = make_frames(1, seed=3)
    for operation in OPERATIONS:
        result = stack(data, variance, mask, operation=operation, reject_method="minmax",
                       nhigh=1)
        finite = np.isfinite(data[0]) & np.isfinite(variance[0])
        np.testing.assert_array_equal(result.data[finite], data[0][finite])
        np.testing.assert_array_equal(result.variance[finite], variance[0][finite])
        np.testing.assert_array_equal(result.mask[finite], mask[0][finite])
        # Non-finite inputs never reach the output.
        assert np.all(result.data[~finite] == 0) and np.all(result.mask[~finite] == 16)
    no_var = stack(data, operation="mean")
    assert no_var.variance is None


def test_two_frames():
    a = np.array([[1.0, 5.0]], np.float32)
    b = np.array([[3.0, 100.0]], np.float32)
    va = np.array([[1.0, 4.0]], np.float32)
    vb = np.array([[3.0, 4.0]], np.float32)
    mean = stack([a, b], [va, vb], reject_method="sigclip")
    np.testing.assert_allclose(mean.data, [[2.0, 52.5]])
    np.testing.assert_allclose(mean.variance, [[1.0, 2.0]])
    median = stack([a, b], [va, vb], operation="median", reject_method="none")
    np.testing.assert_allclose(median.data, [[2.0, 52.5]])
    # the median of two is their mean
    np.testing.assert_allclose(median.variance, [[1.0, 2.0]])
    lower = stack([a, b], operation="lmedian", reject_method="none")
    np.testing.assert_allclose(lower.data, [[1.0, 5.0]])
    low_kept = stack([a, b], [va, vb], reject_method="minmax", nhigh=1, save_rejection_map=True)
    np.testing.assert_allclose(low_kept.data, [[1.0, 5.0]])
    np.testing.assert_allclose(low_kept.variance, [[1.0, 4.0]])
    np.testing.assert_array_equal(low_kept.rejection_map, [[1, 1]])


@pytest.mark.parametrize("nlow,nhigh", [(2, 2), (4, 0), (0, 5), (3, 3)])
def test_minmax_rejecting_everything_is_an_error(nlow, nhigh):
    data = np.ones((4, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"nlow \+ nhigh must be less than 4"):
        stack(data, reject_method="minmax", nlow=nlow, nhigh=nhigh)


def test_minmax_uses_the_surviving_count():
    # 6 frames, nlow=nhigh=2; where two inputs are flagged, n = 4 and IRAF's
    # rule drops int(4*2/6 + 0.001) = 1 at each end.
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], np.float32)
    data = np.repeat(values[:, None, None], 2, axis=2)
    mask = np.zeros(data.shape, np.uint16)
    mask[[0, 5], 0, 1] = 1
    result = stack(data, mask=mask, reject_method="minmax", nlow=2, nhigh=2,
                   save_rejection_map=True)
    np.testing.assert_allclose(result.data, [[3.5, 3.5]])
    np.testing.assert_array_equal(result.rejection_map, [[4, 2]])


def test_dq_class_selection_and_output_dq():
    # One pixel per column; 5 frames.
    data = np.array([10, 20, 30, 40, 50], np.float32)[:, None, None] * np.ones((1, 1, 5))
    data = data.astype(np.float32)
    mask = np.zeros(data.shape, np.uint16)
    # col 0: frames 0, 1 clean (1 saturated), others bad/cosmic/no_data
    mask[:, 0, 0] = [0, 4, 1, 8, 16]
    # col 1: nothing clean: cosmic rays beat overlap, bad pixels and no_data
    mask[:, 0, 1] = [8, 8 | 2, 32, 1, 16]
    # col 2: only overlap and worse
    mask[:, 0, 2] = [64, 32, 1 | 32, 16, 64]
    # col 3: everything no_data: the no_data inputs are used, flagged no_data
    mask[:, 0, 3] = [16, 16, 16 | 1, 16, 16]
    # col 4: clean except one unilluminated
    mask[:, 0, 4] = [0, 0, 0, 0, 64]
    result = stack(data, mask=mask, operation="mean", reject_method="none")
    np.testing.assert_allclose(result.data[0], [15.0, 15.0, 20.0, 30.0, 25.0])
    np.testing.assert_array_equal(result.mask[0], [4, 8 | 2, 32, 16 | 1, 0])
    ignored = stack(data, mask=mask, operation="mean", reject_method="none", apply_dq=False)
    np.testing.assert_allclose(ignored.data[0], 30.0)
    np.testing.assert_array_equal(ignored.mask[0], 0)


@pytest.mark.parametrize("flag", [1, 16, 64 | 8])
def test_every_input_flagged(frames8_clean, flag):
    # With nothing better, the flagged inputs are combined and the output
    # carries their flags.
    data, variance, _ = frames8_clean
    mask = np.full(data.shape, flag, np.uint16)
    for operation, reject in (("mean", "sigclip"), ("median", "none")):
        flagged = stack(data, variance, mask, operation=operation, reject_method=reject)
        clean = stack(data, variance, operation=operation, reject_method=reject)
        np.testing.assert_array_equal(flagged.data, clean.data)
        np.testing.assert_array_equal(flagged.variance, clean.variance)
        assert np.all(flagged.mask == flag)


def test_rejected_pixels_leave_the_output_dq():
    data = (100.0 + 0.1 * np.arange(15, dtype=np.float32))[:, None, None]
    data[14] = 1000.0
    mask = np.zeros(data.shape, np.uint16)
    mask[14] = 4  # saturated but still class 0: selected, then rejected
    mask[2] = 2
    result = stack(data, mask=mask, operation="mean", reject_method="sigclip",
                   save_rejection_map=True)
    assert result.rejection_map[0, 0] == 1
    assert result.mask[0, 0] == 2
    np.testing.assert_allclose(result.data[0, 0], 100.65, rtol=1e-6)


def test_all_inputs_invalid_gives_zero_with_no_data():
    data = np.full((5, 2, 3), np.nan, np.float32)
    data[:, 1, 2] = [1, np.inf, -np.inf, 2, 3]
    variance = np.ones(data.shape, np.float32)
    variance[3, 1, 2] = -1.0  # negative variance: input excluded
    for operation in OPERATIONS:
        for reject in REJECTIONS:
            result = stack(data, variance, operation=operation, reject_method=reject)
            assert np.all(result.data[0] == 0) and np.all(result.mask[0] == 16)
            assert np.all(result.variance[0] == 0)
            # Of 1, 3: the mean, the median, or the lower median.
            assert result.data[1, 2] == (1.0 if operation == "lmedian" else 2.0)
            assert result.mask[1, 2] == 0


def test_nan_inputs_never_propagate(frames9):
    data, variance, mask = frames9
    assert not np.all(np.isfinite(data))
    for operation in OPERATIONS:
        result = stack(data, variance, mask, operation=operation, reject_method="sigclip")
        assert np.all(np.isfinite(result.data)) and np.all(np.isfinite(result.variance))


def test_variance_formulas():
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0], np.float32)
    v = np.array([1.0, 2.0, 3.0, 4.0, 10.0], np.float32)
    data = x[:, None, None].copy()
    var = v[:, None, None].copy()
    n = x.size
    result = stack(data, var, operation="mean", reject_method="none")
    assert result.variance[0, 0] == pytest.approx(v.sum() / n**2)
    result = stack(data, operation="mean", reject_method="none")
    sample = ((x - x.mean()) ** 2).sum() / (n * (n - 1))
    assert result.variance[0, 0] == pytest.approx(sample)
    result = stack(data, var, operation="wtmean", reject_method="none")
    assert result.data[0, 0] == pytest.approx((x / v).sum() / (1 / v).sum())
    assert result.variance[0, 0] == pytest.approx(1 / (1 / v).sum())
    # Median of 5: f(5) = 0.2868 times the mean variance (not DRAGONS' pi/2 v/n).
    result = stack(data, var, operation="median", reject_method="none")
    assert result.data[0, 0] == 4.0
    assert result.variance[0, 0] == pytest.approx(0.286834 * v.mean(), rel=1e-5)
    # One input flagged: median of 4, the mean of the middle two, f(4) = 0.2982.
    mask = np.zeros(data.shape, np.uint16)
    mask[4] = 1
    result = stack(data, var, mask, operation="median", reject_method="none")
    assert result.data[0, 0] == 3.0
    assert result.variance[0, 0] == pytest.approx(0.298200 * v[:4].mean(), rel=1e-5)
    # The lower median of 4 is one order statistic: f = 0.3605.
    result = stack(data, var, mask, operation="lmedian", reject_method="none")
    assert result.data[0, 0] == 2.0
    assert result.variance[0, 0] == pytest.approx(0.360455 * v[:4].mean(), rel=1e-5)
    # Minmax 1/1 keeps the median of all five: the variance is still f(5) mean(v).
    result = stack(data, var, operation="median", reject_method="minmax", nlow=1, nhigh=1)
    assert result.variance[0, 0] == pytest.approx(0.286834 * v[1:4].mean(), rel=1e-5)
    result = stack(data, operation="median", reject_method="none")
    assert result.variance[0, 0] == pytest.approx(0.286834 * n * sample, rel=1e-5)
    # Zero variance: infinite weight.
    var0 = var.copy()
    var0[1] = 0.0
    result = stack(data, var0, operation="wtmean", reject_method="none")
    assert result.data[0, 0] == 2.0 and result.variance[0, 0] == 0.0


def test_varclip_uses_each_pixels_variance():
    # Same deviation from the median, different variances: only the input
    # whose own sigma is small is rejected.
    data = np.array([100, 100, 100, 100, 130, 70], np.float32)[:, None, None]
    var = np.array([1, 1, 1, 1, 10000, 1], np.float32)[:, None, None]
    result = stack(data, var, operation="mean", reject_method="varclip",
                   save_rejection_map=True)
    assert result.rejection_map[0, 0] == 1
    assert result.data[0, 0] == pytest.approx(106.0)


def test_varclip_without_variance_falls_back_to_sigclip(frames8_clean, caplog):
    data, _, _ = frames8_clean
    with caplog.at_level("WARNING", logger="gempy.library.stacking"):
        varclip = stack(data, reject_method="varclip")
    assert "sigclip" in caplog.text
    np.testing.assert_array_equal(varclip.data, stack(data, reject_method="sigclip").data)


def test_rejection_map_only_when_asked(frames8_clean):
    data, variance, _ = frames8_clean
    assert stack(data, variance).rejection_map is None
    rejmap = stack(data, variance, save_rejection_map=True).rejection_map
    assert rejmap.dtype == np.int16 and rejmap.shape == data.shape[1:] and rejmap.max() > 0


def test_boolean_masks_count_as_bad_pixels():
    data = np.array([1.0, 2.0, 9.0], np.float32)[:, None, None]
    mask = np.array([False, False, True])[:, None, None]
    result = stack(list(data), mask=list(mask), reject_method="none")
    assert result.data[0, 0] == 1.5 and result.mask[0, 0] == 0


def test_frames_of_other_types_and_layouts(frames9):
    data, variance, mask = frames9
    expected = stack(data, variance, mask, operation="median")
    as_float64 = stack([d.astype(np.float64) for d in data], [v.astype(">f4") for v in variance],
                       [m.astype(np.int32) for m in mask], operation="median")
    np.testing.assert_array_equal(as_float64.data, expected.data)
    np.testing.assert_array_equal(as_float64.variance, expected.variance)
    np.testing.assert_array_equal(as_float64.mask, expected.mask)
    # Non-contiguous views (every other column of a wider array).
    wide = np.repeat(data, 2, axis=2)
    strided = stack([w[:, ::2] for w in wide], variance, mask, operation="median")
    np.testing.assert_array_equal(strided.data, expected.data)


class RowSlicedArray:
    """A lazy frame: only .shape, .dtype and [y0:y1] row slicing."""

    def __init__(self, array):
        self._array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.rows_read = 0

    def __getitem__(self, rows):
        assert isinstance(rows, slice)
        block = self._array[rows].copy()
        self.rows_read += block.shape[0]
        return block


def test_lazy_row_sliced_frames(frames9):
    data, variance, mask = frames9
    lazy = [RowSlicedArray(d) for d in data]
    result = stack(lazy, variance, mask, memory=9 * 50 * 10 * 7)
    np.testing.assert_array_equal(result.data, stack(data, variance, mask).data)
    assert all(frame.rows_read == data.shape[1] for frame in lazy)


def test_argument_errors():
    data = np.ones((3, 4, 5), np.float32)
    with pytest.raises(ValueError, match="operation"):
        stack(data, operation="average")
    with pytest.raises(ValueError, match="reject_method"):
        stack(data, reject_method="clip")
    with pytest.raises(ValueError, match=r"data\[1\] has shape"):
        stack([data[0], np.ones((4, 6), np.float32), data[2]])
    with pytest.raises(ValueError, match="variance has 2 frames"):
        stack(data, variance=data[:2])
    with pytest.raises(ValueError, match="no frames"):
        stack([])
    with pytest.raises(ValueError, match="scale"):
        stack(data, scale=[1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        stack(data, scale=[1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="memory"):
        stack(data, memory="lots")


@pytest.mark.parametrize("text,nbytes", [("256MB", 256 * 10**6), ("1GB", 10**9),
                                         ("1 GiB", 2**30), ("512kB", 512000), (2**20, 2**20),
                                         ("3e6", 3 * 10**6), (None, None)])
def test_parse_memory(text, nbytes):
    assert stacking.parse_memory(text) == nbytes


@pytest.mark.parametrize("bad", ["-5MB", "0", "ten", "5XB", 0, True])
def test_parse_memory_rejects(bad):
    with pytest.raises(ValueError):
        stacking.parse_memory(bad)


# --------------------------------------------------------------------------
# The sorting network behind the order statistics
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n", range(1, 13))
def test_sorting_network_sorts_every_zero_one_input(n):
    # 0-1 principle: a comparator network that sorts all 2**n binary inputs
    # sorts every input.
    lo, hi = stacking._sorting_network(n)
    inputs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int8)
    for a, b in zip(lo, hi, strict=True):
        low = np.minimum(inputs[:, a], inputs[:, b])
        inputs[:, b] = np.maximum(inputs[:, a], inputs[:, b])
        inputs[:, a] = low
    assert np.all(np.diff(inputs, axis=1) >= 0)


@pytest.mark.parametrize("n", range(1, 15))
def test_median_network_selects_the_middle_rows(n):
    lo, hi = stacking._median_network(n)
    assert len(lo) <= len(stacking._sorting_network(n)[0])
    inputs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int8)
    expected = np.sort(inputs, axis=1)
    for a, b in zip(lo, hi, strict=True):
        low = np.minimum(inputs[:, a], inputs[:, b])
        inputs[:, b] = np.maximum(inputs[:, a], inputs[:, b])
        inputs[:, a] = low
    middle = [(n - 1) // 2, n // 2]
    np.testing.assert_array_equal(inputs[:, middle], expected[:, middle])


@pytest.mark.parametrize("n", range(2, 13))
def test_median_network_with_missing_inputs_selects_every_middle_row_needed(n):
    # With up to m inputs missing (sorted last as +inf), a median reads rows
    # (n-1-m)//2 .. n//2; by the 0-1 principle, checking every binary input
    # proves the pruned network right for every input.
    lo_all, hi_all, offsets = stacking._median_networks(n)
    assert offsets.size == min(n, stacking._MAX_MISSING + 1) + 1
    assert offsets[-1] == lo_all.size
    for missing in range(offsets.size - 1):
        lo = lo_all[offsets[missing]:offsets[missing + 1]]
        hi = hi_all[offsets[missing]:offsets[missing + 1]]
        assert len(lo) <= len(stacking._sorting_network(n)[0])
        inputs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int8)
        expected = np.sort(inputs, axis=1)
        for a, b in zip(lo, hi, strict=True):
            low = np.minimum(inputs[:, a], inputs[:, b])
            inputs[:, b] = np.maximum(inputs[:, a], inputs[:, b])
            inputs[:, a] = low
        rows = list(range((n - 1 - missing) // 2, n // 2 + 1))
        np.testing.assert_array_equal(inputs[:, rows], expected[:, rows])


@pytest.mark.parametrize("n", [13, 20, 31, 64, 100, 257])
def test_sorting_network_sorts_random_inputs(n):
    lo, hi = stacking._sorting_network(n)
    values = np.random.default_rng(n).integers(0, 5, (200, n))
    for a, b in zip(lo, hi, strict=True):
        low = np.minimum(values[:, a], values[:, b])
        values[:, b] = np.maximum(values[:, a], values[:, b])
        values[:, a] = low
    assert np.all(np.diff(values, axis=1) >= 0)


# --------------------------------------------------------------------------
# scale_zero_factors
# --------------------------------------------------------------------------
def level_frames(levels, shape=(30, 40), seed=5):
    rng = np.random.default_rng(seed)
    frames = []
    for level in levels:
        frame = level + rng.normal(0.0, 1.0, shape)
        frame[rng.random(shape) < 0.02] += 500.0  # stars / cosmic rays
        frames.append(frame.astype(np.float32))
    return frames


def test_scale_zero_factors_from_clipped_medians():
    frames = level_frames([100.0, 200.0, 50.0])
    scale, zero = scale_zero_factors(frames, scale=True)
    assert zero is None
    np.testing.assert_allclose(scale, [1.0, 0.5, 2.0], rtol=0.01)
    scale, zero = scale_zero_factors(frames, zero=True)
    assert scale is None
    np.testing.assert_allclose(zero, [0.0, -100.0, 50.0], atol=0.3)
    assert scale_zero_factors(frames) == (None, None)


def test_scale_and_zero_together_keep_zero(caplog):
    frames = level_frames([100.0, 110.0])
    with caplog.at_level("WARNING", logger="gempy.library.stacking"):
        scale, zero = scale_zero_factors(frames, scale=True, zero=True)
    assert scale is None and zero[1] == pytest.approx(-10.0, abs=0.3)
    assert "zero only" in caplog.text


class SectionLike:
    def __init__(self, x1, x2, y1, y2):
        self.x1, self.x2, self.y1, self.y2 = x1, x2, y1, y2


@pytest.mark.parametrize("statsec", [(slice(0, 10), slice(20, 40)), SectionLike(20, 40, 0, 10),
                                     (20, 40, 0, 10), "[21:40,1:10]"])
def test_statistics_section_forms(statsec):
    frames = level_frames([100.0, 100.0])
    frames[1][:10, 20:] += 50.0  # only the section differs
    frames[1][20:, :] -= 1000.0
    _, zero = scale_zero_factors(frames, statsec=statsec, zero=True)
    assert zero[1] == pytest.approx(-50.0, abs=0.3)


def test_flagged_pixels_are_left_out_of_the_statistics():
    frames = level_frames([100.0, 100.0], seed=8)
    masks = [np.zeros(frames[0].shape, np.uint16) for _ in frames]
    frames[1][:, :25] = 400.0
    masks[1][:, :25] = 1
    scale, _ = scale_zero_factors(frames, mask=masks, scale=True)
    assert scale[1] == pytest.approx(1.0, rel=0.005)


def test_unusable_factors_switch_scaling_off(caplog):
    frames = level_frames([100.0, -100.0])
    with caplog.at_level("WARNING", logger="gempy.library.stacking"):
        assert scale_zero_factors(frames, scale=True) == (None, None)
    assert "no scaling" in caplog.text
    with pytest.raises(ValueError, match="statsec"):
        scale_zero_factors(frames, statsec=(0, 100, 0, 10), zero=True)


def test_zero_offsets_leave_no_data_pixels_at_zero():
    # Three frames whose sky levels differ; a strip (column 0) holds no data
    # in any frame (a chip gap: 0, flagged no_data), column 1 in one frame.
    levels = np.array([100.0, 110.0, 95.0], np.float32)
    data = levels[:, None, None] * np.ones((3, 4, 3), np.float32)
    data[:, :, 0] = 0.0
    data[1, :, 1] = 0.0
    mask = np.zeros(data.shape, np.uint16)
    mask[:, :, 0] = 16
    mask[1, :, 1] = 16
    variance = np.ones(data.shape, np.float32)
    zero = levels[0] - levels  # brings every frame to 100
    for operation, reject in (("mean", "sigclip"), ("median", "none"), ("mean", "minmax")):
        result = stack(data, variance, mask, operation=operation, reject_method=reject,
                       nlow=0, nhigh=1, zero=zero, save_rejection_map=True)
        # Not the mean offset (5 for 0 + [0, -10, 5]): nothing, flagged no_data.
        assert np.all(result.data[:, 0] == 0) and np.all(result.variance[:, 0] == 0)
        assert np.all(result.mask[:, 0] == 16) and np.all(result.rejection_map[:, 0] == 0)
        # The good inputs still make the other columns, at the level of frame 0.
        np.testing.assert_allclose(result.data[:, 1:], 100.0, rtol=1e-6)
        assert np.all(result.mask[:, 1:] == 0)
    # Without offsets the no_data inputs are combined as before (nothing better).
    plain = stack(data, variance, mask, operation="mean", reject_method="none")
    assert np.all(plain.data[:, 0] == 0) and np.all(plain.mask[:, 0] == 16)


@pytest.mark.parametrize("scale", [None, 2.0])
def test_sigclip_with_tied_values_and_flagged_inputs_of_equal_value(scale):
    # 12 clean inputs of a pixel: tied values, two tied outliers; four inputs
    # flagged cosmic_ray (a worse class) share values with both groups. The
    # tied outliers go together, the flagged inputs never count, whatever
    # their value, and the output DQ is the OR of the kept inputs only.
    clean = [100.0, 100.0, 100.0, 101.0, 101.0, 99.0, 99.0, 100.5, 99.5, 100.0, 150.0, 150.0]
    flagged = [100.0, 150.0, 101.0, 99.0]
    data = np.array(clean + flagged, np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    mask = np.zeros(data.shape, np.uint16)
    mask[len(clean):] = 8
    mask[3] = 2  # non_linear, kept: in the output DQ
    mask[10] = 4  # saturated, rejected: not in the output DQ
    variance = np.full(data.shape, 4.0, np.float32)
    factors = None if scale is None else np.full(len(data), scale)
    clip = dict(reject_method="sigclip", lsigma=2.0, hsigma=2.0, scale=factors)
    result = stack(data, variance, mask, operation="mean", save_rejection_map=True, **clip)
    kept = np.array(clean[:10])
    factor = 1.0 if scale is None else scale
    np.testing.assert_allclose(result.data, kept.mean() * factor, rtol=1e-6)
    np.testing.assert_allclose(result.variance, 4.0 * factor**2 / kept.size, rtol=1e-6)
    assert np.all(result.mask == 2) and np.all(result.rejection_map == 2)
    median = stack(data, variance, mask, operation="median", **clip)
    np.testing.assert_allclose(median.data, np.median(kept) * factor, rtol=1e-6)


@pytest.mark.parametrize("operation", ["median", "lmedian"])
def test_median_of_many_frames_with_any_number_of_inputs_flagged(operation):
    # 24 frames: the pixels of row 0 lose 0 to 15 inputs to DQ (the kernel
    # sorts that row with the selection network for 15 missing), those of
    # row 1 up to 23 (the full sorting network); each pixel is the median
    # of its clean inputs.
    nframes, width = 24, 48
    rng = np.random.default_rng(24)
    data = rng.normal(500.0, 20.0, (nframes, 2, width)).astype(np.float32)
    mask = np.zeros(data.shape, np.uint16)
    for x in range(width):
        for y, most in ((0, 16), (1, nframes)):
            mask[rng.permutation(nframes)[: x % most], y, x] = 1
    result = stack(data, mask=mask, operation=operation, reject_method="none")
    for x in range(width):
        for y in range(2):
            clean = np.sort(data[mask[:, y, x] == 0, y, x].astype(np.float64))
            n = clean.size
            expected = clean[(n - 1) // 2] if operation == "lmedian" else np.median(clean)
            assert result.data[y, x] == pytest.approx(expected, rel=1e-6)
            assert result.mask[y, x] == 0
