"""The variance of the median of m normal values (stacking's median variance rule)."""

import math

import numpy as np
import pytest

from gempy.library import order_statistics
from gempy.library.order_statistics import median_variance_factor
from gempy.library.stacking import stack


@pytest.mark.parametrize("m", range(1, 11))
def test_factor_matches_monte_carlo(m):
    """var(median of m unit normals) within the Monte-Carlo error (4 sigma) for m = 1..10."""
    rng = np.random.default_rng(m)
    samples = rng.standard_normal((200_000, m))
    ordered = np.sort(samples, axis=1)
    median = np.median(samples, axis=1)
    lower = ordered[:, (m - 1) // 2]
    # relative standard error of a variance estimated from N draws ~ sqrt(2/N)
    tolerance = 4 * math.sqrt(2 / samples.shape[0]) * 1.5  # the median is slightly heavy-tailed
    assert median.var() == pytest.approx(median_variance_factor(m), rel=tolerance)
    assert lower.var() == pytest.approx(median_variance_factor(m, lower=True), rel=tolerance)


def test_known_small_values():
    """Closed forms: m=1 -> 1, m=2 -> 1/2 (the mean), m=3 -> 1 - 3 sqrt(3)/(2 pi) + ... ."""
    assert median_variance_factor(1) == pytest.approx(1.0, rel=1e-6)
    assert median_variance_factor(2) == pytest.approx(0.5, rel=1e-6)
    # the lower median of two is the minimum of two: variance 1 - 1/pi
    assert median_variance_factor(2, lower=True) == pytest.approx(1 - 1 / math.pi, rel=1e-6)
    # the median of three: 1 - sqrt(3)/pi (a classical result)
    assert median_variance_factor(3) == pytest.approx(1 - math.sqrt(3) / math.pi, rel=1e-6)


def test_large_counts_tend_to_pi_over_2m():
    size = order_statistics.MEDIAN_TABLE_SIZE
    for m in (size - 2, size - 1, size, size + 1, 1000, 10_001):
        assert median_variance_factor(m) * 2 * m / math.pi == pytest.approx(1.0, abs=0.02)
    # continuous across the end of the table (same parity, two apart)
    for m in (size - 2, size - 1):
        inside, outside = median_variance_factor(m), median_variance_factor(m + 2)
        assert outside < inside
        assert outside == pytest.approx(inside * m / (m + 2), rel=2e-3)
    with pytest.raises(ValueError):
        median_variance_factor(0)


@pytest.mark.parametrize("nframes, nlow, nhigh", [(3, 1, 1), (4, 1, 1), (5, 1, 1), (6, 1, 1),
                                                  (9, 0, 0), (2, 0, 0)])
def test_stacked_median_variance_describes_its_scatter(nframes, nlow, nhigh):
    """A median sky stack of 3-9 frames: pixel scatter / VAR = 1 within 3%."""
    rng = np.random.default_rng(nframes)
    sigma = 3.0
    data = (100 + sigma * rng.standard_normal((nframes, 120, 200))).astype(np.float32)
    variance = np.full(data.shape, sigma**2, np.float32)
    result = stack(data, variance, operation="median", reject_method="minmax",
                   nlow=nlow, nhigh=nhigh)
    chi2 = np.mean((result.data - 100.0) ** 2 / result.variance)
    assert chi2 == pytest.approx(1.0, abs=0.03)
