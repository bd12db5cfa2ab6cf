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
FWHM_IMAGE                twice the half-light radius (radius enclosing half of
                          FLUX_AUTO), pixels: exactly the FWHM for a Gaussian
                          profile and robust to the truncation of the isophote
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
                          z = (FWHM_IMAGE / FWHM_star - 1) / s, where FWHM_star
                          is the median FWHM of clean, round, S/N >= 20 sources
                          (table meta ``FWHM_STAR``) and
                          s = hypot(0.1, 1 / S/N) allows for the noise of the
                          FWHM of faint sources; extended sources and features
                          sharper than the PSF (cosmic rays, hot pixels) get
                          values near 0. NaN if no FWHM_star could be measured.
========================  ======================================================

The table ``meta`` holds ``FWHM_STAR`` (pixels), ``BACK_MED`` and
``BACK_RMS`` (median background level and rms), ``DETECT_THRESH``,
``APER_RADIUS`` (pixels) and ``PIXSCALE`` (arcsec, if known).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from astropy.stats import SigmaClip
from astropy.table import Table
from photutils.background import Background2D, SExtractorBackground, StdBackgroundRMS
from photutils.segmentation import (
    SourceCatalog,
    deblend_sources,
    make_2dgaussian_kernel,
)
from photutils.segmentation import detect_sources as _segment
from photutils.utils.exceptions import NoDetectionsWarning
from scipy import ndimage

from ._wcs import SkyWCS
from ._wcs import pixel_scale as _wcs_pixel_scale

__all__ = ["OBJCAT_COLUMNS", "detect_sources"]

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
        errors. Without it the background rms is used as the per-pixel error
        (which leaves out the sources' own Poisson noise).
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

    image = np.asarray(data, dtype=np.float32)
    bad = ~np.isfinite(image)
    if mask is not None:
        bad |= np.asarray(mask) != 0
    if bad.all():
        raise ValueError("every pixel is masked or non-finite: nothing to detect")
    image = np.where(bad, 0.0, image).astype(np.float32, copy=False)

    background, background_rms = _background(image, bad, back_size, back_filtersize)
    residual = image - background
    residual[bad] = 0.0
    # the detection sees short masked runs (bad columns, cosmic rays) filled in along
    # their rows, so that a source crossing one stays one segment; the measurements
    # still leave the masked pixels out (and flag the source)
    detection, filled = _interpolate_short_runs(residual, bad, _INTERP_MAX_GAP)
    kernel = make_2dgaussian_kernel(_FILTER_FWHM, size=_FILTER_SIZE).array
    filtered = ndimage.convolve(detection, kernel.astype(np.float32), mode="nearest")
    # a zero rms (e.g. a constant image) would make every pixel a detection
    rms = np.where(background_rms > 0, background_rms, np.inf).astype(np.float32)

    segmentation = _segment_sources(
        filtered, rms, bad & ~filled, detect_thresh, analysis_thresh, detect_minarea
    )
    if segmentation is not None and deblend_mincont < 1:
        candidates = _multi_peak_labels(
            filtered, segmentation, rms * min(detect_thresh, analysis_thresh)
        )
        if len(candidates):
            segmentation = deblend_sources(
                filtered,
                segmentation,
                n_pixels=detect_minarea,
                labels=candidates,
                n_levels=deblend_nthresh,
                contrast=deblend_mincont,
                mode="exponential",
                progress_bar=False,
            )

    if segmentation is None:
        objmask = np.zeros(data.shape, dtype=np.uint8)
        objcat = _empty_catalog(wcs is not None, pixel_scale is not None or wcs is not None)
    else:
        objmask = (segmentation.data > 0).astype(np.uint8)
        if variance is not None:
            error = np.sqrt(np.clip(np.asarray(variance, dtype=np.float32), 0, None))
            error[bad] = 0.0
            # an interpolated pixel is as uncertain as its neighbours
            error, _ = _interpolate_short_runs(error, bad, _INTERP_MAX_GAP)
        else:
            error = background_rms.astype(np.float32)
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
            bad & ~filled,
            bad,
            background,
            image,
            mask,
            wcs,
            pixel_scale,
            saturation,
            phot_min_radius_pix,
            aper_radius,
        )
    good_background = background[~bad]
    good_rms = background_rms[~bad]
    objcat.meta["BACK_MED"] = float(np.median(good_background))
    objcat.meta["BACK_RMS"] = float(np.median(good_rms))
    objcat.meta["DETECT_THRESH"] = float(detect_thresh)
    objcat.meta["APER_RADIUS"] = aper_radius
    if pixel_scale is not None:
        objcat.meta["PIXSCALE"] = float(pixel_scale)
    return objcat, objmask


def _interpolate_short_runs(
    image: np.ndarray, bad: np.ndarray, max_gap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Masked runs of at most ``max_gap`` pixels along a row, linearly interpolated.

    Returns the filled image (a copy) and the mask of the pixels filled; runs
    that are longer or touch the row's ends are left as they are.
    """
    filled = np.zeros(bad.shape, dtype=bool)
    if not bad.any():
        return image, filled
    out = np.array(image, dtype=np.float32, copy=True)
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
        out[row, columns] = np.interp(columns, good, out[row, good])
        filled[row, columns] = True
    return out, filled


def _background(
    image: np.ndarray, bad: np.ndarray, back_size: int, back_filtersize: int
) -> tuple[np.ndarray, np.ndarray]:
    """Background and rms maps, like SExtractor's mesh + median filter + spline."""
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
    return (
        np.asarray(background.background, dtype=np.float32),
        np.asarray(background.background_rms, dtype=np.float32),
    )


def _segment_sources(
    filtered: np.ndarray,
    rms: np.ndarray,
    bad: np.ndarray,
    detect_thresh: float,
    analysis_thresh: float,
    detect_minarea: int,
):
    """Segmentation at the analysis isophote, keeping segments that pass the detection test."""
    low = min(detect_thresh, analysis_thresh)
    with warnings.catch_warnings():
        # an empty field is a normal outcome here, reported by returning None
        warnings.simplefilter("ignore", NoDetectionsWarning)
        segmentation = _segment(
            filtered, low * rms, n_pixels=detect_minarea, connectivity=8, mask=bad
        )
    if segmentation is None or detect_thresh <= analysis_thresh:
        return segmentation
    above = (filtered > detect_thresh * rms) & ~bad
    labels = segmentation.labels
    n_above = ndimage.sum_labels(above, segmentation.data, labels)
    weak = labels[n_above < detect_minarea]
    if len(weak) == len(labels):
        return None
    if len(weak):
        segmentation.remove_labels(weak, relabel=True)
    return segmentation


def _multi_peak_labels(filtered: np.ndarray, segmentation, floor: np.ndarray) -> np.ndarray:
    """Labels of segments with more than one local maximum above the isophote.

    Multi-thresholding can only split a segment with at least two peaks, so
    the (slow) deblending is run on those alone.
    """
    peaks = (filtered == ndimage.maximum_filter(filtered, size=3)) & (filtered > floor)
    labels_at_peaks = segmentation.data[peaks]
    counts = np.bincount(labels_at_peaks[labels_at_peaks > 0], minlength=segmentation.max_label + 1)
    return np.flatnonzero(counts >= 2)


def _grown_labels(segmentation_data: np.ndarray) -> np.ndarray:
    """Segment labels grown by one pixel (the larger label wins where two meet)."""
    return ndimage.grey_dilation(segmentation_data, size=(3, 3))


def _labels_touching(grown: np.ndarray, where: np.ndarray) -> np.ndarray:
    hit = grown[where]
    return np.unique(hit[hit > 0])


def _measure(
    residual: np.ndarray,
    segmentation,
    filtered: np.ndarray,
    error: np.ndarray,
    bad: np.ndarray,
    flagged: np.ndarray,
    background: np.ndarray,
    image: np.ndarray,
    mask: np.ndarray | None,
    wcs: Any,
    pixel_scale: float | None,
    saturation: float | None,
    phot_min_radius_pix: float,
    aper_radius: float,
) -> Table:
    catalog = SourceCatalog(
        residual,
        segmentation,
        convolved_data=filtered,
        error=error,
        mask=bad,
        background=background,
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
    half_light = np.asarray(catalog.flux_radius(0.5), dtype=float)
    fwhm = 2.0 * half_light
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
    back_at = background[iy, ix].astype(float)

    flags = np.zeros(n, dtype=np.int16)
    index_of = np.full(segmentation.data.max() + 1, -1, dtype=np.int64)
    index_of[labels] = np.arange(n)
    deblended = getattr(segmentation, "deblended_labels", None)
    if deblended is not None and len(deblended):
        flags[index_of[np.asarray(deblended)]] |= FLAG_BLENDED
    grown = _grown_labels(segmentation.data)
    saturated_pixels = np.zeros(residual.shape, dtype=bool)
    if saturation is not None:
        saturated_pixels |= image >= saturation
    if mask is not None:
        saturated_pixels |= (np.asarray(mask) & _DQ_SATURATED) != 0
    for label_set, bit in (
        (_labels_touching(grown, saturated_pixels), FLAG_SATURATED),
        (_labels_touching(grown, flagged), FLAG_MASKED),
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
    fwhm_star = _stellar_fwhm(fwhm, snr, ellipticity, flags)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (fwhm / fwhm_star - 1.0) / np.hypot(0.1, 1.0 / np.clip(snr, 1.0, None))
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
