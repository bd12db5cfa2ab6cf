"""Variance of the median of m independent normal values, for the stacking variance rule.

The median of m values drawn from one normal distribution of variance s**2
has the variance ``median_variance_factor(m) * s**2``; for large m the factor
tends to pi/(2m), but for the few frames a sky stack combines it is well
below that (m = 3: 0.449 instead of 0.524; m = 2, the mean of the two:
0.5 instead of 0.785). The factors are computed once, at import, by
numerical integration of the normal order-statistic densities on a fine grid
(relative error below 1e-5, checked against a Monte-Carlo test), for the
median (the mean of the two middle values for an even m) and for the lower
median (the lower middle value). Beyond the table the asymptotic form
``pi / (2m + c)`` is used, with c matched to the last odd and even entries.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "LOWER_MEDIAN_VARIANCE",
    "MEDIAN_TABLE_SIZE",
    "MEDIAN_VARIANCE",
    "median_variance_factor",
    "median_variance_table",
]

#: Counts up to this (exclusive) are tabulated; beyond, the asymptotic form is used.
MEDIAN_TABLE_SIZE = 128

# Integration grid: the densities are below 1e-14 of their peak beyond 8 sigma for m < 128.
_X = np.linspace(-8.0, 8.0, 8001)
_STEP = _X[1] - _X[0]


def _normal_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pdf, log cdf, log survival function) of the unit normal on the grid."""
    erfc = np.frompyfunc(math.erfc, 1, 1)
    pdf = np.exp(-0.5 * _X**2) / math.sqrt(2.0 * math.pi)
    # erfc keeps the relative precision of the tails (1 - cdf would round to 0)
    log_sf = np.log(0.5 * erfc(_X / math.sqrt(2.0)).astype(np.float64))
    return pdf, log_sf[::-1].copy(), log_sf


def _trapezoid(values: np.ndarray) -> float:
    return float(_STEP * (values.sum() - 0.5 * (values[0] + values[-1])))


def _order_density(k: int, m: int, pdf: np.ndarray, log_cdf: np.ndarray,
                   log_sf: np.ndarray) -> np.ndarray:
    """Density of the k-th smallest (1-based) of m unit normal values on the grid."""
    log_coeff = math.lgamma(m + 1) - math.lgamma(k) - math.lgamma(m - k + 1)
    return pdf * np.exp(log_coeff + (k - 1) * log_cdf + (m - k) * log_sf)


def _adjacent_product(k: int, m: int, pdf: np.ndarray, log_cdf: np.ndarray,
                      log_sf: np.ndarray) -> float:
    """E[X_(k) X_(k+1)] for m unit normal values (joint density of neighbours)."""
    log_coeff = math.lgamma(m + 1) - math.lgamma(k) - math.lgamma(m - k)
    outer = _X * pdf * np.exp(log_coeff + (k - 1) * log_cdf)
    inner_integrand = _X * pdf * np.exp((m - k - 1) * log_sf)
    # inner(x) = integral of inner_integrand from x to +inf (trapezoid, from the right)
    pieces = 0.5 * _STEP * (inner_integrand[1:] + inner_integrand[:-1])
    inner = np.concatenate([np.cumsum(pieces[::-1])[::-1], [0.0]])
    return _trapezoid(outer * inner)


def median_variance_table(size: int = MEDIAN_TABLE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Factors var(median of m unit normal values) for m < size (index 0 holds 0).

    Parameters
    ----------
    size : int
        Length of the tables.

    Returns
    -------
    (median, lower) : float64 ndarrays (size,)
        For the median (mean of the two middle values for an even m) and
        for the lower median (the (m/2)-th smallest value for an even m).
    """
    pdf, log_cdf, log_sf = _normal_grid()
    median, lower = np.zeros(size), np.zeros(size)
    for m in range(1, size):
        k = (m + 1) // 2
        low = _order_density(k, m, pdf, log_cdf, log_sf)
        second_low = _trapezoid(_X**2 * low)
        mean_low = _trapezoid(_X * low)
        lower[m] = second_low - mean_low**2
        if m % 2 == 1:
            median[m] = lower[m]
            continue
        # by symmetry X_(k+1) has the moments of -X_(k)
        product = _adjacent_product(k, m, pdf, log_cdf, log_sf)
        median[m] = 0.5 * (second_low + product)
    return median, lower


def median_variance_factor(m: int, lower: bool = False) -> float:
    """var(median of m unit normal values) (the lower median with `lower`).

    Tabulated below `MEDIAN_TABLE_SIZE`; beyond, ``pi / (2m + c)`` with c
    taken from the last tabulated entry of the same parity (c is about 0.86
    for an odd m, 2.8 for the mean of the two middle values), which agrees
    with the exact value to better than 0.01% there.
    """
    if m < 1:
        raise ValueError(f"the median of {m} values is not defined")
    table = LOWER_MEDIAN_VARIANCE if lower else MEDIAN_VARIANCE
    if m < MEDIAN_TABLE_SIZE:
        return float(table[m])
    last = MEDIAN_TABLE_SIZE - 1 if (MEDIAN_TABLE_SIZE - 1) % 2 == m % 2 \
        else MEDIAN_TABLE_SIZE - 2
    offset = math.pi / table[last] - 2.0 * last
    return math.pi / (2.0 * m + offset)


#: var(median of m unit normal values), m = 0..MEDIAN_TABLE_SIZE-1 (entry 0 unused).
MEDIAN_VARIANCE, LOWER_MEDIAN_VARIANCE = median_variance_table()
