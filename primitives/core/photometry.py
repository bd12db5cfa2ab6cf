"""Primitive mix-in Photometry: source detection (detectSources), attaching OBJCAT and OBJMASK.

``detectSources`` runs :func:`gempy.library.detection.detect_sources` (a
SExtractor-like detection built on photutils) on every extension and attaches

* ``OBJCAT``: an astropy Table, one row per source, with the SExtractor
  columns documented in :mod:`gempy.library.detection` (``NUMBER``,
  ``X_IMAGE``/``Y_IMAGE`` 1-based, ``X_WORLD``/``Y_WORLD``, ``FLUX_AUTO``,
  ``FWHM_IMAGE``/``FWHM_WORLD``, ``FLAGS``, ``CLASS_STAR``...). Its ``meta``
  holds FITS-safe keywords: ``FWHMSTAR`` (pixels), ``BACKMED``,
  ``BACKRMS``, ``DETTHRSH``, ``APERRAD`` (pixels), ``PIXSCALE`` (arcsec);
  values that are not finite are left out.
* ``OBJMASK``: uint8, 1 on the pixels of every source's segment.

Differences from DRAGONS (documented choices):

* ``mask=True`` excludes the pixels having any ``replace_flags`` bit from the
  background, the detection and the photometry (DRAGONS replaces them
  before running SExtractor); pixels flagged ``no_data`` (16) or
  ``unilluminated`` (64) carry no sky signal and are always excluded (the
  step in the background at the edge of an unilluminated region would
  otherwise be found as rows of spurious negative-flux sources). Short
  masked runs (a bad column through a star) are interpolated along rows for
  the detection and the measurements, as SExtractor interpolates
  zero-weight pixels (:func:`gempy.library.detection.detect_sources`), and
  the sources touching them get FLAGS bit 16.
* ``FLAGS`` bit 4 (saturated) is also set for a source with a DQ-saturated
  pixel within ``max(2 A_IMAGE, 2)`` pixels of its centre, since saturated
  pixels are not excluded by the default ``replace_flags`` (249).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from astropy.table import Table

from astrodata import DQ
from gempy.library._wcs import SkyWCS
from gempy.library.detection import FLAG_SATURATED, detect_sources
from gempy.library.resample import pixel_scale as wcs_pixel_scale
from primitives.base import PrimitivesBASE
from primitives.errors import PrimitiveError
from primitives.params import Param, primitive

__all__ = ["CATALOG_SERVERS", "Photometry", "objcat_fwhm", "read_reference_catalog",
           "refcat_columns"]

#: Table meta written by the detection library -> FITS-safe keyword on the OBJCAT.
_META_KEYWORDS = {
    "FWHM_STAR": "FWHMSTAR",
    "BACK_MED": "BACKMED",
    "BACK_RMS": "BACKRMS",
    "DETECT_THRESH": "DETTHRSH",
    "APER_RADIUS": "APERRAD",
    "PIXSCALE": "PIXSCALE",
}
# sources whose FWHM enters the logged median: unflagged apart from deblending,
# and bright enough for their size to be measured well
_FWHM_MIN_SNR = 10.0
_FWHM_BAD_FLAGS = 4 | 8 | 16


def objcat_fwhm(objcat: Table) -> float:
    """Median FWHM (pixels) of the well-measured sources of an OBJCAT; NaN if none.

    Sources count when their FLAGS have no saturated, truncated or masked
    bit and their FLUX_AUTO has a S/N of at least 10; if none qualifies, the
    median over all sources with a finite FWHM is returned.
    """
    if objcat is None or len(objcat) == 0 or "FWHM_IMAGE" not in objcat.colnames:
        return float("nan")
    fwhm = np.asarray(objcat["FWHM_IMAGE"], dtype=float)
    usable = np.isfinite(fwhm) & (fwhm > 0)
    good = usable.copy()
    if "FLAGS" in objcat.colnames:
        good &= (np.asarray(objcat["FLAGS"], dtype=int) & _FWHM_BAD_FLAGS) == 0
    if "FLUX_AUTO" in objcat.colnames and "FLUXERR_AUTO" in objcat.colnames:
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = np.asarray(objcat["FLUX_AUTO"], float) / np.asarray(objcat["FLUXERR_AUTO"], float)
        good &= snr >= _FWHM_MIN_SNR
    chosen = fwhm[good] if good.any() else fwhm[usable]
    return float(np.median(chosen)) if len(chosen) else float("nan")


def _fits_safe_meta(objcat: Table) -> None:
    """Rename the library's meta to 8-character keywords and drop non-finite values."""
    meta = {}
    for key, value in objcat.meta.items():
        name = _META_KEYWORDS.get(key, key)
        if isinstance(value, float) and not math.isfinite(value):
            continue
        meta[name] = value
    objcat.meta.clear()
    objcat.meta.update(meta)


def _flag_dq_saturated(objcat: Table, dq: np.ndarray | None) -> None:
    """OR FLAGS bit 4 into sources with a DQ-saturated pixel near their centre."""
    if dq is None or len(objcat) == 0:
        return
    saturated = (np.asarray(dq) & DQ.saturated) != 0
    if not saturated.any():
        return
    ny, nx = saturated.shape
    sat_y, sat_x = np.nonzero(saturated)
    x = np.asarray(objcat["X_IMAGE"], dtype=float) - 1.0
    y = np.asarray(objcat["Y_IMAGE"], dtype=float) - 1.0
    radius = np.maximum(2.0 * np.nan_to_num(np.asarray(objcat["A_IMAGE"], dtype=float)), 2.0)
    flags = np.asarray(objcat["FLAGS"]).copy()
    for row in range(len(objcat)):
        if not (np.isfinite(x[row]) and np.isfinite(y[row])):
            continue
        r = radius[row]
        near = (np.abs(sat_x - x[row]) <= r) & (np.abs(sat_y - y[row]) <= r)
        if near.any() and np.any(np.hypot(sat_x[near] - x[row], sat_y[near] - y[row]) <= r):
            flags[row] |= FLAG_SATURATED
    objcat["FLAGS"] = flags


def extension_pixel_scale(ext: Any, ad: Any) -> float:
    """Pixel scale (arcsec) of one extension: its WCS at the centre, else the descriptor.

    Raises
    ------
    PrimitiveError
        If neither the WCS nor the ``pixel_scale`` descriptor gives a value.
    """
    wcs = ext.wcs
    ny, nx = ext.shape[-2:]
    if wcs is not None:
        try:
            scale = wcs_pixel_scale(wcs, (nx - 1) / 2.0, (ny - 1) / 2.0)
        except (TypeError, ValueError):
            scale = float("nan")
        if math.isfinite(scale) and scale > 0:
            return scale
    try:
        scale = ad.pixel_scale()
    except Exception:  # any descriptor failure means "unknown" here
        scale = None
    if scale is None or not scale > 0:
        raise PrimitiveError(f"{ad.filename} extension {ext.id}: the pixel scale is unknown "
                             f"(no celestial WCS and no PIXSCALE)")
    return float(scale)


#: Column names accepted for the right ascension and declination of a reference catalogue.
RA_COLUMNS = ("RAJ2000", "RA_ICRS", "RA", "ALPHA_J2000", "X_WORLD")
DEC_COLUMNS = ("DEJ2000", "DE_ICRS", "DEC", "DELTA_J2000", "Y_WORLD")


def refcat_columns(table: Any) -> tuple[str, str]:
    """Names of the RA and Dec columns (degrees) of a catalogue, matched case-insensitively.

    Raises
    ------
    ValueError
        If either column is missing.
    """
    lower = {name.lower(): name for name in table.colnames}
    ra = next((lower[c.lower()] for c in RA_COLUMNS if c.lower() in lower), None)
    dec = next((lower[c.lower()] for c in DEC_COLUMNS if c.lower() in lower), None)
    if ra is None or dec is None:
        raise ValueError(f"no RA/Dec columns among {table.colnames} (expected one of "
                         f"{RA_COLUMNS} and of {DEC_COLUMNS})")
    return ra, dec


#: Catalogue servers DRAGONS can query; astroreduce has no network client for them yet.
CATALOG_SERVERS = ("gmos", "2mass", "sdss9", "ukidss9")


def _sky_centre(ad: Any) -> tuple[float, float] | None:
    """(RA, Dec) of the centre of the area covered by the extensions (mean unit vector)."""
    vectors = []
    for ext in ad:
        if ext.wcs is None:
            continue
        ny, nx = ext.shape[-2:]
        ra, dec = SkyWCS(ext.wcs).pixel_to_world((nx - 1) / 2.0, (ny - 1) / 2.0)
        ra, dec = math.radians(float(ra)), math.radians(float(dec))
        vectors.append((math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra),
                        math.sin(dec)))
    if not vectors:
        return None
    x, y, z = np.mean(vectors, axis=0)
    return (math.degrees(math.atan2(y, x)) % 360.0,
            math.degrees(math.atan2(z, math.hypot(x, y))))


def _angular_distance(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> np.ndarray:
    """Great-circle distance (degrees) of points from (ra0, dec0)."""
    ra, dec = np.radians(ra), np.radians(dec)
    ra0, dec0 = math.radians(ra0), math.radians(dec0)
    cos_d = np.sin(dec) * math.sin(dec0) + np.cos(dec) * math.cos(dec0) * np.cos(ra - ra0)
    return np.degrees(np.arccos(np.clip(cos_d, -1.0, 1.0)))


def read_reference_catalog(path: str, file_format: str | None = None) -> Table:
    """A local reference catalogue as a REFCAT table.

    Any table astropy reads (FITS, ECSV, VOTable, CSV...) with RA/Dec columns
    in degrees (see :func:`refcat_columns`). The
    result has ``Id`` (1..N), ``Cat_Id`` (the catalogue's own id when it has
    an ``id``/``Cat_Id`` column), ``RAJ2000``, ``DEJ2000`` and the other
    numeric columns (magnitudes and their errors) as they are.

    Raises
    ------
    PrimitiveError
        If the file cannot be read or has no RA/Dec columns.
    """
    try:
        table = Table.read(path, format=file_format)
    except Exception as err:  # astropy raises many kinds for an unreadable table
        raise PrimitiveError(f"addReferenceCatalog: cannot read the catalogue {path}: "
                             f"{err}") from None
    try:
        ra_name, dec_name = refcat_columns(table)
    except ValueError as err:
        raise PrimitiveError(f"addReferenceCatalog: {path}: {err}") from None
    refcat = Table()
    refcat["Id"] = np.arange(1, len(table) + 1, dtype=np.int32)
    lower = {name.lower(): name for name in table.colnames}
    id_name = lower.get("cat_id") or lower.get("id")
    refcat["Cat_Id"] = ([str(v) for v in table[id_name]] if id_name
                        else [str(i) for i in refcat["Id"]])
    refcat["RAJ2000"] = np.asarray(table[ra_name], dtype=float)
    refcat["DEJ2000"] = np.asarray(table[dec_name], dtype=float)
    refcat["RAJ2000"].unit = refcat["DEJ2000"].unit = "deg"
    for name in table.colnames:
        if name in (ra_name, dec_name, id_name) or name in refcat.colnames:
            continue
        column = table[name]
        if column.ndim == 1 and np.issubdtype(np.asarray(column).dtype, np.number):
            refcat[name] = np.asarray(column)
    return refcat


class Photometry(PrimitivesBASE):
    """Source detection and photometry (detectSources, OBJCAT/OBJMASK, addReferenceCatalog)."""

    tagset = None

    @primitive(
        per_file=True,
        suffix=Param(str, "_refcatAdded", "Filename suffix"),
        radius=Param(float, 0.067, "Search radius around the field centre (degrees)",
                     min=0.0001),
        source=Param(str, "gmos", "Catalogue server (gmos, 2mass, sdss9, ukidss9) or a file"),
        format=Param(str, None, "astropy format of a catalogue file (default: guessed)"),
    )
    def addReferenceCatalog(self, adinputs=None, **params):
        """Attach the reference-catalogue sources around each field as a REFCAT table.

        ``source`` may name a local catalogue file (any table astropy reads,
        with RA/Dec in degrees), from which the sources within ``radius`` of
        the field centre are taken. The catalogue servers of DRAGONS
        (gmos, 2mass, sdss9, ukidss9) cannot be queried by astroreduce (no
        network client): the frames are then left without REFCAT, with a
        warning, and ``determineAstrometricSolution`` keeps their WCSs.
        """
        source = params["source"]
        catalog = None
        if source and os.path.isfile(source):
            catalog = read_reference_catalog(source, params["format"])
        elif source in CATALOG_SERVERS:
            self.log.warning(f"addReferenceCatalog: the {source} catalogue server cannot be "
                             f"queried by astroreduce; give a local catalogue file with "
                             f"source=PATH. No REFCAT added")
            return adinputs
        else:
            raise PrimitiveError(f"addReferenceCatalog: source {source!r} is neither a "
                                 f"catalogue server ({', '.join(CATALOG_SERVERS)}) nor a file")
        for ad in self.progress(adinputs):
            centre = _sky_centre(ad)
            if centre is None:
                raise PrimitiveError(f"{ad.filename}: no WCS; the field centre is unknown")
            distance = _angular_distance(np.asarray(catalog["RAJ2000"]),
                                         np.asarray(catalog["DEJ2000"]), *centre)
            refcat = catalog[distance <= params["radius"]]
            refcat["Id"] = np.arange(1, len(refcat) + 1, dtype=np.int32)
            ad.REFCAT = refcat
            self.log.stdinfo(f"{ad.filename}: {len(refcat)} reference sources within "
                             f"{params['radius']} deg of ({centre[0]:.5f}, {centre[1]:+.5f}) "
                             f"from {os.path.basename(source)}")
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    @primitive(
        per_file=True,
        suffix=Param(str, "_sourcesDetected", "Filename suffix"),
        mask=Param(bool, False, "Exclude the pixels having any replace_flags DQ bit"),
        replace_flags=Param(int, 249, "DQ bits excluded when mask is True", min=0, max=65535),
        set_saturation=Param(bool, False,
                             "Flag sources reaching the saturation level of the header"),
        detect_minarea=Param(int, 8, "Minimum number of connected pixels of a source", min=1),
        detect_thresh=Param(float, 2.0, "Detection threshold (background sigma)", min=0.01),
        analysis_thresh=Param(float, 2.0, "Analysis isophote (background sigma)", min=0.01),
        deblend_mincont=Param(float, 0.005, "Minimum contrast for deblending", min=0.0, max=1.0),
        phot_min_radius=Param(float, 3.5, "Minimum radius of the photometry aperture (arcsec)",
                              min=0.01),
        back_size=Param(int, 32, "Background mesh size (pixels)", min=2),
        back_filtersize=Param(int, 8, "Background median filter size (meshes)", min=1),
    )
    def detectSources(self, adinputs=None, **params):
        """Find the sources of every extension and attach OBJCAT and OBJMASK.

        A second call replaces the catalogues (sources are usually detected
        again once the sky subtraction has improved).
        """
        for ad in self.progress(adinputs):
            for ext in ad:
                self._detect_in_extension(ad, ext, params)
            self.mark(ad)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs

    def _detect_in_extension(self, ad: Any, ext: Any, params: dict[str, Any]) -> None:
        where = f"{ad.filename} extension {ext.id}"
        if ext.data is None or np.ndim(ext.data) != 2:
            raise PrimitiveError(f"{where}: detectSources needs 2-D data, got shape "
                                 f"{np.shape(ext.data)}")
        data = np.asarray(ext.data, dtype=np.float32)
        dq = None if ext.mask is None else np.asarray(ext.mask, dtype=np.uint16)
        excluded = None
        if dq is not None:
            bits = DQ.no_data | DQ.unilluminated | (params["replace_flags"] if params["mask"]
                                                    else 0)
            excluded = dq & np.uint16(bits)
        variance = None if ext.variance is None else np.asarray(ext.variance, dtype=np.float32)
        scale = extension_pixel_scale(ext, ad)
        saturation = None
        if params["set_saturation"]:
            saturation = ext.saturation_level() if hasattr(ext, "saturation_level") else None
            if saturation is None:
                self.log.warning(f"{where}: saturation level unknown; not used")
        wcs = ext.wcs
        try:
            objcat, objmask = detect_sources(
                data,
                variance=variance,
                mask=excluded,
                wcs=wcs,
                detect_thresh=params["detect_thresh"],
                analysis_thresh=params["analysis_thresh"],
                detect_minarea=params["detect_minarea"],
                deblend_mincont=params["deblend_mincont"],
                back_size=params["back_size"],
                back_filtersize=params["back_filtersize"],
                phot_min_radius_pix=params["phot_min_radius"] / scale,
                pixel_scale=scale,
                saturation=saturation,
            )
        except ValueError as err:
            # an extension with nothing to measure (e.g. entirely masked) gets
            # an empty catalogue; the other extensions are still useful
            self.log.warning(f"{where}: no sources detected ({err})")
            objcat = Table({name: np.zeros(0) for name in ("NUMBER", "X_IMAGE", "Y_IMAGE")})
            objcat["NUMBER"] = objcat["NUMBER"].astype(np.int32)
            objmask = np.zeros(data.shape, dtype=np.uint8)
        if "FLAGS" in objcat.colnames:
            _flag_dq_saturated(objcat, dq)
        _fits_safe_meta(objcat)
        ext.OBJCAT = objcat
        ext.OBJMASK = objmask.astype(np.uint8, copy=False)
        fwhm = objcat_fwhm(objcat)
        if math.isfinite(fwhm):
            self.log.stdinfo(f"{where}: {len(objcat)} sources, median FWHM "
                             f"{fwhm * scale:.3f}\" ({fwhm:.2f} pixels)")
        else:
            self.log.stdinfo(f"{where}: {len(objcat)} sources")
