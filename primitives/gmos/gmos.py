"""Class GMOS: primitives for every GMOS frame ({GEMINI, GMOS}), north and south."""

import math
from typing import Any

import numpy as np

from astrodata import Section
from astrodata.instruments.gmos import lookup as gmos_lookup
from primitives.core.ccd import CCD
from primitives.core.visualize import ArrayGeometry, ArrayGroup
from primitives.gemini.gemini import Gemini
from primitives.gmos.gmos_checks import GMOSChecks

#: Width (unbinned columns) of the CCDs the GMOS mosaic geometry was measured on.
_NOMINAL_CCD_WIDTH = 2048


def _as_sections(value: Any, count: int) -> list[Section | None]:
    """A section descriptor's value as one Section (or None) per extension."""
    values = value if isinstance(value, list) else [value] * count
    return [v if isinstance(v, Section) else None for v in values]


class GMOS(Gemini, CCD, GMOSChecks):
    """GMOS primitives (CCD mosaics read through several amplifiers)."""

    tagset = frozenset({"GEMINI", "GMOS"})
    param_defaults = {
        "subtractOverscan": {"function": "none", "nbiascontam": None},
    }

    # -- hook of standardizeInstrumentHeaders ---------------------------------------
    def _standardize_instrument_headers(self, ad: Any) -> None:
        """Generic keywords plus GAINSET, which GAIN cannot give once the data are in electrons."""
        setting = ad.gain_setting()
        super()._standardize_instrument_headers(ad)
        if setting is not None and "GAINSET" not in ad.phu:
            ad.phu["GAINSET"] = (setting, "Gain setting (low/high)")

    # -- hook of addIllumMaskToDQ ----------------------------------------------------
    def _illumination_masks(self, ad: Any) -> list[np.ndarray] | None:
        """Pixels outside the GMOS imaging field (``gmos_lookup.imaging_field``); None for spectra.

        Each extension's data-section pixels are placed on the focal plane from
        ``DETSEC`` (which CCD), ``CCDSEC`` (where on it), ``CCDSIZE`` and the
        binning; overscan columns are left unflagged (their levels are the
        bias). None when the detector has no geometry or an extension does not
        lie on a single CCD (e.g. already tiled).
        """
        if "IMAGE" not in ad.tags or "SPECT" in ad.tags:
            return None
        key = gmos_lookup.detector_key(ad.phu.get("DETECTOR", ""), ad.instrument(),
                                       self._detector_family(ad))
        if key is None:
            return None
        binning = (int(ad.detector_x_bin() or 1), int(ad.detector_y_bin() or 1))
        count = len(ad)
        detsecs = _as_sections(ad.detector_section(), count)
        ccdsecs = _as_sections(ad.array_section(), count)
        datasecs = _as_sections(ad.data_section(), count)
        masks = []
        for ext, det, ccd, data in zip(ad, detsecs, ccdsecs, datasecs, strict=True):
            try:
                size = Section.from_string(str(ext.hdr["CCDSIZE"]))
            except (KeyError, ValueError):
                size = None
            if det is None or ccd is None or data is None or size is None:
                self.log.warning(f"{ad.filename} extension {ext.id}: no DETSEC/CCDSEC/DATASEC/"
                                 f"CCDSIZE; no GMOS illumination mask")
                return None
            height, width = gmos_lookup.imaging_ccd_shape(key, size)
            ccd_index = det.x1 // width
            if (det.x2 - 1) // width != ccd_index or not 0 <= ccd_index < 3:
                self.log.warning(f"{ad.filename} extension {ext.id}: DETSEC {det} is not on "
                                 f"one CCD; no GMOS illumination mask")
                return None
            plane = np.zeros(ext.shape[-2:], dtype=bool)
            region = plane[data.asslice()]
            plane[data.asslice()] = gmos_lookup.unilluminated_pixels(
                key, ccd_index, (height, width), (ccd.x1, ccd.y1), binning, region.shape)
            masks.append(plane)
        return masks

    # -- detector family and geometry --------------------------------------------
    @staticmethod
    def _detector_family(ad: Any) -> str | None:
        """'Hamamatsu', 'e2vDD' or 'EEV' (None if unknown)."""
        try:
            pretty = str(ad.detector_name(pretty=True))
        except (AttributeError, TypeError, ValueError):
            return None
        return "Hamamatsu" if pretty.startswith("Hamamatsu") else (
            pretty if pretty in ("e2vDD", "EEV") else None)

    def _geometry_key(self, ad: Any) -> str | None:
        """Key of ``gmos_lookup.MOSAIC_SHIFTS`` for this detector, or None."""
        detector = str(ad.phu.get("DETECTOR", "")).strip()
        key = gmos_lookup.DETECTOR_CCDS.get(detector)
        if key is None and self._detector_family(ad) == "EEV":
            key = f"{ad.instrument()} EEV"
        return key

    # -- hooks of subtractOverscan -------------------------------------------------
    def _overscan_skip(self, ad: Any, nbiascontam: int | None) -> tuple[int, int]:
        """Gemini's bias-contaminated columns (4 Hamamatsu/EEV, 5 e2vDD) and one at the edge."""
        if nbiascontam is None:
            nbiascontam = gmos_lookup.BIAS_CONTAMINATED_COLUMNS.get(
                self._detector_family(ad) or "", 0)
        return nbiascontam, 1

    def _rows_excluded_from_fit(self, ad: Any, index: int) -> int:
        """The bottom 48 unbinned rows of a Hamamatsu CCD stay out of overscan fits."""
        if self._detector_family(ad) != "Hamamatsu":
            return 0
        sections = ad.array_section()
        section = sections[index] if isinstance(sections, list) else sections
        if not isinstance(section, Section) or section.y1 > 0:
            return 0
        ybin = int(ad.detector_y_bin() or 1)
        return math.ceil(gmos_lookup.HAMAMATSU_BAD_BOTTOM_ROWS / ybin)

    def _saturation_after_subtraction(self, ad: Any, index: int, level: float,
                                      value: float) -> float:
        """The 16-bit ADC limit less the bias, or the full well if lower."""
        return min(value, gmos_lookup.ADC_LIMIT - level)

    # -- hooks of tileArrays and mosaicDetectors -------------------------------------
    def _tile_gaps(self, ad: Any) -> tuple[float, float]:
        """Chip gaps of the Gemini tables (unbinned pixels between CCDs)."""
        gap = gmos_lookup.TILE_GAPS.get((ad.instrument(), self._detector_family(ad)))
        if gap is None:
            self.log.warning(f"{ad.filename}: no chip gap known for {ad.instrument()} "
                             f"{self._detector_family(ad)}; tiling without gaps")
            return 0.0, 0.0
        return float(gap), 0.0

    def _array_geometry(self, ad: Any, groups: list[ArrayGroup], reference: int
                        ) -> list[ArrayGeometry]:
        """CCD1 and CCD3 shifted and rotated relative to CCD2 as the Gemini geometry tables say.

        The tables were measured on 2048-column CCDs: the part of each shift
        beyond one CCD width (the gap and its residual) is kept when the
        CCDs are narrower (simulated small detectors), so that the shift is
        ``table shift - sign * (2048 - width)``.
        """
        key = self._geometry_key(ad)
        table = gmos_lookup.MOSAIC_SHIFTS.get(key) if key else None
        sizes = []
        for group in groups:
            text = ad[group.indices[0]].hdr.get("CCDSIZE")
            try:
                size = Section.from_string(str(text))
            except (TypeError, ValueError):
                size = None
            sizes.append(size)
        if table is None or any(s is None for s in sizes):
            if len(groups) > 1:
                what = key or "this detector"
                self.log.warning(f"{ad.filename}: no mosaic geometry for {what} (or no "
                                 f"CCDSIZE); the CCDs are placed at their detector sections "
                                 f"with the chip gaps")
            return super()._array_geometry(ad, groups, reference)
        numbers = [int(round(g.origin[0] / (s.x2 - s.x1))) + 1 for g, s in zip(groups, sizes,
                                                                               strict=True)]
        if numbers[reference] != 2:
            self.log.warning(f"{ad.filename}: CCD2 is not read; the CCDs are placed at their "
                             f"detector sections with the chip gaps")
            return super()._array_geometry(ad, groups, reference)
        result = []
        for number, size in zip(numbers, sizes, strict=True):
            width, height = size.x2 - size.x1, size.y2 - size.y1
            centre = ((width - 1) / 2.0, (height - 1) / 2.0)
            if number == 2:
                result.append(ArrayGeometry((0.0, 0.0), 0.0, centre))
                continue
            entry = table[f"CCD{number}"]
            sx, sy = entry["shift"]
            sign = 1.0 if sx > 0 else -1.0
            result.append(ArrayGeometry((sx - sign * (_NOMINAL_CCD_WIDTH - width), sy),
                                        float(entry["rotation"]), centre))
        return result
