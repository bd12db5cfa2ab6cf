"""AstroDataGsaoi: tags and descriptors of GSAOI (the GeMS/Gemini-South AO near-IR imager).

Rules from ``/work/shared/reference/gemini-headers.md`` section 3. A raw
GSAOI file has four 2048x2048 extensions, one per HAWAII-2RG array
(``ARRAYID``); coadds are averaged, not summed.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from astrodata.descriptors import astro_data_descriptor, returns_list
from astrodata.instruments.gemini import gmu
from astrodata.instruments.gemini.adclass import (
    AstroDataGemini,
    MissingKeyword,
    unity_if_in_electrons,
    use_keyword_if_prepared,
    whole_counts,
)
from astrodata.instruments.gsaoi import lookup
from astrodata.tags import TagSet, astro_data_tag

__all__ = ["AstroDataGsaoi"]

log = logging.getLogger("astrodata")


class AstroDataGsaoi(AstroDataGemini):
    """GSAOI data (``INSTRUME`` GSAOI)."""

    _keyword_dict = {
        "array_name": "ARRAYID",
        "array_section": "CCDSEC",
        "camera": "DETECTOR",
        "central_wavelength": "WAVELENG",
        "detector_name": "DETECTOR",
    }

    @staticmethod
    def _matches_data(source: Any) -> bool:
        phu = source.phu if hasattr(source, "phu") else source[0].header
        return str(phu.get("INSTRUME", "")).strip().upper() == "GSAOI"

    # ------------------------------------------------------------------
    # tags

    @astro_data_tag
    def _tag_instrument(self) -> TagSet:
        return TagSet({"GSAOI"})

    @astro_data_tag
    def _tag_dark(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "DARK":
            return TagSet({"DARK", "CAL"}, blocks={"IMAGE"})
        return None

    @astro_data_tag
    def _tag_image(self) -> TagSet:
        tags = {"IMAGE"}
        if str(self.phu.get("OBSTYPE", "")).strip() == "FLAT":
            tags |= {"FLAT", "CAL"}
        target = str(self.phu.get("OBJECT", "")).strip().upper()
        if "DOMEFLAT" in target:
            tags |= {"DOMEFLAT", "FLAT", "CAL"}
        elif "TWILIGHT" in target:
            tags |= {"TWILIGHT", "FLAT", "CAL"}
        return TagSet(tags)

    @astro_data_tag
    def _tag_dome_lamp(self) -> TagSet | None:
        target = str(self.phu["OBJECT"]).strip().upper()
        if target == "DOMEFLAT":
            return TagSet({"LAMPON"})
        if target == "DOMEFLAT OFF":
            return TagSet({"LAMPOFF"})
        return None

    # ------------------------------------------------------------------
    # detector properties

    @astro_data_descriptor
    def read_speed_setting(self) -> str:
        """Fowler mode from ``LNRS``: 2 'Bright Objects', 8 'Faint Objects',
        16 'Very Faint Objects', else 'Unknown'."""
        lnrs = int(self._phu_value("LNRS"))
        return lookup.READ_SPEED_BY_LNRS.get(lnrs, "Unknown")

    @astro_data_descriptor
    def is_coadds_summed(self) -> bool:
        """False: GSAOI averages its coadds, so the exposure time is ``EXPTIME``."""
        return False

    @astro_data_descriptor
    @returns_list
    def array_name(self) -> list[str | None]:
        """``ARRAYID`` of each extension (``DETECTOR`` once the arrays are mosaicked)."""
        mosaicked = "MOSAIC" in self.phu or "TILEARRY" in self.phu

        def name(header: Any) -> str:
            if "ARRAYID" in header:
                return str(header["ARRAYID"]).strip()
            if mosaicked:
                return str(self._phu_value("DETECTOR")).strip()
            raise MissingKeyword("keyword ARRAYID is missing from the extension header")

        return self._per_extension("array_name", name)

    def _properties(self) -> list[lookup.ArrayProperties | None]:
        """Array properties of each extension (None, with a warning, if unknown)."""
        speed = self.read_speed_setting()
        arrays = self._as_list(self.array_name())
        result = [lookup.ARRAY_PROPERTIES.get((speed, a)) if a else None for a in arrays]
        unknown = [a for a, p in zip(arrays, result, strict=True) if a and p is None]
        if unknown:
            log.warning("%s: no GSAOI array properties for read speed %r and array(s) %s",
                        self._file_label(), speed, ", ".join(unknown))
        return result

    @astro_data_descriptor
    @returns_list
    @unity_if_in_electrons
    @use_keyword_if_prepared
    def gain(self) -> list[float | None]:
        """Electrons per ADU of each array (2.434, 2.010, 2.411, 2.644)."""
        return [p.gain if p else None for p in self._properties()]

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def read_noise(self) -> list[float | None]:
        """Read noise (electrons) of each array in the Fowler mode, / sqrt(COADDS)."""
        coadds = self.coadds()
        return [
            round(p.read_noise / math.sqrt(coadds), 2) if p else None for p in self._properties()
        ]

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def saturation_level(self) -> list[int | None]:
        """Saturation of each array in ADU (52400, 50250, 53700, 52300)."""
        return [int(p.well_depth) if p else None for p in self._properties()]

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def non_linear_level(self) -> list[int | None]:
        """Non-linear level of each array in ADU (38252, 32160, 40812, 39225)."""
        return [whole_counts(p.linear_limit * p.well_depth) if p else None
                for p in self._properties()]

    # ------------------------------------------------------------------
    # geometry and grouping

    @astro_data_descriptor
    def detector_y_offset(self) -> float:
        """Offset along y in pixels: -``QOFFSET`` / pixel scale."""
        return -self._phu_float("QOFFSET") / self.pixel_scale()

    @astro_data_descriptor
    def central_wavelength(
        self,
        asMicrometers: bool = False,  # noqa: N803
        asNanometers: bool = False,  # noqa: N803
        asAngstroms: bool = False,  # noqa: N803
    ) -> float | None:
        """Central wavelength of the filter (``WAVELENG``, Angstrom); metres by default."""
        angstroms = self._phu_float("central_wavelength")
        if angstroms <= 0:
            return None
        return gmu.convert_wavelength(
            angstroms, "angstroms", asMicrometers, asNanometers, asAngstroms
        )

    def _filter_wavelengths(self) -> dict[str, float]:
        return {**super()._filter_wavelengths(), **lookup.FILTER_WAVELENGTHS}

    @astro_data_descriptor
    def group_id(self) -> str:
        """Key of the frames to stack together.

        Flats: filter, exposure time, program ID; others: observation ID,
        filter, exposure time; always + read mode and detector sections.
        """
        if "FLAT" in self.tags:
            names = ["filter_name", "exposure_time", "program_id"]
        else:
            names = ["observation_id", "filter_name", "exposure_time"]
        return self._group_id_from(names + ["read_mode", "detector_section"])

    def _nominal_zeropoints(self) -> list[float | None]:
        name = self.filter_name(pretty=True)
        result = [lookup.NOMINAL_ZEROPOINTS.get((name, array))
                  for array in self._as_list(self.array_name())]
        if all(z is None for z in result):
            raise ValueError(f"no GSAOI nominal zeropoint for filter {name!r}")
        return result
