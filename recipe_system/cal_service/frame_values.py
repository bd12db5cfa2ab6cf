"""Descriptor values of a frame in the normalised form the calibration database stores and compares.

The same function describes a calibration when it is added and a science (or
calibration-in-progress) frame when a calibration is looked up, so both sides
of a comparison always go through identical normalisation:

* per-extension descriptors: one value if all extensions agree, else the
  values joined with ``+`` in extension order;
* sections: IRAF strings, except ``data_section`` (``Section(x1=...)``);
* ``ut_datetime``: naive UTC;
* missing or failing descriptors: None.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import math
from collections.abc import Iterable, Iterator
from typing import Any

from astrodata import Section

__all__ = [
    "CALTYPE_KEYWORDS",
    "CALTYPES",
    "FRAME_DESCRIPTORS",
    "calibration_type",
    "frame_values",
    "instrument_family",
    "json_safe",
    "parse_amp_read_area",
    "parse_sections",
    "split_joined",
]

#: Calibration types the databases and the provider know.
CALTYPES = (
    "processed_bias",
    "processed_dark",
    "processed_flat",
    "processed_fringe",
    "processed_bpm",
    "processed_standard",
    "processed_science",
)

#: PHU keyword written by each ``store*`` primitive -> calibration type, in the
#: order they are tried when a file carries several (a BPM made from flats is a
#: BPM; a fringe frame made from science frames is a fringe frame).
CALTYPE_KEYWORDS = (
    ("PROCBPM", "processed_bpm"),
    ("BPMASK", "processed_bpm"),
    ("PROCFRNG", "processed_fringe"),
    ("PROCFLAT", "processed_flat"),
    ("PROCBIAS", "processed_bias"),
    ("PROCDARK", "processed_dark"),
    ("PROCSTND", "processed_standard"),
    ("PROCSCI", "processed_science"),
)

#: Descriptors read from every frame (the union of what the rules compare).
FRAME_DESCRIPTORS = (
    "instrument", "observation_type", "observation_class", "object", "data_label",
    "observation_id", "ut_datetime", "exposure_time", "coadds", "filter_name", "read_mode",
    "well_depth_setting", "camera", "disperser", "lyot_stop", "focal_plane_mask", "decker",
    "pupil_mask", "central_wavelength", "gcal_lamp", "detector_x_bin", "detector_y_bin",
    "binning", "read_speed_setting", "gain_setting", "amp_read_area", "array_name",
    "detector_name", "detector_roi_setting", "data_section", "detector_section",
)

_IRAF_SECTIONS = ("detector_section",)
_REPR_SECTIONS = ("data_section",)
_INTEGERS = ("coadds", "detector_x_bin", "detector_y_bin")
_FLOATS = ("exposure_time", "central_wavelength")


def instrument_family(instrument: str | None) -> str | None:
    """The generic instrument name the rules are keyed by (``GMOS-S`` -> ``GMOS``)."""
    if not instrument:
        return None
    name = str(instrument).strip().upper()
    if name.startswith("GMOS"):
        return "GMOS"
    if name in ("F2", "FLAM", "FLAMINGOS-2", "FLAMINGOS2"):
        return "F2"
    return name


def calibration_type(ad: Any) -> str | None:
    """The calibration type of a processed file from its ``store*`` keyword, or None.

    The file must also carry the ``PROCESSED`` tag (which those keywords
    produce); a file with neither is not a processed calibration.
    """
    phu = ad.phu
    tags = ad.tags
    for keyword, caltype in CALTYPE_KEYWORDS:
        if keyword in phu:
            if caltype == "processed_bpm" and "BPM" in tags:
                return caltype
            if "PROCESSED" in tags:
                return caltype
    return None


@contextlib.contextmanager
def _quiet_descriptors() -> Iterator[None]:
    """Silence descriptor warnings (missing keywords are normal on calibrations)."""
    logger = logging.getLogger("astrodata")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _call(ad: Any, name: str) -> Any:
    method = getattr(ad, name, None)
    if method is None or not callable(method):
        return None
    try:
        return method()
    except Exception:  # noqa: BLE001 - a failing descriptor is a missing value here
        return None


def _scalar(value: Any) -> Any:
    """numpy scalars -> Python; NaN -> None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _section_text(value: Any, as_repr: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Section):
        if isinstance(value, str):
            try:
                value = Section.from_string(value)
            except ValueError:
                return value
        else:
            try:
                value = Section(*value)
            except (TypeError, ValueError):
                return str(value)
    return repr(value) if as_repr else value.asIRAFsection()


def _join(values: list[Any]) -> Any:
    if not values:
        return None
    if all(v == values[0] for v in values):
        return values[0]
    if any(v is None for v in values):
        return "+".join("" if v is None else str(v) for v in values)
    return "+".join(str(v) for v in values)


def _normalise(name: str, value: Any) -> Any:
    is_list = isinstance(value, (list, tuple)) and not isinstance(value, Section)
    items = list(value) if is_list else [value]
    if name in _IRAF_SECTIONS or name in _REPR_SECTIONS:
        items = [_section_text(v, as_repr=name in _REPR_SECTIONS) for v in items]
    else:
        items = [_scalar(v) for v in items]
        if name in _INTEGERS:
            items = [int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                     for v in items]
        elif name in _FLOATS:
            items = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                     for v in items]
        elif name == "ut_datetime":
            items = [_naive_utc(v) for v in items]
        elif name != "amp_read_area":
            items = [None if v is None else str(v) for v in items]
    if name == "amp_read_area":
        items = [None if v is None else str(v) for v in items]
        return "+".join(v for v in items if v is not None) or None
    return _join(items) if is_list else items[0]


def _naive_utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def frame_values(ad: Any, names: Iterable[str] = FRAME_DESCRIPTORS) -> dict[str, Any]:
    """Normalised descriptor values of `ad` plus the facts taken from its tags.

    Parameters
    ----------
    ad : AstroData
        Any frame (a full object, not a single slice).
    names : iterable of str
        Descriptors to read (default: all those the rules may compare).

    Returns
    -------
    dict
        ``{descriptor: value}`` for `names`, plus ``instrument_family``,
        ``spectroscopy``, ``overscan_subtracted``, ``overscan_trimmed``,
        ``prepared`` and ``tags`` (a frozenset).
    """
    with _quiet_descriptors():
        values = {name: _normalise(name, _call(ad, name)) for name in names}
    tags = frozenset(ad.tags)
    if "instrument" not in values:
        with _quiet_descriptors():
            values["instrument"] = _normalise("instrument", _call(ad, "instrument"))
    values["instrument_family"] = instrument_family(values["instrument"])
    values["spectroscopy"] = "SPECT" in tags
    values["overscan_subtracted"] = "OVERSCAN_SUBTRACTED" in tags
    values["overscan_trimmed"] = "OVERSCAN_TRIMMED" in tags
    values["prepared"] = "PREPARED" in tags
    values["tags"] = tags
    return values


def json_safe(value: Any) -> Any:
    """A JSON-serialisable copy of a descriptor value."""
    value = _scalar(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Section):
        return value.asIRAFsection()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return str(value)


def all_descriptor_values(ad: Any) -> dict[str, Any]:
    """Every descriptor of `ad`, JSON-safe, failing ones as None (for the JSON column)."""
    names = getattr(ad, "descriptors", ()) or ()
    result: dict[str, Any] = {}
    with _quiet_descriptors():
        for name in names:
            result[name] = json_safe(_call(ad, name))
    return result


def split_joined(value: str | None) -> list[str]:
    """Split a ``+``-joined per-extension value (the inverse of the join above)."""
    if value is None or value == "":
        return []
    return str(value).split("+")


@functools.lru_cache(maxsize=4096)
def parse_sections(value: str | None) -> tuple[Section, ...]:
    """The sections of a stored ``detector_section`` value (unparsable items dropped)."""
    sections = []
    for item in split_joined(value):
        try:
            sections.append(Section.from_string(item))
        except ValueError:
            continue
    return tuple(sections)


@functools.lru_cache(maxsize=4096)
def parse_amp_read_area(value: str | None) -> tuple[tuple[str, Section | None], ...]:
    """``"'amp':[x1:x2,y1:y2]+..."`` -> ``[(amp, Section), ...]``.

    An item that is not of that form is kept whole as the amplifier name with
    no section (it can then only match itself exactly).
    """
    result: list[tuple[str, Section | None]] = []
    for item in split_joined(value):
        name, sep, section = item.rpartition(":[")
        if sep:
            try:
                result.append((name.strip("'\" "), Section.from_string("[" + section)))
                continue
            except ValueError:
                pass
        result.append((item, None))
    return tuple(result)
