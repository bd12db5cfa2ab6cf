"""Parsing of Gemini header values: component IDs, angles, conditions, dates and times.

These are pure functions of header values (strings or numbers), shared by the
Gemini instrument classes. They raise ``ValueError`` on a value they cannot
parse; the descriptors turn that into ``None`` and a logged warning.

Gemini writes each optical component with its ID, ``'<name>_G<nnnn>'``
(``'Kshort_G1105'``, ``'f/16_G5830'``); descriptors offer the name without
the ID (``stripID=True`` / ``pretty=True``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

__all__ = [
    "COMPONENT_ID",
    "remove_component_id",
    "parse_percentile",
    "parse_ra",
    "parse_dec",
    "parse_date",
    "parse_time",
    "parse_datetime",
    "mjd_to_datetime",
    "date_from_filename",
    "convert_wavelength",
]

#: A Gemini component ID at the end of a name: ``_G`` and four digits.
COMPONENT_ID = re.compile(r"^(?P<name>.*?)_G\d{4}\b.*$")

_PERCENTILE = re.compile(r"^\s*(\d{1,3})-percentile\s*$", re.IGNORECASE)
_DATE_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_DATE_OLD = re.compile(r"^\s*(\d{2})/(\d{2})/(\d{2})\s*$")
_DATETIME_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{1,2}):(\d{2}):(\d{2}(?:\.\d*)?)\s*$"
)
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2}):(\d{2}(?:\.\d*)?)\s*$")
_RAW_FILENAME_DATE = re.compile(r"(?:^|[^A-Za-z0-9])[NS](\d{8})S\d+")

#: Modified Julian Date 0.
_MJD_ZERO = dt.datetime(1858, 11, 17)


def remove_component_id(value: str | None) -> str | None:
    """Strip the Gemini component ID: ``'Kshort_G1105'`` -> ``'Kshort'``.

    A value without an ID (``'open1-6'``, ``'MIRROR'``) is returned
    unchanged; ``None`` stays ``None``.

    Examples
    --------
    >>> remove_component_id('f/16_G5830')
    'f/16'
    >>> remove_component_id('Open')
    'Open'
    """
    if value is None:
        return None
    text = str(value).strip()
    match = COMPONENT_ID.match(text)
    return match.group("name") if match else text


def parse_percentile(value: Any) -> int | None:
    """An observing-condition keyword (``RAWIQ``, ``REQBG``...) as a percentile.

    ``'Any'`` is 100 (no constraint); ``'70-percentile'`` is 70; anything else
    (``'UNKNOWN'``, empty, a number out of range) is None.
    """
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() == "any":
        return 100
    match = _PERCENTILE.match(text)
    if match:
        number = int(match.group(1))
        if 0 < number <= 100:
            return number
    return None


def _sexagesimal(text: str) -> float:
    """``'12:34:56.7'`` or ``'-01 02 03'`` -> decimal units (sign kept)."""
    parts = re.split(r"[:\s]+", text.strip())
    if not 1 <= len(parts) <= 3 or parts == [""]:
        raise ValueError(f"not a sexagesimal value: {text!r}")
    negative = parts[0].startswith("-")
    values = [abs(float(p)) for p in parts]
    if any(v >= 60 for v in values[1:]):
        raise ValueError(f"minutes/seconds of {text!r} are not below 60")
    total = sum(v / 60**i for i, v in enumerate(values))
    return -total if negative else total


def parse_ra(value: Any) -> float:
    """Right ascension in degrees from a header value.

    A number is taken as degrees; a string with ``:`` or spaces as
    sexagesimal *hours* (``'13:25:27.6'`` -> 201.365).

    Raises
    ------
    ValueError
        if the value is not a number or a sexagesimal string, or is outside
        0..360 degrees.
    """
    if isinstance(value, str) and re.search(r"[:\s]", value.strip()):
        degrees = 15.0 * _sexagesimal(value)
    else:
        degrees = float(value)
    if not math.isfinite(degrees) or not -360.0 <= degrees <= 360.0:
        raise ValueError(f"right ascension {value!r} is out of range")
    return degrees % 360.0


def parse_dec(value: Any) -> float:
    """Declination in degrees from a number (degrees) or a sexagesimal string.

    Raises
    ------
    ValueError
        if the value cannot be parsed or is outside -90..90 degrees.
    """
    if isinstance(value, str) and re.search(r"[:\s]", value.strip()):
        degrees = _sexagesimal(value)
    else:
        degrees = float(value)
    if not math.isfinite(degrees) or not -90.0 <= degrees <= 90.0:
        raise ValueError(f"declination {value!r} is out of range")
    return degrees


def parse_date(value: Any) -> dt.date:
    """A date from ``'YYYY-MM-DD'``, an ISO datetime, or old NIRI ``'DD/MM/YY'``.

    Raises
    ------
    ValueError
        if the value has none of these forms or is not a valid date.
    """
    text = str(value)
    match = _DATE_ISO.match(text) or _DATETIME_ISO.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups()[:3])
        return dt.date(year, month, day)
    match = _DATE_OLD.match(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        # NIRI wrote two-digit years from 1999 on.
        year += 1900 if year >= 90 else 2000
        return dt.date(year, month, day)
    raise ValueError(f"not a date: {value!r}")


def parse_time(value: Any) -> dt.time:
    """A time of day from ``'h:mm:ss[.s]'`` (as in ``UT``, ``LT``, ``TIME-OBS``).

    ``'24:00:00'`` is not accepted. Fractions of a second are kept to the
    microsecond.

    Raises
    ------
    ValueError
        if the value is not of that form or out of range.
    """
    match = _TIME.match(str(value))
    if not match:
        raise ValueError(f"not a time of day: {value!r}")
    hours, minutes = int(match.group(1)), int(match.group(2))
    seconds = float(match.group(3))
    whole = int(seconds)
    micro = int(round((seconds - whole) * 1e6))
    if micro == 1_000_000:
        whole, micro = whole + 1, 0
    if whole == 60:
        # A leap second, or rounding: keep the time valid.
        whole, micro = 59, 999_999
    return dt.time(hours, minutes, whole, micro)


def parse_datetime(value: Any) -> dt.datetime:
    """A full ISO datetime ``'YYYY-MM-DDThh:mm:ss[.s]'`` (``T`` or a space).

    Raises
    ------
    ValueError
        if the value is not a full ISO datetime.
    """
    match = _DATETIME_ISO.match(str(value))
    if not match:
        raise ValueError(f"not an ISO datetime: {value!r}")
    year, month, day, hour, minute = (int(g) for g in match.groups()[:5])
    time = parse_time(f"{hour}:{minute:02d}:{match.group(6)}")
    return dt.datetime.combine(dt.date(year, month, day), time)


def mjd_to_datetime(mjd: Any) -> dt.datetime:
    """UT datetime of a Modified Julian Date.

    Raises
    ------
    ValueError
        if the value is not a number or not after MJD 1 (placeholders such
        as 0 or -9999 are rejected).
    """
    value = float(mjd)
    if not math.isfinite(value) or value <= 1:
        raise ValueError(f"MJD {mjd!r} is not a valid date")
    return _MJD_ZERO + dt.timedelta(days=value)


def date_from_filename(name: Any) -> dt.date:
    """The date in a raw Gemini file name, ``'S20170102S0019.fits'`` -> 2017-01-02.

    Raises
    ------
    ValueError
        if the name is not a raw Gemini file name.
    """
    match = _RAW_FILENAME_DATE.search(str(name))
    if not match:
        raise ValueError(f"not a raw Gemini file name: {name!r}")
    return dt.datetime.strptime(match.group(1), "%Y%m%d").date()


#: Metres per unit, for the wavelength descriptors' output units.
_METRES_PER_UNIT = {
    "metres": 1.0,
    "micrometers": 1e-6,
    "nanometers": 1e-9,
    "angstroms": 1e-10,
}


def convert_wavelength(
    value: float | None,
    input_units: str,
    asMicrometers: bool = False,  # noqa: N803 (DRAGONS API)
    asNanometers: bool = False,  # noqa: N803
    asAngstroms: bool = False,  # noqa: N803
) -> float | None:
    """Convert a wavelength to the units a wavelength descriptor was asked for.

    Parameters
    ----------
    value : float or None
        The wavelength in ``input_units``.
    input_units : {'metres', 'micrometers', 'nanometers', 'angstroms'}
    asMicrometers, asNanometers, asAngstroms : bool
        At most one may be True; with none, the result is in metres (the
        DRAGONS convention).

    Raises
    ------
    ValueError
        if more than one output unit is requested or the unit is unknown.
    """
    if sum(bool(f) for f in (asMicrometers, asNanometers, asAngstroms)) > 1:
        raise ValueError("ask for at most one of asMicrometers, asNanometers, asAngstroms")
    if value is None:
        return None
    if asMicrometers:
        out = "micrometers"
    elif asNanometers:
        out = "nanometers"
    elif asAngstroms:
        out = "angstroms"
    else:
        out = "metres"
    result = float(value) * _METRES_PER_UNIT[input_units] / _METRES_PER_UNIT[out]
    # Unit changes are powers of ten; round away the binary noise.
    return float(f"{result:.12g}")
