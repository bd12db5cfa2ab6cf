"""Replacement of flagged pixels by a statistic of the good pixels (global or in a local ring).

Used by ``applyDQPlane`` (replace the pixels having chosen DQ bits) and by
``resampleToCommonFrame(clean_data=True)`` (clean bad pixels and cosmic rays
before interpolating, so that they do not spread).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["replace_flagged_pixels"]

# bad pixels whose local statistic is computed at once (bounds the temporary memory)
_CHUNK = 20_000


def _ring_offsets(inner: float, outer: float) -> tuple[np.ndarray, np.ndarray]:
    reach = int(np.ceil(outer))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    radius = np.hypot(dx, dy)
    inside = (radius <= outer) & (radius >= inner)
    return dy[inside], dx[inside]


def replace_flagged_pixels(
    data: np.ndarray,
    flagged: np.ndarray,
    statistic: str | float = "median",
    inner: float | None = None,
    outer: float | None = None,
) -> tuple[np.ndarray, int]:
    """A copy of `data` where the flagged pixels are replaced.

    Parameters
    ----------
    data : numpy.ndarray, shape (ny, nx)
    flagged : numpy.ndarray of bool, shape (ny, nx)
        Pixels to replace; they (and non-finite pixels) never enter a statistic.
    statistic : {'median', 'average'} or float
        A number is used as it is; otherwise the median or mean of the good
        pixels.
    inner, outer : float, optional
        Radii (pixels) of the ring of neighbours used for each flagged pixel.
        Without ``outer`` the statistic is over the whole image. A pixel
        whose ring has no good pixel gets the global statistic.

    Returns
    -------
    (numpy.ndarray of float32, int)
        The new data and the number of pixels replaced.

    Raises
    ------
    ValueError
        For an unknown statistic or ``inner`` > ``outer``.
    """
    data = np.asarray(data)
    out = np.array(data, dtype=np.float32)
    flagged = np.asarray(flagged, dtype=bool)
    n_flagged = int(np.count_nonzero(flagged))
    if n_flagged == 0:
        return out, 0
    if not isinstance(statistic, str):
        out[flagged] = np.float32(statistic)
        return out, n_flagged
    if statistic not in ("median", "average"):
        raise ValueError(f"statistic must be 'median', 'average' or a number, got {statistic!r}")
    good = ~flagged & np.isfinite(out)
    reduce = np.nanmedian if statistic == "median" else np.nanmean
    global_value = float(reduce(out[good])) if good.any() else 0.0
    if outer is None:
        out[flagged] = np.float32(global_value)
        return out, n_flagged
    inner = 0.0 if inner is None else float(inner)
    if inner > outer:
        raise ValueError(f"inner radius {inner} is larger than outer radius {outer}")
    dy, dx = _ring_offsets(inner, float(outer))
    ny, nx = out.shape
    ys, xs = np.nonzero(flagged)
    values = np.where(good, out, np.nan)
    replacement = np.empty(len(ys), dtype=np.float32)
    for start in range(0, len(ys), _CHUNK):
        stop = start + _CHUNK
        yy = ys[start:stop, None] + dy[None, :]
        xx = xs[start:stop, None] + dx[None, :]
        inside = (yy >= 0) & (yy < ny) & (xx >= 0) & (xx < nx)
        neighbours = np.where(inside, values[np.clip(yy, 0, ny - 1), np.clip(xx, 0, nx - 1)],
                              np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rings without good pixels
            local = reduce(neighbours, axis=1)
        replacement[start:stop] = np.where(np.isfinite(local), local, global_value)
    out[ys, xs] = replacement
    return out, n_flagged
