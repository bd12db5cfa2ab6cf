"""Primitive mix-in QA: image-quality, sky-background and cloud-cover metrics (qa mode).

The three metric primitives read what earlier steps left on a frame and
record one measurement per frame:

* ``measureIQ``: seeing from the OBJCAT of point sources (``detectSources``
  first): FWHM (arcsec) and ellipticity;
* ``measureBG``: sky background from the pixels free of DQ flags and objects,
  in the data units and, when the instrument's nominal zero point is known,
  in mag/arcsec²;
* ``measureCC``: photometric zero point from OBJCAT fluxes against the
  magnitudes of a REFCAT (``addReferenceCatalog``) and, with the nominal zero
  point, the extinction by clouds.

Each writes PHU keywords (table :data:`METRIC_KEYWORDS`) and appends one JSON
line per frame to ``qa_metrics.jsonl`` in the working directory (the
``metrics_file`` parameter). DRAGONS also posts these results to the
nighttime QA web display (``http://localhost:8777/event_report``); astroreduce
works offline and does not: the metrics file is the record.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from typing import Any

import numpy as np

from primitives.base import PrimitivesBASE
from primitives.core.photometry import extension_pixel_scale, refcat_columns
from primitives.core.stack import robust_level
from primitives.params import Param, primitive

__all__ = ["METRICS_FILE", "METRIC_KEYWORDS", "QA", "append_metrics", "read_metrics"]

#: Default metrics file (JSON lines) in the working directory.
METRICS_FILE = "qa_metrics.jsonl"

#: PHU keyword -> meaning, written by the metric primitives.
METRIC_KEYWORDS: dict[str, str] = {
    "MEANFWHM": "measureIQ: mean FWHM_IMAGE of point sources (arcsec)",
    "FWHMSTD": "measureIQ: standard deviation of their FWHM (arcsec)",
    "ZFWHM": "measureIQ: MEANFWHM corrected to zenith, x airmass^-0.6 (arcsec)",
    "MEANELLP": "measureIQ: mean ellipticity (1 - b/a) of the point sources",
    "IQNSRC": "measureIQ: number of point sources measured",
    "SKYLEVEL": "measureBG: sky level per pixel (data units, BUNIT)",
    "SKYSIG": "measureBG: sky noise per pixel, robust (data units)",
    "SKYMAG": "measureBG: sky surface brightness (mag/arcsec2)",
    "MEANZP": "measureCC: photometric zero point, mag for 1 count/s (data units)",
    "ZPSTD": "measureCC: scatter of the per-source zero points (mag)",
    "CLOUDEXT": "measureCC: extinction by clouds, nominal - measured zero point (mag)",
    "CCNSRC": "measureCC: number of sources matched to the reference catalogue",
}

# sources for the seeing: no saturated/truncated/masked flag, S/N >= 10, not
# elongated by blending; then the stellar locus: point sources are the narrowest
# sources, so those within 30% of the lower quartile of the FWHMs are kept
# (CLASS_STAR is not used: on faint sources over a bright near-IR sky it calls
# most stars extended)
_IQ_BAD_FLAGS = 1 | 2 | 4 | 8 | 16
_IQ_MIN_SNR = 10.0
_IQ_MAX_ELLIPTICITY = 0.5
_IQ_LOCUS_QUANTILE = 0.25
_IQ_LOCUS_WIDTH = 0.3
_CC_BAD_FLAGS = 4 | 8 | 16


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _descriptor(ad: Any, name: str) -> Any:
    try:
        value = getattr(ad, name)()
    except Exception:  # noqa: BLE001 - a metric is still useful without one descriptor
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def append_metrics(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append `record` as one JSON line to `path` (a single ``write`` of the whole line)."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a metrics file, in the order written."""
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _point_sources(ad: Any) -> tuple[np.ndarray, np.ndarray]:
    """FWHM (arcsec) and ellipticity of the good point sources of all extensions."""
    fwhms, ellipticities = [], []
    for ext in ad:
        objcat = getattr(ext, "OBJCAT", None)
        if objcat is None or len(objcat) == 0 or "FWHM_IMAGE" not in objcat.colnames:
            continue
        fwhm = np.asarray(objcat["FWHM_IMAGE"], dtype=float)
        good = np.isfinite(fwhm) & (fwhm > 0)
        if "FLAGS" in objcat.colnames:
            good &= (np.asarray(objcat["FLAGS"], dtype=int) & _IQ_BAD_FLAGS) == 0
        if "FLUX_AUTO" in objcat.colnames and "FLUXERR_AUTO" in objcat.colnames:
            with np.errstate(divide="ignore", invalid="ignore"):
                snr = (np.asarray(objcat["FLUX_AUTO"], float)
                       / np.asarray(objcat["FLUXERR_AUTO"], float))
            good &= snr >= _IQ_MIN_SNR
        ellipticity = (np.asarray(objcat["ELLIPTICITY"], float)
                       if "ELLIPTICITY" in objcat.colnames else np.full(len(objcat), np.nan))
        good &= ~(ellipticity > _IQ_MAX_ELLIPTICITY)
        scale = extension_pixel_scale(ext, ad)
        fwhms.append(fwhm[good] * scale)
        ellipticities.append(ellipticity[good])
    if not fwhms:
        return np.zeros(0), np.zeros(0)
    fwhm, ellipticity = np.concatenate(fwhms), np.concatenate(ellipticities)
    if fwhm.size == 0:
        return fwhm, ellipticity
    locus = float(np.quantile(fwhm, _IQ_LOCUS_QUANTILE))
    stellar = np.abs(fwhm / locus - 1.0) <= _IQ_LOCUS_WIDTH
    return fwhm[stellar], ellipticity[stellar]


def _clipped(values: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """`values` without the outliers beyond `sigma` robust deviations of the median."""
    values = values[np.isfinite(values)]
    if values.size < 3:
        return values
    centre = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - centre))
    if spread == 0:
        return values
    return values[np.abs(values - centre) <= sigma * spread]


def _reference_magnitude_column(refcat: Any, band: str | None, chosen: str | None) -> str | None:
    """The REFCAT column holding magnitudes in `band` (or `chosen` when given)."""
    if chosen:
        return chosen if chosen in refcat.colnames else None
    lower = {name.lower(): name for name in refcat.colnames}
    candidates = []
    if band:
        b = band.lower()
        candidates += [f"{b}mag", f"{b}_mag", f"mag_{b}", f"{b}"]
    candidates.append("mag")
    return next((lower[c] for c in candidates if c in lower), None)


def _nominal_zeropoint(ad: Any) -> float | None:
    zeropoints = _descriptor(ad, "nominal_photometric_zeropoint")
    return _finite(zeropoints) if isinstance(zeropoints, (int, float)) else None


class QA(PrimitivesBASE):
    """Quality-assessment metrics: ``measureIQ``, ``measureBG``, ``measureCC``."""

    tagset = None

    def _record(self, ad: Any, metric: str, values: dict[str, Any], path: str) -> None:
        record = {
            "metric": metric,
            "filename": ad.filename,
            "data_label": _descriptor(ad, "data_label"),
            "instrument": _descriptor(ad, "instrument"),
            "filter": _descriptor(ad, "filter_name"),
            "ut_datetime": (str(_descriptor(ad, "ut_datetime"))
                            if _descriptor(ad, "ut_datetime") is not None else None),
            "airmass": _finite(_descriptor(ad, "airmass")),
            "mode": self.mode,
            "recorded": _utc_now(),
        }
        record.update(values)
        append_metrics(path, record)

    def _metrics_path(self, params: dict[str, Any]) -> str:
        return os.path.join(os.getcwd(), params["metrics_file"])

    # -- image quality ------------------------------------------------------------
    @primitive(
        cacheable=False,
        display=Param(bool, False, "Accepted for DRAGONS recipes; there is no display"),
        remove_bias=Param(bool, False, "Accepted for DRAGONS recipes; not used"),
        metrics_file=Param(str, METRICS_FILE, "JSON-lines file receiving the metrics"),
    )
    def measureIQ(self, adinputs=None, **params):
        """Measure the seeing (FWHM, ellipticity) from the point sources of each OBJCAT.

        Point sources: unflagged, S/N >= 10, ellipticity <= 0.5, on the
        stellar locus (FWHM within 30% of the lower quartile of those
        sources' FWHMs), outliers beyond 3 robust sigma removed. The FWHM is
        the OBJCAT's ``FWHM_IMAGE`` (the FWHM of a Moffat profile fitted to
        each star, i.e. of the PSF convolved with the pixel). Writes
        ``MEANFWHM``, ``FWHMSTD``, ``ZFWHM``, ``MEANELLP``, ``IQNSRC``; a frame
        without OBJCAT or point source gets a warning and no keyword.
        """
        path = self._metrics_path(params)
        for ad in adinputs:
            fwhm, ellipticity = _point_sources(ad)
            keep = np.isin(fwhm, _clipped(fwhm))
            fwhm, ellipticity = fwhm[keep], ellipticity[keep]
            if fwhm.size == 0:
                self.log.warning(f"{ad.filename}: measureIQ: no point source in the OBJCAT "
                                 f"(run detectSources first); no image quality measured")
                self._record(ad, "iq", {"nsources": 0}, path)
                continue
            mean = float(np.mean(fwhm))
            spread = float(np.std(fwhm)) if fwhm.size > 1 else 0.0
            ell = float(np.nanmean(ellipticity)) if np.isfinite(ellipticity).any() else None
            airmass = _finite(_descriptor(ad, "airmass"))
            zenith = mean * airmass ** -0.6 if airmass and airmass >= 1 else None
            ad.phu["MEANFWHM"] = (round(mean, 4), "Mean FWHM of point sources (arcsec)")
            ad.phu["FWHMSTD"] = (round(spread, 4), "Std dev of the FWHM (arcsec)")
            if zenith is not None:
                ad.phu["ZFWHM"] = (round(zenith, 4), "MEANFWHM corrected to zenith (arcsec)")
            if ell is not None:
                ad.phu["MEANELLP"] = (round(ell, 4), "Mean ellipticity of point sources")
            ad.phu["IQNSRC"] = (int(fwhm.size), "Point sources used by measureIQ")
            self.log.stdinfo(f"{ad.filename}: FWHM {mean:.3f} +/- {spread:.3f} arcsec"
                             + (f" (zenith {zenith:.3f})" if zenith is not None else "")
                             + (f", ellipticity {ell:.3f}" if ell is not None else "")
                             + f" from {fwhm.size} point sources")
            self._record(ad, "iq", {"fwhm_arcsec": mean, "fwhm_std_arcsec": spread,
                                    "zenith_fwhm_arcsec": zenith, "ellipticity": ell,
                                    "nsources": int(fwhm.size)}, path)
            self.mark(ad, keyword="MEASREIQ")
        return adinputs

    # -- sky background ----------------------------------------------------------
    @primitive(
        cacheable=False,
        remove_bias=Param(bool, False, "Accepted for DRAGONS recipes; not used"),
        separate_ext=Param(bool, False, "Log each extension's level as well"),
        metrics_file=Param(str, METRICS_FILE, "JSON-lines file receiving the metrics"),
    )
    def measureBG(self, adinputs=None, **params):
        """Measure the sky level of each frame on the pixels free of flags and objects.

        The level is a sigma-clipped median (per pixel, in the data units);
        with the nominal zero point of the instrument and filter it is also
        given in mag/arcsec² (``SKYMAG``), which needs the data in the units of
        that zero point (any, the descriptor follows the gain) and a positive
        level, i.e. a frame not yet sky-subtracted.
        """
        path = self._metrics_path(params)
        for ad in adinputs:
            levels, samples, scales = [], [], []
            for ext in ad:
                data = np.asarray(ext.data)
                good = np.isfinite(data)
                if ext.mask is not None:
                    good &= np.asarray(ext.mask) == 0
                objmask = getattr(ext, "OBJMASK", None)
                if objmask is not None:
                    good &= np.asarray(objmask) == 0
                values = data[good]
                level = robust_level(values)
                if level is None:
                    continue
                levels.append(level)
                samples.append(values)
                scales.append(extension_pixel_scale(ext, ad))
                if params["separate_ext"]:
                    self.log.stdinfo(f"{ad.filename} extension {ext.id}: sky {level:.6g}")
            if not levels:
                self.log.warning(f"{ad.filename}: measureBG: no good pixel; no background "
                                 f"measured")
                self._record(ad, "bg", {"sky_level": None}, path)
                continue
            values = np.concatenate(samples)
            level = robust_level(values)
            noise = 1.4826 * float(np.median(np.abs(values[np.isfinite(values)] - level)))
            unit = str(ad[0].hdr.get("BUNIT", ad.phu.get("BUNIT", "adu"))).strip()
            exptime = _finite(_descriptor(ad, "exposure_time"))
            zeropoint = _nominal_zeropoint(ad)
            scale = float(np.mean(scales))
            sky_mag = None
            if zeropoint is not None and exptime and level > 0:
                sky_mag = zeropoint - 2.5 * math.log10(level / exptime / scale ** 2)
            elif level <= 0:
                self.log.warning(f"{ad.filename}: measureBG: sky level {level:.4g} is not "
                                 f"positive (sky already subtracted?); no SKYMAG")
            ad.phu["SKYLEVEL"] = (float(f"{level:.6g}"), f"Sky level per pixel ({unit})")
            ad.phu["SKYSIG"] = (float(f"{noise:.6g}"), f"Sky noise per pixel ({unit})")
            if sky_mag is not None:
                ad.phu["SKYMAG"] = (round(sky_mag, 3), "Sky brightness (mag/arcsec2)")
            self.log.stdinfo(f"{ad.filename}: sky {level:.6g} +/- {noise:.4g} {unit}/pixel"
                             + (f" = {sky_mag:.2f} mag/arcsec2" if sky_mag is not None
                                else ""))
            self._record(ad, "bg", {"sky_level": level, "sky_noise": noise, "unit": unit,
                                    "sky_mag_arcsec2": sky_mag}, path)
            self.mark(ad, keyword="MEASREBG")
        return adinputs

    # -- cloud cover -------------------------------------------------------------
    @primitive(
        cacheable=False,
        radius=Param(float, 1.0, "Matching radius between OBJCAT and REFCAT (arcsec)",
                     min=0.001),
        mag_column=Param(str, None, "REFCAT magnitude column (default: from the filter name)"),
        metrics_file=Param(str, METRICS_FILE, "JSON-lines file receiving the metrics"),
    )
    def measureCC(self, adinputs=None, **params):
        """Measure the zero point against the reference catalogue and the cloud extinction.

        Per matched, unflagged source: ``zp = m_ref + 2.5 log10(FLUX_AUTO /
        exptime)``; the zero point is the clipped mean. With the instrument's
        nominal zero point, the extinction by clouds is ``nominal - airmass
        extinction - measured``. Needs OBJCAT (``detectSources``) and REFCAT
        (``addReferenceCatalog``) with a magnitude column for the filter;
        otherwise one warning line and no keyword.
        """
        path = self._metrics_path(params)
        for ad in adinputs:
            result = self._zeropoint(ad, params)
            if isinstance(result, str):
                self.log.warning(f"{ad.filename}: measureCC: {result}; no zero point measured")
                self._record(ad, "cc", {"nsources": 0, "reason": result}, path)
                continue
            zp, spread, count = result
            nominal = _nominal_zeropoint(ad)
            extinction = None
            if nominal is not None:
                airmass_term = _finite(_descriptor(ad, "nominal_atmospheric_extinction")) or 0.0
                extinction = nominal - airmass_term - zp
                ad.phu["CLOUDEXT"] = (round(extinction, 3), "Cloud extinction (mag)")
            ad.phu["MEANZP"] = (round(zp, 4), "Zero point, mag for 1 count/s")
            ad.phu["ZPSTD"] = (round(spread, 4), "Scatter of the zero points (mag)")
            ad.phu["CCNSRC"] = (count, "Sources matched by measureCC")
            self.log.stdinfo(f"{ad.filename}: zero point {zp:.3f} +/- {spread:.3f} from "
                             f"{count} sources"
                             + (f"; cloud extinction {extinction:.2f} mag"
                                if extinction is not None else ""))
            self._record(ad, "cc", {"zeropoint": zp, "zeropoint_std": spread,
                                    "nominal_zeropoint": nominal,
                                    "cloud_extinction_mag": extinction,
                                    "nsources": count}, path)
            self.mark(ad, keyword="MEASRECC")
        return adinputs

    def _zeropoint(self, ad: Any, params: dict[str, Any]) -> tuple[float, float, int] | str:
        """(zero point, scatter, count), or why it cannot be measured."""
        refcat = getattr(ad, "REFCAT", None)
        if refcat is None or len(refcat) == 0:
            return "no reference catalogue (REFCAT; run addReferenceCatalog with source=FILE)"
        try:
            band = ad.filter_name(pretty=True)
        except Exception:  # noqa: BLE001 - no filter: only a plain "mag" column can serve
            band = None
        column = _reference_magnitude_column(refcat, str(band) if band else None,
                                             params["mag_column"])
        if column is None:
            return f"REFCAT has no magnitude column for filter {band}"
        exptime = _finite(_descriptor(ad, "exposure_time"))
        if not exptime:
            return "exposure time unknown"
        ra_name, dec_name = refcat_columns(refcat)
        ref_ra = np.radians(np.asarray(refcat[ra_name], float))
        ref_dec = np.radians(np.asarray(refcat[dec_name], float))
        ref_mag = np.asarray(refcat[column], float)
        ref_xyz = np.stack([np.cos(ref_dec) * np.cos(ref_ra), np.cos(ref_dec) * np.sin(ref_ra),
                            np.sin(ref_dec)], axis=1)
        limit = 2.0 * math.sin(math.radians(params["radius"] / 3600.0) / 2.0)
        zeropoints = []
        for ext in ad:
            objcat = getattr(ext, "OBJCAT", None)
            if objcat is None or len(objcat) == 0 or "X_WORLD" not in objcat.colnames:
                continue
            flux = np.asarray(objcat["FLUX_AUTO"], float)
            good = np.isfinite(flux) & (flux > 0)
            if "FLAGS" in objcat.colnames:
                good &= (np.asarray(objcat["FLAGS"], int) & _CC_BAD_FLAGS) == 0
            ra = np.radians(np.asarray(objcat["X_WORLD"], float))[good]
            dec = np.radians(np.asarray(objcat["Y_WORLD"], float))[good]
            xyz = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)],
                           axis=1)
            for vector, f in zip(xyz, flux[good], strict=True):
                distance = np.linalg.norm(ref_xyz - vector, axis=1)
                nearest = int(np.argmin(distance))
                if distance[nearest] <= limit and np.isfinite(ref_mag[nearest]):
                    zeropoints.append(ref_mag[nearest] + 2.5 * math.log10(f / exptime))
        kept = _clipped(np.asarray(zeropoints, float))
        if kept.size == 0:
            return (f"no OBJCAT source within {params['radius']} arcsec of a REFCAT source "
                    f"(run detectSources first)")
        spread = float(np.std(kept)) if kept.size > 1 else 0.0
        return float(np.mean(kept)), spread, int(kept.size)
