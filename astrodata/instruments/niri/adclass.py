"""AstroDataNiri: tags and descriptors of NIRI (the Gemini-North near-IR imager/spectrograph).

Rules from ``/work/shared/reference/gemini-headers.md`` section 5. A raw NIRI
file has one extension (1024x1024 full frame, or a centred 256/512/768
sub-array given by ``LOWROW``/``HIROW``/``LOWCOL``/``HICOL``); coadds are
summed and ``EXPTIME`` is per coadd.
"""

from __future__ import annotations

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
from astrodata.instruments.niri import lookup
from astrodata.section import Section
from astrodata.tags import TagSet, astro_data_tag

__all__ = ["AstroDataNiri"]

_FILTER_KEYWORDS = ("FILTER1", "FILTER2", "FILTER3")


class AstroDataNiri(AstroDataGemini):
    """NIRI data (``INSTRUME`` NIRI)."""

    _filter_keywords = _FILTER_KEYWORDS

    @staticmethod
    def _matches_data(source: Any) -> bool:
        phu = source.phu if hasattr(source, "phu") else source[0].header
        return str(phu.get("INSTRUME", "")).strip().upper() == "NIRI"

    # ------------------------------------------------------------------
    # tags

    @astro_data_tag
    def _tag_instrument(self) -> TagSet:
        return TagSet({"NIRI"})

    @astro_data_tag
    def _tag_dark(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "DARK":
            return TagSet({"DARK", "CAL"}, blocks={"SPECT", "IMAGE"})
        return None

    @astro_data_tag
    def _tag_arc(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "ARC":
            return TagSet({"ARC"})
        return None

    @astro_data_tag
    def _tag_flat(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "FLAT":
            return TagSet({"CAL", "FLAT"})
        return None

    @astro_data_tag
    def _tag_image_or_spect(self) -> TagSet:
        if "grism" in str(self.phu["FILTER3"]):
            return TagSet({"SPECT", "LS"})
        if str(self.phu.get("OBJECT", "")).strip().upper() == "TWILIGHT":
            return TagSet({"IMAGE", "CAL", "FLAT", "TWILIGHT"})
        return TagSet({"IMAGE"})

    # ------------------------------------------------------------------
    # detector configuration

    @astro_data_descriptor
    def read_mode(self) -> str:
        """'Low Background' (LNRS 16, NDAVGS 16), 'Medium Background' (1, 16),
        'High Background' (1, 1), else 'Unknown'."""
        key = (int(self._phu_value("LNRS")), int(self._phu_value("NDAVGS")))
        return lookup.READ_MODES.get(key, "Unknown")

    @astro_data_descriptor
    def well_depth_setting(self) -> str:
        """'Shallow' or 'Deep' from the bias voltage ``A_VDDUC - A_VDET``, else 'Unknown'."""
        bias = self._phu_float("A_VDDUC") - self._phu_float("A_VDET")
        for setting, voltage in lookup.WELL_DEPTH_VOLTAGES.items():
            if abs(bias - voltage) < lookup.WELL_DEPTH_TOLERANCE:
                return setting
        return "Unknown"

    @astro_data_descriptor
    @returns_list
    @unity_if_in_electrons
    @use_keyword_if_prepared
    def gain(self) -> float:
        """12.3 electrons/ADU."""
        return lookup.GAIN

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def read_noise(self) -> float:
        """Read noise (electrons) of the read mode x sqrt(COADDS)."""
        per_coadd = lookup.READ_NOISE.get(self.read_mode(), lookup.DEFAULT_READ_NOISE)
        return per_coadd * math.sqrt(self.coadds())

    def _raw_saturation(self) -> int:
        setting = self.well_depth_setting()
        if setting not in lookup.WELL_DEPTHS:
            raise ValueError(f"well depth setting is {setting!r}")
        return whole_counts(lookup.WELL_DEPTHS[setting] * self.coadds() / lookup.GAIN)

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def saturation_level(self) -> int:
        """Saturation in ADU: full well x COADDS / gain (81300 for 5 Shallow coadds)."""
        return self._raw_saturation()

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def non_linear_level(self) -> int:
        """Non-linear level in ADU: 0.7 of the saturation level."""
        return whole_counts(lookup.LINEAR_LIMIT * self._raw_saturation())

    # ------------------------------------------------------------------
    # optical configuration

    def _beam_filters(self) -> list[str]:
        """The filters in the beam: open, grism and pupil positions left out."""
        return sorted(
            f
            for f in self._raw_filters()
            if not any(word in f.lower() for word in ("open", "grism", "pupil"))
        )

    @astro_data_descriptor
    def filter_name(
        self,
        stripID: bool = False,  # noqa: N803
        pretty: bool = False,
        keepID: bool = False,  # noqa: N803
    ) -> str:
        """Filters in the beam from ``FILTER1..3`` (open, grism and pupil
        positions dropped), sorted and joined with ``&``: raw
        ``'Kprime_G0206'``, pretty ``'K(prime)'``; ``'blank'`` if a blank is
        in the beam, ``'open'`` if nothing is."""
        filters = self._beam_filters()
        if any(gmu.remove_component_id(f).lower() == "blank" for f in filters):
            return "blank"
        if not filters:
            return "open"
        if keepID:
            return "&".join(filters)
        if stripID or pretty:
            filters = [gmu.remove_component_id(f) for f in filters]
        if pretty:
            key: str | tuple[str, ...] = filters[0] if len(filters) == 1 else tuple(filters)
            if key in lookup.FILTER_NAME_MAPPING:
                return lookup.FILTER_NAME_MAPPING[key]
            return "&".join(lookup.FILTER_NAME_MAPPING.get(f, f) for f in filters)
        return "&".join(filters)

    @astro_data_descriptor
    def disperser(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """``FILTER3`` when it holds a grism, else ``'MIRROR'``."""
        wheel = str(self._phu_value("FILTER3")).strip()
        if "grism" not in wheel:
            return "MIRROR"
        return gmu.remove_component_id(wheel) if (stripID or pretty) else wheel

    @astro_data_descriptor
    def pupil_mask(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """``FILTER3`` when it holds a pupil mask, else ``'MIRROR'``."""
        wheel = str(self._phu_value("FILTER3")).strip()
        if not wheel.startswith("pup"):
            return "MIRROR"
        return gmu.remove_component_id(wheel) if (stripID or pretty) else wheel

    def _filter_wavelengths(self) -> dict[str, float]:
        return {**super()._filter_wavelengths(), **lookup.FILTER_WAVELENGTHS}

    # ------------------------------------------------------------------
    # geometry

    @astro_data_descriptor
    @returns_list
    def data_section(self, pretty: bool = False) -> list[Section | str | None]:
        """The whole array of each extension (NIRI has no overscan)."""

        def whole(header: Any) -> Section | str:
            nx, ny = int(_header_value(header, "NAXIS1")), int(_header_value(header, "NAXIS2"))
            section = Section(0, nx, 0, ny)
            return section.asIRAFsection() if pretty else section

        return self._per_extension("data_section", whole)

    def _ir_section(self, name: str, pretty: bool) -> list[Section | str | None]:
        """The array region read out, centred on the array, from LOWROW..HICOL."""

        def centred(header: Any) -> Section | str:
            rows = int(_header_value(header, "HIROW")) - int(_header_value(header, "LOWROW")) + 1
            cols = int(_header_value(header, "HICOL")) - int(_header_value(header, "LOWCOL")) + 1
            half = lookup.ARRAY_SIZE // 2
            # NIRI rows run along x.
            section = Section(half - rows // 2, half + rows // 2, half - cols // 2,
                              half + cols // 2)
            return section.asIRAFsection() if pretty else section

        return self._per_extension(name, centred)

    @astro_data_descriptor
    @returns_list
    def array_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Region of the array read out (``[1:1024,1:1024]`` in full frame)."""
        return self._ir_section("array_section", pretty)

    @astro_data_descriptor
    @returns_list
    def detector_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Region of the array read out (``[1:1024,1:1024]`` in full frame)."""
        return self._ir_section("detector_section", pretty)

    @astro_data_descriptor
    def detector_roi_setting(self) -> str:
        """'Full Frame' (1024), 'Central768/512/256', else 'Custom'."""
        sections = self._as_list(self.data_section())
        if not sections or sections[0] is None:
            raise ValueError("no data section")
        x1, x2, y1, y2 = sections[0]
        size = x2 - x1
        if x1 == 0 and y1 == 0 and size == y2 - y1 and size % 256 == 0:
            return "Full Frame" if size == lookup.ARRAY_SIZE else f"Central{size}"
        return "Custom"

    @astro_data_descriptor
    def pixel_scale(self) -> float:
        """Pixel scale (arcsec/pixel): WCS, else ``PIXSCALE``, else by camera."""
        try:
            return self._header_pixel_scale()
        except (KeyError, ValueError, TypeError):
            camera = self.camera()
            if camera == "f32" and self.is_ao() and self._inport_flipped():
                return lookup.PIXEL_SCALE_F32_AO_BOTTOM_PORT
            if camera not in lookup.PIXEL_SCALES:
                raise ValueError(f"no pixel scale for NIRI camera {camera!r}") from None
            return lookup.PIXEL_SCALES[camera]

    @astro_data_descriptor
    def detector_x_offset(self) -> float:
        """``POFFSET`` / pixel scale, flipped on the bottom port without AO."""
        offset = self._phu_float("POFFSET") / self.pixel_scale()
        if self._inport_flipped() and not self.is_ao():
            offset = -offset
        return offset

    @astro_data_descriptor
    def detector_y_offset(self) -> float:
        """-``QOFFSET`` / pixel scale."""
        return -self._phu_float("QOFFSET") / self.pixel_scale()

    # ------------------------------------------------------------------
    # grouping and photometry

    @astro_data_descriptor
    def group_id(self) -> str:
        """Key of the frames to stack together.

        Darks: exposure time and coadds; others: observation ID, filter and
        camera; always + read mode, well depth and detector section; imaging
        flats add ``NIRI_IMAGE_FLAT`` (twilights ``NIRI_IMAGE_TWILIGHT``).
        """
        tags = self.tags
        if "DARK" in tags:
            names = ["exposure_time", "coadds"]
        else:
            names = ["observation_id", "filter_name", "camera"]
        names += ["read_mode", "well_depth_setting", "detector_section"]
        extra = []
        if {"IMAGE", "FLAT"} <= tags:
            extra = ["NIRI_IMAGE_TWILIGHT" if "TWILIGHT" in tags else "NIRI_IMAGE_FLAT"]
        return self._group_id_from(names, extra)

    def _nominal_zeropoints(self) -> list[float | None]:
        key = (self.filter_name(pretty=True), self.camera())
        if key not in lookup.NOMINAL_ZEROPOINTS:
            raise ValueError(f"no NIRI nominal zeropoint for filter/camera {key}")
        return [lookup.NOMINAL_ZEROPOINTS[key]] * (1 if self.is_single else len(self))


def _header_value(header: Any, keyword: str) -> Any:
    if keyword not in header:
        raise MissingKeyword(f"keyword {keyword} is missing from the extension header")
    return header[keyword]
