"""AstroDataGemini: tags and descriptors common to all Gemini instruments.

Every Gemini instrument class (F2, GSAOI, GMOS, NIRI and plug-ins) subclasses
:class:`AstroDataGemini`. The rules are those of
``/work/shared/reference/gemini-headers.md`` section 1.

Descriptor contract: a descriptor never raises because a header value is
missing or malformed. It returns ``None`` (or ``None`` for that extension in
a per-extension list) and logs a warning on the ``astrodata`` logger naming
the file, the descriptor and the problem. Every descriptor defined in this
class or in a subclass gets that guarantee automatically (the guard of
:mod:`astrodata.descriptors`, applied by
:meth:`AstroDataGemini.__init_subclass__`), so instrument code can simply
read keywords and let a ``KeyError``/``ValueError`` escape.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from astrodata.core import AstroData
from astrodata.descriptors import (
    BAD_HEADER_ERRORS,
    MissingKeyword,
    astro_data_descriptor,
    file_label,
    guard_descriptors,
    header_problem,
    returns_list,
)
from astrodata.errors import AstroDataError
from astrodata.instruments.gemini import gmu
from astrodata.instruments.gemini import lookup as gemini_lookup
from astrodata.section import Section
from astrodata.tags import TagSet, astro_data_tag

__all__ = [
    "AstroDataGemini",
    "MissingKeyword",
    "use_keyword_if_prepared",
    "unity_if_in_electrons",
    "whole_counts",
]

log = logging.getLogger("astrodata")

#: Descriptors whose value is taken with ``pretty=True`` in ``group_id`` strings.
_PRETTY_IN_GROUP_ID = frozenset({"filter_name", "disperser", "focal_plane_mask"})


def use_keyword_if_prepared(fn: Callable[..., Any]) -> Callable[..., Any]:
    """On ``PREPARED`` data, return the extension keyword instead of recomputing.

    ``prepare`` (standardizeInstrumentHeaders) writes the per-extension
    ``GAIN``, ``RDNOISE``, ``SATLEVEL`` and ``NONLINEA`` keywords and later
    primitives keep them up to date (``ADUToElectrons`` rescales them), so on
    prepared data the header is the truth. The keyword is the one
    ``_keyword_for`` gives for the descriptor's name. Use it inside
    ``@returns_list``.
    """

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if "PREPARED" in self.tags:
            keyword = self._keyword_for(fn.__name__)
            return self._per_extension(fn.__name__, lambda hdr: float(_required(hdr, keyword)))
        return fn(self, *args, **kwargs)

    return wrapper


def unity_if_in_electrons(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``gain`` is 1.0 once the data are in electrons (after ``ADUToElectrons``)."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.is_in_adu() is False:
            return 1.0
        return fn(self, *args, **kwargs)

    return wrapper


def _required(header: Any, keyword: str, where: str = "extension") -> Any:
    """``header[keyword]``, raising :class:`MissingKeyword` with a clear message."""
    try:
        value = header[keyword]
    except KeyError:
        raise MissingKeyword(f"keyword {keyword} is missing from the {where} header") from None
    if value is None:
        raise MissingKeyword(f"keyword {keyword} has no value in the {where} header")
    return value


def _section(value: Any, pretty: bool) -> Section | str:
    """A header section string as a Section, or as a normalised IRAF string."""
    section = Section.from_string(value)
    return section.asIRAFsection() if pretty else section


class AstroDataGemini(AstroData):
    """Data from a Gemini telescope (``OBSERVAT``/``TELESCOP`` Gemini-North/-South).

    Adds the Gemini-wide tags (``GEMINI``, ``NORTH``/``SOUTH``, ``RAW``,
    ``PREPARED``, ``PROCESSED``, GCAL lamp tags...) and the generic
    descriptors; instrument subclasses refine them.
    """

    _keyword_dict = {
        "airmass": "AIRMASS",
        "amp_read_area": "AMPROA",
        "ao_fold": "AOFOLD",
        "array_name": "ARRAYNAM",
        "array_section": "ARRAYSEC",
        "azimuth": "AZIMUTH",
        "bias_image": "BIASIM",
        "camera": "CAMERA",
        "cass_rotator_pa": "CRPA",
        "central_wavelength": "CWAVE",
        "coadds": "COADDS",
        "dark_image": "DARKIM",
        "data_label": "DATALAB",
        "data_section": "DATASEC",
        "dec": "DEC",
        "decker": "DECKER",
        "detector_name": "DETNAME",
        "detector_section": "DETSEC",
        "detector_x_bin": "XBIN",
        "detector_y_bin": "YBIN",
        "disperser": "DISPERSR",
        "dispersion_axis": "DISPAXIS",
        "elevation": "ELEVATIO",
        "exposure_time": "EXPTIME",
        "focal_plane_mask": "FPMASK",
        "gain": "GAIN",
        "gain_setting": "GAINSET",
        "group_id": "GROUPID",
        "local_time": "LT",
        "lyot_stop": "LYOTSTOP",
        "non_linear_level": "NONLINEA",
        "observation_class": "OBSCLASS",
        "observation_epoch": "OBSEPOCH",
        "observation_id": "OBSID",
        "observation_mode": "OBSMODE",
        "observation_type": "OBSTYPE",
        "overscan_section": "OVERSEC",
        "pixel_scale": "PIXSCALE",
        "position_angle": "PA",
        "program_id": "GEMPRGID",
        "pupil_mask": "PUPILMSK",
        "ra": "RA",
        "read_mode": "READMODE",
        "read_noise": "RDNOISE",
        "read_speed_setting": "RDSPDSET",
        "saturation_level": "SATLEVEL",
        "telescope_x_offset": "XOFFSET",
        "telescope_y_offset": "YOFFSET",
        "ut_date": "DATE-OBS",
        "ut_time": "UT",
        "well_depth_setting": "WELDEPTH",
    }

    #: Keyword of the filter-name components, in order (instrument overrides).
    _filter_keywords: tuple[str, ...] = ("FILTER1", "FILTER2")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        guard_descriptors(cls)

    # ------------------------------------------------------------------
    # class selection

    @staticmethod
    def _matches_data(source: Any) -> bool:
        phu = source.phu if hasattr(source, "phu") else source[0].header
        observatory = str(phu.get("OBSERVAT", "")).strip().upper()
        telescope = str(phu.get("TELESCOP", "")).strip().upper()
        return (
            observatory in gemini_lookup.GEMINI_SITES or telescope in gemini_lookup.GEMINI_SITES
        )

    # ------------------------------------------------------------------
    # header access helpers

    def _file_label(self) -> str:
        """The file name for messages (or a placeholder for in-memory data)."""
        return file_label(self)

    def _phu_value(self, descriptor_or_keyword: str) -> Any:
        """PHU value of a keyword, given a descriptor name or a keyword.

        Raises
        ------
        MissingKeyword
            (a KeyError) if the keyword is absent or has no value.
        """
        keyword = self._keyword_or_self(descriptor_or_keyword)
        return _required(self.phu, keyword, "primary")

    def _keyword_or_self(self, name: str) -> str:
        try:
            return self._keyword_for(name)
        except (KeyError, AttributeError):
            return name

    def _phu_float(self, name: str) -> float:
        value = float(self._phu_value(name))
        if not math.isfinite(value):
            raise ValueError(f"{self._keyword_or_self(name)}={value} is not a finite number")
        return value

    def _ext_headers(self) -> list[Any]:
        """The extension headers of this object (one for a single slice)."""
        if self.is_single:
            return [self.hdr]
        return list(self.hdr)

    def _per_extension(self, name: str, func: Callable[[Any], Any]) -> list[Any]:
        """Apply ``func`` to each extension header; a bad value gives None there.

        Failures are logged as one warning naming the extensions concerned.
        """
        values: list[Any] = []
        failures: list[str] = []
        headers = self._ext_headers()
        for index, header in enumerate(headers):
            try:
                values.append(func(header))
            except AstroDataError:
                raise
            except BAD_HEADER_ERRORS as err:
                values.append(None)
                failures.append(f"extension {self._extension_number(index)}: {header_problem(err)}")
        if failures:
            log.warning("%s: %s(): %s; None there", self._file_label(), name, "; ".join(failures))
        return values

    def _extension_number(self, index: int) -> int:
        """1-based extension number of the ``index``-th header of this object."""
        if self.is_single:
            return getattr(self, "id", index + 1)
        try:
            return self.indices[index] + 1
        except (AttributeError, IndexError, TypeError):
            return index + 1

    def _as_list(self, value: Any) -> list[Any]:
        """A per-extension descriptor value as a list (also on a single slice)."""
        if self.is_single:
            return [value]
        if value is None:
            return [None] * len(self)
        return list(value)

    def _ext_section(self, name: str, pretty: bool) -> list[Any]:
        keyword = self._keyword_for(name)
        return self._per_extension(name, lambda hdr: _section(_required(hdr, keyword), pretty))

    def _ext_keyword(self, name: str, convert: Callable[[Any], Any] = lambda v: v) -> list[Any]:
        keyword = self._keyword_for(name)
        return self._per_extension(name, lambda hdr: convert(_required(hdr, keyword)))

    def _component(self, name: str, stripID: bool, pretty: bool) -> str:  # noqa: N803
        value = str(self._phu_value(name)).strip()
        return gmu.remove_component_id(value) if (stripID or pretty) else value

    def _group_id_from(self, names: Iterable[str], extra: Iterable[str] = ()) -> str:
        """Join descriptor values (pretty for filters/dispersers/masks) with ``_``."""
        parts = []
        for name in names:
            method = getattr(self, name)
            value = method(pretty=True) if name in _PRETTY_IN_GROUP_ID else method()
            parts.append(str(value))
        parts.extend(extra)
        return "_".join(parts)

    # ------------------------------------------------------------------
    # tags

    @astro_data_tag
    def _tag_gemini(self) -> TagSet:
        return TagSet({"GEMINI"})

    @astro_data_tag
    def _tag_site(self) -> TagSet | None:
        site = str(self.phu["OBSERVAT"]).strip().upper()
        if site == gemini_lookup.GEMINI_NORTH:
            return TagSet({"NORTH"})
        if site == gemini_lookup.GEMINI_SOUTH:
            return TagSet({"SOUTH"})
        return None

    @astro_data_tag
    def _tag_acquisition(self) -> TagSet | None:
        if self.phu["OBSCLASS"] in ("acq", "acqCal"):
            return TagSet({"ACQUISITION"})
        return None

    @astro_data_tag
    def _tag_azel(self) -> TagSet | None:
        if str(self.phu["FRAME"]).strip() != "AZEL_TOPO":
            return None
        try:
            at_zenith = float(self.phu["AIRMASS"]) == 1.0
        except (KeyError, ValueError, TypeError):
            at_zenith = False
        return TagSet({"AZEL_TARGET", "AT_ZENITH"} if at_zenith else {"AZEL_TARGET"})

    @astro_data_tag
    def _tag_sidereal(self) -> TagSet | None:
        frames = {str(self.phu.get(k, "")).strip() for k in ("TRKFRAME", "FRAME")}
        if not frames & {"FK5", "APPT"}:
            return None
        try:
            sidereal = float(self.phu["DECTRACK"]) == 0 and float(self.phu["RATRACK"]) == 0
        except (KeyError, ValueError, TypeError):
            sidereal = False
        return TagSet({"SIDEREAL"} if sidereal else {"NON_SIDEREAL"})

    @astro_data_tag
    def _tag_gcalflat(self) -> TagSet | None:
        lamp = str(self.phu["GCALLAMP"]).strip()
        if lamp == "IRhigh" or lamp.startswith("QH"):
            return TagSet({"GCALFLAT", "FLAT", "CAL"})
        return None

    @astro_data_tag
    def _tag_gcal_lamp_state(self) -> TagSet | None:
        """GCAL IR lamp on or off (from the lamp and the GCAL shutter)."""
        lamp = str(self.phu["GCALLAMP"]).strip()
        shutter = str(self.phu["GCALSHUT"]).strip().upper()
        ir_lamp = lamp in ("IRhigh", "IRlow") or lamp.startswith("QH")
        if ir_lamp and shutter == "OPEN":
            return TagSet({"GCAL_IR_ON", "LAMPON"}, blocked_by={"PROCESSED"})
        if (ir_lamp or lamp == "No Value") and shutter == "CLOSED":
            return TagSet({"GCAL_IR_OFF", "LAMPOFF"}, blocked_by={"PROCESSED", "PINHOLE"})
        return None

    @astro_data_tag
    def _tag_observation_mode(self) -> TagSet:
        mode = str(self.phu["OBSMODE"]).strip().upper()
        if not mode:
            return TagSet()
        return TagSet({mode} if mode == "IMAGE" else {mode, "SPECT"})

    @astro_data_tag
    def _tag_nodchop(self) -> TagSet | None:
        if str(self.phu["DATATYPE"]).strip() == "marked-nodandchop":
            return TagSet({"NODCHOP"})
        return None

    @astro_data_tag
    def _tag_fringe(self) -> TagSet | None:
        if "GIFRINGE" in self.phu or "PROCFRNG" in self.phu:
            return TagSet({"FRINGE", "CAL"})
        return None

    @astro_data_tag
    def _tag_bpm(self) -> TagSet | None:
        if "BPMASK" in self.phu or "PROCBPM" in self.phu:
            return TagSet({"BPM", "CAL", "PROCESSED"}, blocks=gemini_lookup.BPM_BLOCKED_TAGS)
        return None

    @astro_data_tag
    def _tag_mask(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip().upper() == "MASK":
            return TagSet({"MASK"}, blocks={"IMAGE", "SPECT"})
        return None

    @astro_data_tag
    def _tag_raw(self) -> TagSet | None:
        return None if "GEM-TLM" in self.phu else TagSet({"RAW"})

    @astro_data_tag
    def _tag_prepared(self) -> TagSet:
        if any("PREPAR" in key for key in self.phu.keys()):
            return TagSet({"PREPARED"})
        return TagSet({"UNPREPARED"})

    @astro_data_tag
    def _tag_overscan(self) -> TagSet | None:
        keys = list(self.phu.keys())
        tags = set()
        if any("SUBOVER" in key for key in keys):
            tags.add("OVERSCAN_SUBTRACTED")
        if any("TRIMOVER" in key for key in keys):
            tags.add("OVERSCAN_TRIMMED")
        return TagSet(tags) if tags else None

    @astro_data_tag
    def _tag_processed(self) -> TagSet | None:
        if any(key in self.phu for key in gemini_lookup.PROCESSED_KEYWORDS):
            return TagSet({"PROCESSED"})
        return None

    @astro_data_tag
    def _tag_processed_science(self) -> TagSet | None:
        if str(self.phu["OBSTYPE"]).strip() == "OBJECT" and (
            "GMOSAIC" in self.phu or "PROCSCI" in self.phu
        ):
            return TagSet({"PROCESSED_SCIENCE", "PROCESSED"}, blocks={"RAW"})
        return None

    @astro_data_tag
    def _tag_extracted(self) -> TagSet | None:
        return TagSet({"EXTRACTED"}) if "EXTRACT" in self.phu else None

    @astro_data_tag
    def _tag_telluric(self) -> TagSet | None:
        return TagSet({"TELLURIC", "CAL"}) if self.phu.get("PROCTELL") else None

    # ------------------------------------------------------------------
    # identification and observation descriptors

    @astro_data_descriptor
    def instrument(self, generic: bool = False) -> str:
        """Instrument name (``INSTRUME``)."""
        return str(self._phu_value("INSTRUME")).strip()

    @astro_data_descriptor
    def observation_type(self) -> str:
        """``OBSTYPE``: DARK, BIAS, FLAT, OBJECT, ARC, ..."""
        return str(self._phu_value("observation_type")).strip()

    @astro_data_descriptor
    def observation_class(self) -> str:
        """``OBSCLASS``: science, dayCal, partnerCal, acq, ..."""
        return str(self._phu_value("observation_class")).strip()

    @astro_data_descriptor
    def observation_id(self) -> str:
        """``OBSID``, e.g. ``'GS-2014A-Q-55-493'``."""
        return str(self._phu_value("observation_id")).strip()

    @astro_data_descriptor
    def observation_epoch(self) -> float:
        """``OBSEPOCH``: the epoch of the observation (decimal year)."""
        return float(self._phu_value("observation_epoch"))

    @astro_data_descriptor
    def data_label(self) -> str:
        """``DATALAB``, e.g. ``'GS-2014A-Q-55-493-011'``."""
        return str(self._phu_value("data_label")).strip()

    @astro_data_descriptor
    def program_id(self) -> str:
        """``GEMPRGID``, e.g. ``'GS-2014A-Q-55'``."""
        return str(self._phu_value("program_id")).strip()

    @astro_data_descriptor
    def calibration_key(self) -> str:
        """The data label without ``_stack``: identifies a calibration request."""
        return self.data_label().replace("_stack", "")

    @astro_data_descriptor
    def group_id(self) -> str:
        """Key of the frames that may be stacked together (default: the observation ID)."""
        return self.observation_id()

    @astro_data_descriptor
    def qa_state(self) -> str:
        """QA state from ``RAWPIREQ`` and ``RAWGEMQA``.

        ``'Undefined'`` if either is UNKNOWN; ``'Pass'`` (YES + USABLE);
        ``'Usable'`` (NO + USABLE); ``'Fail'`` (BAD); ``'CHECK'`` if either is
        CHECK.
        """
        pireq = str(self._phu_value("RAWPIREQ")).strip().upper()
        gemqa = str(self._phu_value("RAWGEMQA")).strip().upper()
        if "UNKNOWN" in (pireq, gemqa):
            return "Undefined"
        if gemqa == "USABLE" and pireq == "YES":
            return "Pass"
        if gemqa == "USABLE" and pireq == "NO":
            return "Usable"
        if gemqa == "BAD":
            return "Fail"
        if "CHECK" in (pireq, gemqa):
            return "CHECK"
        return "Undefined"

    # -- observing conditions -------------------------------------------

    def _percentile(self, keyword: str) -> int | None:
        return gmu.parse_percentile(self._phu_value(keyword))

    @astro_data_descriptor
    def raw_bg(self) -> int | None:
        """Sky-background percentile achieved (``RAWBG``; ``Any`` is 100)."""
        return self._percentile("RAWBG")

    @astro_data_descriptor
    def raw_cc(self) -> int | None:
        """Cloud-cover percentile achieved (``RAWCC``)."""
        return self._percentile("RAWCC")

    @astro_data_descriptor
    def raw_iq(self) -> int | None:
        """Image-quality percentile achieved (``RAWIQ``)."""
        return self._percentile("RAWIQ")

    @astro_data_descriptor
    def raw_wv(self) -> int | None:
        """Water-vapour percentile achieved (``RAWWV``)."""
        return self._percentile("RAWWV")

    @astro_data_descriptor
    def requested_bg(self) -> int | None:
        """Sky-background percentile requested (``REQBG``)."""
        return self._percentile("REQBG")

    @astro_data_descriptor
    def requested_cc(self) -> int | None:
        """Cloud-cover percentile requested (``REQCC``)."""
        return self._percentile("REQCC")

    @astro_data_descriptor
    def requested_iq(self) -> int | None:
        """Image-quality percentile requested (``REQIQ``)."""
        return self._percentile("REQIQ")

    @astro_data_descriptor
    def requested_wv(self) -> int | None:
        """Water-vapour percentile requested (``REQWV``)."""
        return self._percentile("REQWV")

    # -- time ----------------------------------------------------------------

    def _first_match(self, keywords: Iterable[str], parse: Callable[[Any], Any]) -> Any:
        """Parse the first of ``keywords`` present in the PHU that parses."""
        for keyword in keywords:
            if keyword in self.phu:
                try:
                    return parse(self.phu[keyword])
                except (ValueError, TypeError):
                    continue
        return None

    def _keyword_anywhere(self, keyword: str) -> Any:
        """A keyword from the PHU, else from the first extension header."""
        if keyword in self.phu:
            return self.phu[keyword]
        headers = self._ext_headers()
        if headers and keyword in headers[0]:
            return headers[0][keyword]
        raise MissingKeyword(f"keyword {keyword} is missing")

    @astro_data_descriptor
    def ut_datetime(
        self, strict: bool = False, dateonly: bool = False, timeonly: bool = False
    ) -> dt.datetime | dt.date | dt.time | None:
        """UT start of the observation.

        The date comes from the first of ``DATE-OBS``, ``DATE``, ``UTDATE``
        holding a date (a full ISO datetime there is used as is; old NIRI
        ``DD/MM/YY`` is accepted); the time from the first of ``UT``,
        ``TIME-OBS``, ``STARTUT``, ``UTSTART``. Fallbacks: ``MJD-OBS`` (PHU or
        first extension), then ``OBSSTART``; unless ``strict``, the date from
        the raw file name (``S20170102S0019``).

        Parameters
        ----------
        strict : bool
            Do not guess the date from the file name.
        dateonly, timeonly : bool
            Return only the ``date`` or the ``time``.
        """
        date_keys = ["DATE-OBS", self._keyword_or_self("ut_date"), "DATE", "UTDATE"]
        time_keys = ["UT", self._keyword_or_self("ut_time"), "TIME-OBS", "STARTUT", "UTSTART"]
        full = self._first_match(date_keys, gmu.parse_datetime)
        if full is None:
            date = self._first_match(date_keys, gmu.parse_date)
            time = self._first_match(time_keys, gmu.parse_time)
            if date is not None and time is not None:
                full = dt.datetime.combine(date, time)
        else:
            date, time = full.date(), full.time()
        if full is None:
            for fallback in (self._from_mjd, self._from_obsstart):
                try:
                    full = fallback()
                except (KeyError, ValueError, TypeError):
                    continue
                break
        if full is not None:
            date, time = full.date(), full.time()
        if date is None and not strict:
            for source in (self.phu.get("ORIGNAME"), self.phu.get("DHSLABEL"),
                           getattr(self, "filename", None)):
                try:
                    date = gmu.date_from_filename(source)
                    break
                except ValueError:
                    continue
        if dateonly:
            if date is None:
                raise ValueError("no date keyword (DATE-OBS, DATE, UTDATE, MJD-OBS) and no "
                                 "raw file name to take it from")
            return date
        if timeonly:
            if time is None:
                raise ValueError("no time keyword (UT, TIME-OBS, UTSTART, MJD-OBS)")
            return time
        if full is not None:
            return full
        if date is None:
            raise ValueError("no date keyword (DATE-OBS, DATE, UTDATE, MJD-OBS)")
        if time is None:
            if strict:
                raise ValueError("no time keyword (UT, TIME-OBS, UTSTART, MJD-OBS)")
            log.warning("%s: ut_datetime(): no time keyword; using 00:00:00 on %s",
                        self._file_label(), date)
            time = dt.time(0, 0)
        return dt.datetime.combine(date, time)

    def _from_mjd(self) -> dt.datetime:
        return gmu.mjd_to_datetime(self._keyword_anywhere("MJD-OBS"))

    def _from_obsstart(self) -> dt.datetime:
        return gmu.parse_datetime(self._phu_value("OBSSTART"))

    @astro_data_descriptor
    def ut_date(self) -> dt.date:
        """UT date of the observation (see :meth:`ut_datetime`)."""
        return self.ut_datetime(dateonly=True)

    @astro_data_descriptor
    def ut_time(self) -> dt.time:
        """UT time of the start of the observation (see :meth:`ut_datetime`)."""
        return self.ut_datetime(timeonly=True)

    @astro_data_descriptor
    def local_time(self) -> dt.time:
        """Local time of the start of the observation (``LT``)."""
        return gmu.parse_time(self._phu_value("local_time"))

    # -- exposure ----------------------------------------------------------

    @astro_data_descriptor
    def is_coadds_summed(self) -> bool:
        """True if coadds are summed (so the exposure time is EXPTIME x COADDS)."""
        return True

    @astro_data_descriptor
    def coadds(self) -> int:
        """Number of coadds (``COADDS``; 1 if absent)."""
        keyword = self._keyword_for("coadds")
        value = self.phu.get(keyword, 1)
        coadds = int(value)
        if coadds != float(value) or coadds < 1:
            raise ValueError(f"{keyword}={value!r} is not a positive integer")
        return coadds

    @astro_data_descriptor
    def exposure_time(self) -> float | None:
        """Total exposure time in seconds.

        ``EXPTIME`` (None if negative); on unprepared data whose coadds are
        summed, ``EXPTIME`` is per coadd and is multiplied by ``COADDS``
        (``prepare`` rewrites EXPTIME to the total).
        """
        exptime = self._phu_float("exposure_time")
        if exptime < 0:
            return None
        if "PREPARED" not in self.tags and self.is_coadds_summed():
            # Rounded to the microsecond so 2.001 s x 5 is 10.005 s, not 10.004999...
            exptime = round(exptime * self.coadds(), 6)
        return exptime

    # -- pointing ------------------------------------------------------------

    @astro_data_descriptor
    def airmass(self) -> float | None:
        """``AIRMASS``; None below 1 (placeholders such as -9999 on darks)."""
        airmass = self._phu_float("airmass")
        return airmass if airmass >= 1.0 else None

    @astro_data_descriptor
    def elevation(self) -> float:
        """Telescope elevation in degrees (``ELEVATIO``)."""
        return self._phu_float("elevation")

    @astro_data_descriptor
    def azimuth(self) -> float:
        """Telescope azimuth in degrees (``AZIMUTH``)."""
        return self._phu_float("azimuth")

    @astro_data_descriptor
    def cass_rotator_pa(self) -> float | None:
        """Cassegrain rotator position angle (``CRPA``); None if beyond +-360."""
        crpa = self._phu_float("cass_rotator_pa")
        return crpa if abs(crpa) <= 360 else None

    @astro_data_descriptor
    def position_angle(self) -> float:
        """Position angle of the instrument on the sky, degrees (``PA``)."""
        return self._phu_float("position_angle")

    @astro_data_descriptor
    def telescope_x_offset(self) -> float:
        """Telescope offset along the instrument x axis, arcsec (``XOFFSET``)."""
        return self._phu_float("telescope_x_offset")

    @astro_data_descriptor
    def telescope_y_offset(self) -> float:
        """Telescope offset along the instrument y axis, arcsec (``YOFFSET``)."""
        return self._phu_float("telescope_y_offset")

    def _inport_flipped(self) -> bool:
        """True on the bottom port (``INPORT`` 1), where the image is mirrored."""
        try:
            return int(self.phu["INPORT"]) == 1
        except (KeyError, ValueError, TypeError):
            return False

    @astro_data_descriptor
    def detector_x_offset(self) -> float:
        """Offset along detector x in pixels: ``POFFSET``/pixel scale (sign flipped on port 1)."""
        offset = self._phu_float("POFFSET") / self.pixel_scale()
        return -offset if self._inport_flipped() else offset

    @astro_data_descriptor
    def detector_y_offset(self) -> float:
        """Offset along detector y in pixels: ``QOFFSET``/pixel scale."""
        return self._phu_float("QOFFSET") / self.pixel_scale()

    def _extension_nddata(self) -> list[Any]:
        """Each extension of this object as stored: an NDAstroData, or a
        PendingExtension (not built yet, so its WCS is not built either)."""
        return self._selected_stored()

    def _celestial_wcs(self, index: int) -> tuple[float, float, float] | None:
        """(RA, Dec, pixel scale) of extension ``index``'s WCS at its reference pixel.

        The gWCS is used once it exists in memory (it may have been changed
        by registration); otherwise the header keywords give the answer
        without building it. None if the extension has no celestial WCS.
        """
        header = self._ext_headers()[index]
        nddata = self._extension_nddata()[index]
        built = getattr(nddata, "wcs_built", None)
        if callable(built) and built():
            at_reference = _gwcs_at_reference_pixel(nddata.wcs, header, nddata.shape)
            if at_reference is not None:
                return at_reference
        ctype1 = str(header.get("CTYPE1", "")).strip().upper()
        ctype2 = str(header.get("CTYPE2", "")).strip().upper()
        if not (ctype1.startswith("RA") and ctype2.startswith("DEC")):
            return None
        scale = _wcs_pixel_scale(header)
        ra = gmu.parse_ra(_required(header, "CRVAL1"))
        dec = gmu.parse_dec(_required(header, "CRVAL2"))
        return ra, dec, scale if scale is not None else math.nan

    def _pointing(self) -> tuple[float, float]:
        if not self._ext_headers():
            raise MissingKeyword("no extension to read a WCS from")
        values = self._celestial_wcs(0)
        if values is None:
            raise ValueError("the first extension has no celestial WCS")
        return values[0], values[1]

    @astro_data_descriptor
    def wcs_ra(self) -> float:
        """Right ascension (degrees) at the reference pixel of the first extension's WCS."""
        return self._pointing()[0]

    @astro_data_descriptor
    def wcs_dec(self) -> float:
        """Declination (degrees) at the reference pixel of the first extension's WCS."""
        return self._pointing()[1]

    def _has_celestial_wcs(self) -> bool:
        try:
            self._pointing()
        except BAD_HEADER_ERRORS:
            return False
        return True

    @astro_data_descriptor
    def ra(self) -> float:
        """Right ascension (degrees): from the WCS if there is one, else the target's."""
        if self._has_celestial_wcs():
            return self.wcs_ra()
        return self._target_coordinates(offset=True, pm=True, icrs=False)[0]

    @astro_data_descriptor
    def dec(self) -> float:
        """Declination (degrees): from the WCS if there is one, else the target's."""
        if self._has_celestial_wcs():
            return self.wcs_dec()
        return self._target_coordinates(offset=True, pm=True, icrs=False)[1]

    def _target_coordinates(self, offset: bool, pm: bool, icrs: bool) -> tuple[float, float]:
        ra = gmu.parse_ra(self._phu_value("RA"))
        dec = gmu.parse_dec(self._phu_value("DEC"))
        if offset:
            ra_offset = sum(float(self.phu.get(k, 0.0)) for k in ("RAOFFSET", "RATRGOFF"))
            dec_offset = sum(float(self.phu.get(k, 0.0)) for k in ("DECOFFSE", "DECTRGOF"))
            ra += ra_offset / (3600.0 * math.cos(math.radians(dec)))
            dec += dec_offset / 3600.0
        if pm:
            pmra = float(self.phu.get("PMRA", 0.0))
            pmdec = float(self.phu.get("PMDEC", 0.0))
            if pmra or pmdec:
                epoch = float(self._phu_value("EPOCH"))
                when = self.ut_datetime()
                start = dt.datetime(when.year, 1, 1)
                length = dt.datetime(when.year + 1, 1, 1) - start
                years = when.year + (when - start) / length - epoch
                # PMRA is in seconds of time per year, PMDEC in arcsec per year.
                ra += years * pmra * 15.0 / 3600.0
                dec += years * pmdec / 3600.0
        if icrs:
            ra, dec = self._to_icrs(ra, dec)
        return ra % 360.0, dec

    def _to_icrs(self, ra: float, dec: float) -> tuple[float, float]:
        frame = str(self.phu.get("FRAME", "FK5")).strip().upper()
        if frame not in ("FK5", "APPT"):
            return ra, dec
        from astropy import units as u
        from astropy.coordinates import FK5, SkyCoord

        equinox = f"J{float(self.phu.get('EQUINOX', 2000.0)):.1f}"
        coord = SkyCoord(ra * u.deg, dec * u.deg, frame=FK5(equinox=equinox)).icrs
        return float(coord.ra.deg), float(coord.dec.deg)

    @astro_data_descriptor
    def target_ra(self, offset: bool = False, pm: bool = True, icrs: bool = False) -> float:
        """Right ascension of the target (degrees) from the PHU ``RA``.

        Parameters
        ----------
        offset : bool
            Add the telescope offsets ``RAOFFSET`` + ``RATRGOFF`` (arcsec).
        pm : bool
            Apply the proper motion ``PMRA`` (s of time/yr) from ``EPOCH``.
        icrs : bool
            Convert an FK5 position to ICRS.
        """
        return self._target_coordinates(offset, pm, icrs)[0]

    @astro_data_descriptor
    def target_dec(self, offset: bool = False, pm: bool = True, icrs: bool = False) -> float:
        """Declination of the target (degrees) from the PHU ``DEC``; see :meth:`target_ra`."""
        return self._target_coordinates(offset, pm, icrs)[1]

    @astro_data_descriptor
    def pixel_scale(self) -> float:
        """Pixel scale in arcsec/pixel: from the WCS CD matrix, else ``PIXSCALE``.

        The scale is sqrt(|det CD|) x 3600, averaged over the extensions that
        have a celestial WCS.
        """
        return self._header_pixel_scale()

    def _header_pixel_scale(self) -> float:
        """Mean WCS pixel scale of the extensions, else ``PIXSCALE``; raises if neither."""
        scales = []
        for index in range(len(self._ext_headers())):
            values = self._celestial_wcs(index)
            if values is not None and math.isfinite(values[2]) and values[2] > 0:
                scales.append(values[2])
        if scales:
            return sum(scales) / len(scales)
        scale = float(self._keyword_anywhere(self._keyword_for("pixel_scale")))
        if not scale > 0:
            raise ValueError(f"PIXSCALE={scale} is not positive")
        return scale

    # -- instrument configuration -------------------------------------------

    @astro_data_descriptor
    def camera(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """Camera (``CAMERA``); ``stripID``/``pretty`` remove the component ID."""
        return self._component("camera", stripID, pretty)

    @astro_data_descriptor
    def decker(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """Decker (``DECKER``); ``stripID``/``pretty`` remove the component ID."""
        return self._component("decker", stripID, pretty)

    @astro_data_descriptor
    def disperser(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """Disperser (``DISPERSR``); ``stripID``/``pretty`` remove the component ID."""
        return self._component("disperser", stripID, pretty)

    @astro_data_descriptor
    def focal_plane_mask(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """Focal-plane mask (``FPMASK``); ``stripID``/``pretty`` remove the component ID."""
        return self._component("focal_plane_mask", stripID, pretty)

    @astro_data_descriptor
    def lyot_stop(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """Lyot stop (``LYOTSTOP``); ``stripID``/``pretty`` remove the component ID."""
        return self._component("lyot_stop", stripID, pretty)

    @astro_data_descriptor
    def pupil_mask(self, stripID: bool = False, pretty: bool = False) -> str:  # noqa: N803
        """Pupil mask (``PUPILMSK``); ``stripID``/``pretty`` remove the component ID."""
        return self._component("pupil_mask", stripID, pretty)

    def _raw_filters(self) -> list[str]:
        """The filter-wheel values in the order of ``_filter_keywords``."""
        return [str(self._phu_value(k)).strip() for k in self._filter_keywords]

    @astro_data_descriptor
    def filter_name(
        self,
        stripID: bool = False,  # noqa: N803
        pretty: bool = False,
        keepID: bool = False,  # noqa: N803
    ) -> str:
        """Filter(s) in the beam.

        Raw: ``'FILTER1&FILTER2'`` (``'Kshort_G1105&Clear'``). ``stripID``
        removes the component IDs. ``pretty`` also drops open, clear and
        neutral-density positions, names a Block/Dark position ``blank`` and a
        DK one ``dark``, keeps at most two names, and gives ``'open'`` when
        nothing is left (``'Kshort'``); with ``keepID`` the IDs are kept.
        """
        filters = self._raw_filters()
        if pretty:
            return _pretty_filters(filters, keep_id=keepID)
        if stripID and not keepID:
            filters = [gmu.remove_component_id(f) for f in filters]
        return "&".join(filters)

    @astro_data_descriptor
    def central_wavelength(
        self,
        asMicrometers: bool = False,  # noqa: N803
        asNanometers: bool = False,  # noqa: N803
        asAngstroms: bool = False,  # noqa: N803
    ) -> float | None:
        """Central wavelength (``CWAVE``, micrometres); metres unless asked otherwise."""
        value = self._phu_float("central_wavelength")
        if value <= 0:
            return None
        return gmu.convert_wavelength(
            value, "micrometers", asMicrometers, asNanometers, asAngstroms
        )

    def _filter_wavelengths(self) -> dict[str, float]:
        """Pretty filter name -> central wavelength (micrometres) for this instrument."""
        return dict(gemini_lookup.FILTER_WAVELENGTHS)

    @astro_data_descriptor
    def effective_wavelength(
        self,
        asMicrometers: bool = False,  # noqa: N803
        asNanometers: bool = False,  # noqa: N803
        asAngstroms: bool = False,  # noqa: N803
    ) -> float | None:
        """Wavelength of the light detected: the filter's for imaging, else the central one."""
        if "SPECT" in self.tags:
            micron = self.central_wavelength(asMicrometers=True)
        else:
            name = self.filter_name(pretty=True)
            table = self._filter_wavelengths()
            if name not in table:
                raise ValueError(f"no wavelength known for filter {name!r}")
            micron = table[name]
        return gmu.convert_wavelength(
            micron, "micrometers", asMicrometers, asNanometers, asAngstroms
        )

    @astro_data_descriptor
    def wavelength_band(self) -> str:
        """Photometric band (u g r i z Y J H K L M) nearest the effective wavelength."""
        micron = self.effective_wavelength(asMicrometers=True)
        if micron is None:
            raise ValueError("no effective wavelength")
        bands = gemini_lookup.WAVELENGTH_BANDS
        return min(bands, key=lambda band: abs(bands[band] - micron))

    @astro_data_descriptor
    def dispersion_axis(self) -> list[int | None] | int | None:
        """Dispersion axis (1-based) of spectra: ``DISPAXIS`` on prepared data, else None."""
        if "PREPARED" not in self.tags:
            return None
        return self._ext_keyword("dispersion_axis", int)

    @astro_data_descriptor
    def gcal_lamp(self) -> str:
        """The GCAL lamp lit: the lamp name, or ``'Off'`` with the shutter closed/no lamp."""
        lamp = str(self._phu_value("GCALLAMP")).strip()
        shutter = str(self._phu_value("GCALSHUT")).strip().upper()
        if (shutter == "CLOSED" and lamp.upper() in ("IRHIGH", "IRLOW")) or lamp.upper() in (
            "",
            "NO VALUE",
        ):
            return "Off"
        return lamp

    @astro_data_descriptor
    def is_ao(self) -> bool:
        """True if the AO fold is in the beam (``AOFOLD == 'IN'``; absent means no AO)."""
        return str(self.phu.get(self._keyword_for("ao_fold"), "")).strip().upper() == "IN"

    @astro_data_descriptor
    def wavefront_sensor(self) -> str | None:
        """Wavefront sensor(s) guiding, sorted and joined with ``&`` (``'GEMS'`` for GeMS)."""
        sensors = [
            name
            for keyword, name in gemini_lookup.WAVEFRONT_SENSORS.items()
            if str(self.phu.get(keyword, "")).strip().lower() == "guiding"
        ]
        if "GWFS1CFG" in self.phu:
            sensors.append("GEMS")
        return "&".join(sorted(sensors)) if sensors else None

    @astro_data_descriptor
    def read_mode(self) -> str:
        """Detector read mode (``READMODE``)."""
        return str(self._phu_value("read_mode")).strip()

    @astro_data_descriptor
    def read_speed_setting(self) -> str:
        """Detector read speed (``RDSPDSET``)."""
        return str(self._phu_value("read_speed_setting")).strip()

    @astro_data_descriptor
    def gain_setting(self) -> str:
        """Detector gain setting (``GAINSET``)."""
        return str(self._phu_value("gain_setting")).strip()

    @astro_data_descriptor
    def well_depth_setting(self) -> str:
        """Detector well-depth setting (``WELDEPTH``)."""
        return str(self._phu_value("well_depth_setting")).strip()

    @astro_data_descriptor
    def detector_name(self, pretty: bool = False) -> str:
        """Detector name (``DETNAME``)."""
        return str(self._phu_value("detector_name")).strip()

    @astro_data_descriptor
    def detector_roi_setting(self) -> str:
        """Detector region of interest: ``'Fixed'`` unless the instrument has ROIs."""
        return "Fixed"

    @astro_data_descriptor
    def detector_x_bin(self) -> int:
        """Binning along x (``XBIN``, 1 if absent)."""
        return int(self.phu.get(self._keyword_for("detector_x_bin"), 1))

    @astro_data_descriptor
    def detector_y_bin(self) -> int:
        """Binning along y (``YBIN``, 1 if absent)."""
        return int(self.phu.get(self._keyword_for("detector_y_bin"), 1))

    @astro_data_descriptor
    def binning(self) -> str:
        """Binning as ``'XxY'``, e.g. ``'2x2'``."""
        xbin, ybin = self.detector_x_bin(), self.detector_y_bin()
        if xbin is None or ybin is None:
            raise ValueError("the binning is not known")
        return f"{xbin}x{ybin}"

    # -- per-extension descriptors ------------------------------------------

    @astro_data_descriptor
    @returns_list
    def array_name(self) -> list[str | None]:
        """Name of the array (amplifier) read out in each extension."""
        return self._ext_keyword("array_name", lambda v: str(v).strip())

    @astro_data_descriptor
    @returns_list
    def array_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Region of the array read out in each extension (unbinned)."""
        return self._ext_section("array_section", pretty)

    @astro_data_descriptor
    @returns_list
    def data_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Region of each extension holding data (no overscan)."""
        return self._ext_section("data_section", pretty)

    @astro_data_descriptor
    @returns_list
    def detector_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Region of the whole detector covered by each extension (unbinned)."""
        return self._ext_section("detector_section", pretty)

    @astro_data_descriptor
    @returns_list
    def overscan_section(self, pretty: bool = False) -> list[Section | str | None]:
        """Overscan region of each extension."""
        return self._ext_section("overscan_section", pretty)

    @astro_data_descriptor
    @returns_list
    def amp_read_area(self) -> list[str | None]:
        """``"'<array name>':<detector section>"`` for each extension."""
        names = self._as_list(self.array_name())
        sections = self._as_list(self.detector_section(pretty=True))
        return [
            f"'{name}':{section}" if name is not None and section is not None else None
            for name, section in zip(names, sections, strict=True)
        ]

    @astro_data_descriptor
    def is_in_adu(self) -> bool:
        """False once the data are in electrons (``BUNIT`` electron, or ``ADUTOELE`` set)."""
        if "ADUTOELE" in self.phu:
            return False
        units = [str(h.get("BUNIT", "")).strip().lower() for h in self._ext_headers()]
        units.append(str(self.phu.get("BUNIT", "")).strip().lower())
        return not any(u in ("electron", "electrons", "e-", "e") for u in units)

    @astro_data_descriptor
    @returns_list
    @unity_if_in_electrons
    def gain(self) -> list[float | None] | float:
        """Gain in electrons/ADU of each extension (``GAIN``); 1.0 in electrons."""
        return self._ext_keyword("gain", float)

    @astro_data_descriptor
    @returns_list
    def read_noise(self) -> list[float | None]:
        """Read noise in electrons of each extension (``RDNOISE``)."""
        return self._ext_keyword("read_noise", float)

    @astro_data_descriptor
    @returns_list
    def saturation_level(self) -> list[float | None]:
        """Saturation level of each extension, in the data's units (``SATLEVEL``)."""
        return self._ext_keyword("saturation_level", float)

    @astro_data_descriptor
    @returns_list
    def non_linear_level(self) -> list[float | None]:
        """Level above which each extension is non-linear, data units (``NONLINEA``)."""
        return self._ext_keyword("non_linear_level", float)

    def _nominal_zeropoints(self) -> list[float | None]:
        """Per-extension zeropoint (mag giving 1 electron/s); instruments override."""
        raise ValueError(f"no nominal zeropoints are known for {self.instrument()}")

    @astro_data_descriptor
    @returns_list
    def nominal_photometric_zeropoint(self) -> list[float | None]:
        """Magnitude giving one count per second, per extension.

        From the instrument's table (for 1 electron/s); for data in ADU,
        ``2.5 log10(gain)`` is subtracted.
        """
        zeropoints = self._nominal_zeropoints()
        gains = self._as_list(self.gain())
        result = []
        for zpt, gain in zip(zeropoints, gains, strict=True):
            if zpt is None or gain is None or gain <= 0:
                result.append(None)
            else:
                result.append(zpt - 2.5 * math.log10(gain))
        return result

    @astro_data_descriptor
    def nominal_atmospheric_extinction(self) -> float:
        """Nominal extinction (mag) at this airmass: coefficient x (airmass - 1)."""
        site = str(self._phu_value("OBSERVAT")).strip().upper()
        band = self.wavelength_band()
        coefficients = gemini_lookup.NOMINAL_EXTINCTION.get(site, {})
        if band not in coefficients:
            raise ValueError(f"no nominal extinction for band {band!r} at {site}")
        airmass = self.airmass()
        if airmass is None:
            raise ValueError("no airmass")
        return coefficients[band] * (airmass - 1.0)


def whole_counts(value: float) -> int:
    """A level in whole counts, rounded down but robust to floating-point noise.

    ``155400 / (4.44 / 6)`` is 209999.99999999997 in floating point; the
    level meant is 210000, while ``200000 * 5 / 12.3 = 81300.8`` is 81300.
    """
    return math.floor(value + 1e-6)


def _gwcs_at_reference_pixel(
    wcs: Any, header: Any, shape: tuple[int, ...] | None
) -> tuple[float, float, float] | None:
    """(RA, Dec, pixel scale in arcsec) of a celestial gWCS at the header's CRPIX.

    Without CRPIX the array centre is used. The scale is the square root of
    the Jacobian determinant, from one-pixel differences. None if the gWCS
    is not celestial or cannot be evaluated.
    """
    if wcs is None or getattr(getattr(wcs, "output_frame", None), "reference_frame", None) is None:
        return None
    try:
        ny, nx = (tuple(shape)[-2:] if shape else (1, 1))
        x = float(header.get("CRPIX1", (nx + 1) / 2)) - 1
        y = float(header.get("CRPIX2", (ny + 1) / 2)) - 1
        ra, dec = (float(v) for v in wcs(x, y))
        # Central differences over one pixel: the projection's curvature cancels.
        ra_x0, dec_x0 = (float(v) for v in wcs(x - 0.5, y))
        ra_x1, dec_x1 = (float(v) for v in wcs(x + 0.5, y))
        ra_y0, dec_y0 = (float(v) for v in wcs(x, y - 0.5))
        ra_y1, dec_y1 = (float(v) for v in wcs(x, y + 0.5))
    except Exception:  # a transform that cannot be evaluated: fall back to the header
        return None
    cos_dec = math.cos(math.radians(dec))

    def d_ra(first: float, second: float) -> float:
        return ((second - first + 180.0) % 360.0 - 180.0) * cos_dec

    determinant = (d_ra(ra_x0, ra_x1) * (dec_y1 - dec_y0)
                   - d_ra(ra_y0, ra_y1) * (dec_x1 - dec_x0))
    if not (math.isfinite(ra) and math.isfinite(dec)):
        return None
    return ra % 360.0, dec, math.sqrt(abs(determinant)) * 3600.0


def _wcs_pixel_scale(header: Any) -> float | None:
    """Pixel scale (arcsec) from a header's CD or PC/CDELT matrix, or None."""
    ctype1 = str(header.get("CTYPE1", "")).upper()
    ctype2 = str(header.get("CTYPE2", "")).upper()
    if not (ctype1.startswith("RA") and ctype2.startswith("DEC")):
        return None
    try:
        if "CD1_1" in header or "CD2_2" in header:
            m11, m12 = float(header.get("CD1_1", 0.0)), float(header.get("CD1_2", 0.0))
            m21, m22 = float(header.get("CD2_1", 0.0)), float(header.get("CD2_2", 0.0))
        elif "CDELT1" in header and "CDELT2" in header:
            c1, c2 = float(header["CDELT1"]), float(header["CDELT2"])
            m11 = c1 * float(header.get("PC1_1", 1.0))
            m12 = c1 * float(header.get("PC1_2", 0.0))
            m21 = c2 * float(header.get("PC2_1", 0.0))
            m22 = c2 * float(header.get("PC2_2", 1.0))
        else:
            return None
    except (ValueError, TypeError):
        return None
    determinant = abs(m11 * m22 - m12 * m21)
    if not math.isfinite(determinant) or determinant == 0:
        return None
    return math.sqrt(determinant) * 3600.0


def _pretty_filters(filters: list[str], keep_id: bool = False) -> str:
    """The Gemini "pretty" filter name from the filter-wheel values."""
    names: list[str] = []
    for raw in filters:
        name = gmu.remove_component_id(raw)
        if "open" in name.lower() or "Clear" in name or name.lower().startswith("nd"):
            continue
        if "Block" in name or "Dark" in name:
            pretty = "blank"
        elif name.startswith("DK"):
            pretty = "dark"
        else:
            pretty = raw if keep_id else name
        if pretty not in names:
            names.append(pretty)
    return "&".join(names[:2]) if names else "open"


guard_descriptors(AstroDataGemini)
