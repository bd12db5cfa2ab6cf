"""Source detection on an image: background map, segmentation with deblending, OBJCAT and OBJMASK.

`detect_sources` does what SExtractor does for ``detectSources`` (with
photutils instead of an external binary): estimate a background and its rms
on a grid of boxes, filter the background-subtracted image with a small
Gaussian, keep connected groups of at least ``detect_minarea`` pixels above
``detect_thresh`` times the background rms, split blended sources by
multi-thresholding, and measure each source.

OBJCAT columns
--------------
All pixel quantities refer to the input array; fluxes are in the units of
``data`` (e.g. electrons), background-subtracted.

========================  ======================================================
NUMBER                    source number, 1..N (int32); the OBJMASK segment label
X_IMAGE, Y_IMAGE          centroid in 1-based FITS pixels: the Gaussian-windowed
                          centroid (SExtractor's XWIN/YWIN algorithm), which is
                          several times more precise than the isophotal
                          barycentre; the barycentre is used where the windowed
                          one does not converge
X_WORLD, Y_WORLD          RA and Dec of the centroid, degrees (only with ``wcs``)
FLUX_AUTO, FLUXERR_AUTO   flux in the Kron aperture (2.5 Kron radii, never
                          smaller than a circle of ``phot_min_radius_pix``)
MAG_AUTO, MAGERR_AUTO     -2.5 log10(FLUX_AUTO) (instrumental, NaN if FLUX_AUTO
                          <= 0) and 1.0857 FLUXERR_AUTO / FLUX_AUTO
FLUX_APER, FLUXERR_APER   flux in a circle of radius ``aper_radius_pix`` pixels
                          (default ``phot_min_radius_pix``) around the centroid
FLUX_MAX                  peak background-subtracted pixel value
BACKGROUND                background level at the centroid, per pixel
A_IMAGE, B_IMAGE          rms size along the major and minor axes, pixels
THETA_IMAGE               major-axis position angle, degrees counter-clockwise
                          from +x
ELLIPTICITY               1 - B_IMAGE / A_IMAGE
FWHM_IMAGE                full width at half maximum of the source's profile,
                          pixels: a circular Moffat profile (amplitude, FWHM
                          and beta free; beta fixed to the stars' median for
                          S/N < 50) fitted by weighted least squares to the
                          pixels within 1.5 half-light diameters (3 to 20
                          pixels) of the centroid, leaving out masked pixels
                          and other sources' segments (see `profile_fwhm`).
                          The profile is sampled at pixel centres, so this is
                          the FWHM of the PSF convolved with the pixel (a
                          Gaussian of FWHM F gives sqrt(F**2 + 0.46)); twice
                          the half-light radius where no fit is possible
FWHM_WORLD                FWHM_IMAGE times the pixel scale, arcsec (only with
                          ``pixel_scale`` or ``wcs``; SExtractor uses degrees)
ISOAREA_IMAGE             number of unmasked pixels in the segment (above the
                          analysis threshold), int32
FLAGS                     int16 bit field: 1 the source was split from a blend
                          by deblending; 4 the segment (grown by one pixel)
                          contains a pixel at or above ``saturation`` or with
                          the DQ saturated bit (4) in ``mask``; 8 the segment
                          touches the image edge; 16 the grown segment contains
                          masked pixels (``mask != 0``) or non-finite data
CLASS_STAR                stellarity in [0, 1]: exp(-z**2 / 2) with
                          z = max(|FWHM_IMAGE / FWHM_star - 1|,
                          |D / D_star - 1|) / s, where FWHM_star is the median
                          FWHM of clean, round, S/N >= 20 sources (table meta
                          ``FWHM_STAR``), D the half-light diameter and D_star
                          its median over the same sources, and
                          s = hypot(0.1, 1 / S/N) allows for the noise of
                          faint sources; extended sources and features
                          sharper than the PSF (cosmic rays, hot pixels) get
                          values near 0. NaN if no FWHM_star could be measured.
========================  ======================================================

The table ``meta`` holds ``FWHM_STAR`` (pixels), ``BACK_MED`` and
``BACK_RMS`` (median background level and rms), ``DETECT_THRESH``,
``APER_RADIUS`` (pixels) and ``PIXSCALE`` (arcsec, if known).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.stats import SigmaClip
from astropy.table import Table
from photutils.background import Background2D, SExtractorBackground, StdBackgroundRMS
from photutils.segmentation import (
    SegmentationImage,
    SourceCatalog,
    deblend_sources,
    make_2dgaussian_kernel,
)
from scipy import ndimage

from ._wcs import SkyWCS
from ._wcs import pixel_scale as _wcs_pixel_scale

__all__ = ["OBJCAT_COLUMNS", "detect_sources", "profile_fwhm"]

#: OBJCAT column names in table order (world columns only appear with a WCS).
OBJCAT_COLUMNS = (
    "NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "X_WORLD",
    "Y_WORLD",
    "FLUX_AUTO",
    "FLUXERR_AUTO",
    "MAG_AUTO",
    "MAGERR_AUTO",
    "FLUX_APER",
    "FLUXERR_APER",
    "FLUX_MAX",
    "BACKGROUND",
    "A_IMAGE",
    "B_IMAGE",
    "THETA_IMAGE",
    "ELLIPTICITY",
    "FWHM_IMAGE",
    "FWHM_WORLD",
    "ISOAREA_IMAGE",
    "FLAGS",
    "CLASS_STAR",
)

FLAG_BLENDED = 1
FLAG_SATURATED = 4
FLAG_TRUNCATED = 8
FLAG_MASKED = 16

# DQ saturated bit (astrodata.DQ.saturated); kept here so this module works on plain arrays
_DQ_SATURATED = 4
# FWHM (pixels) of the Gaussian filter applied before thresholding, like SExtractor's
# default.conv; it favours point-like sources a few pixels wide without merging neighbours
_FILTER_FWHM = 2.0
_FILTER_SIZE = 5
# sources used to measure the stellar FWHM
_STAR_MIN_SNR = 20.0
_STAR_MAX_ELLIPTICITY = 0.3
# masked runs up to this long along a row are interpolated for the detection (SExtractor's
# INTERP_MAXXLAG): a bad column through a star must not cut it in two
_INTERP_MAX_GAP = 16
# rows per band of the full-frame comparisons and filters (temporaries of ~1 MB)
_BAND_ROWS = 128
# Moffat fit of FWHM_IMAGE: pixels within 1.5 first-guess FWHM (twice the
# half-light radius), 3 to 20 pixels; the guess overestimates a Moffat's FWHM
# by 1.0 (Gaussian) to 1.36 (beta 2.5), hence the start at 1/1.15 of it
_FIT_RADIUS_PER_SIZE = 1.5
_FIT_MIN_RADIUS = 3.0
_FIT_MAX_RADIUS = 20.0
_START_SIZE_PER_FWHM = 1.15
_START_BETA = 3.5
# u = 1/beta: 0.01 is Gaussian to 0.3%, 0.8 (beta 1.25) broader than any seeing
_FIT_MIN_U = 0.01
_FIT_MAX_U = 0.8
_FIT_MIN_FWHM = 0.2
# sources at least this bright (FLUX_AUTO / FLUXERR_AUTO) fit their own beta
_FREE_BETA_MIN_SNR = 50.0
_FIT_MAX_ITER = 40
# a fit stops when a step changes log FWHM and 1/beta by less than this
_FIT_TOLERANCE = 1e-4
# stamp pixels fitted at once (bounds the fit's memory to a few tens of MB)
_FIT_CHUNK_PIXELS = 25_000
_LN2 = math.log(2.0)


def detect_sources(
    data: np.ndarray,
    variance: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    wcs: Any = None,
    detect_thresh: float = 2.0,
    analysis_thresh: float = 2.0,
    detect_minarea: int = 8,
    deblend_mincont: float = 0.005,
    back_size: int = 32,
    back_filtersize: int = 8,
    phot_min_radius_pix: float = 3.5,
    pixel_scale: float | None = None,
    saturation: float | None = None,
    aper_radius_pix: float | None = None,
    deblend_nthresh: int = 32,
) -> tuple[Table, np.ndarray]:
    """Find and measure the sources in an image.

    Parameters
    ----------
    data : numpy.ndarray, shape (ny, nx)
        Image, not background-subtracted, in any flux unit (e.g. electrons).
    variance : numpy.ndarray, shape (ny, nx), optional
        Per-pixel variance of ``data`` (unit squared); used for the flux
        errors and to weight the profile fits. Without it the background rms
        is used as the per-pixel error (which leaves out the sources' own
        Poisson noise).
    mask : numpy.ndarray, shape (ny, nx), optional
        DQ array; pixels with ``mask != 0`` are excluded from the background,
        the detection and the photometry. Pass ``mask & ~DQ.saturated`` (or
        similar) to keep some flagged pixels in. Masked runs of up to 16
        pixels along a row are interpolated for the detection and the
        measurements (as SExtractor interpolates zero-weight pixels), so that
        a source crossing a bad column is found whole, with an unbiased
        centroid, and FLAGS bit 16.
    wcs : astropy.wcs.WCS or gwcs.WCS, optional
        Adds X_WORLD/Y_WORLD, and FWHM_WORLD when ``pixel_scale`` is None.
    detect_thresh : float
        Detection threshold in units of the background rms, applied to the
        filtered image (SExtractor DETECT_THRESH).
    analysis_thresh : float
        Isophote, in units of the background rms, that bounds each source's
        segment (SExtractor ANALYSIS_THRESH). When lower than
        ``detect_thresh``, segments are grown down to this level but are
        kept only if they hold ``detect_minarea`` pixels above
        ``detect_thresh``.
    detect_minarea : int
        Minimum number of connected pixels above the threshold.
    deblend_mincont : float
        Minimum fraction of a blend's flux that a branch must hold to be
        split off (SExtractor DEBLEND_MINCONT); 1 or more disables deblending.
    back_size : int
        Side of the background boxes, pixels (SExtractor BACK_SIZE).
    back_filtersize : int
        Size, in boxes, of the median filter applied to the background grid
        (SExtractor BACK_FILTERSIZE); an even value is rounded up to the next
        odd one, and it is capped at the number of boxes. Each box's level is
        SExtractor's mode estimate (2.5 median - 1.5 mean of the 3-sigma
        clipped pixels) and its rms the clipped standard deviation.
    phot_min_radius_pix : float
        Smallest radius of the FLUX_AUTO aperture, pixels (the primitive
        converts ``phot_min_radius`` from arcsec).
    pixel_scale : float, optional
        Arcsec per pixel, for FWHM_WORLD; measured from ``wcs`` at the image
        centre when not given.
    saturation : float, optional
        Saturation level in the units of ``data``; sources with a pixel at or
        above it get FLAGS bit 4.
    aper_radius_pix : float, optional
        Radius of the FLUX_APER circle, pixels; default ``phot_min_radius_pix``.
    deblend_nthresh : int
        Number of multi-threshold levels used to deblend (SExtractor
        DEBLEND_NTHRESH).

    Returns
    -------
    objcat : astropy.table.Table
        One row per source, columns described in the module docstring (no
        rows if nothing was found).
    objmask : numpy.ndarray of uint8, shape (ny, nx)
        1 on the pixels of every source's segment, 0 elsewhere.

    Raises
    ------
    ValueError
        If ``data`` is not 2-D, the shapes disagree, or a parameter is out of
        range.

    Notes
    -----
    Thresholds use the background rms map, not the variance, as SExtractor
    does without a weight map: the variance contains the sources' own Poisson
    noise, which would raise the threshold on top of every source.

    Memory: besides its inputs the function holds at most about five
    full-frame 32-bit arrays and two boolean masks (20-24 bytes per pixel):
    the residual, the filtered image, the error and the segmentation (two
    copies while deblending). The background map is dropped once
    subtracted (its mesh gives the BACKGROUND column) and full-frame
    comparisons and filters run in bands of rows.
    """
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"data must be 2-D, got shape {data.shape}")
    for name, array in (("variance", variance), ("mask", mask)):
        if array is not None and np.shape(array) != data.shape:
            raise ValueError(f"{name} shape {np.shape(array)} differs from data shape {data.shape}")
    if detect_thresh <= 0 or analysis_thresh <= 0:
        raise ValueError(
            f"thresholds must be positive (detect_thresh={detect_thresh}, "
            f"analysis_thresh={analysis_thresh})"
        )
    if detect_minarea < 1:
        raise ValueError(f"detect_minarea must be at least 1, got {detect_minarea}")
    if back_size < 2:
        raise ValueError(f"back_size must be at least 2 pixels, got {back_size}")
    if phot_min_radius_pix <= 0:
        raise ValueError(f"phot_min_radius_pix must be positive, got {phot_min_radius_pix}")
    aper_radius = float(phot_min_radius_pix if aper_radius_pix is None else aper_radius_pix)

    # Full-frame arrays are freed (del) as soon as they are no longer needed and
    # derived in place where possible: in a reduction this function sets the
    # peak memory of the worker processes.
    image = np.asarray(data, dtype=np.float32)
    bad = ~np.isfinite(image)
    if mask is not None:
        bad |= np.asarray(mask) != 0
    if bad.all():
        raise ValueError("every pixel is masked or non-finite: nothing to detect")

    background, background_rms, background_mesh = _background(
        image, bad, back_size, back_filtersize
    )
    good = ~bad
    back_med = float(np.median(background[good], overwrite_input=True))
    back_rms = float(np.median(background_rms[good], overwrite_input=True))
    del good
    residual = np.subtract(image, background)
    residual[bad] = 0.0
    # the measurements need the background only at the centroids, evaluated from the mesh
    del image, background
    # the detection sees short masked runs (bad columns, cosmic rays) filled in along
    # their rows, so that a source crossing one stays one segment; the measurements
    # still leave the masked pixels out (and flag the source)
    filled = _interpolate_short_runs(residual, bad, _INTERP_MAX_GAP)
    detection = residual
    kernel = make_2dgaussian_kernel(_FILTER_FWHM, size=_FILTER_SIZE).array
    filtered = ndimage.convolve(detection, kernel.astype(np.float32), mode="nearest")
    unfilled = bad & ~filled
    del filled

    above_low, above_detect = _threshold_masks(
        filtered, background_rms, unfilled, detect_thresh, analysis_thresh
    )
    if variance is not None:
        del background_rms
    segmentation = _segment_sources(above_low & ~unfilled, above_detect, detect_minarea)
    del above_detect
    split_labels = np.zeros(0, dtype=np.int32)
    if segmentation is not None and deblend_mincont < 1:
        # multi-thresholding can only split a segment with at least two peaks, so the
        # (slow) deblending is run on those alone
        candidates = _multi_peak_labels(filtered, segmentation, above_low)
        del above_low
        if len(candidates):
            segmentation, split_labels = _deblend(
                filtered, segmentation, candidates, detect_minarea, deblend_nthresh,
                deblend_mincont
            )
    else:
        del above_low

    if segmentation is None:
        del detection, filtered
        objmask = np.zeros(data.shape, dtype=np.uint8)
        objcat = _empty_catalog(wcs is not None, pixel_scale is not None or wcs is not None)
    else:
        saturated_labels, masked_labels = _flagged_labels(
            segmentation.data, data, bad, mask, saturation
        )
        if variance is not None:
            error = np.array(variance, dtype=np.float32)
            np.clip(error, 0, None, out=error)
            np.sqrt(error, out=error)
            error[bad] = 0.0
            # an interpolated pixel is as uncertain as its neighbours
            _interpolate_short_runs(error, bad, _INTERP_MAX_GAP)
        else:
            error = background_rms
            del background_rms
        if pixel_scale is None and wcs is not None:
            pixel_scale = _wcs_pixel_scale(wcs, (data.shape[1] - 1) / 2, (data.shape[0] - 1) / 2)
        # sources are measured on the interpolated image, as SExtractor does (a centroid
        # with a masked column left out would move away from it); FLAGS bit 16 still
        # marks every source touching a masked pixel
        objcat = _measure(
            detection,
            segmentation,
            filtered,
            error,
            unfilled,
            bad,
            background_mesh,
            split_labels,
            saturated_labels,
            masked_labels,
            wcs,
            pixel_scale,
            phot_min_radius_pix,
            aper_radius,
        )
        del detection, filtered, error, unfilled, bad
        objmask = np.empty(data.shape, dtype=np.uint8)
        np.greater(segmentation.data, 0, out=objmask, casting="unsafe")
    objcat.meta["BACK_MED"] = back_med
    objcat.meta["BACK_RMS"] = back_rms
    objcat.meta["DETECT_THRESH"] = float(detect_thresh)
    objcat.meta["APER_RADIUS"] = aper_radius
    if pixel_scale is not None:
        objcat.meta["PIXSCALE"] = float(pixel_scale)
    return objcat, objmask


def _row_bands(ny: int, halo: int = 0):
    """Row ranges covering ``ny`` rows: (start, stop, padded start, padded stop).

    Full-frame operations done band by band keep their temporaries small;
    the ``halo`` rows let a 3x3 filter see the same neighbours as on the
    whole frame.
    """
    for start in range(0, ny, _BAND_ROWS):
        stop = min(start + _BAND_ROWS, ny)
        yield start, stop, max(start - halo, 0), min(stop + halo, ny)


def _interpolate_short_runs(image: np.ndarray, bad: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill in place, by linear interpolation, masked runs of at most ``max_gap`` pixels in a row.

    Returns the mask of the pixels filled; runs that are longer or touch the
    row's ends are left as they are.
    """
    filled = np.zeros(bad.shape, dtype=bool)
    nx = bad.shape[1]
    for row in np.flatnonzero(bad.any(axis=1)):
        mask = bad[row]
        edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        short = (stops - starts <= max_gap) & (starts > 0) & (stops < nx)
        if not short.any():
            continue
        columns = np.concatenate([np.arange(a, b) for a, b in
                                  zip(starts[short], stops[short], strict=True)])
        good = np.flatnonzero(~mask)
        image[row, columns] = np.interp(columns, good, image[row, good])
        filled[row, columns] = True
    return filled


def _background(
    image: np.ndarray, bad: np.ndarray, back_size: int, back_filtersize: int
) -> tuple[np.ndarray, np.ndarray, _BackgroundMesh]:
    """Background and rms maps (float32), like SExtractor's mesh + median filter + spline.

    Also returns the background mesh, to evaluate the background at chosen
    pixels once the map is gone.
    """
    ny, nx = image.shape
    box = (min(back_size, ny), min(back_size, nx))
    n_boxes = (int(np.ceil(ny / box[0])), int(np.ceil(nx / box[1])))
    filter_size = tuple(
        max(1, min(int(back_filtersize) | 1, n if n % 2 else n - 1)) for n in n_boxes
    )
    # allow heavily masked boxes (e.g. next to an unilluminated region): the
    # sigma-clipped statistics need only a few hundred good pixels
    background = Background2D(
        image,
        box,
        mask=bad,
        filter_size=filter_size,
        exclude_percentile=75.0,
        sigma_clip=SigmaClip(sigma=3.0, maxiters=10),
        bkg_estimator=SExtractorBackground(),
        bkg_rms_estimator=StdBackgroundRMS(),
    )
    # the maps are views of arrays padded to whole boxes: copy them only when needed
    level = np.asarray(background.background, dtype=np.float32)
    if level.base is not None:
        level = level.copy()
    rms = np.asarray(background.background_rms, dtype=np.float32)
    if rms.base is not None:
        rms = rms.copy()
    return level, rms, _BackgroundMesh(np.asarray(background.background_mesh), box)


@dataclass(frozen=True)
class _BackgroundMesh:
    """The background of `Background2D` as its low-resolution mesh of boxes.

    `at` gives the same values as the full map, which `Background2D` makes
    by cubic-spline zoom of the mesh (box centres on the mesh points,
    reflected edges) clipped to the mesh's range.
    """

    mesh: np.ndarray
    box: tuple[int, int]

    def at(self, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
        """Background at integer pixels (``iy``, ``ix``), float32."""
        low, high = np.min(self.mesh), np.max(self.mesh)
        if low == high:
            return np.full(np.shape(iy), low, dtype=np.float32)
        coordinates = [(np.asarray(iy) + 0.5) / self.box[0] - 0.5,
                       (np.asarray(ix) + 0.5) / self.box[1] - 0.5]
        values = ndimage.map_coordinates(self.mesh, coordinates, order=3, mode="reflect")
        return np.clip(values, low, high).astype(np.float32)


def _threshold_masks(
    filtered: np.ndarray,
    background_rms: np.ndarray,
    bad: np.ndarray,
    detect_thresh: float,
    analysis_thresh: float,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels of ``filtered`` above the analysis isophote, and (if higher) above ``detect_thresh``.

    The first mask ignores ``bad`` (it also bounds the deblending peaks); the
    second excludes it and is None when ``detect_thresh`` is not above
    ``analysis_thresh``.
    """
    low = min(detect_thresh, analysis_thresh)
    above_low = np.empty(filtered.shape, dtype=bool)
    above_detect = np.empty(filtered.shape, dtype=bool) if detect_thresh > analysis_thresh else None
    for start, stop, _, _ in _row_bands(filtered.shape[0]):
        # a zero rms (e.g. a constant image) would make every pixel a detection
        band_rms = background_rms[start:stop]
        rms = np.where(band_rms > 0, band_rms, np.inf).astype(np.float32)
        np.greater(filtered[start:stop], low * rms, out=above_low[start:stop])
        if above_detect is not None:
            np.greater(filtered[start:stop], detect_thresh * rms, out=above_detect[start:stop])
            above_detect[start:stop] &= ~bad[start:stop]
    return above_low, above_detect


def _segment_sources(
    above: np.ndarray, above_detect: np.ndarray | None, detect_minarea: int
) -> SegmentationImage | None:
    """Segmentation of the connected groups of ``above`` pixels of at least ``detect_minarea``.

    Segments are numbered 1..N in the order of ``scipy.ndimage.label``
    (8-connectivity); with ``above_detect`` only segments holding
    ``detect_minarea`` of its pixels are kept. None if no segment is left.
    """
    labelled, n_labels = ndimage.label(above, structure=np.ones((3, 3), dtype=bool))
    del above
    if n_labels == 0:
        return None
    keep = _label_counts(labelled, n_labels) >= detect_minarea
    if above_detect is not None:
        n_above = np.zeros(n_labels + 1, dtype=np.int64)
        for start, stop, _, _ in _row_bands(labelled.shape[0]):
            band = labelled[start:stop][above_detect[start:stop]]
            n_above += np.bincount(band, minlength=n_labels + 1)
        keep &= n_above >= detect_minarea
    keep[0] = False
    if not keep.any():
        return None
    if not keep[1:].all():
        _relabel_in_place(labelled, keep)
    return SegmentationImage(labelled)


def _label_counts(labelled: np.ndarray, max_label: int) -> np.ndarray:
    """Number of pixels of each label 0..max_label (counted band by band)."""
    counts = np.zeros(max_label + 1, dtype=np.int64)
    for start, stop, _, _ in _row_bands(labelled.shape[0]):
        counts += np.bincount(labelled[start:stop].ravel(), minlength=max_label + 1)
    return counts


def _relabel_in_place(labelled: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Number the labels flagged in ``keep`` 1..N in order and zero the others, in place.

    Returns the map from old to new labels.
    """
    new_label = np.zeros(len(keep), dtype=labelled.dtype)
    new_label[keep] = np.arange(1, np.count_nonzero(keep) + 1, dtype=labelled.dtype)
    for start, stop, _, _ in _row_bands(labelled.shape[0]):
        labelled[start:stop] = new_label[labelled[start:stop]]
    return new_label


def _deblend(
    filtered: np.ndarray,
    segmentation: SegmentationImage,
    candidates: np.ndarray,
    detect_minarea: int,
    deblend_nthresh: int,
    deblend_mincont: float,
) -> tuple[SegmentationImage, np.ndarray]:
    """Multi-threshold deblending of the ``candidates`` segments.

    Returns the new segmentation, numbered 1..N, and the labels of its
    segments that were split from a blend.
    """
    deblended = deblend_sources(
        filtered,
        segmentation,
        n_pixels=detect_minarea,
        labels=candidates,
        n_levels=deblend_nthresh,
        contrast=deblend_mincont,
        mode="exponential",
        progress_bar=False,
        # renumbered below band by band: photutils would hold a third full-frame copy
        relabel=False,
    )
    split = deblended.deblended_labels
    del segmentation
    labelled = deblended.data
    present = np.zeros(int(labelled.max()) + 1, dtype=bool)
    for start, stop, _, _ in _row_bands(labelled.shape[0]):
        present[labelled[start:stop]] = True
    present[0] = False
    new_label = _relabel_in_place(labelled, present)
    return SegmentationImage(labelled), new_label[split]


def _multi_peak_labels(
    filtered: np.ndarray, segmentation: SegmentationImage, above_floor: np.ndarray
) -> np.ndarray:
    """Labels of segments with more than one local maximum (3x3) among ``above_floor`` pixels."""
    counts = np.zeros(segmentation.max_label + 1, dtype=np.int64)
    for start, stop, low, high in _row_bands(filtered.shape[0], halo=1):
        local_max = ndimage.maximum_filter(filtered[low:high], size=3)[start - low:stop - low]
        peaks = (filtered[start:stop] == local_max) & above_floor[start:stop]
        labels_at_peaks = segmentation.data[start:stop][peaks]
        counts += np.bincount(labels_at_peaks, minlength=len(counts))
    counts[0] = 0
    return np.flatnonzero(counts >= 2)


def _flagged_labels(
    segmentation_data: np.ndarray,
    data: np.ndarray,
    bad: np.ndarray,
    mask: np.ndarray | None,
    saturation: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels whose segment grown by one pixel holds a saturated pixel, and a masked one.

    The grown segmentation gives each pixel the largest label within its
    3x3 neighbourhood; it is built band by band.
    """
    saturated, masked = [], []
    for start, stop, low, high in _row_bands(segmentation_data.shape[0], halo=1):
        grown = ndimage.grey_dilation(segmentation_data[low:high], size=(3, 3))
        grown = grown[start - low:stop - low]
        band_bad = bad[start:stop]
        masked.append(grown[band_bad])
        hot = np.zeros(band_bad.shape, dtype=bool)
        if saturation is not None:
            with np.errstate(invalid="ignore"):
                hot |= np.where(band_bad, 0.0, data[start:stop].astype(np.float32)) >= saturation
        if mask is not None:
            hot |= (np.asarray(mask[start:stop]) & _DQ_SATURATED) != 0
        saturated.append(grown[hot])
    return tuple(
        np.unique(values[values > 0])
        for values in (np.concatenate(saturated), np.concatenate(masked))
    )


def _measure(
    residual: np.ndarray,
    segmentation: SegmentationImage,
    filtered: np.ndarray,
    error: np.ndarray,
    unfilled: np.ndarray,
    bad: np.ndarray,
    background: _BackgroundMesh,
    split_labels: np.ndarray,
    saturated_labels: np.ndarray,
    masked_labels: np.ndarray,
    wcs: Any,
    pixel_scale: float | None,
    phot_min_radius_pix: float,
    aper_radius: float,
) -> Table:
    catalog = SourceCatalog(
        residual,
        segmentation,
        convolved_data=filtered,
        error=error,
        mask=unfilled,
        kron_params=(2.5, 1.4, phot_min_radius_pix),
        progress_bar=False,
    )
    labels = np.asarray(catalog.label, dtype=np.int32)
    n = len(labels)

    x_bary = np.asarray(catalog.x_centroid, dtype=float)
    y_bary = np.asarray(catalog.y_centroid, dtype=float)
    x_win = np.asarray(catalog.x_centroid_win, dtype=float)
    y_win = np.asarray(catalog.y_centroid_win, dtype=float)
    # the windowed centroid can wander off faint or blended sources
    use_win = (
        np.isfinite(x_win) & np.isfinite(y_win) & (np.hypot(x_win - x_bary, y_win - y_bary) < 2)
    )
    x = np.where(use_win, x_win, x_bary)
    y = np.where(use_win, y_win, y_bary)

    flux_auto = np.asarray(catalog.kron_flux, dtype=float)
    fluxerr_auto = np.asarray(catalog.kron_flux_err, dtype=float)
    flux_aper, fluxerr_aper = catalog.circular_photometry(aper_radius)
    a = np.asarray(catalog.semimajor_axis, dtype=float)
    b = np.asarray(catalog.semiminor_axis, dtype=float)
    theta = np.asarray(catalog.orientation, dtype=float)
    ellipticity = np.asarray(catalog.ellipticity, dtype=float)
    area = np.asarray(catalog.area, dtype=float)
    flux_max = np.asarray(catalog.max_value, dtype=float)

    ny, nx = residual.shape
    ix = np.clip(np.round(x).astype(int, copy=False) if n else np.zeros(0, int), 0, nx - 1)
    iy = np.clip(np.round(y).astype(int, copy=False) if n else np.zeros(0, int), 0, ny - 1)
    finite_xy = np.isfinite(x) & np.isfinite(y)
    ix = np.where(finite_xy, ix, 0)
    iy = np.where(finite_xy, iy, 0)
    back_at = background.at(iy, ix).astype(float)

    flags = np.zeros(n, dtype=np.int16)
    index_of = np.full(int(labels.max(initial=0)) + 1, -1, dtype=np.int64)
    index_of[labels] = np.arange(n)
    for label_set, bit in (
        (split_labels, FLAG_BLENDED),
        (saturated_labels, FLAG_SATURATED),
        (masked_labels, FLAG_MASKED),
    ):
        if len(label_set):
            flags[index_of[label_set]] |= bit
    edge = (
        (np.asarray(catalog.bbox_xmin) == 0)
        | (np.asarray(catalog.bbox_ymin) == 0)
        | (np.asarray(catalog.bbox_xmax) == nx - 1)
        | (np.asarray(catalog.bbox_ymax) == ny - 1)
    )
    flags[edge] |= FLAG_TRUNCATED

    with np.errstate(divide="ignore", invalid="ignore"):
        snr = flux_auto / fluxerr_auto
        mag_auto = np.where(flux_auto > 0, -2.5 * np.log10(flux_auto), np.nan)
        magerr_auto = np.where(flux_auto > 0, 2.5 / np.log(10) * fluxerr_auto / flux_auto, np.nan)
    half_light_diameter = 2.0 * np.asarray(catalog.flux_radius(0.5), dtype=float)
    fwhm = _source_fwhm(residual, segmentation.data, labels, x, y, half_light_diameter, error,
                        bad, snr, ellipticity, flags)
    fwhm_star = _stellar_fwhm(fwhm, snr, ellipticity, flags)
    # a cuspy galaxy (de Vaucouleurs) can have a stellar core FWHM but not a stellar
    # half-light diameter: a star must match the stars in both
    half_light_star = _stellar_fwhm(half_light_diameter, snr, ellipticity, flags)
    with np.errstate(invalid="ignore", divide="ignore"):
        deviation = np.maximum(np.abs(fwhm / fwhm_star - 1.0),
                               np.abs(half_light_diameter / half_light_star - 1.0))
        z = deviation / np.hypot(0.1, 1.0 / np.clip(snr, 1.0, None))
        class_star = np.exp(-0.5 * z**2) if np.isfinite(fwhm_star) else np.full(n, np.nan)

    table = Table()
    table["NUMBER"] = labels
    table["X_IMAGE"] = x + 1.0
    table["Y_IMAGE"] = y + 1.0
    if wcs is not None:
        ra, dec = SkyWCS(wcs).pixel_to_world(x, y)
        table["X_WORLD"] = ra
        table["Y_WORLD"] = dec
        table["X_WORLD"].unit = table["Y_WORLD"].unit = "deg"
    table["FLUX_AUTO"] = flux_auto
    table["FLUXERR_AUTO"] = fluxerr_auto
    table["MAG_AUTO"] = mag_auto
    table["MAGERR_AUTO"] = magerr_auto
    table["FLUX_APER"] = np.asarray(flux_aper, dtype=float)
    table["FLUXERR_APER"] = np.asarray(fluxerr_aper, dtype=float)
    table["FLUX_MAX"] = flux_max
    table["BACKGROUND"] = back_at
    table["A_IMAGE"] = a
    table["B_IMAGE"] = b
    table["THETA_IMAGE"] = theta
    table["ELLIPTICITY"] = ellipticity
    table["FWHM_IMAGE"] = fwhm
    if pixel_scale is not None:
        table["FWHM_WORLD"] = fwhm * pixel_scale
        table["FWHM_WORLD"].unit = "arcsec"
    table["ISOAREA_IMAGE"] = area.astype(np.int32)
    table["FLAGS"] = flags
    table["CLASS_STAR"] = class_star
    for name in ("X_IMAGE", "Y_IMAGE", "A_IMAGE", "B_IMAGE", "FWHM_IMAGE"):
        table[name].unit = "pix"
    table["THETA_IMAGE"].unit = "deg"
    table.meta["FWHM_STAR"] = float(fwhm_star)
    return table


def profile_fwhm(
    image: np.ndarray,
    segmentation: np.ndarray,
    labels: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    size: np.ndarray,
    error: np.ndarray | None = None,
    bad: np.ndarray | None = None,
    beta: float | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """FWHM of sources from a circular Moffat profile fitted around each centroid.

    The profile ``A (1 + (2**(1/beta) - 1) (2 r / FWHM)**2)**(-beta)`` is
    fitted, with the amplitude, the FWHM and (unless given) beta free (beta
    from 1.25 to 100, i.e. Gaussian), to the background-subtracted pixels
    within ``1.5 size`` (3 to 20 pixels) of the centroid, by weighted least
    squares (Levenberg-Marquardt, all sources of a size at once). The
    profile is sampled at the pixel centres, so the FWHM is that of the PSF
    convolved with the pixel, as sampled by the detector. Pixels of other
    segments (neighbours), masked pixels and pixels off the image get no
    weight.

    Parameters
    ----------
    image : numpy.ndarray, shape (ny, nx)
        Background-subtracted image.
    segmentation : numpy.ndarray of int, shape (ny, nx)
        Segment labels (0: sky).
    labels : numpy.ndarray of int, shape (n,)
        Each source's label in ``segmentation``.
    x, y : numpy.ndarray, shape (n,)
        0-based centroids.
    size : numpy.ndarray, shape (n,)
        A first estimate of each FWHM in pixels (e.g. twice the half-light
        radius); sets the fitting radius and the starting point.
    error : numpy.ndarray, shape (ny, nx), optional
        Per-pixel 1-sigma error for the weights; uniform weights without it.
        Pixels with a zero or non-finite error get no weight.
    bad : numpy.ndarray of bool, shape (ny, nx), optional
        Pixels to leave out.
    beta : float or numpy.ndarray, shape (n,), optional
        Moffat index held fixed (per source, NaN: free); all free by
        default. Fixing it to the stars' value steadies faint sources.

    Returns
    -------
    fwhm : numpy.ndarray of float, shape (n,)
        FWHM in pixels; NaN where the fit is impossible (fewer than
        5 usable pixels, a non-finite start, or a non-positive amplitude).
    beta : numpy.ndarray of float, shape (n,)
        Fitted (or fixed) Moffat index; NaN where ``fwhm`` is.
    """
    labels = np.asarray(labels)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    size = np.asarray(size, dtype=float)
    fixed_u = 1.0 / np.broadcast_to(np.nan if beta is None else beta, labels.shape).astype(float)
    fwhm = np.full(len(labels), np.nan)
    fitted_beta = np.full(len(labels), np.nan)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(size) & (size > 0)
    radius = np.clip(_FIT_RADIUS_PER_SIZE * np.where(ok, size, 1.0), _FIT_MIN_RADIUS,
                     _FIT_MAX_RADIUS)
    half = np.ceil(radius).astype(int)
    for h in np.unique(half[ok]):
        members = np.flatnonzero(ok & (half == h))
        chunk = max(1, _FIT_CHUNK_PIXELS // (2 * h + 1) ** 2)
        for start in range(0, len(members), chunk):
            sel = members[start:start + chunk]
            fwhm[sel], fitted_beta[sel] = _fit_moffat_stamps(
                image, segmentation, error, bad, labels[sel], x[sel], y[sel], size[sel],
                radius[sel], fixed_u[sel], int(h))
    return fwhm, fitted_beta


def _fit_moffat_stamps(
    image: np.ndarray,
    segmentation: np.ndarray,
    error: np.ndarray | None,
    bad: np.ndarray | None,
    labels: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    size: np.ndarray,
    radius: np.ndarray,
    fixed_u: np.ndarray,
    half: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Moffat FWHM of sources on stamps of side ``2 half + 1`` (see `profile_fwhm`)."""
    ny, nx = image.shape
    offsets = np.arange(-half, half + 1)
    cols = np.rint(x).astype(np.int64)[:, None] + offsets
    rows = np.rint(y).astype(np.int64)[:, None] + offsets
    inside = ((rows >= 0) & (rows < ny))[:, :, None] & ((cols >= 0) & (cols < nx))[:, None, :]
    pixel = (np.clip(rows, 0, ny - 1)[:, :, None], np.clip(cols, 0, nx - 1)[:, None, :])
    values = image[pixel].astype(float)
    r2 = ((rows - y[:, None]) ** 2)[:, :, None] + ((cols - x[:, None]) ** 2)[:, None, :]
    owner = segmentation[pixel]
    use = inside & (r2 <= (radius**2)[:, None, None])
    use &= (owner == labels[:, None, None]) | (owner == 0)
    use &= np.isfinite(values)
    if bad is not None:
        use &= ~bad[pixel]
    if error is not None:
        sigma = error[pixel].astype(float)
        use &= np.isfinite(sigma) & (sigma > 0)
        weight = np.where(use, 1.0 / np.where(use, sigma, 1.0) ** 2, 0.0)
    else:
        weight = use.astype(float)
    values = np.where(use, values, 0.0)
    n_used = use.sum(axis=(1, 2))

    # parameters: amplitude, log FWHM and u = 1/beta (u -> 0 is a Gaussian)
    amplitude = np.zeros(len(x))
    log_fwhm = np.log(size / _START_SIZE_PER_FWHM)
    free_u = ~np.isfinite(fixed_u)
    u = np.where(free_u, 1.0 / _START_BETA, np.clip(fixed_u, _FIT_MIN_U, _FIT_MAX_U))
    fit = np.flatnonzero(n_used >= 5)
    if len(fit):
        amplitude[fit], log_fwhm[fit], u[fit] = _levenberg_marquardt(
            r2[fit], values[fit], weight[fit], log_fwhm[fit], u[fit], free_u[fit],
            np.log(4.0 * radius[fit]))
    good = (n_used >= 5) & (amplitude > 0)
    return np.where(good, np.exp(log_fwhm), np.nan), np.where(good, 1.0 / u, np.nan)


def _levenberg_marquardt(
    r2: np.ndarray,
    values: np.ndarray,
    weight: np.ndarray,
    log_fwhm: np.ndarray,
    u: np.ndarray,
    free_u: np.ndarray,
    log_fwhm_max: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least-squares Moffat fits of many stamps at once; returns amplitude, log FWHM, u.

    ``u`` (1/beta) is only fitted where ``free_u``. Each source has its own
    damping; sources drop out of the (compacted) working set as they
    converge.
    """
    n = len(u)
    log_fwhm = log_fwhm.copy()
    u = u.copy()
    model, jac_fwhm, jac_u = _moffat_and_derivatives(r2, np.exp(log_fwhm), u)
    with np.errstate(invalid="ignore", divide="ignore"):
        amplitude = (np.sum(weight * values * model, axis=(1, 2))
                     / np.sum(weight * model * model, axis=(1, 2)))
    amplitude = np.where(np.isfinite(amplitude), amplitude, 0.0)
    chi2 = np.sum(weight * (values - amplitude[:, None, None] * model) ** 2, axis=(1, 2))
    damping = np.full(n, 1e-3)
    work = np.arange(n)      # sources of the working arrays below
    active = np.ones(n, dtype=bool)
    log_min = math.log(_FIT_MIN_FWHM)
    for _ in range(_FIT_MAX_ITER):
        if not active.any():
            break
        if np.count_nonzero(active) < 0.7 * len(work):
            keep = active
            work, r2, values, weight = work[keep], r2[keep], values[keep], weight[keep]
            model, jac_fwhm, jac_u = model[keep], jac_fwhm[keep], jac_u[keep]
            active = active[keep]
        a = amplitude[work][:, None, None]
        residual = values - a * model
        wm = weight * model
        d_fwhm = a * jac_fwhm
        d_u = a * jac_u
        hess = np.empty((len(work), 3, 3))
        hess[:, 0, 0] = np.sum(wm * model, axis=(1, 2))
        hess[:, 0, 1] = hess[:, 1, 0] = np.sum(wm * model * d_fwhm, axis=(1, 2))
        hess[:, 0, 2] = hess[:, 2, 0] = np.sum(wm * model * d_u, axis=(1, 2))
        wmm = wm * model
        hess[:, 1, 1] = np.sum(wmm * d_fwhm * d_fwhm, axis=(1, 2))
        hess[:, 1, 2] = hess[:, 2, 1] = np.sum(wmm * d_fwhm * d_u, axis=(1, 2))
        hess[:, 2, 2] = np.sum(wmm * d_u * d_u, axis=(1, 2))
        wmr = wm * residual
        grad = np.stack((np.sum(wmr, axis=(1, 2)), np.sum(wmr * d_fwhm, axis=(1, 2)),
                         np.sum(wmr * d_u, axis=(1, 2))), axis=1)
        damp = damping[work]
        diag = np.einsum("nii->ni", hess)
        hess += (damp[:, None] * diag)[:, :, None] * np.eye(3)
        fixed = ~free_u[work]
        hess[fixed, 2, :] = hess[fixed, :, 2] = 0.0
        hess[fixed, 2, 2] = 1.0
        grad[fixed, 2] = 0.0
        hess[~active] = np.eye(3)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            try:
                step = np.linalg.solve(hess, grad[..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = np.stack([_safe_solve(h, g) for h, g in zip(hess, grad, strict=True)])
        step[~active | ~np.all(np.isfinite(step), axis=1)] = 0.0
        # bounded steps keep the linearisation meaningful far from the minimum
        np.clip(step[:, 1], -0.5, 0.5, out=step[:, 1])
        np.clip(step[:, 2], -0.2, 0.2, out=step[:, 2])
        old_log_fwhm, old_u = log_fwhm[work], u[work]
        new_amplitude = amplitude[work] + step[:, 0]
        new_log_fwhm = np.clip(old_log_fwhm + step[:, 1], log_min, log_fwhm_max[work])
        new_u = np.clip(old_u + step[:, 2], _FIT_MIN_U, _FIT_MAX_U)
        new_model, new_jac_fwhm, new_jac_u = _moffat_and_derivatives(r2, np.exp(new_log_fwhm),
                                                                     new_u)
        new_chi2 = np.sum(weight * (values - new_amplitude[:, None, None] * new_model) ** 2,
                          axis=(1, 2))
        old_chi2 = chi2[work]
        better = active & (new_chi2 <= old_chi2)
        small_step = (np.abs(new_log_fwhm - old_log_fwhm) < _FIT_TOLERANCE) & (
            np.abs(new_u - old_u) < _FIT_TOLERANCE)
        converged = small_step | (better & (old_chi2 - new_chi2 <= 1e-9 * old_chi2))
        sel = work[better]
        amplitude[sel] = new_amplitude[better]
        log_fwhm[sel] = new_log_fwhm[better]
        u[sel] = new_u[better]
        chi2[sel] = new_chi2[better]
        model[better] = new_model[better]
        jac_fwhm[better] = new_jac_fwhm[better]
        jac_u[better] = new_jac_u[better]
        damping[work] = np.where(better, damp * 0.1, damp * 10.0)
        active &= ~converged & (damping[work] < 1e10)
    return amplitude, log_fwhm, u


def _safe_solve(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(matrix, vector)
    except np.linalg.LinAlgError:
        return np.zeros_like(vector)


def _moffat_and_derivatives(
    r2: np.ndarray, fwhm: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit-peak Moffat ``(1 + c r2 / FWHM**2)**(-1/u)``, c = 4 (2**u - 1), and derivatives.

    Returns the model and the derivatives of its logarithm with respect to
    log FWHM and u.
    """
    c = (4.0 * np.expm1(u * _LN2))[:, None, None]
    inv_u = (1.0 / u)[:, None, None]
    s = r2 / (fwhm**2)[:, None, None]
    cs = c * s
    log1p_cs = np.log1p(cs)
    model = np.exp(-inv_u * log1p_cs)
    ratio = s / (1.0 + cs)
    d_log_fwhm = 2.0 * inv_u * c * ratio
    dc_du = (4.0 * _LN2 * np.exp(u * _LN2))[:, None, None]
    d_u = inv_u * inv_u * log1p_cs - inv_u * dc_du * ratio
    return model, d_log_fwhm, d_u


def _source_fwhm(
    residual: np.ndarray,
    segmentation_data: np.ndarray,
    labels: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    half_light_diameter: np.ndarray,
    error: np.ndarray,
    bad: np.ndarray,
    snr: np.ndarray,
    ellipticity: np.ndarray,
    flags: np.ndarray,
) -> np.ndarray:
    """FWHM_IMAGE: Moffat fits, beta free for bright sources and the stars' beta for the rest.

    A free beta lets noise trade the core against the wings in faint
    sources; their fits use the median beta of the clean bright stars (or
    the default seeing value, 3.5, when there are none). Where a fit fails
    the half-light diameter stands in.
    """
    bright = snr >= _FREE_BETA_MIN_SNR
    fwhm = np.full(len(labels), np.nan)
    beta = np.full(len(labels), np.nan)
    if bright.any():
        fwhm[bright], beta[bright] = profile_fwhm(
            residual, segmentation_data, labels[bright], x[bright], y[bright],
            half_light_diameter[bright], error=error, bad=bad)
    stars = bright & np.isfinite(fwhm) & (flags == 0) & (ellipticity < _STAR_MAX_ELLIPTICITY)
    if stars.any():
        # the stellar locus: galaxies are broader (in FWHM or, if cuspy, in half-light
        # diameter), cosmic rays sharper
        stars &= np.abs(fwhm / np.median(fwhm[stars]) - 1.0) < 0.3
        stars &= np.abs(half_light_diameter / np.median(half_light_diameter[stars]) - 1.0) < 0.2
    psf_beta = float(np.median(beta[stars])) if stars.any() else _START_BETA
    faint = ~bright
    if faint.any():
        fwhm[faint], _ = profile_fwhm(
            residual, segmentation_data, labels[faint], x[faint], y[faint],
            half_light_diameter[faint], error=error, bad=bad, beta=psf_beta)
    return np.where(np.isfinite(fwhm), fwhm, half_light_diameter)


def _stellar_fwhm(
    fwhm: np.ndarray, snr: np.ndarray, ellipticity: np.ndarray, flags: np.ndarray
) -> float:
    """Median FWHM of clean, round, bright sources, refined once around the first median."""
    candidates = (
        (flags == 0)
        & (snr >= _STAR_MIN_SNR)
        & (ellipticity < _STAR_MAX_ELLIPTICITY)
        & np.isfinite(fwhm)
        & (fwhm > 0)
    )
    values = fwhm[candidates]
    if len(values) == 0:
        return float("nan")
    first = np.median(values)
    near = values[np.abs(values / first - 1.0) < 0.3]
    return float(np.median(near)) if len(near) else float(first)


def _empty_catalog(with_world: bool, with_fwhm_world: bool) -> Table:
    int_columns = {"NUMBER": np.int32, "ISOAREA_IMAGE": np.int32, "FLAGS": np.int16}
    table = Table()
    for name in OBJCAT_COLUMNS:
        if name in ("X_WORLD", "Y_WORLD") and not with_world:
            continue
        if name == "FWHM_WORLD" and not with_fwhm_world:
            continue
        table[name] = np.zeros(0, dtype=int_columns.get(name, float))
    table.meta["FWHM_STAR"] = float("nan")
    return table
