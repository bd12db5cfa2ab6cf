"""AstroDataF2: tags and descriptors of Flamingos-2 (Gemini-South near-IR imager/spectrograph).

Rules from ``/work/shared/reference/gemini-headers.md`` section 2. Raw F2
files have one 3-D extension ``(1, 2048, 2048)`` of int32 and no section
keywords; the read mode is the number of read pairs ``LNRS``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from astrodata.descriptors import astro_data_descriptor, returns_list
from astrodata.instruments.f2 import lookup
from astrodata.instruments.gemini import gmu
from astrodata.instruments.gemini.adclass import (
    AstroDataGemini,
    unity_if_in_electrons,
    use_keyword_if_prepared,
    whole_counts,
)
from astrodata.section import Section
from astrodata.tags import TagSet, astro_data_tag

__all__ = ["AstroDataF2"]

_DARK_FILTER = re.compile(r"^DK.?")
_SLIT_POSITION = re.compile(r".?pix-slit")
_MOS_POSITION = re.compile(r"mos.?")
_SPECTROSCOPIC_GRISM = re.compile(r"(JH.?|HK.?|R3K.?)")

#: Before this date the filter wheels were recorded in FILT1POS/FILT2POS.
_FILTER_KEYWORD_CHANGE = dt.date(2010, 3, 1)


class AstroDataF2(AstroDataGemini):
    """Flamingos-2 data (``INSTRUME`` F2 or FLAM)."""

    _keyword_dict = {
        "central_wavelength": "WAVELENG",
        "disperser": "GRISM",
        "lyot_stop": "LYOT",
    }

    @staticmethod
    def _matches_data(source: Any) -> bool:
        phu = source.phu if hasattr(source, "phu") else source[0].header
        return str(phu.get("INSTRUME", "")).strip().upper() in ("F2", "FLAM")

    # ------------------------------------------------------------------
    # tags

    @astro_data_tag
    def _tag_instrument(self) -> TagSet:
        return TagSet({"F2"})

    @astro_data_tag
    def _tag_dark(self) -> TagSet | None:
        filters = [str(self.phu.get(k, "")).strip() for k in ("FILTER1", "FILTER2")]
        if str(self.phu.get("OBSTYPE", "")).strip() == "DARK" or any(
            _DARK_FILTER.match(f) for f in filters
        ):
            return TagSet({"DARK", "CAL"}, blocks={"IMAGE", "SPECT"})
        return None

    @astro_data_tag
    def _tag_image(self) -> TagSet | None:
        if "Open" in (self.phu.get("GRISM"), self.phu.get("GRISMPOS")):
            return TagSet({"IMAGE"})
        return None

    @astro_data_tag
    def _tag_flat(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "FLAT":
            return TagSet({"FLAT", "CAL"})
        return None

    @astro_data_tag
    def _tag_twilight(self) -> TagSet | None:
        if str(self.phu["OBJECT"]).strip().upper() != "TWILIGHT":
            return None
        if str(self.phu.get("GRISM", "")).strip() != "Open":
            return TagSet({"TWILIGHT", "CAL"}, blocks={"FLAT"})
        return TagSet({"TWILIGHT", "CAL"})

    @astro_data_tag
    def _tag_arc(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "ARC":
            return TagSet({"ARC", "CAL"})
        return None

    def _slit_tagset(self, tag: str) -> TagSet:
        grism = str(self.phu.get("GRISM", self.phu.get("GRISMPOS", ""))).strip()
        if _SPECTROSCOPIC_GRISM.match(grism):
            return TagSet({tag, "SPECT"})
        return TagSet({tag, "THRUSLIT"}, if_present={"IMAGE"})

    @astro_data_tag
    def _tag_longslit(self) -> TagSet | None:
        decker = str(self.phu.get("DECKER", self.phu.get("DCKERPOS", ""))).strip()
        if decker == "Long_slit" or _SLIT_POSITION.match(str(self.phu.get("MOSPOS", ""))):
            return self._slit_tagset("LS")
        return None

    @astro_data_tag
    def _tag_mos(self) -> TagSet | None:
        decker = str(self.phu.get("DECKER", self.phu.get("DCKERPOS", ""))).strip()
        if decker == "mos" or _MOS_POSITION.match(str(self.phu.get("MOSPOS", ""))):
            return self._slit_tagset("MOS")
        return None

    @astro_data_tag
    def _tag_disperser_mode(self) -> TagSet | None:
        disperser = str(self.phu["DISPERSR"]).strip()
        if disperser.startswith("DISP_WOLLASTON"):
            return TagSet({"POL"})
        if disperser.startswith("DISP_PRISM"):
            return TagSet({"SPECT", "IFU"})
        return None

    @astro_data_tag
    def _tag_standard(self) -> TagSet | None:
        return TagSet({"STANDARD", "CAL"}) if self.phu.get("PROCSTND") else None

    # ------------------------------------------------------------------
    # read mode and detector properties

    def _lnrs(self) -> int:
        value = self._phu_value("LNRS")
        lnrs = int(value)
        if lnrs != float(value) or lnrs < 1:
            raise ValueError(f"LNRS={value!r} is not a positive integer")
        return lnrs

    def _array_properties(self) -> lookup.ArrayProperties:
        read_mode = self.read_mode()
        if read_mode not in lookup.ARRAY_PROPERTIES:
            raise ValueError(f"no F2 array properties for read mode (LNRS) {read_mode!r}")
        return lookup.ARRAY_PROPERTIES[read_mode]

    @astro_data_descriptor
    def read_mode(self) -> str:
        """Number of non-destructive read pairs, ``str(LNRS)``: '1', '4', '6' or '8'."""
        return str(self._lnrs())

    def _raw_gain(self) -> float:
        return self._array_properties().gain / self._lnrs()

    @astro_data_descriptor
    @returns_list
    @unity_if_in_electrons
    @use_keyword_if_prepared
    def gain(self) -> float:
        """Electrons per ADU: 4.44 / LNRS on raw data (F2 sums its reads in ADU)."""
        return self._raw_gain()

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def read_noise(self) -> float:
        """Read noise (electrons) for the read mode, x sqrt(COADDS) as coadds are summed."""
        return self._array_properties().read_noise * math.sqrt(self.coadds())

    def _raw_saturation(self) -> int:
        return whole_counts(self._array_properties().well_depth * self.coadds() / self._raw_gain())

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def saturation_level(self) -> int:
        """Saturation in ADU: full well x COADDS / gain (35000 for LNRS 1, 280000 for 8)."""
        return self._raw_saturation()

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def non_linear_level(self) -> int:
        """Non-linear level in ADU: 0.72 of the saturation level."""
        return whole_counts(self._array_properties().linear_limit * self._raw_saturation())

    # ------------------------------------------------------------------
    # optical configuration

    def _raw_filters(self) -> list[str]:
        keywords: tuple[str, ...] = ("FILTER1", "FILTER2")
        try:
            if self.ut_datetime(dateonly=True, strict=True) < _FILTER_KEYWORD_CHANGE:
                keywords = ("FILT1POS", "FILT2POS")
        except (KeyError, ValueError, TypeError):
            pass
        filters = [str(self._phu_value(k)).strip() for k in keywords]
        lyot = str(self.phu.get("LYOT", self.phu.get("LYOTPOS", ""))).strip()
        if lyot and not lyot.startswith(("f", "GEMS", "Hart")):
            filters.append(lyot)
        return filters

    @astro_data_descriptor
    def filter_name(
        self,
        stripID: bool = False,  # noqa: N803
        pretty: bool = False,
        keepID: bool = False,  # noqa: N803
    ) -> str:
        """Filters in the beam: raw ``'Open&Y_G0811'``, pretty ``'Y'``.

        ``FILTER1&FILTER2`` (``FILT1POS``/``FILT2POS`` before 2010-03-01),
        plus the Lyot wheel when it holds a filter. ``pretty`` drops open
        positions and strips the IDs (unless ``keepID``); a Block/Dark
        position makes the name ``'blank'``, a DK one ``'dark'``; nothing
        left is ``'open'``.
        """
        filters = self._raw_filters()
        if not pretty:
            if stripID and not keepID:
                filters = [gmu.remove_component_id(f) for f in filters]
            return "&".join(filters)
        names = []
        for raw in filters:
            name = gmu.remove_component_id(raw)
            if "open" in name.lower():
                continue
            if "Block" in name or "Dark" in name:
                return "blank"
            if name.startswith("DK"):
                return "dark"
            names.append(raw if keepID else name)
        return "&".join(names) if names else "open"

    @astro_data_descriptor
    def camera(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """Camera: ``LYOT`` if it is an ``f/`` position (``'f/16_G5830'``), else ``FOCUS``.

        Without either, f/16 if the pixel scale exceeds 0.1 arcsec, else f/32.
        A name from ``FOCUS`` or the pixel scale gets its component ID.
        """
        lyot = str(self.phu.get("LYOT", "")).strip()
        if lyot.startswith("f/"):
            camera = lyot
        else:
            focus = str(self.phu.get("FOCUS", "")).strip()
            if not focus.startswith("f/"):
                focus = "f/16" if self.pixel_scale() > 0.1 else "f/32"
            camera = f"{focus}_{lookup.CAMERA_COMPONENT_IDS.get(focus, 'G9999')}"
        return gmu.remove_component_id(camera) if (stripID or pretty) else camera

    @astro_data_descriptor
    def lyot_stop(self, stripID: bool = False, pretty: bool = False) -> str | None:  # noqa: N803
        """Lyot stop (``LYOT`` or ``LYOTPOS``); None if ``'Undefined'``."""
        if "LYOT" in self.phu:
            value = str(self.phu["LYOT"]).strip()
        else:
            value = str(self._phu_value("LYOTPOS")).strip()
        if value == "Undefined":
            return None
        return gmu.remove_component_id(value) if (stripID or pretty) else value

    @astro_data_descriptor
    def focal_plane_mask(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """``MOSPOS`` when it is ``'Open'``, else ``MASKNAME`` (e.g. ``'4pix-slit'``)."""
        mospos = str(self._phu_value("MOSPOS")).strip()
        value = mospos if mospos == "Open" else str(self._phu_value("MASKNAME")).strip()
        return gmu.remove_component_id(value) if (stripID or pretty) else value

    @astro_data_descriptor
    def central_wavelength(
        self,
        asMicrometers: bool = False,  # noqa: N803
        asNanometers: bool = False,  # noqa: N803
        asAngstroms: bool = False,  # noqa: N803
    ) -> float | None:
        """Central wavelength: ``WAVELENG`` (Angstrom), corrected for K-long, JH and HK.

        In metres unless another unit is asked for.
        """
        nanometres = None
        for raw in self._raw_filters():
            if raw in lookup.CENTRAL_WAVELENGTH_BY_FILTER_NM:
                nanometres = lookup.CENTRAL_WAVELENGTH_BY_FILTER_NM[raw]
        if nanometres is None:
            angstroms = self._phu_float("central_wavelength")
            if angstroms <= 0:
                return None
            nanometres = angstroms * 0.1
        return gmu.convert_wavelength(
            nanometres, "nanometers", asMicrometers, asNanometers, asAngstroms
        )

    def _filter_wavelengths(self) -> dict[str, float]:
        return {**super()._filter_wavelengths(), **lookup.FILTER_WAVELENGTHS}

    @astro_data_descriptor
    @returns_list
    def dispersion_axis(self) -> int | None:
        """2 (along y) for spectra; None for images."""
        return 2 if "SPECT" in self.tags else None

    # ------------------------------------------------------------------
    # geometry

    def _section(self, name: str, pretty: bool) -> list[Section | str | None]:
        if "PREPARED" in self.tags:
            return self._ext_section(name, pretty)

        # Raw F2 files carry no section keywords: every extension is the
        # whole array.
        def full_array(header: Any) -> Section | str:
            nx = int(header.get("NAXIS1", lookup.FULL_FRAME_SHAPE[1]))
            ny = int(header.get("NAXIS2", lookup.FULL_FRAME_SHAPE[0]))
            section = Section(0, nx, 0, ny)
            return section.asIRAFsection() if pretty else section

        return self._per_extension(name, full_array)

    @astro_data_descriptor
    @returns_list
    def array_section(self, pretty: bool = False) -> list[Section | str | None]:
        """The whole array on raw data (``[1:2048,1:2048]``); the header's once prepared."""
        return self._section("array_section", pretty)

    @astro_data_descriptor
    @returns_list
    def data_section(self, pretty: bool = False) -> list[Section | str | None]:
        """The whole array on raw data (``[1:2048,1:2048]``); the header's once prepared."""
        return self._section("data_section", pretty)

    @astro_data_descriptor
    @returns_list
    def detector_section(self, pretty: bool = False) -> list[Section | str | None]:
        """The whole array on raw data (``[1:2048,1:2048]``); the header's once prepared."""
        return self._section("detector_section", pretty)

    @astro_data_descriptor
    def position_angle(self) -> float:
        """Position angle of the array on the sky: (``PA`` + 90) mod 360."""
        return (self._phu_float("position_angle") + 90.0) % 360.0

    @astro_data_descriptor
    def telescope_x_offset(self) -> float:
        """Offset along the array x axis, arcsec: -``YOFFSET`` (F2's axes are swapped)."""
        return -self._phu_float("YOFFSET")

    @astro_data_descriptor
    def telescope_y_offset(self) -> float:
        """Offset along the array y axis, arcsec: -``XOFFSET`` (F2's axes are swapped)."""
        return -self._phu_float("XOFFSET")

    @astro_data_descriptor
    def detector_x_offset(self) -> float:
        """Offset along x in pixels: -``QOFFSET`` / pixel scale."""
        return -self._phu_float("QOFFSET") / self.pixel_scale()

    @astro_data_descriptor
    def detector_y_offset(self) -> float:
        """Offset along y in pixels: -``POFFSET`` / pixel scale (sign flipped on port 1)."""
        offset = -self._phu_float("POFFSET") / self.pixel_scale()
        return -offset if self._inport_flipped() else offset

    # ------------------------------------------------------------------
    # grouping and photometry

    @astro_data_descriptor
    def group_id(self) -> str:
        """Key of the frames to stack together.

        Darks: exposure time and coadds. Imaging flats: filter, camera,
        exposure time, observation ID + ``F2_IMAGE_FLAT``. Imaging twilights:
        filter, camera + ``F2_IMAGE_TWILIGHT``. Others: observation ID,
        filter, camera, exposure time. Always + read mode and detector
        section (+ disperser and mask for spectra).
        """
        tags = self.tags
        extra: list[str] = []
        if "DARK" in tags:
            names = ["exposure_time", "coadds"]
        elif {"IMAGE", "FLAT"} <= tags:
            names = ["filter_name", "camera", "exposure_time", "observation_id"]
            extra = ["F2_IMAGE_FLAT"]
        elif {"IMAGE", "TWILIGHT"} <= tags:
            names = ["filter_name", "camera"]
            extra = ["F2_IMAGE_TWILIGHT"]
        else:
            names = ["observation_id", "filter_name", "camera", "exposure_time"]
        names += ["read_mode", "detector_section"]
        if "SPECT" in tags:
            names += ["disperser", "focal_plane_mask"]
        return self._group_id_from(names, extra)

    def _nominal_zeropoints(self) -> list[float | None]:
        key = (self.filter_name(pretty=True), self.camera(pretty=True))
        if key not in lookup.NOMINAL_ZEROPOINTS:
            raise ValueError(f"no F2 nominal zeropoint for filter/camera {key}")
        return [lookup.NOMINAL_ZEROPOINTS[key]] * (1 if self.is_single else len(self))

