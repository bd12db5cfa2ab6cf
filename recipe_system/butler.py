"""The Butler: raw frames, calibrations and science products of a working directory, by data id.

A :class:`Butler` indexes one working directory and answers requests by
*dataset type* and *data id* (descriptor values given as keyword arguments),
in the manner of the LSST/HSC pipeline butler::

    from recipe_system.butler import Butler
    b = Butler("playground")
    flat = b.get("processed_flat", filter_name="Y")             # AstroData
    path = b.get("processed_flat_filename", filter_name="Y")    # str
    phu = b.get("processed_flat_md", filter_name="Y")           # astropy Header
    frames = b.list("raw", observation_type="DARK", exposure_time=2)
    sources = b.get("src", data_label="GS-2013B-Q-15-39-001-SQ-IMAGE")  # OBJCAT Table
    crs = b.get("image_mask", plane="CR", object="NGC5128")     # boolean array(s)

What is indexed:

* every FITS file under the working directory (and any ``extra_dirs``),
  found by a recursive walk that skips hidden directories (``.reducecache``)
  and reads headers only;
* every file registered in the calibration database(s) that a ``reduce`` run
  in that directory would use (``recipe_system.config``: with no
  configuration file, ``<workdir>/calibrations/cal_manager.db``), wherever
  the files are.

Each file is classified once, from its tags and headers: ``raw`` (``RAW``
tag), a processed calibration (the ``PROC*`` keyword the ``store*``
primitives write, as the calibration database reads it), ``processed_science``
(``PROCESSED_SCIENCE`` tag, or a ``_image``, ``_stack`` or ``_skyCorrected``
file of an ``OBJECT`` frame that is not a calibration), or anything else
(intermediate products, non-Gemini files), which is not served. What was read
is kept in ``<workdir>/.reducecache/butler.json`` keyed by path, size and
modification time, so indexing again only reads new or changed files. Two
copies of one product (the file a ``store*`` primitive put under
``calibrations/processed_<type>/`` and the one the recipe system wrote in the
working directory) count once: the copy registered in a database, else the
one under ``calibrations/``, is served and the other is listed in
:attr:`DataRef.copies`.

Data ids (:data:`ID_NAMES`) are matched as an astronomer would expect:
text case-insensitively; ``filter_name`` against the raw value
(``Open&Y_G0811``), the value without component IDs (``Open&Y``) or the
pretty one (``Y``); ``exposure_time`` and ``central_wavelength`` within 1%;
``ut_date`` as a date or ``YYYY-MM-DD``/``YYYYMMDD`` text; ``data_label``
exactly or, for a product, without the ``-SQ-FLAT`` ending the store
primitives append; ``instrument`` exactly or by family (``GMOS``); ``tags``
as a set that must all be present; a list or tuple of values means any of
them. A request that matches several files raises
:class:`AmbiguousDataIdError` naming the ids that tell them apart; one that
matches none raises :class:`DatasetNotFoundError` naming the nearest
candidates and what differs. Both are :class:`ButlerError`, a
``recipe_system.ReduceError`` (and a ``LookupError``).

User documentation: ``docs/butler.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import functools
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from astropy.io import fits
from astropy.table import Table

import astrodata
from astrodata.dq import DQ, mask_plane
from recipe_system.cal_service.frame_values import calibration_type, instrument_family, json_safe
from recipe_system.cal_service.localdb import LocalDB
from recipe_system.cal_service.service import active_configuration
from recipe_system.config import load_config
from recipe_system.errors import ConfigError, ReduceError

__all__ = [
    "ALIASES",
    "DATASET_TYPES",
    "DQ",
    "ID_NAMES",
    "INDEX_FILE",
    "VARIANTS",
    "AmbiguousDataIdError",
    "Butler",
    "ButlerError",
    "DataRef",
    "DatasetNotFoundError",
    "IndexSummary",
    "mask_plane",
    "objcat_column_descriptions",
    "parse_dataset_type",
]

log = logging.getLogger("recipe_system.butler")

#: Index file, relative to the working directory.
INDEX_FILE = os.path.join(".reducecache", "butler.json")
#: Version of the index records; a cache written with another version is ignored.
INDEX_VERSION = 1
_INDEX_FORMAT = "astroreduce butler index"

#: Dataset types served, and what each holds.
DATASET_TYPES: dict[str, str] = {
    "raw": "raw frames (RAW tag)",
    "processed_bias": "processed biases (PROCBIAS, storeProcessedBias)",
    "processed_dark": "processed darks (PROCDARK, storeProcessedDark)",
    "processed_flat": "processed flats (PROCFLAT, storeProcessedFlat)",
    "processed_bpm": "bad pixel masks (PROCBPM or BPMASK, storeBPM)",
    "processed_fringe": "processed fringe frames (PROCFRNG, storeProcessedFringe)",
    "processed_standard": "processed standards (PROCSTND, storeProcessedStandard)",
    "processed_science": ("science products: PROCESSED_SCIENCE tag (storeProcessedScience),"
                          " or _image, _stack, _skyCorrected files of OBJECT frames"),
}

#: Short dataset type names -> (dataset type, filename suffix the file must have).
ALIASES: dict[str, tuple[str, str | None]] = {
    "bias": ("processed_bias", None),
    "dark": ("processed_dark", None),
    "flat": ("processed_flat", None),
    "bpm": ("processed_bpm", None),
    "fringe": ("processed_fringe", None),
    "standard": ("processed_standard", None),
    "science": ("processed_science", None),
    "image": ("processed_science", "_image"),
    "stack": ("processed_science", "_stack"),
    "skyCorrected": ("processed_science", "_skyCorrected"),
}

#: Dataset type suffixes -> what ``get`` returns (``src`` alone means ``processed_science_src``).
VARIANTS: dict[str, str] = {
    "": "the file opened with astrodata (AstroData; a single slice with ext=)",
    "_filename": "the absolute path of the file (str)",
    "_md": "the primary header, or the header of extension ext= (astropy Header)",
    "_src": "the OBJCAT source catalogue (astropy Table; one per extension, or ext=)",
    "_catalog": "same as _src",
    "_mask": "the DQ array, or with plane= the boolean mask of a named DQ plane",
}

#: Suffixes that make a product of an OBJECT frame a science product.
SCIENCE_SUFFIXES = ("_image", "_stack", "_skyCorrected")

#: Data id names -> how they are matched.
ID_NAMES: dict[str, str] = {
    "data_label": "exact, or the data label of the frame a product was made from",
    "observation_id": "case-insensitive text",
    "object": "case-insensitive text",
    "filter_name": "raw (Open&Y_G0811), without component IDs (Open&Y) or pretty (Y)",
    "exposure_time": "seconds, within 1%",
    "ut_date": "date, or text YYYY-MM-DD / YYYYMMDD",
    "instrument": "exact (GMOS-S) or family (GMOS), case-insensitive",
    "observation_type": "case-insensitive text (OBJECT, DARK, FLAT, BIAS...)",
    "observation_class": "case-insensitive text (science, dayCal, partnerCal...)",
    "program_id": "case-insensitive text",
    "telescope": "case-insensitive text",
    "coadds": "integer",
    "read_mode": "case-insensitive text",
    "well_depth_setting": "case-insensitive text",
    "camera": "case-insensitive text",
    "focal_plane_mask": "case-insensitive text",
    "disperser": "case-insensitive text",
    "lyot_stop": "case-insensitive text",
    "gcal_lamp": "case-insensitive text",
    "detector_x_bin": "integer",
    "detector_y_bin": "integer",
    "binning": "text such as 2x2",
    "read_speed_setting": "case-insensitive text",
    "gain_setting": "case-insensitive text",
    "detector_roi_setting": "case-insensitive text",
    "central_wavelength": "metres, within 1%",
    "procmode": "processing mode of a product (sq, ql, qa; PROCMODE)",
    "suffix": "last filename suffix (_flat, _stack...), with or without the underscore",
    "filename": "file name (with or without .fits), or a path",
    "tags": "tag or tags that must all be present (set, list or comma-separated text)",
}

#: Descriptors read from every file (the id names that are descriptors).
_DESCRIPTOR_IDS = tuple(name for name in ID_NAMES
                        if name not in ("procmode", "suffix", "filename", "tags"))

_MATCH_KIND = {
    "data_label": "label",
    "filter_name": "filter",
    "exposure_time": "float",
    "central_wavelength": "float",
    "ut_date": "date",
    "instrument": "instrument",
    "coadds": "int",
    "detector_x_bin": "int",
    "detector_y_bin": "int",
    "suffix": "suffix",
    "filename": "filename",
    "tags": "tags",
}

# what astrodata reads (bzip2 and tile-compressed .fz files it does not)
_FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz")
_PRODUCT_LABEL = re.compile(r"-(SQ|QL|QA)-[A-Z0-9]+$", re.IGNORECASE)
_COMPONENT_ID = re.compile(r"_G\d{4}", re.IGNORECASE)
_RELATIVE_TOLERANCE = 0.01
_NOT_SCIENCE_TAGS = frozenset({"FLAT", "DARK", "BIAS", "BPM"})
_SHOWN_CANDIDATES = 10
_SHOWN_NEAREST = 5


# -- errors -----------------------------------------------------------------------
class ButlerError(ReduceError, LookupError):
    """A Butler request cannot be served (unknown type or id, no match, several matches).

    Attributes
    ----------
    dataset_type : str or None
        The dataset type asked for.
    ids : dict
        The data id asked for.
    candidates : list of DataRef
        The files concerned: all matches (ambiguous), the nearest ones (not found).
    """

    def __init__(self, message: str, dataset_type: str | None = None,
                 ids: Mapping[str, Any] | None = None,
                 candidates: Iterable[DataRef] = ()) -> None:
        super().__init__(message)
        self.dataset_type = dataset_type
        self.ids = dict(ids or {})
        self.candidates = list(candidates)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DatasetNotFoundError(ButlerError):
    """No indexed file of the dataset type matches the data id."""


class AmbiguousDataIdError(ButlerError):
    """Several files match the data id; ``candidates`` holds them all."""


# -- dataset types ------------------------------------------------------------------
class DatasetSpec(NamedTuple):
    """A parsed dataset type name: the type, a filename suffix it requires, what to return."""

    name: str
    base: str
    suffix: str | None
    variant: str


def parse_dataset_type(name: str) -> DatasetSpec:
    """Split a dataset type name into type, required suffix and variant.

    ``'processed_flat_md'`` -> ``DatasetSpec('processed_flat_md', 'processed_flat', None,
    'md')``; ``'stack_filename'`` -> ``(..., 'processed_science', '_stack', 'filename')``;
    ``'src'`` -> ``(..., 'processed_science', None, 'src')``.

    Raises
    ------
    ButlerError
        For an unknown name (with the closest known names).
    """
    text = str(name).strip()
    if text in ("src", "catalog"):
        return DatasetSpec(text, "processed_science", None, "src")
    for ending in sorted(VARIANTS, key=len, reverse=True):
        if ending and not text.endswith(ending):
            continue
        stem = text[: len(text) - len(ending)] if ending else text
        variant = "src" if ending == "_catalog" else ending.lstrip("_")
        if stem in DATASET_TYPES:
            return DatasetSpec(text, stem, None, variant)
        if stem in ALIASES:
            base, suffix = ALIASES[stem]
            return DatasetSpec(text, base, suffix, variant)
    known = [*DATASET_TYPES, *ALIASES]
    spelled = [t + v for t in known for v in VARIANTS] + ["src"]
    close = difflib.get_close_matches(text, spelled, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ButlerError(
        f"unknown dataset type {text!r}{hint} Known types: {', '.join(known)}; each also with"
        f" the suffixes {', '.join(v for v in VARIANTS if v)}; 'src' is processed_science_src",
        dataset_type=text)


# -- what a reference is ------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class DataRef:
    """One indexed file of a dataset type, with its data id.

    Attributes
    ----------
    path : str
        Absolute path of the file served.
    dataset_type : str
        ``raw``, ``processed_flat``, ... (never an alias).
    ids : mapping
        Its data id values (:data:`ID_NAMES`; None where the file has no value).
    tags : frozenset of str
        Its astrodata tags.
    origins : tuple of str
        ``'directory'`` when found by the walk, and the name of every
        calibration database that registers it.
    copies : tuple of str
        Other paths holding the same product (same name, data label,
        processing mode and ``GEM-TLM``).
    """

    path: str
    dataset_type: str
    ids: Mapping[str, Any]
    tags: frozenset[str] = frozenset()
    origins: tuple[str, ...] = ()
    copies: tuple[str, ...] = ()

    def __hash__(self) -> int:
        return hash((self.path, self.dataset_type))

    def __repr__(self) -> str:
        return (f"DataRef({self.dataset_type!r}, {self.path!r},"
                f" data_label={self.ids.get('data_label')!r})")

    @property
    def filename(self) -> str:
        """The file name without directory."""
        return os.path.basename(self.path)

    def open(self) -> Any:
        """The file opened with ``astrodata.open`` (headers now, pixels on first use)."""
        return astrodata.open(self.path)

    def get(self, variant: str = "", ext: int | None = None, plane: str | None = None) -> Any:
        """Load the file as `variant` would (see :data:`VARIANTS`).

        Parameters
        ----------
        variant : str
            ``''`` (AstroData), ``'filename'``, ``'md'``, ``'src'``/``'catalog'`` or
            ``'mask'`` (a leading underscore is accepted).
        ext : int, optional
            0-based extension index (``ad[ext]``) for AstroData, headers,
            catalogues and masks.
        plane : str, optional
            DQ plane name for ``'mask'`` (``'CR'``, ``'cosmic_ray'``, ``'BAD'``...).
        """
        return _load(self, str(variant).lstrip("_"), ext, plane)


class IndexSummary(NamedTuple):
    """What :meth:`Butler.refresh` did: files indexed, read from headers, taken from the cache."""

    files: int
    read: int
    cached: int


@dataclass
class _Entry:
    path: str
    size: int
    mtime_ns: int
    record: dict[str, Any]
    origins: set[str] = field(default_factory=set)
    copies: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.record["kind"]

    @property
    def ids(self) -> dict[str, Any]:
        return self.record["ids"]

    def ref(self) -> DataRef:
        return DataRef(self.path, self.kind, dict(self.ids), frozenset(self.record["tags"]),
                       tuple(sorted(self.origins)), tuple(sorted(self.copies)))


# -- reading one file ---------------------------------------------------------------
@contextlib.contextmanager
def _quiet_astrodata() -> Iterator[None]:
    """Silence astrodata warnings while indexing (non-Gemini files, missing keywords are normal)."""
    logger = logging.getLogger("astrodata")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _is_fits_name(name: str) -> bool:
    return name.lower().endswith(_FITS_SUFFIXES)


def _stem(name: str) -> str:
    lowered = name.lower()
    for ending in sorted(_FITS_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(ending):
            return name[: len(name) - len(ending)]
    return name


def _product_suffix(filename: str, origname: Any) -> str | None:
    """The last ``_suffix`` added to the original file name (None for an original file)."""
    stem = _stem(filename)
    root = _stem(os.path.basename(str(origname))) if origname else ""
    tail = stem[len(root):] if root and stem.startswith(root) else stem
    if "_" not in tail:
        return None
    return "_" + tail.rsplit("_", 1)[1]


def _descriptor_value(ad: Any, name: str, **kwargs: Any) -> Any:
    method = getattr(ad, name, None)
    if method is None or not callable(method):
        return None
    try:
        value = method(**kwargs)
    except Exception:  # noqa: BLE001 - a failing descriptor is a missing id value
        return None
    if name == "ut_date" and isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%Y-%m-%d")
    value = json_safe(value)
    if isinstance(value, list):
        # per-extension descriptor: one value when all extensions agree
        present = [v for v in value if v is not None]
        if present and all(v == present[0] for v in present):
            return present[0]
        return "+".join("" if v is None else str(v) for v in value) if present else None
    return value


def _filter_forms(raw: Any, pretty: Any) -> list[str]:
    """Every spelling a user may give for a filter (lower case)."""
    forms = []
    for value in (raw, pretty):
        if value is None:
            continue
        text = str(value).strip()
        forms.extend([text.lower(), _COMPONENT_ID.sub("", text).lower()])
    return sorted(set(forms))


def _classify(ad: Any, tags: frozenset[str], ids: Mapping[str, Any]) -> str:
    caltype = calibration_type(ad)
    if caltype == "processed_science" or "PROCESSED_SCIENCE" in tags:
        return "processed_science"
    if caltype is not None:
        return caltype
    if "RAW" in tags:
        return "raw"
    if (ids.get("suffix") in SCIENCE_SUFFIXES
            and str(ids.get("observation_type") or "").upper() == "OBJECT"
            and not tags & _NOT_SCIENCE_TAGS):
        return "processed_science"
    return "other"


def _index_record(path: str) -> dict[str, Any]:
    """What the index keeps about one file, from its headers only."""
    name = os.path.basename(path)
    try:
        ad = astrodata.open(path)
        tags = frozenset(ad.tags)
        phu = ad.phu
    except Exception as exc:  # noqa: BLE001 - an unreadable file is indexed as such
        reason = str(exc).replace(path, "").strip(" :") or type(exc).__name__
        return {"kind": "unreadable", "error": reason, "ids": {"filename": name}, "tags": [],
                "ut_datetime": None, "n_ext": 0, "gem_tlm": None, "filter_forms": [],
                "filter_pretty": None}
    ids: dict[str, Any] = {n: _descriptor_value(ad, n) for n in _DESCRIPTOR_IDS}
    pretty = _descriptor_value(ad, "filter_name", pretty=True)
    procmode = phu.get("PROCMODE")
    ids["procmode"] = str(procmode).strip().lower() if procmode else None
    ids["suffix"] = _product_suffix(name, phu.get("ORIGNAME"))
    ids["filename"] = name
    ut_datetime = _descriptor_value(ad, "ut_datetime")
    return {
        "kind": _classify(ad, tags, ids),
        "ids": ids,
        "filter_forms": _filter_forms(ids["filter_name"], pretty),
        "filter_pretty": None if pretty is None else str(pretty),
        "tags": sorted(tags),
        "ut_datetime": ut_datetime if isinstance(ut_datetime, str) else None,
        "n_ext": len(ad),
        "gem_tlm": str(phu.get("GEM-TLM")) if phu.get("GEM-TLM") is not None else None,
        "error": None,
    }


# -- matching ids -------------------------------------------------------------------
def _as_date(value: Any, name: str) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ButlerError(f"{name}={value!r}: expected a date or text YYYY-MM-DD or YYYYMMDD")


def _wanted_value(name: str, value: Any) -> Any:
    """A user id value in the form the matcher compares (validated)."""
    kind = _MATCH_KIND.get(name, "text")
    if value is None:
        if kind in ("tags", "filename"):
            raise ButlerError(f"{name}=None matches nothing")
        return None
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ButlerError(f"{name}={value!r}: expected a number") from None
    if kind == "int":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ButlerError(f"{name}={value!r}: expected an integer") from None
        if number != int(number):
            raise ButlerError(f"{name}={value!r}: expected an integer")
        return int(number)
    if kind == "date":
        return _as_date(value, name)
    if kind == "tags":
        items = value.split(",") if isinstance(value, str) else list(value)
        return frozenset(str(t).strip().upper() for t in items if str(t).strip())
    if kind == "filename":
        return os.fspath(value) if isinstance(value, os.PathLike) else str(value).strip()
    return str(value).strip()


def _normalise_ids(ids: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{name: [accepted values]}``; unknown names raise with suggestions."""
    unknown = [n for n in ids if n not in ID_NAMES]
    if unknown:
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(name, ID_NAMES, n=2, cutoff=0.5)
            parts.append(f"{name!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
        raise ButlerError(f"unknown data id name {', '.join(parts)}; known: {', '.join(ID_NAMES)}",
                          ids=ids)
    result = {}
    for name, value in ids.items():
        if name != "tags" and isinstance(value, (list, tuple, set, frozenset)):
            if not value:
                raise ButlerError(f"{name}: an empty list matches nothing", ids=ids)
            result[name] = [_wanted_value(name, v) for v in value]
        else:
            result[name] = [_wanted_value(name, value)]
    return result


def _base_label(label: str) -> str:
    return _PRODUCT_LABEL.sub("", label)


def _matches_one(name: str, wanted: Any, entry: _Entry, workdir: Path) -> bool:
    kind = _MATCH_KIND.get(name, "text")
    if name == "filter_name" and wanted is not None:
        return str(wanted).lower() in entry.record.get("filter_forms", ())
    if kind == "tags":
        return wanted <= frozenset(entry.record["tags"])
    if kind == "filename":
        return _filename_matches(wanted, entry, workdir)
    stored = entry.ids.get(name)
    if wanted is None or stored is None:
        return wanted is None and stored is None
    if kind == "float":
        if not isinstance(stored, (int, float)):
            return False
        if wanted == 0:
            return stored == 0
        return abs(float(stored) - wanted) <= _RELATIVE_TOLERANCE * abs(wanted)
    if kind == "int":
        return isinstance(stored, (int, float)) and int(stored) == wanted
    if kind == "date":
        return str(stored) == wanted
    text, want = str(stored).strip().lower(), str(wanted).lower()
    if kind == "label":
        return want in (text, _base_label(text))
    if kind == "instrument":
        return want == text or want == str(instrument_family(str(stored)) or "").lower()
    if kind == "suffix":
        return want.lstrip("_") == text.lstrip("_")
    return text == want


def _filename_matches(wanted: str, entry: _Entry, workdir: Path) -> bool:
    paths = [entry.path, *entry.copies]
    if os.sep in wanted or (os.altsep and os.altsep in wanted):
        target = os.path.normpath(os.path.join(workdir, os.path.expanduser(wanted)))
        return any(os.path.normpath(p) == target for p in paths)
    return any(wanted in (os.path.basename(p), _stem(os.path.basename(p))) for p in paths)


def _entry_matches(ids: Mapping[str, list[Any]], entry: _Entry, workdir: Path) -> bool:
    return all(any(_matches_one(name, w, entry, workdir) for w in wanted)
               for name, wanted in ids.items())


def _closeness(wanted: Any, entry: _Entry, name: str) -> float:
    """How near a stored value is to the wanted one, 0 (unrelated) to 1, to rank near misses."""
    values = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
    if name == "filter_name":
        stored = entry.record.get("filter_forms") or [""]
    else:
        stored = [entry.ids.get(name)]
    best = 0.0
    for want in values:
        for have in stored:
            if isinstance(have, (int, float)) and isinstance(want, (int, float)):
                scale = max(abs(float(have)), abs(float(want))) or 1.0
                best = max(best, 1.0 - min(1.0, abs(float(have) - float(want)) / scale))
            elif have is not None and want is not None:
                best = max(best, difflib.SequenceMatcher(
                    None, str(have).lower(), str(want).lower()).ratio())
    return best


def _ids_text(ids: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in ids.items()) if ids else "no data id"


def _stored_text(name: str, entry: _Entry) -> str:
    if name == "tags":
        return " ".join(entry.record["tags"]) or "(none)"
    value = entry.ids.get(name)
    if name == "filter_name" and value is not None:
        pretty = entry.record.get("filter_pretty")
        if pretty and pretty != value:
            return f"{value!r} ({pretty})"
    return repr(value)


# -- loading ------------------------------------------------------------------------
@functools.cache
def objcat_column_descriptions() -> dict[str, str]:
    """``{column: description}`` of the OBJCAT columns, from ``gempy.library.detection``'s docs.

    The column table of that module's docstring is the single source; the
    Butler copies each description into the ``description`` of the column of
    a catalogue it returns (where the column has none).
    """
    from gempy.library import detection

    lines = (detection.__doc__ or "").splitlines()
    borders = [i for i, line in enumerate(lines) if re.fullmatch(r"=+ +=+", line.strip())]
    if len(borders) < 2:
        return {}
    first = re.match(r"\s*=+ +", lines[borders[0]])
    split = first.end() if first else 0
    descriptions: dict[str, str] = {}
    current: list[str] = []
    for line in lines[borders[0] + 1: borders[-1]]:
        if not line.strip() or re.fullmatch(r"[= ]+", line):
            continue
        names, text = line[:split].strip(), line[split:].strip()
        if names:
            current = [n.strip() for n in names.split(",") if n.strip()]
            # a row describing a pair says so, so each column's text stays true on its own
            lead = f"{', '.join(current)}: " if len(current) > 1 else ""
            for name in current:
                descriptions[name] = lead + text
        else:
            for name in current:
                descriptions[name] = f"{descriptions[name]} {text}".strip()
    return {name: text.replace("``", "") for name, text in descriptions.items()}


def _checked_ext(ad: Any, ext: Any, path: str) -> int:
    if isinstance(ext, bool) or not isinstance(ext, (int, np.integer)):
        raise ButlerError(f"{path}: ext={ext!r}: expected an extension index (int)")
    if not -len(ad) <= int(ext) < len(ad):
        raise ButlerError(f"{path}: ext={ext} is out of range: the file has {len(ad)}"
                          f" extension(s) (0 to {len(ad) - 1})")
    return int(ext) % len(ad)


def _catalog(ad: Any, index: int, path: str) -> Table | None:
    extension = ad[index]
    if "OBJCAT" not in extension.ext_tables:
        return None
    table = Table(extension.OBJCAT, copy=True)
    for name, text in objcat_column_descriptions().items():
        if name in table.colnames and not table[name].description:
            table[name].description = text
    table.meta["FILENAME"] = os.path.basename(path)
    table.meta["EXTENSION"] = index
    return table


def _load(ref: DataRef, variant: str, ext: Any, plane: str | None) -> Any:
    path = ref.path
    if variant == "catalog":
        variant = "src"
    if variant not in ("", "filename", "md", "src", "mask"):
        raise ButlerError(f"unknown variant {variant!r}: expected one of"
                          f" {', '.join(repr(v.lstrip('_')) for v in VARIANTS)}")
    if plane is not None and variant != "mask":
        raise ButlerError(f"plane={plane!r} only applies to the _mask variant")
    if variant == "filename":
        if ext is not None:
            raise ButlerError("ext= does not apply to the _filename variant")
        return path
    if plane is not None:
        try:
            DQ.plane(plane)
        except ValueError as exc:
            raise ButlerError(str(exc)) from None
    if not os.path.isfile(path):
        raise ButlerError(f"{path}: file no longer exists", dataset_type=ref.dataset_type)
    ad = astrodata.open(path)
    index = None if ext is None else _checked_ext(ad, ext, path)
    if variant == "":
        return ad if index is None else ad[index]
    if variant == "md":
        header = ad.phu if index is None else ad[index].hdr
        return fits.Header(header.cards)
    if variant == "src":
        indices = range(len(ad)) if index is None else [index]
        tables = [_catalog(ad, i, path) for i in indices]
        if all(t is None for t in tables):
            where = "" if index is None else f" extension {index}"
            raise ButlerError(f"{path}{where}: no OBJCAT source catalogue (detectSources makes"
                              " one)", dataset_type=ref.dataset_type)
        return tables[0] if index is not None or len(ad) == 1 else tables

    def one(extension: Any) -> Any:
        if plane is not None:
            return mask_plane(extension, plane)
        return None if extension.mask is None else np.asarray(extension.mask)

    if index is not None:
        return one(ad[index])
    return one(ad[0]) if len(ad) == 1 else [one(extension) for extension in ad]


# -- the Butler ---------------------------------------------------------------------
class Butler:
    """Raw frames, processed calibrations and science products of a working directory, by data id.

    Parameters
    ----------
    workdir : str or path
        The working directory (where ``reduce`` runs). Default: the current one.
    extra_dirs : iterable of paths
        More directories to walk (e.g. the tutorials' ``../playdata`` raw
        data); relative paths are taken from `workdir`.
    config_file : path, optional
        The calibration configuration, as ``reduce -c``; default: the one
        set by ``cal_service.set_calservice()``, else the usual search
        (``$DRAGONSRC``, ``~/.dragons/dragonsrc``, ...), evaluated as if in
        `workdir` (relative database paths and the default database
        ``calibrations/cal_manager.db`` are taken from `workdir`).
    databases : iterable of paths or LocalDB, optional
        Calibration databases to read instead of the configured ones; ``()``
        for none.
    cache : bool
        Keep the index in ``<workdir>/.reducecache/butler.json`` (default True).

    Raises
    ------
    ButlerError
        If `workdir` or an extra directory is not a directory.
    ConfigError
        If `config_file` is given and cannot be used.

    Notes
    -----
    The index is built on the first request and kept; :meth:`refresh` walks
    again (reading only new or changed files). A request that finds nothing,
    or whose file has since changed or disappeared, refreshes once by itself,
    so files written after the Butler was made are found.
    """

    def __init__(self, workdir: str | os.PathLike = ".", *,
                 extra_dirs: Iterable[str | os.PathLike] = (),
                 config_file: str | os.PathLike | None = None,
                 databases: Iterable[str | os.PathLike | LocalDB] | None = None,
                 cache: bool = True) -> None:
        self.workdir = Path(os.path.abspath(os.path.expanduser(os.fspath(workdir))))
        if not self.workdir.is_dir():
            raise ButlerError(f"{os.fspath(workdir)}: not a directory")
        self.extra_dirs = []
        for directory in extra_dirs:
            path = Path(os.path.normpath(self.workdir / os.path.expanduser(os.fspath(directory))))
            if not path.is_dir():
                raise ButlerError(f"{os.fspath(directory)}: not a directory")
            self.extra_dirs.append(path)
        self.index_file = self.workdir / INDEX_FILE
        self.cache = cache
        self.notes: list[str] = []
        self._config_file = (None if config_file is None else
                             os.path.abspath(os.path.expanduser(os.fspath(config_file))))
        self._database_arg = None if databases is None else list(databases)
        self._databases: list[LocalDB] | None = None
        self._entries: list[_Entry] | None = None

    def __repr__(self) -> str:
        return f"Butler({str(self.workdir)!r})"

    # -- calibration databases -------------------------------------------------------
    @property
    def databases(self) -> list[LocalDB]:
        """The calibration databases read (configured for `workdir`, or as given)."""
        if self._databases is None:
            self._databases = self._resolve_databases()
        return self._databases

    def _resolve_databases(self) -> list[LocalDB]:
        if self._database_arg is not None:
            return [db if isinstance(db, LocalDB) else LocalDB(db, get=True, store=False)
                    for db in self._database_arg]
        active = active_configuration() if self._config_file is None else None
        if active is not None:
            return [LocalDB(spec.location, get=True, store=False) for spec in active.get_databases]
        try:
            with contextlib.chdir(self.workdir):
                config = load_config(self._config_file)
        except ConfigError as exc:
            if self._config_file is not None:
                raise
            note = f"Calibration databases not read: {exc}"
            log.warning(note)
            self.notes.append(note)
            return []
        return [LocalDB(spec.location, get=True, store=False) for spec in config.get_databases]

    def _database_files(self) -> dict[str, set[str]]:
        """``{absolute path: {database names}}`` of the registered files that exist."""
        found: dict[str, set[str]] = {}
        for db in self.databases:
            try:
                if not db.exists():
                    continue
                rows = db.list_calibrations()
            except Exception as exc:  # noqa: BLE001 - a broken database must not stop browsing
                note = f"Calibration database {db.name} not read: {exc}"
                log.warning(note)
                self.notes.append(note)
                continue
            for row in rows:
                path = os.path.abspath(row.path)
                if os.path.isfile(path):
                    found.setdefault(path, set()).add(db.name)
        return found

    # -- the index ---------------------------------------------------------------------
    def _walk(self, top: Path) -> Iterator[os.DirEntry]:
        pending = [str(top)]
        while pending:
            directory = pending.pop()
            try:
                scanner = os.scandir(directory)
            except OSError as exc:
                log.warning("Butler: cannot list %s: %s", directory, exc.strerror)
                continue
            with scanner:
                for item in scanner:
                    if item.name.startswith("."):
                        continue
                    try:
                        if item.is_dir(follow_symlinks=False):
                            pending.append(item.path)
                        elif _is_fits_name(item.name) and item.is_file():
                            yield item
                    except OSError:
                        continue

    def _cache_key(self, path: str) -> str:
        try:
            return Path(path).relative_to(self.workdir).as_posix()
        except ValueError:
            return path

    def _load_cache(self) -> dict[str, Any]:
        if not self.cache:
            return {}
        try:
            with open(self.index_file, encoding="utf-8") as stream:
                payload = json.load(stream)
        except (OSError, ValueError):
            return {}
        if (not isinstance(payload, dict) or payload.get("format") != _INDEX_FORMAT
                or payload.get("version") != INDEX_VERSION
                or not isinstance(payload.get("files"), dict)):
            return {}
        return payload["files"]

    def _save_cache(self, files: dict[str, Any]) -> None:
        payload = {"format": _INDEX_FORMAT, "version": INDEX_VERSION,
                   "workdir": str(self.workdir), "files": files}
        directory = self.index_file.parent
        tmp = None
        try:
            directory.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".butler.", suffix=".tmp", dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(payload, stream, separators=(",", ":"))
            os.replace(tmp, self.index_file)
            tmp = None
        except OSError as exc:
            log.debug("Butler index not saved to %s: %s", self.index_file, exc)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def refresh(self) -> IndexSummary:
        """Walk the directories and databases again; read only new or changed files.

        Returns
        -------
        IndexSummary
            How many files are indexed, how many were read, how many came
            from the index file.
        """
        found: dict[str, tuple[os.stat_result, set[str]]] = {}
        for top in (self.workdir, *self.extra_dirs):
            for item in self._walk(top):
                try:
                    found[os.path.abspath(item.path)] = (item.stat(), {"directory"})
                except OSError:
                    continue
        for path, names in self._database_files().items():
            if path in found:
                found[path][1].update(names)
                continue
            try:
                found[path] = (os.stat(path), set(names))
            except OSError:
                continue
        cached = self._load_cache()
        files: dict[str, Any] = {}
        entries: list[_Entry] = []
        read = 0
        with _quiet_astrodata():
            for path in sorted(found):
                stat, origins = found[path]
                key = self._cache_key(path)
                item = cached.get(key)
                if (isinstance(item, dict) and item.get("size") == stat.st_size
                        and item.get("mtime_ns") == stat.st_mtime_ns
                        and isinstance(item.get("record"), dict)):
                    record = item["record"]
                else:
                    record = _index_record(path)
                    read += 1
                    if record["kind"] == "unreadable":
                        log.warning("Butler: %s cannot be read: %s", path, record["error"])
                files[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                              "record": record}
                entries.append(_Entry(path, stat.st_size, stat.st_mtime_ns, record, set(origins)))
        self._entries = self._merge_copies(entries)
        if self.cache and (read or set(files) != set(cached)):
            self._save_cache(files)
        log.debug("Butler index of %s: %d files, %d read", self.workdir, len(files), read)
        return IndexSummary(len(files), read, len(files) - read)

    def _merge_copies(self, entries: list[_Entry]) -> list[_Entry]:
        """One entry per product: copies (same name, label, mode and GEM-TLM) are folded."""
        groups: dict[tuple[Any, ...], list[_Entry]] = {}
        merged: list[_Entry] = []
        for entry in entries:
            if entry.kind in ("other", "unreadable"):
                merged.append(entry)
                continue
            # not the size: the copy reduce writes in the cwd also holds the
            # PROVENANCE/HISTORY tables added after the store primitive ran
            key = (entry.kind, os.path.basename(entry.path), entry.ids.get("data_label"),
                   entry.ids.get("procmode"), entry.record.get("gem_tlm"))
            groups.setdefault(key, []).append(entry)
        for group in groups.values():
            group.sort(key=self._preference)
            chosen = group[0]
            for other in group[1:]:
                chosen.copies.append(other.path)
                chosen.origins.update(other.origins)
            merged.append(chosen)
        merged.sort(key=lambda e: (e.record.get("ut_datetime") or "", os.path.basename(e.path),
                                   e.path))
        return merged

    def _preference(self, entry: _Entry) -> tuple[Any, ...]:
        registered = any(o != "directory" for o in entry.origins)
        parts = Path(entry.path).parts
        try:
            Path(entry.path).relative_to(self.workdir)
            inside = True
        except ValueError:
            inside = False
        return (not registered, "calibrations" not in parts, not inside, len(entry.path),
                entry.path)

    def _index(self) -> list[_Entry]:
        if self._entries is None:
            self.refresh()
        return self._entries or []

    # -- queries ---------------------------------------------------------------------
    def datasets(self) -> dict[str, int]:
        """``{dataset type: number of files}`` of the types present, in a fixed order."""
        counts = {name: 0 for name in DATASET_TYPES}
        for entry in self._index():
            if entry.kind in counts:
                counts[entry.kind] += 1
        return {name: n for name, n in counts.items() if n}

    def keys(self, dataset_type: str) -> list[str]:
        """The data id names that have a value for at least one file of `dataset_type`.

        Every name of :data:`ID_NAMES` is accepted by :meth:`get`; these are
        the ones that can tell files of this type apart here.
        """
        spec = parse_dataset_type(dataset_type)
        pool = self._pool(spec)
        names = [name for name in ID_NAMES if name not in ("filename", "tags")
                 and any(e.ids.get(name) is not None for e in pool)]
        return [*names, "filename", "tags"]

    def list(self, dataset_type: str, data_id: Mapping[str, Any] | None = None,
             /, **ids: Any) -> list[DataRef]:
        """Every file of `dataset_type` matching the data id, oldest first.

        Parameters
        ----------
        dataset_type : str
            A name of :data:`DATASET_TYPES` or :data:`ALIASES` (variants are
            accepted and ignored).
        data_id : mapping, optional
            Data id as a dict (HSC style); merged with `ids`.
        **ids
            Data id values (:data:`ID_NAMES`).
        """
        spec = parse_dataset_type(dataset_type)
        wanted = _normalise_ids(self._merge_ids(data_id, ids))
        return [e.ref() for e in self._pool(spec) if _entry_matches(wanted, e, self.workdir)]

    def ref(self, dataset_type: str, data_id: Mapping[str, Any] | None = None,
            /, **ids: Any) -> DataRef:
        """The one file of `dataset_type` matching the data id.

        Raises
        ------
        DatasetNotFoundError
            If none matches (the message names the nearest files and what differs).
        AmbiguousDataIdError
            If several match (the message names the ids that tell them apart).
        """
        spec = parse_dataset_type(dataset_type)
        return self._unique(spec, self._merge_ids(data_id, ids))

    def get(self, dataset_type: str, data_id: Mapping[str, Any] | None = None, /, *,
            ext: int | None = None, plane: str | None = None, **ids: Any) -> Any:
        """Load the one file of `dataset_type` matching the data id.

        Parameters
        ----------
        dataset_type : str
            ``raw``, ``processed_flat``, ... or an alias (``flat``, ``stack``,
            ``image``), optionally with a variant suffix: ``_filename`` (path),
            ``_md`` (header), ``_src``/``_catalog`` (OBJCAT Table), ``_mask``
            (DQ); ``src`` is ``processed_science_src``.
        data_id : mapping, optional
            Data id as a dict (HSC style); merged with `ids`.
        ext : int, optional
            0-based extension index: a single slice, that extension's header,
            catalogue or mask.
        plane : str, optional
            For ``_mask``: a DQ plane (``'CR'``, ``'BAD'``, ``'SAT'``,
            ``'cosmic_ray'``...); returns booleans instead of the DQ values.
        **ids
            Data id values (:data:`ID_NAMES`).

        Returns
        -------
        AstroData, str, astropy Header, Table (or list of them), ndarray (or list)
            Catalogues and masks of a file with several extensions come as a
            list in extension order (None where an extension has none) unless
            `ext` is given.

        Raises
        ------
        DatasetNotFoundError, AmbiguousDataIdError, ButlerError
        """
        spec = parse_dataset_type(dataset_type)
        ref = self._unique(spec, self._merge_ids(data_id, ids))
        return _load(ref, spec.variant, ext, plane)

    # -- internals of the queries --------------------------------------------------------
    @staticmethod
    def _merge_ids(data_id: Mapping[str, Any] | None, ids: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(data_id or {})
        for name, value in ids.items():
            if name in merged and merged[name] != value:
                raise ButlerError(f"{name} given twice: {merged[name]!r} and {value!r}", ids=ids)
            merged[name] = value
        return merged

    def _pool(self, spec: DatasetSpec) -> list[_Entry]:
        pool = [e for e in self._index() if e.kind == spec.base]
        if spec.suffix is not None:
            pool = [e for e in pool if e.ids.get("suffix") == spec.suffix]
        return pool

    def _unique(self, spec: DatasetSpec, ids: dict[str, Any]) -> DataRef:
        wanted = _normalise_ids(ids)
        fresh = self._entries is None
        for attempt in range(2):
            pool = self._pool(spec)
            matches = [e for e in pool if _entry_matches(wanted, e, self.workdir)]
            stale = any(not self._unchanged(e) for e in matches)
            if (not matches or stale) and attempt == 0 and not fresh:
                self.refresh()
                continue
            break
        if len(matches) == 1:
            return matches[0].ref()
        if not matches:
            raise self._not_found(spec, ids, wanted, pool)
        raise self._ambiguous(spec, ids, matches)

    @staticmethod
    def _unchanged(entry: _Entry) -> bool:
        try:
            stat = os.stat(entry.path)
        except OSError:
            return False
        return (stat.st_size, stat.st_mtime_ns) == (entry.size, entry.mtime_ns)

    def _shown(self, path: str) -> str:
        try:
            return Path(path).relative_to(self.workdir).as_posix()
        except ValueError:
            return path

    def _what(self, spec: DatasetSpec) -> str:
        return spec.base + (f" with suffix {spec.suffix}" if spec.suffix else "")

    def _where(self) -> str:
        places = [str(self.workdir), *(str(d) for d in self.extra_dirs)]
        databases = [db.name for db in self.databases]
        text = " and ".join(places)
        if databases:
            text += f" (databases: {', '.join(databases)})"
        return text

    def _not_found(self, spec: DatasetSpec, ids: dict[str, Any], wanted: dict[str, list[Any]],
                   pool: list[_Entry]) -> DatasetNotFoundError:
        what = self._what(spec)
        if not pool:
            present = self.datasets()
            held = (", ".join(f"{k} ({n})" for k, n in present.items()) if present
                    else "no raw frame or product")
            return DatasetNotFoundError(
                f"no {what} in {self._where()}; the index holds: {held}",
                dataset_type=spec.name, ids=ids)
        scored = []
        for entry in pool:
            differing = [name for name, values in wanted.items()
                         if not any(_matches_one(name, w, entry, self.workdir) for w in values)]
            closeness = sum(_closeness(ids[name], entry, name) for name in differing)
            scored.append((len(differing), -closeness, entry.record.get("ut_datetime") or "",
                           entry.path, entry, differing))
        scored.sort(key=lambda item: item[:4])
        # files that miss for the same reason are one line: "A.fits (and 8 like it)"
        groups: dict[str, list[_Entry]] = {}
        for *_, entry, differing in scored:
            reasons = "; ".join(f"{name} is {_stored_text(name, entry)}, not {ids[name]!r}"
                                for name in differing)
            groups.setdefault(reasons, []).append(entry)
        lines = [f"no {what} matches {_ids_text(ids)}; {len(pool)} {what} file(s) exist."
                 " Nearest:"]
        nearest = []
        for reasons, members in list(groups.items())[:_SHOWN_NEAREST]:
            more = f" (and {len(members) - 1} like it)" if len(members) > 1 else ""
            lines.append(f"  {self._shown(members[0].path)}{more}: {reasons}")
            nearest.append(members[0].ref())
        return DatasetNotFoundError("\n".join(lines), dataset_type=spec.name, ids=ids,
                                    candidates=nearest)

    def _ambiguous(self, spec: DatasetSpec, ids: dict[str, Any],
                   matches: list[_Entry]) -> AmbiguousDataIdError:
        def differs(name: str) -> bool:
            return len({_stored_text(name, e) for e in matches}) > 1

        distinguishing = [n for n in ID_NAMES if n not in ids and n != "tags" and differs(n)]
        useful = [n for n in distinguishing if n != "filename"] or distinguishing
        head = (f"{self._what(spec)} with {_ids_text(ids)} is ambiguous: {len(matches)} files"
                " match")
        if useful:
            head += f"; add one of these ids to choose: {', '.join(useful[:6])}"
        else:
            head += "; they differ only in their directory (give filename= a path)"
        lines = [head]
        shown = useful[:4]
        for entry in matches[:_SHOWN_CANDIDATES]:
            values = ", ".join(f"{n}={_stored_text(n, entry)}" for n in shown)
            lines.append(f"  {self._shown(entry.path)}" + (f": {values}" if values else ""))
        if len(matches) > _SHOWN_CANDIDATES:
            lines.append(f"  ... and {len(matches) - _SHOWN_CANDIDATES} more"
                         " (Butler.list gives them all)")
        return AmbiguousDataIdError("\n".join(lines), dataset_type=spec.name, ids=ids,
                                    candidates=[e.ref() for e in matches])
