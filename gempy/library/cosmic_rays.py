"""Cosmic-ray flagging by comparing each image of an aligned stack with the stack's median.

`flag_cosmic_rays_by_stacking` is the engine of ``flagCosmicRaysByStacking``:
on images already resampled to a common frame, a pixel that stands more than
``hsigma`` times its noise above the median of all the images at that
position, away from real objects, is a cosmic ray (or another transient) and
gets DQ bit 8 (cosmic_ray).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from astropy.stats import sigma_clipped_stats
from scipy import ndimage

__all__ = ["flag_cosmic_rays_by_stacking"]

# DQ bit (astrodata.DQ.cosmic_ray)
DQ_COSMIC_RAY = 8
# objects in the median image: pixels above this many sigma of its noise, in
# groups of at least this many pixels, grown by this many pixels
_OBJECT_SIGMA = 3.0
_OBJECT_MIN_PIXELS = 5
_OBJECT_GROW = 2
# rows processed at once when building the median (bounds the temporary memory)
_ROWS_PER_CHUNK = 256


def _background_level(image: np.ndarray, bad: np.ndarray) -> tuple[float, float]:
    """Sigma-clipped median and standard deviation of the good pixels (subsampled)."""
    step = max(1, int(np.sqrt(image.size / 250_000)))
    sample = image[::step, ::step][~bad[::step, ::step]]
    if sample.size == 0:
        return 0.0, float("nan")
    _, median, std = sigma_clipped_stats(sample, sigma=3.0, maxiters=5)
    return float(median), float(std)


def _median_image(residuals: list[np.ndarray], bads: list[np.ndarray]) -> np.ndarray:
    """Per-pixel median of the good values (NaN where every image is bad)."""
    ny, nx = residuals[0].shape
    median = np.empty((ny, nx), dtype=np.float32)
    for start in range(0, ny, _ROWS_PER_CHUNK):
        rows = slice(start, min(start + _ROWS_PER_CHUNK, ny))
        block = np.stack(
            [np.where(b[rows], np.nan, r[rows]) for r, b in zip(residuals, bads, strict=True)]
        )
        # np.median is several times faster than np.nanmedian, which is only
        # needed where some image is bad
        chunk = np.median(block, axis=0)
        some_bad = np.isnan(chunk)
        if some_bad.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
                chunk[some_bad] = np.nanmedian(block[:, some_bad], axis=0)
        median[rows] = chunk
    return median


def _object_mask(median: np.ndarray) -> np.ndarray:
    """Pixels of real sources in the median image, grown by a margin."""
    finite = np.isfinite(median)
    if not finite.any():
        return np.zeros(median.shape, dtype=bool)
    level, noise = _background_level(np.where(finite, median, 0.0), ~finite)
    if not np.isfinite(noise) or noise <= 0:
        return np.zeros(median.shape, dtype=bool)
    smoothed = ndimage.uniform_filter(np.where(finite, median - level, 0.0), size=3)
    # a 3x3 mean reduces white noise by 3
    above = smoothed > _OBJECT_SIGMA * noise / 3.0
    labels, n_labels = ndimage.label(above, structure=np.ones((3, 3)))
    if n_labels == 0:
        return np.zeros(median.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= _OBJECT_MIN_PIXELS
    keep[0] = False
    objects = keep[labels]
    return ndimage.binary_dilation(objects, iterations=_OBJECT_GROW)


def flag_cosmic_rays_by_stacking(
    images: Sequence[np.ndarray],
    variances: Sequence[np.ndarray | None] | None = None,
    masks: Sequence[np.ndarray | None] | None = None,
    hsigma: float = 7.0,
    dilation: int = 1,
    objmask: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Flag pixels far above the median of an aligned stack as cosmic rays.

    Parameters
    ----------
    images : sequence of numpy.ndarray, each shape (ny, nx)
        At least 2 images registered to the same pixel frame (e.g. after
        ``resampleToCommonFrame``), in the same flux units. Their background
        levels may differ: each image's sigma-clipped median is removed
        first.
    variances : sequence of numpy.ndarray or None, optional
        Per-pixel variances; the noise of image i at a pixel is the square
        root of its variance. Without them (or where an entry is None) the
        noise is the sigma-clipped standard deviation of image i minus the
        median image, a single value per image.
    masks : sequence of numpy.ndarray (uint16) or None, optional
        DQ masks; pixels with any bit set are left out of the median and
        are never flagged.
    hsigma : float
        Threshold above the median, in units of the noise.
    dilation : int
        Grow each flagged group by this many pixels (3x3 steps), to catch
        the fainter edges of a cosmic-ray track. 0 flags only the pixels above
        the threshold.
    objmask : numpy.ndarray, shape (ny, nx), optional
        Pixels of real objects (non-zero), where nothing is flagged: a
        source's peak varies between frames with seeing and pointing. If
        None, objects are found in the median image (pixels more than 3 sigma
        above its background after a 3x3 smoothing, in groups of at least 5
        pixels, grown by 2 pixels).

    Returns
    -------
    list of numpy.ndarray (uint16)
        A new mask for each image: its input mask (or zeros) with DQ bit 8
        OR'ed on the flagged pixels. The inputs are not modified.

    Raises
    ------
    ValueError
        With fewer than 2 images, inconsistent shapes, or hsigma <= 0.

    Notes
    -----
    With only 2 images the median is their mean, so a cosmic ray raises it
    by half its height; the difference is still half the height, so strong
    hits are found but the threshold is effectively doubled. Three images or
    more are recommended.
    """
    images = [np.asarray(image) for image in images]
    n = len(images)
    if n < 2:
        raise ValueError(f"need at least 2 images to compare with their median, got {n}")
    shape = images[0].shape
    if len(shape) != 2 or any(image.shape != shape for image in images):
        raise ValueError(f"images must all be 2-D with one shape, got {[i.shape for i in images]}")
    if hsigma <= 0:
        raise ValueError(f"hsigma must be positive, got {hsigma}")
    if dilation < 0:
        raise ValueError(f"dilation must be >= 0, got {dilation}")
    variances = list(variances) if variances is not None else [None] * n
    masks = list(masks) if masks is not None else [None] * n
    if len(variances) != n or len(masks) != n:
        raise ValueError("images, variances and masks must have the same length")
    for name, arrays in (("variance", variances), ("mask", masks)):
        for i, array in enumerate(arrays):
            if array is not None and np.shape(array) != shape:
                raise ValueError(f"{name} {i} has shape {np.shape(array)}, images have {shape}")
    if objmask is not None and np.shape(objmask) != shape:
        raise ValueError(f"objmask has shape {np.shape(objmask)}, images have {shape}")

    bads = []
    residuals = []
    for image, mask in zip(images, masks, strict=True):
        bad = ~np.isfinite(image)
        if mask is not None:
            bad |= np.asarray(mask) != 0
        level, _ = _background_level(image, bad)
        residuals.append(np.asarray(image, dtype=np.float32) - np.float32(level))
        bads.append(bad)
    median = _median_image(residuals, bads)
    objects = _object_mask(median) if objmask is None else np.asarray(objmask) != 0
    structure = np.ones((3, 3), dtype=bool)

    new_masks = []
    for residual, variance, mask, bad in zip(residuals, variances, masks, bads, strict=True):
        difference = residual - median
        usable = ~bad & np.isfinite(difference) & ~objects
        if variance is not None:
            noise = np.sqrt(np.clip(np.asarray(variance, dtype=np.float32), 0, None))
        else:
            _, noise = _background_level(np.where(usable, difference, 0.0), ~usable)
        with np.errstate(invalid="ignore"):
            hits = usable & (difference > hsigma * noise) & (noise > 0)
        if dilation and hits.any():
            hits = ndimage.binary_dilation(hits, structure=structure, iterations=int(dilation))
            hits &= ~bad
        out = np.zeros(shape, dtype=np.uint16) if mask is None else np.array(mask, dtype=np.uint16)
        out[hits] |= DQ_COSMIC_RAY
        new_masks.append(out)
    return new_masks
