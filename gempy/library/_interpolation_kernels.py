"""Compiled per-pixel kernels for resampling: local polynomial interpolation and DQ spreading.

scipy.ndimage has B-splines (global, need a prefilter) but no local
polynomial interpolation (what DRAGONS calls ``poly3``/``poly5``), and no way
to say which input DQ bits reach an output pixel; these numba kernels
provide both. Coordinates are 0-based input pixel positions for every output
pixel; taps beyond the input are clamped to the edge (the caller flags
output pixels whose centre maps outside the input as no-data).

The kernels are serial on purpose: files are processed in parallel by
separate processes, and numba's OpenMP threading layer is not fork-safe.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _lagrange_denominators(n_taps: int):
    """prod_{j != k} (k - j) for the integer nodes of a Lagrange basis."""
    denominators = np.empty(n_taps)
    for k in range(n_taps):
        d = 1.0
        for j in range(n_taps):
            if j != k:
                d *= k - j
        denominators[k] = d
    return denominators


@njit(cache=True)
def _lagrange_weights(f: float, n_taps: int, denominators, weights) -> None:
    """Weights of the n_taps points at offsets 1 - n_taps/2 .. n_taps/2 for fraction f."""
    first = 1 - n_taps // 2
    for k in range(n_taps):
        w = 1.0
        for j in range(n_taps):
            if j != k:
                w *= f - (first + j)
        weights[k] = w / denominators[k]


@njit(cache=True)
def _clamp(i: int, n: int) -> int:
    if i < 0:
        return 0
    if i >= n:
        return n - 1
    return i


@njit(cache=True)
def polynomial_interpolation(image, xi, yi, order, out):
    """Separable Lagrange interpolation of degree ``order`` (order + 1 taps a side).

    Parameters
    ----------
    image : float32 array (ny, nx)
    xi, yi : float64 arrays (my, mx)
        Input positions of the output pixels.
    order : int
        Polynomial degree, odd (3 or 5).
    out : float32 array (my, mx)
        Filled in place; 0 where a coordinate is not finite.
    """
    ny, nx = image.shape
    my, mx = xi.shape
    n_taps = order + 1
    first = 1 - n_taps // 2
    denominators = _lagrange_denominators(n_taps)
    for j in range(my):
        wx = np.empty(n_taps)
        wy = np.empty(n_taps)
        for i in range(mx):
            x = xi[j, i]
            y = yi[j, i]
            if not (np.isfinite(x) and np.isfinite(y)):
                out[j, i] = 0.0
                continue
            x0 = int(np.floor(x))
            y0 = int(np.floor(y))
            _lagrange_weights(x - x0, n_taps, denominators, wx)
            _lagrange_weights(y - y0, n_taps, denominators, wy)
            total = 0.0
            for q in range(n_taps):
                row = _clamp(y0 + first + q, ny)
                acc = 0.0
                for p in range(n_taps):
                    acc += wx[p] * image[row, _clamp(x0 + first + p, nx)]
                total += wy[q] * acc
            out[j, i] = total


@njit(cache=True)
def spread_mask(mask, xi, yi, order, threshold, out):
    """OR into out every DQ bit whose interpolation weight exceeds threshold.

    For each output pixel and each bit, the absolute weights of the input
    pixels carrying that bit are summed (absolute, because the side lobes of
    the polynomial kernels are negative yet still carry the bad value); the
    bit is set if the sum exceeds ``threshold``.

    Parameters
    ----------
    mask : uint16 array (ny, nx)
    xi, yi : float64 arrays (my, mx)
    order : int
        0 nearest neighbour, 1 bilinear, 3 or 5 Lagrange polynomial.
    threshold : float
    out : uint16 array (my, mx)
        OR-ed in place.
    """
    ny, nx = mask.shape
    my, mx = xi.shape
    n_taps = max(order + 1, 2)
    first = 1 - n_taps // 2
    denominators = _lagrange_denominators(n_taps)
    for j in range(my):
        wx = np.empty(n_taps)
        wy = np.empty(n_taps)
        acc = np.empty(16)
        for i in range(mx):
            x = xi[j, i]
            y = yi[j, i]
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            if order == 0:
                row = _clamp(int(np.floor(y + 0.5)), ny)
                out[j, i] |= mask[row, _clamp(int(np.floor(x + 0.5)), nx)]
                continue
            x0 = int(np.floor(x))
            y0 = int(np.floor(y))
            seen = 0
            for q in range(n_taps):
                row = _clamp(y0 + first + q, ny)
                for p in range(n_taps):
                    seen |= mask[row, _clamp(x0 + first + p, nx)]
            if seen == 0:
                continue
            _lagrange_weights(x - x0, n_taps, denominators, wx)
            _lagrange_weights(y - y0, n_taps, denominators, wy)
            for b in range(16):
                acc[b] = 0.0
            for q in range(n_taps):
                row = _clamp(y0 + first + q, ny)
                for p in range(n_taps):
                    m = mask[row, _clamp(x0 + first + p, nx)]
                    if m == 0:
                        continue
                    w = abs(wx[p] * wy[q])
                    for b in range(16):
                        if m & (1 << b):
                            acc[b] += w
            result = 0
            for b in range(16):
                if acc[b] > threshold:
                    result |= 1 << b
            out[j, i] |= result
