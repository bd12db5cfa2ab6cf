"""Primitive mix-in Preprocess: dark and flat correction, flat normalisation, sky subtraction.

Calibration application (``darkCorrect``, ``flatCorrect``): the calibration
of each frame comes from the primitive's parameter, a ``setCalibration``
pin, ``--user_cal`` or the calibration service (``CalibDB._get_cal`` with
``do_cal``). Binning must agree; a dark must be in the frame's units and of
its exposure time (0.01 s). A calibration covering a larger region of the
detector than the frame (a full-frame flat for a GSAOI standard-star ROI) is
cut to the frame: each science extension is matched to the calibration
extension of the same array (``array_name``) whose detector section
(``DETSEC``) contains its own, and the offset follows from the detector and
data sections (``DATASEC``) of both. Subtraction and division propagate the
variance to first order and OR the DQ planes; ``DARKIM``/``FLATIM`` and a
PROVENANCE row record the calibration used.

Flats: ``normalizeFlat`` divides by the median (or mean) of the good pixels,
of all extensions together by default so that the relative gains of the
arrays of a mosaic (GSAOI) stay in the flat; ``thresholdFlatfield`` flags
values outside [lower, upper] as unilluminated (DQ 64) and sets the flat to
1 there (and where it is unilluminated or below ``lower``), so that dividing
by it leaves those pixels unchanged.

Sky (near-IR imaging): ``separateSky`` sorts exposures into object and sky
frames by field of view (:func:`gempy.library.sky.group_by_field`),
``associateSky`` gives each object frame the list of sky frames to use
(``SKYTABLE``; :func:`gempy.library.sky.associate_sky`), ``skyCorrect``
stacks those skies with ``stackSkyFrames`` (objects masked) and subtracts
the stack, scaled (``scale_sky``) or offset (``offset_sky``) to the frame's
background, which is measured robustly on the pixels free of flags and
objects. ``subtractSky`` subtracts a given sky frame. When a frame and its
skies were divided by the same flat, the sky stack carries that flat's error
in full and ``skyCorrect`` removes the covariance from the output variance
(:mod:`primitives.core.flat_error`).

No pixel array of an input is changed in place: new arrays are assigned, and
a frame that is also in the ``sky`` stream gets a new object (sharing the
pixel arrays the subtraction replaces) before it is sky-subtracted, so the
sky frames used later stay as they were.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from astropy.table import Table

import astrodata
from astrodata import DQ, Section
from astrodata.nddata import NDAstroData
from astrodata.provenance import add_provenance, md5sum
from gempy.library import sky as skylib
from primitives.base import PrimitivesBASE
from primitives.core import flat_error
from primitives.core.frame_sections import binning_of, sections_of
from primitives.core.stack import robust_level
from primitives.errors import ParameterError, PrimitiveError
from primitives.params import Param, primitive, resolve_params

__all__ = ["Preprocess", "matching_calibration", "DARK_EXPTIME_TOLERANCE"]

#: A dark may be used for a frame whose exposure time differs by at most this (s).
DARK_EXPTIME_TOLERANCE = 0.01

_DO_CAL = {
    "procmode": "required in sq mode; skipped with a warning in ql/qa when missing",
    "force": "always required",
    "skip": "do not apply",
}

_SKY_STREAM = "sky"
_NO_SKIES_STREAM = "no_skies"


# ---------------------------------------------------------------------------
# calibration matching
# ---------------------------------------------------------------------------
def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _open(value: Any) -> Any:
    """An AstroData object from a file name or an AstroData object."""
    if hasattr(value, "phu"):
        return value
    try:
        return astrodata.open(os.fspath(value))
    except astrodata.AstroDataError as err:
        raise PrimitiveError(f"cannot open calibration {value}: {err}") from err


def _contains(outer: Section, inner: Section) -> bool:
    return (outer.x1 <= inner.x1 and inner.x2 <= outer.x2
            and outer.y1 <= inner.y1 and inner.y2 <= outer.y2)


def _read_only(nd: NDAstroData) -> NDAstroData:
    """An NDAstroData whose data, variance and mask are read-only views of those of `nd`.

    A calibration is applied to many frames and never changed: a view costs
    no copy (and, for a calibration read from its file, only pages of the
    page cache), while writing into it raises instead of corrupting it.
    """
    def view(array: Any) -> np.ndarray | None:
        if array is None:
            return None
        array = np.asarray(array).view()
        array.setflags(write=False)
        return array

    return NDAstroData(view(nd.data), variance=view(nd.variance), mask=view(nd.mask))


def _sharing_copy(ad: Any) -> Any:
    """A deep copy of `ad` that shares (does not copy) its loaded pixel planes.

    For an output whose data, variance and mask are about to be replaced by
    new arrays (arithmetic never changes them in place): copying them first
    would only double the memory. Everything else (headers, WCS, tables,
    OBJMASK) is copied; planes not loaded yet stay lazy (and map the file
    again, as a deep copy does).
    """
    memo: dict[int, Any] = {}
    for ext in ad:
        nd = ext.nddata
        for plane in (nd._data, nd._mask, getattr(nd._uncertainty, "array", None)):
            if isinstance(plane, np.ndarray):
                memo[id(plane)] = plane
    return copy.deepcopy(ad, memo)


def matching_calibration(ad: Any, cal: Any, caltype: str = "calibration") -> list[NDAstroData]:
    """The part of calibration `cal` that lies under each extension of frame `ad`.

    Extensions are paired one to one when both objects have the same number
    of extensions of the same shapes covering the same detector sections.
    Otherwise each science extension is matched to the calibration extension
    of the same array (when array names are known) whose detector section
    contains the science one, and the matching region is cut out.

    Returns
    -------
    list of NDAstroData
        One per science extension, holding read-only views of the calibration's
        data, variance and mask (no copy: they must not be changed in place).

    Raises
    ------
    PrimitiveError
        If the binnings differ or an extension has no counterpart.
    """
    if binning_of(ad) != binning_of(cal):
        raise PrimitiveError(f"{ad.filename}: binning {binning_of(ad)} differs from that of the "
                             f"{caltype} {cal.filename} {binning_of(cal)}")
    sci_det, cal_det = sections_of(ad, "detector_section"), sections_of(cal, "detector_section")
    if len(ad) == len(cal) and all(
        tuple(e.shape) == tuple(c.shape) and (s is None or d is None or s == d)
        for e, c, s, d in zip(ad, cal, sci_det, cal_det, strict=True)
    ):
        return [_read_only(c.nddata) for c in cal]

    xbin, ybin = binning_of(ad)
    sci_data, cal_data = sections_of(ad, "data_section"), sections_of(cal, "data_section")
    sci_names = _as_list(ad.array_name()) if hasattr(ad, "array_name") else [None] * len(ad)
    cal_names = _as_list(cal.array_name()) if hasattr(cal, "array_name") else [None] * len(cal)
    if len(sci_names) != len(ad):
        sci_names = [None] * len(ad)
    if len(cal_names) != len(cal):
        cal_names = [None] * len(cal)
    matched = []
    for index, ext in enumerate(ad):
        ds = sci_det[index]
        if ds is None:
            raise PrimitiveError(f"{ad.filename} extension {index + 1}: no detector section, "
                                 f"cannot find its region in the {caltype} {cal.filename}")
        ny, nx = ext.shape
        sci_origin = sci_data[index] or Section(0, nx, 0, ny)
        found = None
        for k, cal_ext in enumerate(cal):
            dc = cal_det[k]
            if dc is None or not _contains(dc, ds):
                continue
            if sci_names[index] and cal_names[k] and sci_names[index] != cal_names[k]:
                continue
            if (ds.x1 - dc.x1) % xbin or (ds.y1 - dc.y1) % ybin:
                continue
            cal_origin = cal_data[k] or Section(0, cal_ext.shape[1], 0, cal_ext.shape[0])
            x0 = (ds.x1 - dc.x1) // xbin + cal_origin.x1 - sci_origin.x1
            y0 = (ds.y1 - dc.y1) // ybin + cal_origin.y1 - sci_origin.y1
            if x0 < 0 or y0 < 0 or x0 + nx > cal_ext.shape[1] or y0 + ny > cal_ext.shape[0]:
                continue
            found = _read_only(cal_ext.nddata.window[y0:y0 + ny, x0:x0 + nx])
            break
        if found is None:
            raise PrimitiveError(
                f"{ad.filename} extension {index + 1} (array {sci_names[index]}, detector "
                f"section {ds.asIRAFsection()}) is not covered by the {caltype} "
                f"{cal.filename}")
        matched.append(found)
    return matched


def _as_float32(ext: Any) -> None:
    """Keep data and variance float32 after arithmetic with other types."""
    nd = ext.nddata
    if nd.data.dtype != np.float32 and nd.data.dtype.kind in "fiu":
        nd.data = nd.data.astype(np.float32)
    variance = nd.variance
    if variance is not None and variance.dtype != np.float32:
        nd.variance = variance.astype(np.float32)


# ---------------------------------------------------------------------------
# sky helpers
# ---------------------------------------------------------------------------
def _good_pixels(ext: Any, use_objmask: bool = True) -> np.ndarray:
    """Pixel values of an extension free of DQ flags (and of objects, if masked)."""
    data = np.asarray(ext.data)
    good = np.isfinite(data)
    if ext.mask is not None:
        good &= np.asarray(ext.mask) == 0
    if use_objmask:
        objmask = getattr(ext, "OBJMASK", None)
        if objmask is not None:
            good &= np.asarray(objmask) == 0
    return data[good]


def _level(ext: Any, what: str, use_objmask: bool = True) -> float:
    level = robust_level(_good_pixels(ext, use_objmask))
    if level is None:
        raise PrimitiveError(f"{what} extension {ext.id}: no good pixel to measure the "
                             f"background on")
    return level


def _frame_position(ad: Any) -> tuple[float, float]:
    """Pointing (RA, Dec) in degrees: the WCS reference point, else the PHU RA/Dec."""
    for ra_name, dec_name in (("wcs_ra", "wcs_dec"), ("ra", "dec")):
        try:
            ra, dec = getattr(ad, ra_name)(), getattr(ad, dec_name)()
        except (AttributeError, TypeError):
            continue
        if ra is not None and dec is not None:
            return float(ra), float(dec)
    raise PrimitiveError(f"{ad.filename}: no pointing (RA, Dec) in the WCS or the header")


def _field_radius(ad: Any) -> float:
    """Half the smaller dimension of the field of view (all extensions), arcsec."""
    scale = ad.pixel_scale()
    if scale is None:
        raise PrimitiveError(f"{ad.filename}: no pixel scale, cannot size the field of view")
    sections = sections_of(ad, "detector_section")
    xbin, ybin = binning_of(ad)
    if all(s is not None for s in sections):
        width = (max(s.x2 for s in sections) - min(s.x1 for s in sections)) / xbin
        height = (max(s.y2 for s in sections) - min(s.y1 for s in sections)) / ybin
    else:
        height, width = (max(ext.shape[i] for ext in ad) for i in (0, 1))
    return 0.5 * min(width, height) * float(scale)


def _optional(ad: Any, name: str, **kwargs: Any) -> Any:
    try:
        value = getattr(ad, name)(**kwargs)
    except (AttributeError, TypeError):
        return None
    return tuple(value) if isinstance(value, list) else value


def _configuration(ad: Any) -> tuple:
    """What must be equal for one frame to be the sky of another."""
    exptime = _optional(ad, "exposure_time")
    return (
        _optional(ad, "instrument"),
        _optional(ad, "filter_name", pretty=True),
        None if exptime is None else round(float(exptime), 2),
        _optional(ad, "coadds"),
        _optional(ad, "read_mode"),
        binning_of(ad),
        tuple(tuple(ext.shape) for ext in ad),
    )


def _frame_info(ad: Any, with_field: bool = False) -> skylib.FrameInfo:
    ra, dec = _frame_position(ad)
    when = ad.ut_datetime()
    if when is None:
        raise PrimitiveError(f"{ad.filename}: no observation time (ut_datetime)")
    offsets = (_optional(ad, "telescope_x_offset"), _optional(ad, "telescope_y_offset"))
    sensor = _optional(ad, "wavefront_sensor")
    unguided = sensor is None and all(k in ad.phu for k in ("PWFS1_ST", "PWFS2_ST", "OIWFS_ST"))
    flags = {}
    if "OBJFRAME" in ad.phu or "SKYFRAME" in ad.phu:
        flags = {"is_object": "OBJFRAME" in ad.phu, "is_sky": "SKYFRAME" in ad.phu}
    return skylib.FrameInfo(
        name=ad.filename, ut_datetime=when, ra=ra, dec=dec, config=_configuration(ad),
        field_radius=_field_radius(ad) if with_field else None,
        offset=None if None in offsets else (float(offsets[0]), float(offsets[1])),
        guided=not unguided, **flags)


def _strip_fits(name: str) -> str:
    name = os.path.basename(name.strip())
    return name[:-5] if name.endswith(".fits") else name


class Preprocess(PrimitivesBASE):
    """Dark and flat correction, flat normalisation and thresholding, sky subtraction."""

    tagset = None

    # -- calibration application ------------------------------------------
    def _apply_calibration(self, adinputs: list, params: dict, caltype: str,
                           user_value: Any, keyword: str) -> list:
        name = self.myself()
        timestamp = self.timestamp_keys[name]
        todo = [ad for ad in adinputs if timestamp not in ad.phu]
        for ad in adinputs:
            if timestamp in ad.phu:
                self.log.warning(f"{ad.filename}: already processed by {name}; left unchanged")
        if not todo:
            return adinputs
        cals = self._get_cal(todo, caltype, user_value, params["do_cal"])
        opened: dict[Any, Any] = {}
        for ad, cal in zip(todo, cals, strict=True):
            if cal is None:
                continue
            key = id(cal) if hasattr(cal, "phu") else os.path.abspath(os.fspath(cal))
            if key not in opened:
                opened[key] = _open(cal)
            cal_ad = opened[key]
            if caltype == "processed_dark":
                self._check_dark(ad, cal_ad)
            parts = matching_calibration(ad, cal_ad, caltype.replace("processed_", ""))
            levels = []
            for ext, part in zip(ad, parts, strict=True):
                if caltype == "processed_dark":
                    ext.subtract(part)
                else:
                    ext.divide(part)
                _as_float32(ext)
                levels.append(np.nanmedian(part.data))
            verb = "subtracted" if caltype == "processed_dark" else "divided by"
            whole = len(parts) == len(cal_ad) and all(
                tuple(part.shape) == tuple(c.shape) for part, c in zip(parts, cal_ad, strict=True))
            cut = "" if whole else " (cut to the frame's region)"
            self.log.stdinfo(f"{ad.filename}: {verb} {cal_ad.filename}{cut}; median level "
                             f"{', '.join(f'{v:.4g}' for v in levels)}")
            ad.phu[keyword] = (cal_ad.filename, f"{caltype.replace('processed_', '')} used")
            path = getattr(cal_ad, "path", None)
            if path and os.path.isfile(path):
                add_provenance(ad, cal_ad.filename, md5sum(path) or "", name)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    def _check_dark(self, ad: Any, dark: Any) -> None:
        if ad.is_in_adu() != dark.is_in_adu():
            units = {True: "ADU", False: "electrons"}
            raise PrimitiveError(f"{ad.filename} is in {units[ad.is_in_adu()]} but the dark "
                                 f"{dark.filename} is in {units[dark.is_in_adu()]}")
        t_sci, t_dark = ad.exposure_time(), dark.exposure_time()
        if t_sci is None or t_dark is None:
            raise PrimitiveError(f"{ad.filename}: cannot compare exposure times with the dark "
                                 f"{dark.filename} (missing EXPTIME)")
        if abs(t_sci - t_dark) > DARK_EXPTIME_TOLERANCE:
            message = (f"{ad.filename} has an exposure time of {t_sci} s but the dark "
                       f"{dark.filename} has {t_dark} s; use a dark of the same exposure time")
            if self.mode == "sq":
                raise PrimitiveError(message)
            self.log.warning(f"{message} (subtracted unscaled, {self.mode} mode)")

    @primitive(
        per_file=lambda p: not isinstance(p["dark"], (list, tuple)) or len(p["dark"]) < 2,
        suffix=Param(str, "_darkCorrected", "Filename suffix"),
        dark=Param(object, None, "Processed dark: file or AstroData, or a list (one per input)"),
        do_cal=Param(str, "procmode", "Dark correction requirement", choices=_DO_CAL),
    )
    def darkCorrect(self, adinputs=None, **params):
        """Subtract the processed dark from each input (``DARKIM``)."""
        return self._apply_calibration(adinputs, params, "processed_dark", params["dark"],
                                       "DARKIM")

    @primitive(
        per_file=lambda p: not isinstance(p["flat"], (list, tuple)) or len(p["flat"]) < 2,
        suffix=Param(str, "_flatCorrected", "Filename suffix"),
        flat=Param(object, None, "Processed flat: file or AstroData, or a list (one per input)"),
        do_cal=Param(str, "procmode", "Flat correction requirement", choices=_DO_CAL),
    )
    def flatCorrect(self, adinputs=None, **params):
        """Divide each input by the processed flat (``FLATIM``), cut to its region if needed.

        The flats given as ``flat`` are noted for this process, so that the
        sky primitives can find the flat's error again
        (:mod:`primitives.core.flat_error`).
        """
        outputs = self._apply_calibration(adinputs, params, "processed_flat", params["flat"],
                                          "FLATIM")
        for value in [] if params["flat"] is None else _as_list(params["flat"]):
            flat_error.register_flat(value)
        return outputs

    # -- flats ---------------------------------------------------------------
    @primitive(
        suffix=Param(str, "_normalized", "Filename suffix"),
        scale=Param(str, "median", "Statistic of the good pixels the flat is divided by",
                    choices={"median": "median", "mean": "mean"}),
        separate_ext=Param(bool, False, "Normalize each extension by its own statistic"),
    )
    def normalizeFlat(self, adinputs=None, **params):
        """Divide each flat by the median (or mean) of its good pixels (``_normalized``).

        By default the statistic covers all extensions together, which keeps
        the relative response of the arrays of a mosaic in the flat.
        """
        statistic = np.median if params["scale"] == "median" else np.mean
        timestamp = self.timestamp_keys["normalizeFlat"]
        for ad in adinputs:
            if timestamp in ad.phu:
                self.log.warning(f"{ad.filename}: already normalized; left unchanged")
                continue
            samples = [_good_pixels(ext, use_objmask=False).astype(np.float64) for ext in ad]
            groups = [[i] for i in range(len(ad))] if params["separate_ext"] \
                else [list(range(len(ad)))]
            levels = []
            for group in groups:
                values = np.concatenate([samples[i] for i in group])
                if values.size == 0:
                    raise PrimitiveError(f"{ad.filename}: no good (unflagged, finite) pixel to "
                                         f"normalize the flat with")
                level = float(statistic(values))
                if not np.isfinite(level) or level == 0:
                    raise PrimitiveError(f"{ad.filename}: the {params['scale']} of the good "
                                         f"pixels is {level}; cannot normalize")
                for i in group:
                    ad[i].divide(np.float32(level))
                    _as_float32(ad[i])
                levels.append(level)
            self.log.stdinfo(f"{ad.filename}: divided by the {params['scale']} of the good "
                             f"pixels, {', '.join(f'{v:.6g}' for v in levels)}")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(
        suffix=Param(str, "_thresholdFlatfielded", "Filename suffix"),
        upper=Param(float, 10.0, "Flat values above this are flagged unilluminated", min=1.0),
        lower=Param(float, 0.01, "Flat values below this are flagged unilluminated", max=1.0),
    )
    def thresholdFlatfield(self, adinputs=None, **params):
        """Flag flat values outside [lower, upper] (DQ 64) and set unusable flat pixels to 1.

        Pixels already flagged bad keep their flag only. The flat becomes 1.0
        where it is unilluminated or without data, below ``lower`` or not
        finite, so dividing by it leaves those science pixels unchanged.
        """
        lower, upper = params["lower"], params["upper"]
        timestamp = self.timestamp_keys["thresholdFlatfield"]
        for ad in adinputs:
            if timestamp in ad.phu:
                self.log.warning(f"{ad.filename}: already thresholded; left unchanged")
                continue
            counts = []
            for ext in ad:
                data = np.asarray(ext.data)
                mask = np.zeros(data.shape, DQ.datatype) if ext.mask is None \
                    else np.asarray(ext.mask)
                finite = np.isfinite(data)
                with np.errstate(invalid="ignore"):
                    outside = ~finite | (data > upper) | (data < lower)
                flagged = outside & ((mask & DQ.bad_pixel) == 0)
                new_mask = mask | np.where(flagged, DQ.unilluminated, 0).astype(DQ.datatype)
                with np.errstate(invalid="ignore"):
                    unity = ((new_mask & (DQ.unilluminated | DQ.no_data)) != 0) | ~finite \
                        | (data < lower)
                nd = ext.nddata
                nd.data = np.where(unity, np.float32(1.0), data).astype(np.float32)
                nd.mask = new_mask
                if nd.variance is not None:
                    nd.variance = np.where(unity, np.float32(0.0), nd.variance).astype(np.float32)
                counts.append(int(flagged.sum()))
            self.log.stdinfo(f"{ad.filename}: {sum(counts)} pixels outside [{lower:g}, "
                             f"{upper:g}] flagged unilluminated")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- scaleByIntensity --------------------------------------------------------
    @primitive(
        suffix=Param(str, "_scaled", "Filename suffix"),
        section=Param(str, None, "Region measured, IRAF syntax [x1:x2,y1:y2] (1-based, "
                      "inclusive; default: the whole frame)"),
        scaling=Param(str, "median", "Statistic of the good pixels to match",
                      choices={"median": "median", "mean": "mean"}),
        separate_ext=Param(bool, False, "Match each extension separately"),
    )
    def scaleByIntensity(self, adinputs=None, **params):
        """Scale each input so that its intensity matches the first input's (``_scaled``).

        The intensity is the median (or mean) of the good pixels (finite, no
        DQ flag) inside ``section`` of all extensions together (or of each
        extension with ``separate_ext``). Data are multiplied by
        ``reference / intensity`` and the variance by its square; the factor
        of each frame is logged and written to ``INTSCALE``.

        Raises
        ------
        PrimitiveError
            If a frame has no good pixel in the section or a non-positive
            intensity (no meaningful ratio).
        """
        if not adinputs:
            return adinputs
        statistic = np.median if params["scaling"] == "median" else np.mean
        region = None
        if params["section"]:
            try:
                region = Section.from_string(params["section"]).asslice()
            except (ValueError, TypeError) as err:
                raise ParameterError(f"scaleByIntensity: section {params['section']!r}: "
                                     f"{err}") from None

        def intensities(ad: Any) -> list[float]:
            samples = []
            for ext in ad:
                data = np.asarray(ext.data)
                good = np.isfinite(data)
                if ext.mask is not None:
                    good &= np.asarray(ext.mask) == 0
                if region is not None:
                    data, good = data[region], good[region]
                samples.append(data[good].astype(np.float64))
            groups = samples if params["separate_ext"] else [np.concatenate(samples)]
            values = []
            for group in groups:
                level = float(statistic(group)) if group.size else float("nan")
                if not np.isfinite(level) or level <= 0:
                    raise PrimitiveError(f"scaleByIntensity: {ad.filename}: the "
                                         f"{params['scaling']} of the good pixels is {level}; "
                                         f"cannot scale")
                values.append(level)
            return values if params["separate_ext"] else values * len(ad)

        reference = intensities(adinputs[0])
        for ad in adinputs:
            factors = [ref / level for ref, level in zip(reference, intensities(ad),
                                                          strict=True)]
            for ext, factor in zip(ad, factors, strict=True):
                ext.multiply(np.float32(factor))
                _as_float32(ext)
            shown = ", ".join(f"{f:.6g}" for f in dict.fromkeys(factors))
            self.log.stdinfo(f"{ad.filename}: scaled by {shown}")
            ad.phu["INTSCALE"] = (float(factors[0]), "Intensity scale factor (scaleByIntensity)")
            self.mark(ad, keyword="SCALEINT")
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- sky: grouping and association ---------------------------------------
    def _resolve_names(self, adinputs: list, names: Iterable[str] | None) -> tuple[list, list]:
        """Input file names matching user-given names (root names allowed); and the unknown."""
        found, missing = [], []
        for name in names or []:
            root = _strip_fits(name)
            if not root:
                continue
            match = next((ad.filename for ad in adinputs if root in ad.filename), None)
            if match is None:
                missing.append(name)
            elif match not in found:
                found.append(match)
        return found, missing

    @primitive(
        suffix=Param(str, "_skySeparated", "Filename suffix"),
        ref_obj=Param(list, None, "Files to treat as object frames (comma-separated names)",
                      item=str),
        ref_sky=Param(list, None, "Files to treat as sky frames (comma-separated names)",
                      item=str),
        frac_FOV=Param(float, 0.9, "Fraction of the field radius within which pointings "
                       "share a field", min=0.5, max=1.0),
    )
    def separateSky(self, adinputs=None, **params):
        """Sort the inputs into object frames (main stream) and sky frames (``sky`` stream).

        Groups pointings by field of view; the OBJFRAME/SKYFRAME keywords and
        ``ref_obj``/``ref_sky`` override the automatic choice; unguided
        frames are sky. A single field (dither on target) makes every frame
        both object and sky. Writes OBJFRAME, SKYFRAME and EXPGROUP.
        """
        if not adinputs:
            self.streams[_SKY_STREAM] = []
            return adinputs
        ref_obj, missing_obj = self._resolve_names(adinputs, params["ref_obj"])
        ref_sky, missing_sky = self._resolve_names(adinputs, params["ref_sky"])
        for name in missing_obj + missing_sky:
            self.log.warning(f"separateSky: {name} (ref_obj/ref_sky) is not among the inputs")
        frames = [_frame_info(ad, with_field=True) for ad in adinputs]
        target = None
        try:
            target = (float(adinputs[0].target_ra()), float(adinputs[0].target_dec()))
        except (AttributeError, TypeError, ValueError):
            target = None
        try:
            grouping = skylib.group_by_field(frames, target=target, frac_FOV=params["frac_FOV"],
                                             ref_obj=ref_obj, ref_sky=ref_sky)
        except ValueError as err:
            raise PrimitiveError(f"separateSky: {err}") from err
        self.log.stdinfo(f"Found {len(grouping.groups)} field group(s) among {len(adinputs)} "
                         f"frames")
        for number, members in enumerate(grouping.groups):
            for i in members:
                adinputs[i].phu["EXPGROUP"] = (number, "Exposure group (field of view)")
        for i in grouping.unassigned:
            self.log.warning(f"{adinputs[i].filename} is neither in ref_obj nor in ref_sky; "
                             f"it is left out")
        objects = [adinputs[i] for i in grouping.object_indices]
        skies = [adinputs[i] for i in grouping.sky_indices]
        for ad in objects:
            ad.phu["OBJFRAME"] = ("TRUE", "Object (on-target) frame")
        for ad in skies:
            ad.phu["SKYFRAME"] = ("TRUE", "Sky frame")
        both = sum(1 for ad in objects if any(ad is s for s in skies))
        self.log.stdinfo(f"{len(objects)} object frame(s), {len(skies)} sky frame(s)"
                         + (f", {both} used as both" if both else ""))
        for ad in objects:
            self.log.fullinfo(f"  object: {ad.filename}")
        for ad in skies:
            self.log.fullinfo(f"  sky:    {ad.filename}")
        done = set()
        for ad in objects + skies:
            if id(ad) in done:
                continue
            done.add(id(ad))
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        self.streams[_SKY_STREAM] = skies
        return objects

    @primitive(
        suffix=Param(str, "_skyAssociated", "Filename suffix"),
        time=Param(float, 600.0, "Largest time difference to a sky frame (seconds)", min=0.0),
        distance=Param(float, 3.0, "Smallest separation from a sky frame (arcsec)", min=0.0),
        min_skies=Param(int, 3, "Fewest sky frames wanted (overrides the time limit)", min=0,
                        optional=True),
        max_skies=Param(int, None, "Most sky frames used", min=1),
        use_all=Param(bool, False, "Use every suitable sky frame, whatever the time"),
        sky=Param(object, None, "Sky frames (files or AstroData) instead of the sky stream"),
    )
    def associateSky(self, adinputs=None, **params):
        """Choose the sky frames of each input and record them in its ``SKYTABLE``.

        Skies come from ``sky`` or the ``sky`` stream (the inputs themselves
        if there is none). A sky must have the frame's configuration and lie
        more than ``distance`` away; the nearest in time within ``time`` are
        used (at least ``min_skies``, at most ``max_skies``). Frames for which
        no sky is found move to the ``no_skies`` stream.
        """
        if params["sky"]:
            skies = [_open(s) for s in _as_list(params["sky"])]
        elif _SKY_STREAM in self.streams:
            skies = self.streams[_SKY_STREAM]
        else:
            self.log.warning("No sky stream: the inputs are their own sky frames")
            skies = list(adinputs)
        done = set()
        for ad in list(adinputs) + list(skies):
            if id(ad) in done:
                continue
            done.add(id(ad))
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        if not adinputs or not skies:
            self.log.warning("associateSky needs at least one frame and one sky frame: no sky "
                             "association")
            return adinputs
        try:
            chosen = skylib.associate_sky(
                [_frame_info(ad) for ad in adinputs], [_frame_info(s) for s in skies],
                time=params["time"], distance=params["distance"],
                min_skies=params["min_skies"] or 0, max_skies=params["max_skies"],
                use_all=params["use_all"])
        except ValueError as err:
            raise PrimitiveError(f"associateSky: {err}") from err
        kept, no_skies = [], []
        for ad, indices in zip(adinputs, chosen, strict=True):
            if not indices:
                no_skies.append(ad)
                continue
            frames = sorted((skies[k] for k in indices), key=lambda s: s.ut_datetime())
            ad.SKYTABLE = Table({"SKYNAME": [s.filename for s in frames]})
            self.log.stdinfo(f"{ad.filename}: {len(frames)} sky frame(s): "
                             f"{', '.join(s.filename for s in frames)}")
            kept.append(ad)
        if not kept:
            self.log.warning("No sky frame could be associated with any input: the frames "
                             "cannot be sky-subtracted")
            return adinputs
        for ad in no_skies:
            self.log.warning(f"{ad.filename}: no suitable sky frame; moved to the "
                             f"'{_NO_SKIES_STREAM}' stream")
        if no_skies:
            self.streams.setdefault(_NO_SKIES_STREAM, []).extend(no_skies)
        return kept

    # -- sky: subtraction ------------------------------------------------------
    def _subtract_sky(self, ad: Any, sky: Any, scale: bool, offset: bool, reset: bool,
                      save: bool, flat_relvar: list | None = None) -> None:
        """Subtract `sky` from `ad` in place (new arrays), scaled or offset to its background.

        `flat_relvar` (per extension: the relative variance of the flat that
        divided both the frame and the sky, whose VARs both hold its error)
        removes their covariance: ``VAR = VAR_frame + VAR_sky - 2 f g r2``,
        with f the frame and g the scaled sky (before any offset, which
        the flat does not multiply).
        """
        if len(ad) != len(sky):
            raise PrimitiveError(f"{ad.filename} has {len(ad)} extensions but the sky "
                                 f"{sky.filename} has {len(sky)}")
        used = []
        notes = []
        for ext_index, (ext, sky_ext) in enumerate(zip(ad, sky, strict=True)):
            if tuple(ext.shape) != tuple(sky_ext.shape):
                raise PrimitiveError(f"{ad.filename} extension {ext.id} has shape "
                                     f"{tuple(ext.shape)} but the sky {sky.filename} has "
                                     f"{tuple(sky_ext.shape)}")
            need_levels = scale or offset or reset
            sci_bg = _level(ext, ad.filename) if need_levels else None
            sky_bg = _level(sky_ext, sky.filename, use_objmask=False) \
                if (scale or offset) else None
            data = np.asarray(sky_ext.data, dtype=np.float32)
            variance = sky_ext.variance
            variance = None if variance is None else np.asarray(variance, dtype=np.float32)
            if scale:
                if sky_bg == 0 or not np.isfinite(sci_bg / sky_bg) or sci_bg / sky_bg <= 0:
                    raise PrimitiveError(f"{ad.filename}: cannot scale the sky {sky.filename} "
                                         f"(backgrounds {sci_bg:.4g} and {sky_bg:.4g})")
                factor = np.float32(sci_bg / sky_bg)
                data = data * factor
                variance = None if variance is None else variance * factor * factor
                notes.append(f"scale {factor:.4f}")
            relvar = None if flat_relvar is None else flat_relvar[ext_index]
            # the frame and the sky the flat multiplied (the frame's own arrays are
            # replaced, not changed, by the subtraction)
            frame_data, scaled_sky = (ext.data, data) if relvar is not None else (None, None)
            if offset:
                shift = np.float32(sci_bg - sky_bg)
                data = data + shift
                notes.append(f"offset {shift:+.4g}")
            mask = None if sky_ext.mask is None else np.array(sky_ext.mask)
            operand = NDAstroData(data, variance=variance, mask=mask)
            ext.subtract(operand)
            if reset:
                ext.add(np.float32(sci_bg))
            _as_float32(ext)
            if relvar is not None and ext.variance is not None and variance is not None:
                covariance = frame_data * scaled_sky
                covariance *= 2 * relvar
                fixed = ext.variance - covariance
                del covariance
                np.maximum(fixed, 0, out=fixed)
                ext.variance = fixed
            del frame_data, scaled_sky
            used.append(operand)
        residual = [robust_level(_good_pixels(ext)) for ext in ad]
        self.log.stdinfo(f"{ad.filename}: subtracted {sky.filename}"
                         + (f" ({', '.join(notes)})" if notes else "")
                         + "; background now "
                         + ", ".join("n/a" if r is None else f"{r:.3g}" for r in residual))
        if save:
            saved = copy.deepcopy(sky)
            for ext, operand in zip(saved, used, strict=True):
                ext.reset(operand.data, mask=operand.mask, variance=operand.variance)
            original = ad.filename
            ad.update_filename(suffix="_sky", strip=True)
            saved.filename, ad.filename = ad.filename, original
            saved.write(os.path.join(os.getcwd(), saved.filename), overwrite=True)
            self.log.stdinfo(f"Wrote the sky frame {saved.filename}")

    @primitive(
        cacheable=lambda p: not p["save_sky"],   # save_sky writes files
        suffix=Param(str, "_skySubtracted", "Filename suffix"),
        sky=Param(object, None, "Sky frame(s): file or AstroData, or a list (one per input)"),
        reset_sky=Param(bool, False, "Add the frame's original background back afterwards"),
        scale_sky=Param(bool, True, "Scale the sky to the frame's background"),
        offset_sky=Param(bool, False, "Offset the sky to the frame's background"),
        save_sky=Param(bool, False, "Write the sky subtracted from each frame (_sky)"),
    )
    def subtractSky(self, adinputs=None, **params):
        """Subtract a sky frame from each input, scaled or offset to its background."""
        if params["scale_sky"] and params["offset_sky"]:
            raise ParameterError("subtractSky: scale_sky and offset_sky cannot both be True")
        if params["sky"] is None:
            raise ParameterError("subtractSky: no sky frame given (sky=...)")
        skies = _as_list(params["sky"])
        if len(skies) == 1:
            skies = skies * len(adinputs)
        if len(skies) != len(adinputs):
            raise ParameterError(f"subtractSky: {len(skies)} sky frames for {len(adinputs)} "
                                 f"inputs")
        timestamp = self.timestamp_keys["subtractSky"]
        opened: dict[Any, Any] = {}
        for ad, sky in zip(adinputs, skies, strict=True):
            if timestamp in ad.phu:
                self.log.warning(f"{ad.filename}: already sky-subtracted; left unchanged")
                continue
            key = id(sky) if hasattr(sky, "phu") else os.path.abspath(os.fspath(sky))
            if key not in opened:
                opened[key] = _open(sky)
            self._subtract_sky(ad, opened[key], params["scale_sky"], params["offset_sky"],
                               params["reset_sky"], params["save_sky"])
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    def _find_sky(self, name: str, pool: list) -> Any | None:
        """The sky frame called `name`: in the sky stream, else on disk."""
        candidates = {name}
        associate = self.params["associateSky"].get("suffix") if "associateSky" in self.params \
            else None
        separate = self.params["separateSky"].get("suffix") if "separateSky" in self.params \
            else None
        if associate and separate and associate in name:
            candidates.add(name.replace(associate, separate))
        for sky in pool:
            if sky.filename in candidates:
                return sky
        for candidate in sorted(candidates):
            if os.path.isfile(candidate):
                self.log.stdinfo(f"Sky frame {candidate} read from disk")
                return _open(candidate)
        return None

    @primitive(
        inherit=("stackSkyFrames", "subtractSky"),
        exclude=("sky",),
        suffix=Param(str, "_skyCorrected", "Filename suffix"),
    )
    def skyCorrect(self, adinputs=None, **params):
        """Subtract from each input the stack of its SKYTABLE sky frames (``_skyCorrected``).

        The skies (from the ``sky`` stream, else from disk) are stacked with
        ``stackSkyFrames`` (objects masked if ``mask_objects``); each stack is
        made once and reused by the frames sharing its sky list. The stack is
        scaled (``scale_sky``) or offset (``offset_sky``) to the frame's
        background before subtraction; ``reset_sky`` adds the background back.
        """
        if params["scale_sky"] and params["offset_sky"]:
            raise ParameterError("skyCorrect: scale_sky and offset_sky cannot both be True")
        if _SKY_STREAM in self.streams:
            pool = self.streams[_SKY_STREAM]
        else:
            self.log.warning("No sky stream: the sky frames are looked for among the inputs")
            pool = list(adinputs)
        stack_names = set(resolve_params(type(self), "stackSkyFrames")) - {"suffix"}
        stack_params = {k: v for k, v in params.items() if k in stack_names}
        timestamp = self.timestamp_keys["skyCorrect"]

        keys = []
        for ad in adinputs:
            names = None
            if "SKYTABLE" in ad.tables and "SKYNAME" in ad.SKYTABLE.colnames:
                names = tuple(sorted(str(n) for n in ad.SKYTABLE["SKYNAME"]))
            keys.append(names)
        stacks: dict[tuple, Any] = {}
        outputs = []
        for i, ad in enumerate(adinputs):
            key = keys[i]
            if timestamp in ad.phu:
                self.log.warning(f"{ad.filename}: already sky-corrected; left unchanged")
                outputs.append(ad)
                continue
            if not key:
                self.log.warning(f"{ad.filename}: no SKYTABLE (run associateSky first); not "
                                 f"sky-subtracted")
                outputs.append(ad)
                continue
            if key not in stacks:
                skies = []
                for name in key:
                    sky = self._find_sky(name, pool)
                    if sky is None:
                        self.log.warning(f"{ad.filename}: sky frame {name} not found; ignored")
                    else:
                        skies.append(sky)
                if not skies:
                    self.log.warning(f"{ad.filename}: none of its sky frames was found; not "
                                     f"sky-subtracted")
                    outputs.append(ad)
                    continue
                self.log.stdinfo(f"Stacking {len(skies)} sky frame(s) for {ad.filename}")
                stacks[key] = (self.stackSkyFrames(skies, **stack_params)[0],
                               flat_error.common_flat_error(self, skies))
            sky, sky_flat = stacks[key]
            own_flat = flat_error.flat_error_of(self, ad)
            shared = own_flat is not None and own_flat.same_flat(sky_flat)
            if own_flat is not None and not shared:
                self.log.fullinfo(f"{ad.filename}: its sky frames were not all divided by "
                                  f"its flat {own_flat.name}: no covariance to remove")
            # a frame that is also a sky frame must stay as it is for the later stacks:
            # its output is a new object sharing its arrays, which the subtraction
            # replaces rather than changes
            target = _sharing_copy(ad) if any(ad is s for s in pool) else ad
            self._subtract_sky(target, sky, params["scale_sky"], params["offset_sky"],
                               params["reset_sky"], params["save_sky"],
                               flat_relvar=own_flat.relvar if shared else None)
            del target.SKYTABLE
            self.mark(target)
            target.update_filename(suffix=params["suffix"], strip=True)
            # on disk now: the step holds one output's pixels at a time
            self.settle(target, i)
            outputs.append(target)
            for old in [k for k in stacks if k not in keys[i + 1:]]:
                del stacks[old]
        return outputs
