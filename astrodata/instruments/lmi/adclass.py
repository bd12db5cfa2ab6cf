"""AstroDataLMI: tags and descriptors of LMI, a generic CCD imager (not a Gemini instrument).

LMI (Large Monolithic Imager, Lowell Discovery Telescope) stands for the
class of single-CCD imagers whose frame type, filter and detector set-up are
plain FITS keywords. The class subclasses :class:`astrodata.AstroData`
directly: none of the Gemini tags or keywords apply. Keywords read:

==========================  ===============================================
``INSTRUME``                ``'LMI'`` (selects the class)
``TELESCOP``                ``'LDT'`` (or ``'DCT'``, the telescope's old name)
``OBSTYPE`` / ``IMAGETYP``  ``BIAS``, ``DARK``, ``DOME FLAT``, ``SKY FLAT``,
                            ``OBJECT`` (first one present wins)
``FILTERS``                 filter in the beam (else ``FILTER1``/``FILTER2``)
``EXPTIME``                 exposure time, seconds
``GAIN``, ``RDNOISE``       e-/ADU and e-, extension header else PHU (nominal
                            values from :mod:`.lookup` if neither has them)
``DATE-OBS``                ISO date and time of the start (``UT``/``TIME-OBS``
                            or ``MJD-OBS`` if it holds a date only)
``CCDSUM``                  binning, ``'2 2'``
``DATASEC``, ``BIASSEC``,   data, overscan and trim sections (binned pixels);
``TRIMSEC``                 detector and CCD sections (unbinned)
``DETSEC``, ``CCDSEC``
``RA``, ``DEC``             telescope pointing (sexagesimal or degrees);
                            ``RAOFFSET``/``DECOFFSE`` (arcsec) if present are
                            its offsets from the target
``AIRMASS``, ``OBJECT``     as named
WCS (``CRPIX``, ``CD``...)  per extension
==========================  ===============================================

A raw LMI file may hold its image in the primary HDU or in one extension;
keywords are looked up in the extension header first, then in the PHU.
The data label (``DATALAB``, which prepare writes) is the file name root when
the raw file has none. After ``prepare`` the detector levels (``GAIN``,
``RDNOISE``, ``SATLEVEL``, ``NONLINEA``) are read from each extension, as for
every instrument.

Descriptors never raise on a missing or malformed header value: they give
None (a list of None for a per-extension descriptor) and log one warning on
the ``astrodata`` logger naming the file and the problem.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
from collections.abc import Callable
from typing import Any

from astrodata.core import AstroData
from astrodata.descriptors import (
    BAD_HEADER_ERRORS,
    MissingKeyword,
    astro_data_descriptor,
    guard_descriptors,
    header_problem,
    returns_list,
)
from astrodata.errors import AstroDataError
from astrodata.instruments.lmi import lookup
from astrodata.section import Section
from astrodata.tags import TagSet, astro_data_tag
from astrodata.timestamps import LAST_MODIFICATION_KEYWORD

__all__ = ["AstroDataLMI"]

log = logging.getLogger("astrodata")

_TELESCOPES = ("LDT", "DCT", "LOWELL DISCOVERY TELESCOPE", "DISCOVERY CHANNEL TELESCOPE")
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{8})(?!\d)")
_MJD_ZERO = dt.datetime(1858, 11, 17)


def _parse_angle(value: Any, hours: bool) -> float:
    """Degrees from a sexagesimal string (hours for RA) or a number of degrees."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d+(\.\d*)?", text):
        return float(text)
    from astropy import units as u
    from astropy.coordinates import Angle  # costly import, needed only for this format

    return float(Angle(text, unit=u.hourangle if hours else u.deg).degree)


def _parse_section(value: Any, pretty: bool) -> Section | str:
    section = Section.from_string(str(value))
    return section.asIRAFsection() if pretty else section


class AstroDataLMI(AstroData):
    """Data from LMI on the Lowell Discovery Telescope (``INSTRUME`` ``'LMI'``)."""

    _keyword_dict = {
        "airmass": "AIRMASS",
        "array_section": "CCDSEC",
        "data_label": "DATALAB",
        "data_section": "DATASEC",
        "detector_name": "DETECTOR",
        "detector_section": "DETSEC",
        "exposure_time": "EXPTIME",
        "filter_name": "FILTERS",
        "gain": "GAIN",
        "non_linear_level": "NONLINEA",
        "observation_type": "OBSTYPE",
        "overscan_section": "BIASSEC",
        "pixel_scale": "PIXSCAL",
        "read_noise": "RDNOISE",
        "saturation_level": "SATLEVEL",
        "trim_section": "TRIMSEC",
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        guard_descriptors(cls)

    @staticmethod
    def _matches_data(source: Any) -> bool:
        phu = source.phu if hasattr(source, "phu") else source[0].header
        instrument = str(phu.get("INSTRUME", "")).strip().upper()
        telescope = str(phu.get("TELESCOP", "")).strip().upper()
        return instrument == "LMI" and (not telescope or telescope in _TELESCOPES)

    # ------------------------------------------------------------------
    # header access

    def _headers(self) -> list[Any]:
        """Extension headers of this object (one on a single slice)."""
        return [self.hdr] if self.is_single else list(self.hdr)

    def _phu_value(self, keyword: str) -> Any:
        value = self.phu.get(keyword)
        if value is None:
            raise MissingKeyword(f"keyword {keyword} is missing from the primary header")
        return value

    def _any_value(self, keyword: str) -> Any:
        """A keyword from the first extension header, else from the PHU."""
        headers = self._headers()
        if headers and headers[0].get(keyword) is not None:
            return headers[0][keyword]
        return self._phu_value(keyword)

    def _per_extension(self, name: str, func: Callable[[Any], Any]) -> list[Any]:
        """``func(header)`` of each extension; a bad value gives None there and one warning."""
        values, failures = [], []
        for index, header in enumerate(self._headers()):
            try:
                values.append(func(header))
            except AstroDataError:
                raise
            except BAD_HEADER_ERRORS as err:
                values.append(None)
                failures.append(f"extension {index + 1}: {header_problem(err)}")
        if failures:
            log.warning("%s: %s(): %s; None there", self.filename, name, "; ".join(failures))
        return values

    def _ext_or_phu(self, header: Any, keyword: str) -> Any:
        value = header.get(keyword)
        if value is None:
            value = self.phu.get(keyword)
        if value is None:
            raise MissingKeyword(f"keyword {keyword} is missing")
        return value

    def _section(self, name: str, pretty: bool) -> list[Any]:
        keyword = self._keyword_for(name)
        return self._per_extension(
            name, lambda hdr: _parse_section(self._ext_or_phu(hdr, keyword), pretty))

    def _prepared_level(self, name: str) -> list[Any]:
        keyword = self._keyword_for(name)
        return self._per_extension(name, lambda hdr: float(self._ext_or_phu(hdr, keyword)))

    def _frame_type(self) -> str:
        """The raw ``OBSTYPE`` (else ``IMAGETYP``), upper case."""
        for keyword in ("OBSTYPE", "IMAGETYP"):
            value = self.phu.get(keyword)
            if value is not None and str(value).strip():
                return str(value).strip().upper()
        raise MissingKeyword("neither OBSTYPE nor IMAGETYP is in the primary header")

    def _generic_type(self) -> str:
        """BIAS, DARK, FLAT or OBJECT; another raw type (``FOCUS``, ``TEST``) as it is."""
        raw = self._frame_type()
        return lookup.OBSERVATION_TYPES.get(raw, raw)

    # ------------------------------------------------------------------
    # tags

    @astro_data_tag
    def _tag_instrument(self) -> TagSet:
        return TagSet({"LMI"})

    @astro_data_tag
    def _tag_bias(self) -> TagSet | None:
        if self._generic_type() == "BIAS":
            return TagSet({"BIAS", "CAL"}, blocks={"IMAGE"})
        return None

    @astro_data_tag
    def _tag_dark(self) -> TagSet | None:
        if self._generic_type() == "DARK":
            return TagSet({"DARK", "CAL"}, blocks={"IMAGE"})
        return None

    @astro_data_tag
    def _tag_flat(self) -> TagSet | None:
        if self._generic_type() != "FLAT":
            return None
        kind = lookup.FLAT_KINDS.get(self._frame_type())
        return TagSet({"FLAT", "CAL"} | ({kind} if kind else set()))

    @astro_data_tag
    def _tag_image(self) -> TagSet:
        return TagSet({"IMAGE"})

    @astro_data_tag
    def _tag_raw(self) -> TagSet | None:
        return None if LAST_MODIFICATION_KEYWORD in self.phu else TagSet({"RAW"})

    @astro_data_tag
    def _tag_prepared(self) -> TagSet:
        if any("PREPAR" in key for key in self.phu.keys()):
            return TagSet({"PREPARED"})
        return TagSet({"UNPREPARED"})

    @astro_data_tag
    def _tag_overscan(self) -> TagSet | None:
        tags = set()
        if "SUBOVER" in self.phu:
            tags.add("OVERSCAN_SUBTRACTED")
        if "TRIMOVER" in self.phu:
            tags.add("OVERSCAN_TRIMMED")
        return TagSet(tags) if tags else None

    @astro_data_tag
    def _tag_processed(self) -> TagSet | None:
        if any(key in self.phu for key in lookup.PROCESSED_KEYWORDS):
            return TagSet({"PROCESSED"})
        return None

    @astro_data_tag
    def _tag_processed_science(self) -> TagSet | None:
        if "PROCSCI" in self.phu and self._generic_type() == "OBJECT":
            return TagSet({"PROCESSED_SCIENCE", "PROCESSED"}, blocks={"RAW"})
        return None

    @astro_data_tag
    def _tag_bpm(self) -> TagSet | None:
        if "BPMASK" in self.phu or "PROCBPM" in self.phu:
            return TagSet({"BPM", "CAL", "PROCESSED"},
                          blocks={"IMAGE", "FLAT", "DARK", "BIAS", "DOMEFLAT", "TWILIGHT"})
        return None

    # ------------------------------------------------------------------
    # identification

    @astro_data_descriptor
    def instrument(self, generic: bool = False) -> str:
        """Instrument name, ``'LMI'`` (``INSTRUME``)."""
        return str(self._phu_value("INSTRUME")).strip()

    @astro_data_descriptor
    def telescope(self) -> str:
        """Telescope name (``TELESCOP``), ``'LDT'``."""
        return str(self._phu_value("TELESCOP")).strip()

    @astro_data_descriptor
    def object(self) -> str:
        """Target name (``OBJECT``)."""
        return str(self._phu_value("OBJECT")).strip()

    @astro_data_descriptor
    def observation_type(self) -> str:
        """``BIAS``, ``DARK``, ``FLAT`` or ``OBJECT`` from ``OBSTYPE`` (else ``IMAGETYP``).

        ``DOME FLAT`` and ``SKY FLAT`` are both ``FLAT`` (the tags
        ``DOMEFLAT``/``TWILIGHT`` tell them apart); ``ZERO`` is ``BIAS``; any
        other value (``FOCUS``...) is returned upper-cased as it is.
        """
        return self._generic_type()

    @astro_data_descriptor
    def data_label(self) -> str:
        """``DATALAB`` if present, else the root of the raw file name (``lmi.20230305.0012``).

        ``prepare`` writes the derived label to ``DATALAB``, so processed
        products (``...-SQ-BIAS``, ``...-STACK``) keep a distinct label.
        """
        value = self.phu.get(self._keyword_for("data_label"))
        if value is not None and str(value).strip():
            return str(value).strip()
        name = self.phu.get("ORIGNAME") or self.filename
        if not name:
            raise MissingKeyword("no DATALAB, ORIGNAME or file name to derive a label from")
        root = os.path.basename(str(name))
        for extension in (".fits.gz", ".fits.fz", ".fits", ".fit", ".fts"):
            if root.lower().endswith(extension):
                root = root[: -len(extension)]
                break
        return root

    @astro_data_descriptor
    def group_id(self) -> str:
        """Frames that may be stacked together: type, filter, binning (+ exposure time)."""
        kind = self._generic_type()
        parts = [kind, self.binning()]
        if kind != "BIAS":
            parts.append(f"{self.exposure_time():g}s" if kind == "DARK" else
                         self.filter_name(pretty=True))
        if kind == "OBJECT":
            parts += [self.object(), f"{self.exposure_time():g}s"]
        return "_".join(str(p) for p in parts)

    # ------------------------------------------------------------------
    # time and exposure

    @astro_data_descriptor
    def ut_datetime(self, strict: bool = False, dateonly: bool = False,
                    timeonly: bool = False) -> dt.datetime | dt.date | dt.time:
        """UT start of the exposure.

        ``DATE-OBS`` as an ISO date and time; if it holds a date only, the
        time comes from ``UT``, ``UTCSTART`` or ``TIME-OBS``; else from
        ``MJD-OBS``. Without any, and unless ``strict``, the date is taken
        from an 8-digit date in the file name (time 00:00).

        Parameters
        ----------
        strict : bool
            Do not fall back to the file name.
        dateonly, timeonly : bool
            Return only the ``date`` or the ``time``.
        """
        when = self._datetime(strict)
        if dateonly:
            return when.date()
        if timeonly:
            return when.time()
        return when

    def _datetime(self, strict: bool) -> dt.datetime:
        text = str(self.phu.get("DATE-OBS", "")).strip()
        if "T" in text:
            return dt.datetime.fromisoformat(text.rstrip("Z"))
        if text:
            date = dt.date.fromisoformat(text)
            for keyword in ("UT", "UTCSTART", "TIME-OBS"):
                clock = str(self.phu.get(keyword, "")).strip()
                if clock:
                    return dt.datetime.combine(date, dt.time.fromisoformat(clock))
        mjd = self.phu.get("MJD-OBS")
        if mjd is not None:
            return _MJD_ZERO + dt.timedelta(days=float(mjd))
        if not strict:
            match = _DATE_IN_NAME.search(str(self.phu.get("ORIGNAME") or self.filename or ""))
            if match:
                return dt.datetime.strptime(match.group(1), "%Y%m%d")
        raise MissingKeyword("no DATE-OBS with a time, no UT/TIME-OBS and no MJD-OBS")

    @astro_data_descriptor
    def ut_date(self) -> dt.date:
        """UT date of the start of the exposure."""
        return self.ut_datetime(dateonly=True)

    @astro_data_descriptor
    def ut_time(self) -> dt.time:
        """UT time of the start of the exposure."""
        return self.ut_datetime(timeonly=True)

    @astro_data_descriptor
    def exposure_time(self) -> float | None:
        """Exposure time in seconds (``EXPTIME``); None if negative."""
        value = float(self._phu_value(self._keyword_for("exposure_time")))
        if not math.isfinite(value):
            raise ValueError(f"EXPTIME={value} is not a number")
        return value if value >= 0 else None

    @astro_data_descriptor
    def coadds(self) -> int:
        """Number of coadds: 1 (a CCD reads each exposure once)."""
        return 1

    @astro_data_descriptor
    def is_coadds_summed(self) -> bool:
        """True: with one coadd the exposure time is ``EXPTIME`` itself."""
        return True

    @astro_data_descriptor
    def airmass(self) -> float | None:
        """``AIRMASS``; None below 1."""
        value = float(self._phu_value(self._keyword_for("airmass")))
        return value if value >= 1.0 else None

    # ------------------------------------------------------------------
    # optical configuration

    def _raw_filters(self) -> list[str]:
        if self.phu.get("FILTERS") is not None:
            return [str(self.phu["FILTERS"]).strip()]
        wheels = [str(self.phu[k]).strip() for k in ("FILTER1", "FILTER2") if k in self.phu]
        if not wheels:
            raise MissingKeyword("neither FILTERS nor FILTER1/FILTER2 is in the primary header")
        return wheels

    @astro_data_descriptor
    def filter_name(self, stripID: bool = False, pretty: bool = False,  # noqa: N803
                    keepID: bool = False) -> str:  # noqa: N803
        """Filter in the beam: raw ``'SDSS-R'``, pretty ``'r'`` (``'open'`` if none).

        ``FILTERS`` when present, else the non-open positions of ``FILTER1``
        and ``FILTER2`` joined with ``&``. ``stripID`` and ``keepID`` are
        accepted for compatibility (LMI filters have no component IDs).
        """
        filters = [f for f in self._raw_filters() if f.upper() not in lookup.OPEN_POSITIONS]
        if not pretty:
            return "&".join(filters) if filters else "OPEN"
        names = [lookup.FILTER_NAMES.get(f.upper(), f) for f in filters]
        return "&".join(names) if names else "open"

    @astro_data_descriptor
    def effective_wavelength(self, asMicrometers: bool = False,  # noqa: N803
                             asNanometers: bool = False,  # noqa: N803
                             asAngstroms: bool = False) -> float:  # noqa: N803
        """Central wavelength of the filter; metres unless another unit is asked for."""
        name = self.filter_name(pretty=True)
        if name not in lookup.FILTER_WAVELENGTHS:
            raise ValueError(f"no wavelength known for filter {name!r}")
        micron = lookup.FILTER_WAVELENGTHS[name]
        if asMicrometers:
            return micron
        if asNanometers:
            return micron * 1e3
        if asAngstroms:
            return micron * 1e4
        return micron * 1e-6

    @astro_data_descriptor
    def wavelength_band(self) -> str:
        """Photometric band: the short filter name (``'r'``, ``'V'``)."""
        name = self.filter_name(pretty=True)
        if name not in lookup.FILTER_WAVELENGTHS:
            raise ValueError(f"filter {name!r} is not a photometric band")
        return name

    @astro_data_descriptor
    def nominal_atmospheric_extinction(self) -> float:
        """Nominal extinction (mag) at this airmass: coefficient x (airmass - 1)."""
        band = self.wavelength_band()
        airmass = self.airmass()
        if band not in lookup.NOMINAL_EXTINCTION or airmass is None:
            raise ValueError(f"no nominal extinction for band {band!r} at airmass {airmass}")
        return lookup.NOMINAL_EXTINCTION[band] * (airmass - 1.0)

    @astro_data_descriptor
    @returns_list
    def nominal_photometric_zeropoint(self) -> list[float | None]:
        """Magnitude giving one count per second: the filter's (e-/s) - 2.5 log10(gain) in ADU."""
        name = self.filter_name(pretty=True)
        if name not in lookup.NOMINAL_ZEROPOINTS:
            raise ValueError(f"no nominal zeropoint for filter {name!r}")
        zeropoint = lookup.NOMINAL_ZEROPOINTS[name]
        gains = self.gain()
        gains = [gains] if self.is_single else gains
        return [None if g is None or g <= 0 else zeropoint - 2.5 * math.log10(g) for g in gains]

    # ------------------------------------------------------------------
    # detector

    @astro_data_descriptor
    def detector_name(self, pretty: bool = False) -> str:
        """CCD name (``DETECTOR``), ``'e2v CCD231-C6'``."""
        return str(self._phu_value(self._keyword_for("detector_name"))).strip()

    def _ccdsum(self) -> tuple[int, int]:
        """(xbin, ybin) from ``CCDSUM`` (extension, else PHU); (1, 1) if absent."""
        try:
            value = self._any_value("CCDSUM")
        except MissingKeyword:
            return 1, 1
        text = str(value).split()
        if len(text) != 2:
            raise ValueError(f"CCDSUM={value!r} is not 'xbin ybin'")
        return int(text[0]), int(text[1])

    @astro_data_descriptor
    def detector_x_bin(self) -> int:
        """Binning along x (``CCDSUM``; 1 if absent)."""
        return self._ccdsum()[0]

    @astro_data_descriptor
    def detector_y_bin(self) -> int:
        """Binning along y (``CCDSUM``; 1 if absent)."""
        return self._ccdsum()[1]

    @astro_data_descriptor
    def binning(self) -> str:
        """Binning as ``'XxY'``, e.g. ``'2x2'``."""
        xbin, ybin = self._ccdsum()
        return f"{xbin}x{ybin}"

    @astro_data_descriptor
    def detector_roi_setting(self) -> str:
        """``'Full Frame'`` when the frame covers the whole CCD, else ``'Custom'``."""
        full = Section(0, lookup.DETECTOR_SHAPE[1], 0, lookup.DETECTOR_SHAPE[0])
        sections = self.detector_section()
        sections = [sections] if self.is_single else sections
        return "Full Frame" if all(s == full for s in sections) else "Custom"

    @astro_data_descriptor
    @returns_list
    def array_name(self) -> list[str | None]:
        """Name of the amplifier read in each extension (``AMPNAME``, else the CCD's)."""
        return self._per_extension("array_name", lambda hdr: str(
            hdr.get("AMPNAME") or self._ext_or_phu(hdr, "DETECTOR")).strip())

    @astro_data_descriptor
    @returns_list
    def data_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Region of each extension holding data, binned pixels (``DATASEC``)."""
        return self._section("data_section", pretty)

    @astro_data_descriptor
    @returns_list
    def overscan_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Overscan strip of each extension, binned pixels (``BIASSEC``)."""
        return self._section("overscan_section", pretty)

    @astro_data_descriptor
    @returns_list
    def trim_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Region of each extension worth keeping (``TRIMSEC``; ``DATASEC`` if absent)."""
        def trim(hdr: Any) -> Section | str:
            value = hdr.get("TRIMSEC") or self.phu.get("TRIMSEC")
            if value is None:
                value = self._ext_or_phu(hdr, "DATASEC")
            return _parse_section(value, pretty)

        return self._per_extension("trim_section", trim)

    @astro_data_descriptor
    @returns_list
    def array_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Region of the CCD read in each extension, unbinned (``CCDSEC``)."""
        return self._section("array_section", pretty)

    @astro_data_descriptor
    @returns_list
    def detector_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Region of the detector covered by each extension, unbinned (``DETSEC``)."""
        return self._section("detector_section", pretty)

    @astro_data_descriptor
    @returns_list
    def amp_read_area(self) -> list[str | None]:
        """``"'<array name>':<detector section>"`` for each extension."""
        names = self.array_name()
        sections = self.detector_section(pretty=True)
        if self.is_single:
            names, sections = [names], [sections]
        return [None if n is None or s is None else f"'{n}':{s}"
                for n, s in zip(names, sections, strict=True)]

    @astro_data_descriptor
    def is_in_adu(self) -> bool:
        """False once the data are in electrons (``BUNIT`` electron or ``ADUTOELE`` set)."""
        if "ADUTOELE" in self.phu:
            return False
        units = [str(h.get("BUNIT", "")).strip().lower() for h in self._headers()]
        units.append(str(self.phu.get("BUNIT", "")).strip().lower())
        return not any(unit in ("electron", "electrons", "e-", "e") for unit in units)

    def _prepared(self) -> bool:
        return "PREPARED" in self.tags

    @astro_data_descriptor
    @returns_list
    def gain(self) -> list[float | None] | float:
        """Electrons per ADU of each extension (``GAIN``); 1.0 once the data are in electrons."""
        if not self.is_in_adu():
            return 1.0
        if self._prepared():
            return self._prepared_level("gain")
        return self._per_extension("gain", lambda hdr: float(
            hdr.get("GAIN") or self.phu.get("GAIN") or lookup.NOMINAL_GAIN))

    @astro_data_descriptor
    @returns_list
    def read_noise(self) -> list[float | None]:
        """Read noise of each extension in electrons (``RDNOISE``)."""
        if self._prepared():
            return self._prepared_level("read_noise")
        return self._per_extension("read_noise", lambda hdr: float(
            hdr.get("RDNOISE") or self.phu.get("RDNOISE") or lookup.NOMINAL_READ_NOISE))

    @astro_data_descriptor
    @returns_list
    def saturation_level(self) -> list[float | None]:
        """Saturation level in the data's units: the 16-bit ADC limit on raw data (``SATLEVEL``)."""
        if self._prepared():
            return self._prepared_level("saturation_level")
        return float(lookup.ADC_SATURATION)

    @astro_data_descriptor
    @returns_list
    def non_linear_level(self) -> list[float | None]:
        """Level above which the response is non-linear by > 1% (``NONLINEA``)."""
        if self._prepared():
            return self._prepared_level("non_linear_level")
        return float(int(lookup.NON_LINEAR_FRACTION * lookup.ADC_SATURATION))

    # ------------------------------------------------------------------
    # pointing and WCS

    def _target(self, offset: bool) -> tuple[float, float]:
        ra = _parse_angle(self._phu_value("RA"), hours=True)
        dec = _parse_angle(self._phu_value("DEC"), hours=False)
        if not offset:
            # RA/DEC are where the telescope pointed: remove the offsets to get the target
            ra -= float(self.phu.get("RAOFFSET", 0.0)) / (3600.0 * math.cos(math.radians(dec)))
            dec -= float(self.phu.get("DECOFFSE", 0.0)) / 3600.0
        return ra % 360.0, dec

    @astro_data_descriptor
    def target_ra(self, offset: bool = False, pm: bool = True, icrs: bool = False) -> float:
        """Right ascension (degrees) of the target; with ``offset``, of the pointing.

        ``RA`` is the telescope's pointing; ``RAOFFSET`` (arcsec, if present)
        is subtracted unless ``offset``. ``pm`` and ``icrs`` are accepted for
        compatibility: LMI headers carry no proper motions and are FK5/ICRS.
        """
        return self._target(offset)[0]

    @astro_data_descriptor
    def target_dec(self, offset: bool = False, pm: bool = True, icrs: bool = False) -> float:
        """Declination (degrees) of the target; with ``offset``, of the pointing."""
        return self._target(offset)[1]

    def _sky_at_reference(self) -> tuple[float, float, float, float] | None:
        """(RA, Dec, scale arcsec/pixel, PA degrees) of the first extension's WCS, or None.

        Evaluated at the reference pixel: on the in-memory gWCS once it has
        been built (registration may have changed it), else from the header.
        """
        headers = self._headers()
        if not headers:
            return None
        header = headers[0]
        nd = self._selected_stored()[0]
        wcs_built = getattr(nd, "wcs_built", None)  # None: a pending extension, WCS unbuilt
        if wcs_built is not None and wcs_built() \
                and getattr(nd.wcs, "output_frame", None) is not None \
                and getattr(nd.wcs.output_frame, "reference_frame", None) is not None:
            return self._from_gwcs(nd.wcs, header, nd.shape)
        if not str(header.get("CTYPE1", "")).upper().startswith("RA"):
            return None
        if any(f"CD{i}_{j}" in header for i in (1, 2) for j in (1, 2)):
            cd = [[float(header.get(f"CD{i}_{j}", 0.0)) for j in (1, 2)] for i in (1, 2)]
        else:
            cdelt = [float(header.get(f"CDELT{i}", 0.0)) for i in (1, 2)]
            cd = [[cdelt[i - 1] * float(header.get(f"PC{i}_{j}", 1.0 if i == j else 0.0))
                   for j in (1, 2)] for i in (1, 2)]
        determinant = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0]
        if determinant == 0:
            return None
        scale = math.sqrt(abs(determinant)) * 3600.0
        # direction of +y on the sky, north through east
        angle = math.degrees(math.atan2(cd[0][1], cd[1][1])) % 360.0
        return float(header["CRVAL1"]) % 360.0, float(header["CRVAL2"]), scale, angle

    @staticmethod
    def _from_gwcs(wcs: Any, header: Any, shape: tuple[int, ...]) -> tuple[float, float,
                                                                             float, float]:
        ny, nx = shape[-2:]
        x = float(header.get("CRPIX1", (nx + 1) / 2)) - 1
        y = float(header.get("CRPIX2", (ny + 1) / 2)) - 1
        ra, dec = (float(v) for v in wcs(x, y))
        cos_dec = math.cos(math.radians(dec))
        east_x = ((float(wcs(x + 1, y)[0]) - ra + 180.0) % 360.0 - 180.0) * cos_dec
        north_x = float(wcs(x + 1, y)[1]) - dec
        east_y = ((float(wcs(x, y + 1)[0]) - ra + 180.0) % 360.0 - 180.0) * cos_dec
        north_y = float(wcs(x, y + 1)[1]) - dec
        scale = math.sqrt(abs(east_x * north_y - east_y * north_x)) * 3600.0
        angle = math.degrees(math.atan2(east_y, north_y)) % 360.0
        return ra % 360.0, dec, scale, angle

    def _wcs_values(self) -> tuple[float, float, float, float]:
        values = self._sky_at_reference()
        if values is None:
            raise ValueError("the first extension has no celestial WCS")
        return values

    @astro_data_descriptor
    def wcs_ra(self) -> float:
        """Right ascension (degrees) at the reference pixel of the first extension's WCS."""
        return self._wcs_values()[0]

    @astro_data_descriptor
    def wcs_dec(self) -> float:
        """Declination (degrees) at the reference pixel of the first extension's WCS."""
        return self._wcs_values()[1]

    @astro_data_descriptor
    def ra(self) -> float:
        """Right ascension (degrees): from the WCS if there is one, else ``RA``."""
        values = self._sky_at_reference()
        return values[0] if values is not None else self._target(offset=True)[0]

    @astro_data_descriptor
    def dec(self) -> float:
        """Declination (degrees): from the WCS if there is one, else ``DEC``."""
        values = self._sky_at_reference()
        return values[1] if values is not None else self._target(offset=True)[1]

    @astro_data_descriptor
    def pixel_scale(self) -> float:
        """Arcsec per (binned) pixel: from the WCS, else ``PIXSCAL``, else nominal x binning."""
        values = self._sky_at_reference()
        if values is not None:
            return values[2]
        if self.phu.get("PIXSCAL") is not None:
            return float(self.phu["PIXSCAL"])
        return lookup.PIXEL_SCALE * self.detector_x_bin()

    @astro_data_descriptor
    def position_angle(self) -> float:
        """Position angle of the image y axis on the sky (degrees, north through east)."""
        return self._wcs_values()[3]


guard_descriptors(AstroDataLMI)
