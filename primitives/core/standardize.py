"""Primitive mix-in Standardize: prepare raw data (validation, structure, headers, WCS), DQ, VAR.

``prepare`` turns a raw Gemini frame into the standard form every later
primitive relies on:

1. ``validateData``: the instrument matches the primitive class and the
   number of extensions is one a raw file of that instrument can have.
2. ``standardizeStructure``: pixel data become float32 (F2 also loses the
   length-1 third axis of its raw data).
3. ``standardizeHeaders``: ``ORIGNAME``, ``PROCSOFT``/``PROCSVER``/``PROCMODE``,
   then ``standardizeObservatoryHeaders`` (``NSCIEXT``, ``BUNIT``) and
   ``standardizeInstrumentHeaders`` (per-extension ``GAIN``, ``RDNOISE``,
   ``SATLEVEL``, ``NONLINEA`` and the section keywords, from the raw
   descriptors, so that the descriptors of the prepared data read them back).
4. ``standardizeWCS``: the WCS must point where the telescope pointed (target
   plus offsets) to within 10 arcsec; ``bad_wcs`` says what to do otherwise.

Finally ``EXPTIME`` becomes the total exposure time (F2 and NIRI record it
per coadd) at the moment the ``PREPARE`` keyword flips the descriptors to
their prepared behaviour, and the md5 of the raw file goes to PROVENANCE.

``addDQ`` builds the uint16 DQ plane: static BPM (processed_bpm from the
calibration service, optional) and user BPM, saturated (4) and non-linear (2)
levels, saturated IR pixels that read low (see :func:`hidden_saturation`),
then latency (``addLatencyToDQ``) and illumination (``addIllumMaskToDQ``,
bit 64). ``addVAR`` adds read and Poisson noise to the variance.

Instrument classes refine the work through hook methods, not by redeclaring
the primitives: ``_standardize_structure(ad)``,
``_standardize_instrument_headers(ad)``, ``_illumination_masks(ad)`` and
``_valid_extension_counts(ad)``.

No primitive here changes a pixel array in place: new arrays are assigned,
because the unread planes of a copied input may share a memory map with the
original.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import os
from typing import Any

import numpy as np
from scipy import ndimage

import astrodata
from astrodata import DQ, Section
from astrodata.wcs import fits_header_to_gwcs
from primitives.base import PrimitivesBASE
from primitives.core.frame_sections import binning_of
from primitives.errors import CalibrationNotFoundError, PrimitiveError
from primitives.params import Param, primitive

__all__ = [
    "Standardize",
    "VALID_EXTENSION_COUNTS",
    "WCS_TOLERANCE_ARCSEC",
    "HIDDEN_SATURATION_MAX_PIXELS",
    "hidden_saturation",
    "required_descriptor",
    "auxiliary_planes",
]

#: Numbers of extensions a raw file may have, by ``instrument(generic=True)``.
VALID_EXTENSION_COUNTS: dict[str, frozenset[int]] = {
    "F2": frozenset({1}),
    "NIRI": frozenset({1}),
    "GSAOI": frozenset({4}),
    "GMOS": frozenset({1, 2, 3, 4, 6, 12}),
}

#: Largest allowed distance between the WCS and the telescope pointing.
WCS_TOLERANCE_ARCSEC = 10.0

#: Largest region of low pixels that may be the core of a saturated star.
HIDDEN_SATURATION_MAX_PIXELS = 10000

#: Frames whose pointing does not describe the sky seen (no WCS check).
_NO_WCS_CHECK_TAGS = frozenset({"ARC", "BIAS", "DARK", "FLAT", "PINHOLE"})
#: Frames whose target coordinates are not where the telescope pointed.
_MOVING_POINTING_TAGS = frozenset({"NON_SIDEREAL", "AZEL_TARGET"})

#: Descriptor -> comment of the per-extension keyword written by prepare.
_LEVEL_KEYWORDS = {
    "gain": "Gain (electrons/ADU)",
    "read_noise": "Estimated read noise (electrons)",
    "saturation_level": "Saturation level",
    "non_linear_level": "Non-linear regime level",
}
_SECTION_DESCRIPTORS = {
    "data_section": "Data section",
    "detector_section": "Detector section",
    "array_section": "Array section",
}


def _software_version() -> str:
    try:
        return importlib.metadata.version("astroreduce")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------------
# descriptor values that must be known
# ---------------------------------------------------------------------------
class _WarningCollector(logging.Handler):
    """Collects the warnings a descriptor logs when a header value is missing."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def required_descriptor(ad: Any, name: str, **kwargs: Any) -> Any:
    """The value of descriptor `name`, which must be known for every extension.

    Descriptors give None (and log a warning) when a header value is
    missing; a primitive that cannot work without the value calls this to
    turn that into an error naming the file and the problem.

    Raises
    ------
    PrimitiveError
        If the value (or an extension's value) is None; the message repeats
        the descriptor's own explanation, e.g. ``keyword LNRS is missing``.
    """
    collector = _WarningCollector()
    logger = logging.getLogger("astrodata")
    level = logger.level
    if not logger.isEnabledFor(logging.WARNING):
        # quiet logging must not hide the reason from the error message
        logger.setLevel(logging.WARNING)
    logger.addHandler(collector)
    try:
        value = getattr(ad, name)(**kwargs)
    finally:
        logger.removeHandler(collector)
        logger.setLevel(level)
    values = value if isinstance(value, list) else [value]
    if value is None or any(v is None for v in values):
        prefix = f"{ad.filename}: "
        reasons = []
        for message in collector.messages:
            message = message.removeprefix(prefix).removesuffix("; returning None")
            if message not in reasons:
                reasons.append(message)
        reason = "; ".join(reasons) or f"{name}() gave no value"
        raise PrimitiveError(f"{ad.filename}: cannot determine {name}: {reason}")
    return value


def _as_list(value: Any, count: int) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value] * count


# ---------------------------------------------------------------------------
# DQ helpers
# ---------------------------------------------------------------------------
def hidden_saturation(data: np.ndarray, non_linear_level: float, saturation_level: float,
                      max_pixels: int = HIDDEN_SATURATION_MAX_PIXELS) -> np.ndarray:
    """Pixels of saturated IR cores that read below the non-linear level.

    An IR array read by correlated double sampling reports a pixel that was
    already saturated at the first read as a small difference, so the core
    of a very bright star can read *low*, inside a ring of saturated pixels.
    A region (4-connected) of pixels below `non_linear_level` is such a core
    when it has at most `max_pixels` pixels, is not the largest such region
    (the sky), and touches at least one saturated pixel (``>=
    saturation_level``). Every region below the non-linear level is by
    construction enclosed by pixels at or above it; asking for a saturated
    neighbour keeps dead pixels and noise dips of a bright flat, and small
    sky patches between bright galaxies, unflagged.

    Returns
    -------
    ndarray of bool
        True on the pixels to flag as saturated.
    """
    data = np.asarray(data)
    flagged = np.zeros(data.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        saturated = data >= saturation_level
        if not saturated.any():
            return flagged
        low = data < non_linear_level
    labels, count = ndimage.label(low)
    if count < 2:
        return flagged
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    candidate = sizes <= max_pixels
    candidate[0] = False
    candidate[int(np.argmax(sizes[1:])) + 1] = False
    if not candidate.any():
        return flagged
    in_candidate = candidate[labels]
    cross = ndimage.generate_binary_structure(2, 1)
    border = ndimage.binary_dilation(in_candidate, structure=cross) & ~low
    ys, xs = np.nonzero(border)
    padded = np.pad(labels, 1)
    neighbours = np.stack([padded[ys, xs + 1], padded[ys + 2, xs + 1],
                           padded[ys + 1, xs], padded[ys + 1, xs + 2]], axis=1)
    neighbours = np.where(candidate[neighbours], neighbours, 0)
    touching = np.zeros(count + 1, dtype=bool)
    touching[neighbours[saturated[ys, xs]].ravel()] = True
    touching[0] = False
    return touching[labels]


def _dq_values(array: Any) -> np.ndarray:
    """A mask file's values as DQ bits (booleans and non-zero floats are bad pixels)."""
    array = np.asarray(array)
    if array.dtype.kind == "b":
        return array.astype(DQ.datatype) * np.uint16(DQ.bad_pixel)
    if array.dtype.kind in "iu":
        return np.where(array > 0, array, 0).astype(DQ.datatype)
    finite = np.isfinite(array) & (array != 0)
    return np.where(finite, DQ.bad_pixel, 0).astype(DQ.datatype)


def _section_of(ext: Any, name: str) -> Section | None:
    try:
        value = getattr(ext, name)()
    except (AttributeError, TypeError, ValueError, KeyError):
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, Section) else None


def _block_or(array: np.ndarray, factor_y: int, factor_x: int) -> np.ndarray:
    """Rebin a DQ array by ORing blocks of factor_y x factor_x pixels."""
    ny, nx = array.shape[0] // factor_y, array.shape[1] // factor_x
    blocks = array[:ny * factor_y, :nx * factor_x].reshape(ny, factor_y, nx, factor_x)
    return np.bitwise_or.reduce(np.bitwise_or.reduce(blocks, axis=3), axis=1)


def _matching_extension(ad: Any, index: int, aux: Any) -> Any:
    """The extension of `aux` that covers extension `index` of `ad`."""
    if len(aux) == len(ad):
        return aux[index]
    try:
        name = ad[index].array_name()
        names = _as_list(aux.array_name(), len(aux))
    except (AttributeError, TypeError, ValueError, KeyError):
        name, names = None, []
    if name is not None and names.count(name) == 1:
        return aux[names.index(name)]
    if len(aux) == 1:
        return aux[0]
    raise PrimitiveError(f"{ad.filename}: cannot tell which of the {len(aux)} extensions of "
                         f"{aux.filename} covers extension {index + 1}")


def _clip_plane(ad: Any, index: int, aux_ext: Any, aux: Any) -> np.ndarray:
    """An auxiliary (BPM, mask) plane cut and rebinned to extension `index` of `ad`."""
    ext = ad[index]
    shape = tuple(ext.shape[-2:])
    plane = _dq_values(aux_ext.data)
    if plane.ndim > 2:
        plane = plane.reshape(plane.shape[-2:])
    if plane.shape == shape:
        return plane
    sci_det, aux_det = _section_of(ext, "detector_section"), _section_of(aux_ext,
                                                                         "detector_section")
    datasec = _section_of(ext, "data_section") or Section(0, shape[1], 0, shape[0])
    if sci_det is None or aux_det is None or not aux_det.contains(sci_det):
        raise PrimitiveError(
            f"{ad.filename}: {aux.filename} extension {aux_ext.id} (shape {plane.shape}) does "
            f"not match extension {index + 1} (shape {shape}) and its detector section does "
            f"not cover the data's")
    sci_xbin, sci_ybin = binning_of(ad)
    aux_xbin, aux_ybin = binning_of(aux)
    x0 = (sci_det.x1 - aux_det.x1) // aux_xbin
    y0 = (sci_det.y1 - aux_det.y1) // aux_ybin
    x1 = x0 + (sci_det.x2 - sci_det.x1) // aux_xbin
    y1 = y0 + (sci_det.y2 - sci_det.y1) // aux_ybin
    cut = plane[y0:y1, x0:x1]
    if sci_xbin != aux_xbin or sci_ybin != aux_ybin:
        if sci_xbin % aux_xbin or sci_ybin % aux_ybin:
            raise PrimitiveError(f"{ad.filename}: cannot rebin {aux.filename} "
                                 f"({aux_xbin}x{aux_ybin}) to {sci_xbin}x{sci_ybin}")
        cut = _block_or(cut, sci_ybin // aux_ybin, sci_xbin // aux_xbin)
    out = np.zeros(shape, dtype=DQ.datatype)
    region = out[datasec.asslice()]
    if cut.shape != region.shape:
        raise PrimitiveError(f"{ad.filename}: {aux.filename} cut to the detector section has "
                             f"shape {cut.shape}, the data section {region.shape}")
    out[datasec.asslice()] = cut
    return out


def auxiliary_planes(ad: Any, aux: Any) -> list[np.ndarray]:
    """One DQ-valued plane per extension of `ad` from a mask file `aux` (BPM, illumination).

    Extensions are matched by position (same count), array name, or a
    single auxiliary extension serves all. A plane whose shape differs from
    the data's is cut to the data's detector section (and rebinned by ORing
    when the data are binned more) and placed in the data section.

    Raises
    ------
    PrimitiveError
        When the extensions cannot be matched or the mask does not cover the data.
    """
    return [_clip_plane(ad, i, _matching_extension(ad, i, aux), aux) for i in range(len(ad))]


def _angular_separation_arcsec(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    r1, d1, r2, d2 = (math.radians(v) for v in (ra1, dec1, ra2, dec2))
    cos_sep = (math.sin(d1) * math.sin(d2)
               + math.cos(d1) * math.cos(d2) * math.cos(r1 - r2))
    return math.degrees(math.acos(min(1.0, max(-1.0, cos_sep)))) * 3600.0


# ---------------------------------------------------------------------------
# the mix-in
# ---------------------------------------------------------------------------
class Standardize(PrimitivesBASE):
    """Prepare raw data (validation, structure, headers, WCS) and add the DQ and VAR planes."""

    tagset = None

    # -- helpers -------------------------------------------------------------
    def _open_mask(self, value: Any, what: str, cache: dict[str, Any]) -> Any:
        """An AstroData from a file name (opened once) or an AstroData given directly."""
        if value is None or hasattr(value, "phu"):
            return value
        path = os.fspath(value)
        if path not in cache:
            if not os.path.isfile(path):
                raise PrimitiveError(f"{what} {path}: file not found")
            try:
                cache[path] = astrodata.open(path)
            except astrodata.AstroDataError as exc:
                raise PrimitiveError(f"{what} {path}: cannot be read: {exc}") from exc
        return cache[path]

    # -- hooks for the instrument classes ----------------------------------------
    def _valid_extension_counts(self, ad: Any) -> frozenset[int] | None:
        """Numbers of extensions a raw file of this instrument may have (None: any)."""
        instrument = str(ad.instrument(generic=True) or "").upper()
        return VALID_EXTENSION_COUNTS.get(instrument)

    def _standardize_structure(self, ad: Any) -> None:
        """Make the pixel data float32 (instrument classes add their own changes first)."""
        for ext in ad:
            nd = ext.nddata
            if np.dtype(nd.dtype).newbyteorder("=") != np.dtype(np.float32):
                ext.data = np.asarray(ext.data, dtype=np.float32)

    def _standardize_instrument_headers(self, ad: Any) -> None:
        """Per-extension detector levels and section keywords from the raw descriptors."""
        count = len(ad)
        levels = {name: _as_list(required_descriptor(ad, name), count)
                  for name in _LEVEL_KEYWORDS}
        for name, comment in _LEVEL_KEYWORDS.items():
            keyword = ad._keyword_for(name)
            for ext, value in zip(ad, levels[name], strict=True):
                ext.hdr[keyword] = (value, comment)
            if keyword in ad.phu:
                del ad.phu[keyword]
        for name, comment in _SECTION_DESCRIPTORS.items():
            keywords = [ad._keyword_for(name)]
            if name == "array_section" and "CCDSEC" not in keywords:
                keywords.append("CCDSEC")
            if all(all(k in ext.hdr for k in keywords) for ext in ad):
                continue
            values = _as_list(getattr(ad, name)(pretty=True), count)
            for ext, value in zip(ad, values, strict=True):
                for keyword in keywords:
                    if value is not None and keyword not in ext.hdr:
                        ext.hdr[keyword] = (value, comment)

    def _illumination_masks(self, ad: Any) -> list[np.ndarray] | None:
        """Boolean planes (True = not illuminated) from the instrument geometry, or None."""
        return None

    # -- prepare -------------------------------------------------------------
    @primitive(
        per_file=True,
        suffix=Param(str, "_prepared", "Filename suffix"),
        require_wcs=Param(bool, True, "Stop on a missing or bad WCS (see bad_wcs)"),
        bad_wcs=Param(str, "exit", "What to do with a WCS that disagrees with the pointing",
                      choices={"exit": "stop with an error", "fix": "shift the bad WCS onto "
                               "the pointing", "new": "rebuild every WCS from the pointing",
                               "ignore": "warn and keep it"}),
    )
    def prepare(self, adinputs=None, **params):
        """Validate and standardize raw data: structure, headers, WCS (suffix ``_prepared``)."""
        todo = [ad for ad in adinputs if not self._already_done(ad)]
        raw_files = {}
        for ad in todo:
            path = getattr(ad, "path", None)
            if "RAW" in ad.tags and path and os.path.isfile(path):
                raw_files[id(ad)] = (ad.filename, path)
        if todo:
            # the steps keep the input's name (messages name the file the user gave)
            todo = self.validateData(todo, suffix="")
            todo = self.standardizeStructure(todo, suffix="")
            todo = self.standardizeHeaders(todo, suffix="")
            todo = self.standardizeWCS(todo, suffix="", require_wcs=params["require_wcs"],
                                       bad_wcs=params["bad_wcs"])
        for ad in todo:
            self._total_exposure_time(ad)
            if id(ad) in raw_files:
                filename, path = raw_files[id(ad)]
                md5 = self._md5(path)
                if md5:
                    astrodata.add_provenance(ad, filename, md5, "prepare")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
            shapes = ", ".join("x".join(str(n) for n in ext.shape[::-1]) for ext in ad)
            self.log.stdinfo(f"Prepared {ad.filename}: {len(ad)} extension(s) ({shapes}), "
                             f"exposure {ad.exposure_time()} s")
        return adinputs

    def _total_exposure_time(self, ad: Any) -> None:
        """Write the total exposure time to EXPTIME (just before PREPARE is stamped).

        On unprepared data ``exposure_time()`` multiplies EXPTIME by COADDS for
        instruments whose coadds are summed; once PREPARED it reads EXPTIME
        as it is, so the two must change together.
        """
        total = ad.exposure_time()
        keyword = ad._keyword_for("exposure_time")
        if total is None:
            self.log.warning(f"{ad.filename}: the exposure time is not known; {keyword} "
                             f"left as it is")
            return
        if ad.phu.get(keyword) != total:
            self.log.fullinfo(f"{ad.filename}: {keyword} {ad.phu.get(keyword)} -> {total} "
                              f"(total of {ad.coadds()} coadd(s))")
        ad.phu[keyword] = (total, "Total exposure time (s)")
        if "COADDS" not in ad.phu:
            ad.phu["COADDS"] = (ad.coadds(), "Number of coadds")

    @primitive(suffix=Param(str, "_validated", "Filename suffix"))
    def validateData(self, adinputs=None, **params):
        """Check that each input belongs to this instrument and has a valid number of extensions."""
        tagset = {t.upper() for t in (self.tagset or ())}
        for ad in adinputs:
            if self._already_done(ad):
                continue
            instrument = str(ad.instrument(generic=True) or "")
            if tagset and instrument.upper() not in tagset:
                raise PrimitiveError(f"{ad.filename} is {instrument or 'unknown-instrument'} "
                                     f"data, not suitable for the {type(self).__name__} class")
            valid = self._valid_extension_counts(ad)
            if valid is not None and len(ad) not in valid:
                allowed = ", ".join(str(n) for n in sorted(valid))
                raise PrimitiveError(f"{ad.filename} has {len(ad)} extension(s); raw "
                                     f"{instrument} data have {allowed}")
            if "IMAGE" in ad.tags:
                xbin, ybin = binning_of(ad)
                if xbin != ybin:
                    self.log.warning(f"{ad.filename} is binned {xbin}x{ybin} (not square)")
            self.log.fullinfo(f"{ad.filename}: {instrument} data with {len(ad)} "
                              f"extension(s), valid")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(suffix=Param(str, "_structureStandardized", "Filename suffix"))
    def standardizeStructure(self, adinputs=None, **params):
        """Give the pixel data their standard form: float32 images (F2: drop the third axis)."""
        for ad in adinputs:
            if self._already_done(ad):
                continue
            before = [(tuple(ext.shape), np.dtype(ext.nddata.dtype).name) for ext in ad]
            self._standardize_structure(ad)
            after = [(tuple(ext.shape), np.dtype(ext.nddata.dtype).name) for ext in ad]
            if before != after:
                self.log.fullinfo(f"{ad.filename}: data {before[0][0]} {before[0][1]} -> "
                                  f"{after[0][0]} {after[0][1]}"
                                  + (f" ({len(ad)} extensions)" if len(ad) > 1 else ""))
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(suffix=Param(str, "_headersStandardized", "Filename suffix"))
    def standardizeHeaders(self, adinputs=None, **params):
        """Add ORIGNAME and the processing software keywords, then standardize the headers."""
        version = _software_version()
        for ad in adinputs:
            if "ORIGNAME" not in ad.phu and (ad.orig_filename or ad.filename):
                ad.phu["ORIGNAME"] = (ad.orig_filename or ad.filename,
                                      "Original filename prior to processing")
            ad.phu["PROCSOFT"] = ("astroreduce", "Data processing software used")
            ad.phu["PROCSVER"] = (version, "Software version")
            ad.phu["PROCMODE"] = (self.mode, "Processing mode (sq, ql, qa)")
        adinputs = self.standardizeObservatoryHeaders(adinputs, suffix="")
        adinputs = self.standardizeInstrumentHeaders(adinputs, suffix="")
        for ad in adinputs:
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(suffix=Param(str, "_observatoryHeadersStandardized", "Filename suffix"))
    def standardizeObservatoryHeaders(self, adinputs=None, **params):
        """Write the keywords common to all Gemini data (NSCIEXT, per-extension BUNIT)."""
        for ad in adinputs:
            if self._already_done(ad):
                continue
            ad.phu["NSCIEXT"] = (len(ad), "Number of science extensions")
            phu_unit = ad.phu.get("BUNIT")
            for ext in ad:
                if "BUNIT" not in ext.hdr:
                    ext.hdr["BUNIT"] = (str(phu_unit).strip() if phu_unit else "adu",
                                        "Physical units of the array values")
            if "BUNIT" in ad.phu:
                del ad.phu["BUNIT"]
            self.log.fullinfo(f"{ad.filename}: NSCIEXT={len(ad)}, BUNIT="
                              f"{ad[0].hdr['BUNIT'] if len(ad) else None}")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(suffix=Param(str, "_instrumentHeadersStandardized", "Filename suffix"))
    def standardizeInstrumentHeaders(self, adinputs=None, **params):
        """Write per-extension GAIN, RDNOISE, SATLEVEL, NONLINEA and sections (raw values)."""
        for ad in adinputs:
            if self._already_done(ad):
                continue
            self._standardize_instrument_headers(ad)
            first = ad[0].hdr
            self.log.stdinfo(
                f"{ad.filename}: gain {first.get(ad._keyword_for('gain'))} e-/ADU, read noise "
                f"{first.get(ad._keyword_for('read_noise'))} e-, saturation "
                f"{first.get(ad._keyword_for('saturation_level'))}, non-linear "
                f"{first.get(ad._keyword_for('non_linear_level'))}"
                + (" (extension 1)" if len(ad) > 1 else ""))
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- WCS -------------------------------------------------------------------
    @primitive(
        suffix=Param(str, "_wcsStandardized", "Filename suffix"),
        require_wcs=Param(bool, True, "Stop on a missing or bad WCS (see bad_wcs)"),
        bad_wcs=Param(str, "exit", "What to do with a WCS that disagrees with the pointing",
                      choices=("exit", "fix", "new", "ignore")),
    )
    def standardizeWCS(self, adinputs=None, **params):
        """Check the WCS against the telescope pointing (target + offsets) to 10 arcsec.

        ``bad_wcs``: ``exit`` stops with an error (a warning when
        ``require_wcs`` is False), ``fix`` shifts a bad WCS onto the pointing,
        ``new`` rebuilds every WCS from the pointing (keeping the CD matrix of
        an existing WCS), ``ignore`` only warns. Calibration frames (ARC,
        BIAS, DARK, FLAT, PINHOLE) and non-sidereal or alt-az pointings are
        not checked.
        """
        bad_wcs, require = params["bad_wcs"], params["require_wcs"]
        for ad in adinputs:
            if self._already_done(ad):
                continue
            skip = (ad.tags & _NO_WCS_CHECK_TAGS) or (ad.tags & _MOVING_POINTING_TAGS)
            if skip:
                self.log.fullinfo(f"{ad.filename}: WCS not checked ({', '.join(sorted(skip))})")
            else:
                self._check_wcs(ad, bad_wcs, require)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    def _check_wcs(self, ad: Any, bad_wcs: str, require: bool) -> None:
        try:
            expected = (ad.target_ra(offset=True), ad.target_dec(offset=True))
        except (KeyError, ValueError, TypeError):
            expected = (None, None)
        if None in expected:
            self.log.warning(f"{ad.filename}: no target coordinates; WCS not checked")
            return
        actual = (ad.wcs_ra(), ad.wcs_dec()) if len(ad) else (None, None)
        if None in actual:
            message = f"{ad.filename} has no celestial WCS"
            if bad_wcs == "new":
                self._new_wcs(ad, expected)
                self.log.stdinfo(f"{message}: built one from the pointing")
            elif require and bad_wcs != "ignore":
                raise PrimitiveError(f"{message}; use prepare(require_wcs=False) to go on "
                                     f"without one or bad_wcs='new' to build one")
            else:
                self.log.warning(message)
            return
        separation = _angular_separation_arcsec(actual[0], actual[1], *expected)
        summary = (f"WCS centre ({actual[0]:.6f}, {actual[1]:.6f}) is {separation:.1f} arcsec "
                   f"from the pointing ({expected[0]:.6f}, {expected[1]:.6f})")
        if bad_wcs == "new":
            self._shift_pointing(ad, actual, expected)
            self.log.stdinfo(f"{ad.filename}: {summary}; WCS rebuilt on the pointing")
            return
        if separation <= WCS_TOLERANCE_ARCSEC:
            self.log.fullinfo(f"{ad.filename}: {summary}: consistent")
            return
        if bad_wcs == "fix":
            self._shift_pointing(ad, actual, expected)
            self.log.warning(f"{ad.filename}: {summary}; WCS shifted onto the pointing")
        elif bad_wcs == "exit" and require:
            raise PrimitiveError(f"{ad.filename}: {summary} (more than "
                                 f"{WCS_TOLERANCE_ARCSEC:g}); use bad_wcs='fix' or 'new' to "
                                 f"repair it, or 'ignore'")
        else:
            self.log.warning(f"{ad.filename}: {summary}; kept as it is")

    @staticmethod
    def _shift_pointing(ad: Any, actual: tuple[float, float],
                        expected: tuple[float, float]) -> None:
        """Move every extension's CRVAL so that the first one's reference pixel is `expected`."""
        d_ra = (expected[0] - actual[0] + 180.0) % 360.0 - 180.0
        d_dec = expected[1] - actual[1]
        for ext in ad:
            nd, header = ext.nddata, ext.hdr
            if nd.meta_flags.get("wcs_set"):
                wcs = nd.wcs
                try:
                    crval = wcs.forward_transform["crval"]
                except (KeyError, AttributeError, IndexError) as exc:
                    raise PrimitiveError(f"{ad.filename}: the WCS of extension {ext.id} has "
                                         f"no sky rotation to shift") from exc
                crval.lon = (float(crval.lon.value) + d_ra) % 360.0
                crval.lat = float(crval.lat.value) + d_dec
                ext.wcs = wcs
                continue
            header["CRVAL1"] = ((float(header["CRVAL1"]) + d_ra) % 360.0,
                                header.comments["CRVAL1"])
            header["CRVAL2"] = (float(header["CRVAL2"]) + d_dec, header.comments["CRVAL2"])
            if nd.wcs_built():
                ext.wcs = fits_header_to_gwcs(header)

    @staticmethod
    def _new_wcs(ad: Any, expected: tuple[float, float]) -> None:
        """A tangent-plane WCS at the pointing, north up and east left turned by the PA.

        Only for frames without any WCS: the orientation of a real array may
        be flipped, which the registration primitives then correct.
        """
        scale = required_descriptor(ad, "pixel_scale") / 3600.0
        angle = math.radians(ad.position_angle() or 0.0)
        cd = ((-scale * math.cos(angle), scale * math.sin(angle)),
              (scale * math.sin(angle), scale * math.cos(angle)))
        for ext in ad:
            header = ext.hdr
            ny, nx = ext.shape[-2:]
            cards = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": (nx + 1) / 2.0,
                     "CRPIX2": (ny + 1) / 2.0, "CRVAL1": expected[0], "CRVAL2": expected[1],
                     "CD1_1": cd[0][0], "CD1_2": cd[0][1], "CD2_1": cd[1][0],
                     "CD2_2": cd[1][1], "RADESYS": "FK5"}
            for key, value in cards.items():
                header[key] = value
            ext.wcs = fits_header_to_gwcs(header)

    # -- DQ ---------------------------------------------------------------------
    @primitive(
        per_file=lambda p: not p["latency"],   # latency: earlier frames matter
        suffix=Param(str, "_dqAdded", "Filename suffix"),
        static_bpm=Param(object, "default", "Static BPM: 'default' (processed_bpm from the "
                         "calibration service, if any), a file, or None", optional=True),
        user_bpm=Param(object, None, "User BPM file ORed with the static one"),
        add_illum_mask=Param(bool, False, "Flag unilluminated pixels (bit 64)"),
        illum_mask=Param(object, None, "Illumination mask file (default: instrument geometry)"),
        latency=Param(bool, False, "Flag pixels saturated in earlier frames (addLatencyToDQ)"),
        non_linear=Param(bool, False, "Latency: also propagate non-linear pixels"),
        time=Param(float, 120.0, "Latency: how long (s) a bright pixel persists", min=0.0),
    )
    def addDQ(self, adinputs=None, **params):
        """Build the DQ plane: BPMs, saturated and non-linear pixels, latency, illumination."""
        cache: dict[str, Any] = {}
        user_bpm = self._open_mask(params["user_bpm"], "user_bpm", cache)
        todo = [ad for ad in adinputs if not self._already_done(ad)]
        for ad in self.progress(todo):
            static = self._static_bpm(ad, params["static_bpm"], cache)
            self._add_dq(ad, static, user_bpm)
        if todo and params["latency"]:
            self.addLatencyToDQ(todo, non_linear=params["non_linear"], time=params["time"])
        if todo and params["add_illum_mask"]:
            lit = [ad for ad in todo if not ad.tags & {"DARK", "BIAS"}]
            if lit:
                self.addIllumMaskToDQ(lit, illum_mask=params["illum_mask"])
        for ad in todo:
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    def _static_bpm(self, ad: Any, value: Any, cache: dict[str, Any]) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and value == "default":
            get_cal = getattr(self, "_get_cal", None)
            if get_cal is None:
                return None
            try:
                found = get_cal([ad], "processed_bpm", None, do_cal="procmode")[0]
            except CalibrationNotFoundError:
                self.log.fullinfo(f"{ad.filename}: no static BPM found; none used")
                return None
            return self._open_mask(found, "static BPM", cache) if found is not None else None
        return self._open_mask(value, "static_bpm", cache)

    def _add_dq(self, ad: Any, static: Any, user: Any) -> None:
        count = len(ad)
        saturation = _as_list(required_descriptor(ad, "saturation_level"), count)
        non_linear = _as_list(required_descriptor(ad, "non_linear_level"), count)
        bpms = [auxiliary_planes(ad, bpm) for bpm in (static, user) if bpm is not None]
        for index, ext in enumerate(ad):
            data = np.asarray(ext.data)
            mask = (np.zeros(data.shape, dtype=DQ.datatype) if ext.mask is None
                    else np.asarray(ext.mask, dtype=DQ.datatype).copy())
            for planes in bpms:
                mask |= planes[index].reshape(mask.shape[-2:])
            sat, nonlin = float(saturation[index]), float(non_linear[index])
            with np.errstate(invalid="ignore"):
                saturated = data >= sat
                counts = {"bad": int(np.count_nonzero(mask & DQ.bad_pixel)),
                          "saturated": int(np.count_nonzero(saturated))}
                mask[saturated] |= DQ.saturated
                if nonlin < sat:
                    nonlinear = (data >= nonlin) & ~saturated
                    mask[nonlinear] |= DQ.non_linear
                    counts["non-linear"] = int(np.count_nonzero(nonlinear))
                    hidden = hidden_saturation(data.reshape(data.shape[-2:]), nonlin,
                                               sat).reshape(data.shape)
                    mask[hidden] |= DQ.saturated
                    counts["low-reading saturated"] = int(np.count_nonzero(hidden))
                elif nonlin > sat:
                    self.log.warning(f"{ad.filename} extension {ext.id}: saturation level {sat} "
                                     f"is below the non-linear level {nonlin}")
            ext.mask = mask
            label = f"{ad.filename}" + (f" extension {ext.id}" if count > 1 else "")
            self.log.stdinfo(f"{label}: " + ", ".join(f"{n} {k}" for k, n in counts.items())
                             + f" pixels (saturation {sat:g}, non-linear {nonlin:g})")

    @primitive(
        suffix=Param(str, "_latencyAdded", "Filename suffix"),
        non_linear=Param(bool, False, "Also propagate non-linear pixels"),
        time=Param(float, 120.0, "How long (s) a bright pixel persists", min=0.0),
    )
    def addLatencyToDQ(self, adinputs=None, **params):
        """Flag (bit 8) pixels saturated in an earlier frame taken less than `time` s before."""
        flags = DQ.saturated | (DQ.non_linear if params["non_linear"] else 0)
        times = [ad.ut_datetime() for ad in adinputs]
        for ad, when in zip(adinputs, times, strict=True):
            if self._already_done(ad):
                continue
            earlier = [other for other, then in zip(adinputs, times, strict=True)
                       if other is not ad and when is not None and then is not None
                       and 0 < (when - then).total_seconds() < params["time"]]
            flagged = 0
            for other in earlier:
                for ext, source in zip(ad, other, strict=False):
                    if source.mask is None or source.shape != ext.shape:
                        continue
                    latent = np.where(np.asarray(source.mask) & flags, DQ.cosmic_ray,
                                      0).astype(DQ.datatype)
                    flagged += int(np.count_nonzero(latent))
                    ext.mask = latent if ext.mask is None else np.asarray(ext.mask) | latent
            if earlier:
                self.log.stdinfo(f"{ad.filename}: {flagged} pixels flagged by latency from "
                                 f"{', '.join(o.filename for o in earlier)}")
            else:
                self.log.fullinfo(f"{ad.filename} is not affected by latency")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(
        suffix=Param(str, "_illumMaskAdded", "Filename suffix"),
        illum_mask=Param(object, None, "Illumination mask file (default: instrument geometry)"),
    )
    def addIllumMaskToDQ(self, adinputs=None, **params):
        """OR bit 64 (unilluminated) into the DQ plane from the illumination mask."""
        cache: dict[str, Any] = {}
        given = self._open_mask(params["illum_mask"], "illum_mask", cache)
        for ad in adinputs:
            if self._already_done(ad):
                continue
            if ad.tags & {"DARK", "BIAS"}:
                self.log.fullinfo(f"{ad.filename}: no illumination mask for a dark or bias")
                planes = None
            elif given is not None:
                planes = [p != 0 for p in auxiliary_planes(ad, given)]
            else:
                planes = self._illumination_masks(ad)
                if planes is None:
                    self.log.warning(f"{ad.filename}: no illumination mask is known for "
                                     f"{ad.instrument()}; none added")
            if planes is not None:
                dark = 0
                for ext, plane in zip(ad, planes, strict=True):
                    bits = np.where(plane, DQ.unilluminated, 0).astype(DQ.datatype)
                    bits = np.broadcast_to(bits.reshape(plane.shape), ext.shape)
                    ext.mask = bits.copy() if ext.mask is None else np.asarray(ext.mask) | bits
                    dark += int(np.count_nonzero(plane))
                total = sum(int(np.prod(ext.shape)) for ext in ad)
                self.log.stdinfo(f"{ad.filename}: {dark} of {total} pixels "
                                 f"({100.0 * dark / max(total, 1):.1f}%) unilluminated")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    # -- VAR --------------------------------------------------------------------
    @primitive(
        per_file=True,
        suffix=Param(str, "_varAdded", "Filename suffix"),
        read_noise=Param(bool, False, "Add the read noise component"),
        poisson_noise=Param(bool, False, "Add the Poisson noise component"),
    )
    def addVAR(self, adinputs=None, **params):
        """Add read noise and/or Poisson noise to the variance (each at most once, see VARNOISE)."""
        read, poisson = params["read_noise"], params["poisson_noise"]
        if not (read or poisson):
            self.log.warning("addVAR: neither read_noise nor poisson_noise was asked for; "
                             "no variance added")
            return adinputs
        for ad in self.progress(adinputs):
            added = []
            if read and self._add_read_noise(ad):
                added.append("read noise")
            if poisson and self._add_poisson_noise(ad):
                added.append("Poisson noise")
            if added:
                median = float(np.median(ad[0].variance))
                self.log.stdinfo(f"{ad.filename}: added {' and '.join(added)}; median "
                                 f"variance {median:.4g}"
                                 + (f" (extension 1 of {len(ad)})" if len(ad) > 1 else ""))
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @staticmethod
    def _varnoise_has(ext: Any, word: str) -> bool:
        return word in str(ext.hdr.get("VARNOISE", "")).lower()

    @staticmethod
    def _record_varnoise(ext: Any, word: str) -> None:
        current = ext.hdr.get("VARNOISE")
        value = word if not current else f"{current}, {word}"
        ext.hdr["VARNOISE"] = (value, "Noise components in the variance")

    def _add_variance(self, ext: Any, component: np.ndarray) -> None:
        component = np.asarray(component, dtype=np.float32)
        if ext.variance is None:
            ext.variance = np.broadcast_to(component, ext.shape).copy()
        else:
            ext.variance = (np.asarray(ext.variance, dtype=np.float32) + component).astype(
                np.float32)

    def _add_read_noise(self, ad: Any) -> bool:
        count = len(ad)
        gains = _as_list(required_descriptor(ad, "gain"), count)
        noises = _as_list(required_descriptor(ad, "read_noise"), count)
        in_adu = ad.is_in_adu()
        done = False
        for ext, gain, noise in zip(ad, gains, noises, strict=True):
            if self._varnoise_has(ext, "read"):
                self.log.warning(f"{ad.filename} extension {ext.id}: read noise already in "
                                 f"the variance; not added again")
                continue
            sigma = noise / gain if in_adu else noise
            self._add_variance(ext, np.float32(sigma * sigma))
            self._record_varnoise(ext, "read")
            done = True
        return done

    def _add_poisson_noise(self, ad: Any) -> bool:
        tags = ad.tags
        if "BIAS" in tags:
            self.log.warning(f"{ad.filename}: Poisson noise added to the variance of a bias")
        elif "GMOS" in tags and not {"BIASCORR", "SUBOVER"} & set(ad.phu.keys()):
            self.log.warning(f"{ad.filename}: Poisson noise added while the data still "
                             f"contain the bias level")
        count = len(ad)
        gains = _as_list(required_descriptor(ad, "gain"), count)
        in_adu = ad.is_in_adu()
        coadds = ad.coadds() if not ad.is_coadds_summed() else 1
        done = False
        for ext, gain in zip(ad, gains, strict=True):
            if self._varnoise_has(ext, "poisson"):
                self.log.warning(f"{ad.filename} extension {ext.id}: Poisson noise already "
                                 f"in the variance; not added again")
                continue
            component = np.maximum(np.asarray(ext.data, dtype=np.float32), np.float32(0))
            divisor = (gain if in_adu else 1.0) * (coadds or 1)
            if divisor != 1.0:
                component = component / np.float32(divisor)
            self._add_variance(ext, component)
            self._record_varnoise(ext, "Poisson")
            done = True
        return done
