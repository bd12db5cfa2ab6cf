"""AstroDataGmos: tags and descriptors of GMOS-N and GMOS-S (Gemini optical imager-spectrographs).

Rules from ``/work/shared/reference/gemini-headers.md`` section 4. A raw
GMOS file has one extension per amplifier (12 Hamamatsu, 6 e2vDD, 3 or 6
EEV in full frame), uint16 pixels with overscan columns; the gain, read
noise and bias come from per-amplifier tables chosen by date
(:mod:`astrodata.instruments.gmos.lookup`; representative values).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

from astrodata.descriptors import astro_data_descriptor, returns_list
from astrodata.instruments.gemini import gmu
from astrodata.instruments.gemini.adclass import (
    AstroDataGemini,
    MissingKeyword,
    unity_if_in_electrons,
    use_keyword_if_prepared,
)
from astrodata.instruments.gmos import lookup
from astrodata.section import Section
from astrodata.tags import TagSet, astro_data_tag

__all__ = ["AstroDataGmos"]

log = logging.getLogger("astrodata")

_IFU_SLITS = {
    "IFU-B": "ONESLIT_BLUE",
    "IFU-B-NS": "ONESLIT_BLUE",
    "IFU-R": "ONESLIT_RED",
    "IFU-R-NS": "ONESLIT_RED",
    "IFU-2": "TWOSLIT",
    "IFU-NS-2": "TWOSLIT",
}
_IFU_MDF = re.compile(r"^g[ns]ifu_slit([rbs])_mdf$")
_IFU_MDF_SLITS = {"b": "ONESLIT_BLUE", "r": "ONESLIT_RED", "s": "TWOSLIT"}

#: (gain_setting, read_speed_setting) -> read_mode.
_READ_MODES = {
    ("low", "slow"): "Normal",
    ("high", "fast"): "Bright",
    ("low", "fast"): "Acquisition",
    ("high", "slow"): "Engineering",
}

#: A raw extension ``GAIN`` below this is the low-gain setting.
_LOW_GAIN_BELOW = 3.0

#: Exposure times above this (seconds) are not real GMOS exposures.
_MAX_EXPOSURE_TIME = 10000.0


class AstroDataGmos(AstroDataGemini):
    """GMOS-N and GMOS-S data (``INSTRUME`` GMOS-N or GMOS-S)."""

    _keyword_dict = {
        "array_name": "AMPNAME",
        "array_section": "CCDSEC",
        "camera": "INSTRUME",
        "overscan_section": "BIASSEC",
    }

    @staticmethod
    def _matches_data(source: Any) -> bool:
        phu = source.phu if hasattr(source, "phu") else source[0].header
        return str(phu.get("INSTRUME", "")).strip().upper() in ("GMOS-N", "GMOS-S")

    # ------------------------------------------------------------------
    # tags

    @astro_data_tag
    def _tag_instrument(self) -> TagSet:
        return TagSet({"GMOS"})

    @astro_data_tag
    def _tag_gcal_lamp_state(self) -> None:
        """GMOS flats carry no GCAL IR lamp tags."""
        return None

    @astro_data_tag
    def _tag_bias(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "BIAS":
            return TagSet({"BIAS", "CAL"}, blocks={"IMAGE", "SPECT"})
        return None

    @astro_data_tag
    def _tag_dark(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "DARK":
            return TagSet({"DARK", "CAL"}, blocks={"IMAGE", "SPECT"})
        return None

    @astro_data_tag
    def _tag_arc(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "ARC":
            return TagSet({"ARC", "CAL"})
        return None

    @astro_data_tag
    def _tag_flat(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() != "FLAT":
            return None
        filters = [str(self.phu.get(k, "")) for k in ("FILTER1", "FILTER2")]
        if str(self.phu.get("GRATING", "")).strip() == "MIRROR" and any(
            "Hartmann" in f for f in filters
        ):
            return None
        return TagSet({"GCALFLAT", "FLAT", "CAL"})

    @astro_data_tag
    def _tag_twilight(self) -> TagSet | None:
        if str(self.phu["OBJECT"]).strip().upper() != "TWILIGHT":
            return None
        if str(self.phu.get("GRATING", "")).strip() == "MIRROR":
            return TagSet({"TWILIGHT", "CAL", "FLAT"})
        return TagSet({"TWILIGHT", "CAL", "SLITILLUM"})

    @astro_data_tag
    def _tag_domeflat(self) -> TagSet | None:
        if str(self.phu["OBJECT"]).strip().upper() == "DOMEFLAT":
            return TagSet({"DOMEFLAT", "CAL", "FLAT"})
        return None

    @astro_data_tag
    def _tag_image_or_spect(self) -> TagSet:
        if str(self.phu["GRATING"]).strip() == "MIRROR":
            return TagSet({"IMAGE"})
        return TagSet({"SPECT"})

    def _mask_type(self) -> int:
        return int(self.phu["MASKTYP"])

    @astro_data_tag
    def _tag_thruslit(self) -> TagSet | None:
        if self._mask_type() != 0:
            return TagSet({"THRUSLIT"}, if_present={"IMAGE"})
        return None

    @astro_data_tag
    def _tag_longslit(self) -> TagSet | None:
        name = str(self.phu["MASKNAME"]).strip()
        if self._mask_type() == 1 and name.endswith("arcsec"):
            return TagSet({"LS"}, blocked_by={"BIAS", "BPM"})
        return None

    @astro_data_tag
    def _tag_mos(self) -> TagSet | None:
        name = str(self.phu["MASKNAME"]).strip()
        if self._mask_type() == 1 and not (
            name.startswith(("IFU", "focus")) or name.endswith("arcsec")
        ):
            return TagSet({"MOS"}, blocked_by={"BIAS", "BPM"})
        return None

    @astro_data_tag
    def _tag_ifu(self) -> TagSet | None:
        if self._mask_type() != -1:
            return None
        name = str(self.phu["MASKNAME"]).strip()
        if name in _IFU_SLITS:
            return TagSet({"IFU", _IFU_SLITS[name]})
        match = _IFU_MDF.match(name)
        if match:
            return TagSet({"IFU", _IFU_MDF_SLITS[match.group(1)]})
        return None

    @astro_data_tag
    def _tag_nod_and_shuffle(self) -> TagSet | None:
        return TagSet({"NODANDSHUFFLE"}) if "NODPIX" in self.phu else None

    @astro_data_tag
    def _tag_processed_standard(self) -> TagSet | None:
        if "SENSFUNC" in self.phu:
            return TagSet({"PROCESSED", "STANDARD", "CAL"}, blocks={"RAW"})
        return None

    # ------------------------------------------------------------------
    # identification

    @astro_data_descriptor
    def instrument(self, generic: bool = False) -> str:
        """``GMOS-N`` or ``GMOS-S``; ``'GMOS'`` with ``generic=True``."""
        name = str(self._phu_value("INSTRUME")).strip()
        return "GMOS" if generic else name

    def _family(self) -> str:
        """Detector family: 'Hamamatsu', 'e2vDD' or 'EEV'."""
        dettype = str(self.phu.get("DETTYPE", "")).strip()
        if dettype in lookup.DETTYPE_FAMILY:
            return lookup.DETTYPE_FAMILY[dettype]
        detector = str(self.phu.get("DETECTOR", ""))
        if "Ham" in detector or dettype.startswith("S10892"):
            return "Hamamatsu"
        if "e2v" in detector:
            return "e2vDD"
        if "EEV" in detector or "EEV" in str(self.phu.get("DETID", "")):
            return "EEV"
        raise ValueError(f"unknown GMOS detector (DETTYPE={dettype!r}, DETECTOR={detector!r})")

    @astro_data_descriptor
    def detector_name(self, pretty: bool = False) -> str:
        """CCD names (``DETID``); with ``pretty``, the detector type
        (``'Hamamatsu-S'``, ``'Hamamatsu-N'``, ``'e2vDD'``, ``'EEV'``)."""
        if pretty:
            dettype = str(self._phu_value("DETTYPE")).strip()
            if dettype not in lookup.DETTYPE_PRETTY:
                raise ValueError(f"unknown GMOS DETTYPE {dettype!r}")
            return lookup.DETTYPE_PRETTY[dettype]
        return str(self._phu_value("DETID")).strip()

    # ------------------------------------------------------------------
    # readout

    def _ccdsum(self) -> tuple[int, int]:
        def parse(header: Any) -> tuple[int, int]:
            value = str(_value(header, "CCDSUM")).split()
            if len(value) != 2:
                raise ValueError(f"CCDSUM={' '.join(value)!r} is not 'X Y'")
            return int(value[0]), int(value[1])

        sums = [s for s in self._per_extension("binning", parse) if s is not None]
        if not sums:
            raise MissingKeyword("no extension has a valid CCDSUM")
        if len(set(sums)) > 1:
            raise ValueError(f"extensions have different CCDSUM values {sorted(set(sums))}")
        return sums[0]

    @astro_data_descriptor
    def detector_x_bin(self) -> int:
        """Binning along x, from the extensions' ``CCDSUM``."""
        return self._ccdsum()[0]

    @astro_data_descriptor
    def detector_y_bin(self) -> int:
        """Binning along y, from the extensions' ``CCDSUM``."""
        return self._ccdsum()[1]

    @astro_data_descriptor
    def read_speed_setting(self) -> str:
        """'slow' or 'fast', from the integration time per pixel ``AMPINTEG``."""
        threshold = lookup.READ_SPEED_SLOW_ABOVE[self._family()]
        return "slow" if float(self._phu_value("AMPINTEG")) > threshold else "fast"

    @astro_data_descriptor
    def gain_setting(self) -> str:
        """'low' or 'high'.

        Raw data: the majority of the extensions' ``GAIN`` (below 3 is low).
        Prepared data: ``GAINSET``, else the original gains ``GAINORIG``.
        """
        if "PREPARED" in self.tags:
            if "GAINSET" in self.phu:
                return str(self.phu["GAINSET"]).strip().lower()
            headers = self._ext_headers()
            if any("GAINSET" in h for h in headers):
                return _majority([str(h["GAINSET"]).strip().lower()
                                  for h in headers if "GAINSET" in h])
            keyword = "GAINORIG" if any("GAINORIG" in h for h in headers) else "GAIN"
            if keyword == "GAIN" and self.is_in_adu() is False:
                raise MissingKeyword("no GAINSET or GAINORIG on data already in electrons")
        else:
            keyword = "GAIN"
        gains = [g for g in self._per_extension(
            "gain_setting", lambda h: float(_value(h, keyword))) if g is not None]
        if not gains:
            raise MissingKeyword(f"no extension has a {keyword} keyword")
        return _majority(["low" if g < _LOW_GAIN_BELOW else "high" for g in gains])

    @astro_data_descriptor
    def read_mode(self) -> str:
        """'Normal' (low/slow), 'Bright' (high/fast), 'Acquisition' (low/fast) or
        'Engineering' (high/slow)."""
        key = (self.gain_setting(), self.read_speed_setting())
        if key not in _READ_MODES:
            raise ValueError(f"no read mode for gain/speed {key}")
        return _READ_MODES[key]

    def _amp_table_values(self, tables: tuple[dict, ...], what: str) -> list[float | None]:
        date = self.ut_datetime(dateonly=True)
        speed, setting = self.read_speed_setting(), self.gain_setting()
        amps = self._as_list(self.array_name())
        values = [
            lookup.amp_value(tables, date, speed, setting, amp) if amp else None for amp in amps
        ]
        unknown = [a for a, v in zip(amps, values, strict=True) if a and v is None]
        if unknown:
            log.warning("%s: no GMOS %s for %s/%s readout on %s of amp(s) %s; None there",
                        self._file_label(), what, speed, setting, date, ", ".join(unknown))
        return values

    @astro_data_descriptor
    @returns_list
    @unity_if_in_electrons
    @use_keyword_if_prepared
    def gain(self) -> list[float | None]:
        """Electrons per ADU of each amp, from the table for the date, read speed
        and gain setting (the raw ``GAIN`` keywords are not used)."""
        return self._amp_table_values(lookup.GAIN, "gain")

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def read_noise(self) -> list[float | None]:
        """Read noise (electrons) of each amp, from the table for the date and mode."""
        return self._amp_table_values(lookup.READ_NOISE, "read noise")

    def _saturation(self) -> list[float | None]:
        xbin, ybin = self._ccdsum()
        binning = xbin * ybin
        family = self._family()
        headers = self._ext_headers()
        bias_subtracted = "BIASIM" in self.phu or "DARKIM" in self.phu
        gains = self._as_list(self.gain())
        need_bias = bias_subtracted or any("OVERSCAN" in h for h in headers)
        biases = (self._amp_table_values(lookup.BIAS_LEVEL, "bias level") if need_bias
                  else [0.0] * len(headers))
        detector = str(self.phu.get("DETECTOR", "")).strip()
        wells = lookup.FULL_WELLS.get(detector, {})
        amps = self._as_list(self.array_name())
        result: list[float | None] = []
        for header, gain, bias, amp in zip(headers, gains, biases, amps, strict=True):
            if "OVERSCAN" in header:
                bias = float(header["OVERSCAN"])
            elif not bias_subtracted:
                bias = 0.0
            if bias is None:
                result.append(None)
                continue
            adc_limit = lookup.ADC_LIMIT - bias
            if family == "EEV" or binning > 2:
                result.append(adc_limit)
            elif amp in wells and gain:
                result.append(min(wells[amp] * binning / gain, adc_limit))
            else:
                log.warning("%s: no GMOS full well for DETECTOR %r amp %r; None there",
                            self._file_label(), detector, amp)
                result.append(None)
        return result

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def saturation_level(self) -> list[float | None]:
        """Saturation in ADU of each amp: the ADC limit (65535, less the bias
        once bias-subtracted) or, unbinned/1x2 on CCDs, the full well / gain
        if lower. EEV and binning x*y > 2 are ADC-limited."""
        return self._saturation()

    @astro_data_descriptor
    @returns_list
    @use_keyword_if_prepared
    def non_linear_level(self) -> list[float | None]:
        """Same as :meth:`saturation_level`: the GMOS CCDs are linear up to saturation."""
        return self._saturation()

    # ------------------------------------------------------------------
    # regions of interest

    @astro_data_descriptor
    def detector_rois_requested(self) -> list[Section]:
        """The ROIs requested, as unbinned 0-based ``Section(x1, x2, y1, y2)``
        from ``DETRO{n}X``/``XS``/``Y``/``YS`` (sizes are binned)."""
        xbin, ybin = self._ccdsum()
        rois = []
        for n in range(1, 10):
            if f"DETRO{n}X" not in self.phu:
                continue
            x1 = int(self._phu_value(f"DETRO{n}X")) - 1
            y1 = int(self._phu_value(f"DETRO{n}Y")) - 1
            x2 = x1 + int(self._phu_value(f"DETRO{n}XS")) * xbin
            y2 = y1 + int(self._phu_value(f"DETRO{n}YS")) * ybin
            rois.append(Section(x1, x2, y1, y2))
        return rois

    @astro_data_descriptor
    def detector_roi_setting(self) -> str:
        """Name of the first ROI: 'Full Frame', 'CCD2', 'Central Spectrum',
        'Central Stamp', else 'Custom'; 'Undefined' without ROI keywords."""
        rois = self.detector_rois_requested()
        if not rois:
            return "Undefined"
        for name, sections in lookup.ROI_SETTINGS.items():
            if rois[0] in sections:
                return name
        return "Custom"

    # ------------------------------------------------------------------
    # optical configuration

    @astro_data_descriptor
    def focal_plane_mask(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """``MASKNAME``; ``'Imaging'`` when it is ``'None'``."""
        name = str(self._phu_value("MASKNAME")).strip()
        if name == "None":
            return "Imaging"
        return gmu.remove_component_id(name) if (stripID or pretty) else name

    @astro_data_descriptor
    def disperser(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """``GRATING`` (``'MIRROR'`` for imaging); ``pretty`` also drops the ``+``."""
        grating = str(self._phu_value("GRATING")).strip()
        if stripID or pretty:
            grating = gmu.remove_component_id(grating)
        if pretty:
            grating = grating.replace("+", "")
        return grating

    @astro_data_descriptor
    def central_wavelength(
        self,
        asMicrometers: bool = False,  # noqa: N803
        asNanometers: bool = False,  # noqa: N803
        asAngstroms: bool = False,  # noqa: N803
    ) -> float | None:
        """Grating central wavelength (``CENTWAVE``, else ``GRWLEN``, nm); None for imaging."""
        keyword = "CENTWAVE" if "CENTWAVE" in self.phu else "GRWLEN"
        nanometres = self._phu_float(keyword)
        if nanometres <= 0:
            return None
        return gmu.convert_wavelength(
            nanometres, "nanometers", asMicrometers, asNanometers, asAngstroms
        )

    def _filter_wavelengths(self) -> dict[str, float]:
        return {**super()._filter_wavelengths(), **lookup.FILTER_WAVELENGTHS}

    @astro_data_descriptor
    def exposure_time(self) -> float | None:
        """``EXPTIME`` in seconds; None if negative (GMOS has no coadds)."""
        exptime = self._phu_float("exposure_time")
        if exptime < 0:
            return None
        if exptime > _MAX_EXPOSURE_TIME:
            raise ValueError(f"EXPTIME={exptime} s is not a plausible GMOS exposure")
        return exptime

    @astro_data_descriptor
    def nod_count(self) -> tuple[int, int]:
        """Nod-and-shuffle cycles in the A and B positions (``ANODCNT``, ``BNODCNT``)."""
        return int(self._phu_value("ANODCNT")), int(self._phu_value("BNODCNT"))

    @astro_data_descriptor
    def shuffle_pixels(self) -> int:
        """Nod-and-shuffle charge shift in pixels (``NODPIX``)."""
        return int(self._phu_value("NODPIX"))

    # ------------------------------------------------------------------
    # geometry

    @astro_data_descriptor
    def pixel_scale(self) -> float:
        """Pixel scale (arcsec/pixel) for the detector, times the y binning."""
        key = (self.instrument(), self._family())
        if key not in lookup.PIXEL_SCALES:
            raise ValueError(f"no GMOS pixel scale for {key}")
        return lookup.PIXEL_SCALES[key] * self.detector_y_bin()

    @astro_data_descriptor
    def position_angle(self) -> float:
        """Position angle of the detector on the sky: (``PA`` + 180) mod 360."""
        return (self._phu_float("position_angle") + 180.0) % 360.0

    @astro_data_descriptor
    def detector_x_offset(self) -> float:
        """``POFFSET`` / pixel scale; flipped for GMOS-N on the bottom port."""
        offset = self._phu_float("POFFSET") / self.pixel_scale()
        if self.instrument() == "GMOS-N" and self._inport_flipped():
            offset = -offset
        return offset

    @astro_data_descriptor
    def detector_y_offset(self) -> float:
        """``QOFFSET`` / pixel scale; flipped for GMOS-S on the bottom port."""
        offset = self._phu_float("QOFFSET") / self.pixel_scale()
        if self.instrument() == "GMOS-S" and self._inport_flipped():
            offset = -offset
        return offset

    # ------------------------------------------------------------------
    # grouping and photometry

    @astro_data_descriptor
    def group_id(self) -> str:
        """Key of the frames to stack together.

        Biases: nothing more; darks: exposure time; imaging flats/twilights:
        filter; others: observation ID and filter. Always + binning, read
        mode and the amplifier read areas, e.g.
        ``GS-2015B-Q-54-30_r_2_2_Acquisition_["'BI11-33-4k-1, 4':[2049:2560,1:4224]", ...]``.
        """
        tags = self.tags
        if "BIAS" in tags:
            names: list[str] = []
        elif "DARK" in tags:
            names = ["exposure_time"]
        elif "IMAGE" in tags and ("FLAT" in tags or "TWILIGHT" in tags):
            names = ["filter_name"]
        else:
            names = ["observation_id", "filter_name"]
        names += ["detector_x_bin", "detector_y_bin", "read_mode", "amp_read_area"]
        return self._group_id_from(names)

    def _nominal_zeropoints(self) -> list[float | None]:
        key = (self.detector_name(), self.filter_name(pretty=True))
        if key not in lookup.NOMINAL_ZEROPOINTS:
            raise ValueError(f"no GMOS nominal zeropoint for detector/filter {key}")
        return [lookup.NOMINAL_ZEROPOINTS[key]] * (1 if self.is_single else len(self))


def _value(header: Any, keyword: str) -> Any:
    if keyword not in header:
        raise MissingKeyword(f"keyword {keyword} is missing from the extension header")
    return header[keyword]


def _majority(values: list[str]) -> str:
    """The most common value (ties go to the first seen)."""
    return Counter(values).most_common(1)[0][0]
