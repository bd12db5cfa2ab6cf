"""PrimitivesBASE: the root of every primitive class and the runtime of ``@primitive``.

A primitive class is built from mix-ins (``primitives/core/``) and instrument
classes (``primitives/<inst>/``), all subclasses of :class:`PrimitivesBASE`::

    p = F2Image(adinputs, mode="sq", uparms={"addDQ:user_bpm": "bpm.fits"})
    p.prepare()                      # reads and writes p.streams["main"]
    p.stackFrames(stream="darks")    # another stream
    out = p.addVAR(some_ads)         # explicit inputs: returns, streams untouched

What the wrapper does on every call of a primitive (see :meth:`_call_primitive`):

1. Picks the inputs: ``adinputs`` if given, else ``p.streams[instream]``
   (``stream`` sets both ``instream`` and ``outstream``; default ``main``),
   deep-copied when ``instream != outstream``.
2. Resolves the parameters: defaults < recipe keywords < user ``-p`` values
   (a user value replacing a recipe value is logged); in nested calls the
   caller's keywords win over user values, except those addressed to the
   nested primitive by name (``stackSkyFrames:nlow``), which win (logged).
3. Logs ``PRIMITIVE: name`` and a dash underline at STATUS level and indents
   everything logged inside by one level.
4. ``skip_primitive=True`` passes the inputs through; otherwise calls the
   function with ``(adinputs, **params)``.
5. For top-level calls only (called from a recipe, not from another
   primitive): checks the output pixel types (data <= 32-bit, variance
   float32, mask uint8/uint16, OBJMASK 1 byte), adds a ``HISTORY`` row
   (primitive, parameters as JSON, start, stop) and ``PROVENANCE`` rows (md5
   of every input read from disk) to every output, and runs ``writeOutputs``
   when ``write_outputs=True``.
6. Stores the outputs in ``p.streams[outstream]`` (unless inputs were explicit)
   and returns them.

Timestamps are the primitive's own job: call :meth:`PrimitivesBASE.mark`
on each output it changed.

Execution hooks (set by the recipe system; None when the class is used alone):

* ``p.step_cache``: an object with ``run_step(p, call)`` and
  ``materialize(p)`` (``recipe_system.cache.StepCache``). Top-level calls on
  streams are handed to it: it reuses recorded results or runs the call with
  :meth:`PrimitivesBASE._run_call`. Reading ``p.streams`` first asks it to
  materialize results it has only recorded so far.
* ``p.executor``: an object with ``submit(fn, arg)``, ``as_completed(futures)``,
  ``max_workers`` and ``worthwhile(n_items, pixels_each, seconds_each)``
  (``seconds_each``: the time a file took last, or None)
  (``recipe_system.executors.LocalExecutor``). A top-level call of a primitive
  declared ``per_file=True`` with several inputs then runs each input in a
  worker process (:meth:`PrimitivesBASE.parallel_map`); so can any function a
  primitive maps with ``parallel_map``. AstroData go to and come back from the
  workers as files (``.reducecache/``), never as pickled pixels.
* Calibrations: during a top-level call ``p.caldb`` is wrapped so that every
  answer of ``get_calibrations`` is noted (:meth:`note_calibration`, which
  correction code may also call for calibrations found elsewhere); each one
  becomes a ``PROVENANCE`` row of the outputs made from that frame.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import ctypes
import ctypes.util
import datetime
import gc
import hashlib
import json
import logging
import os
import pickle
import sys
import tempfile
import time
import uuid
import warnings
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

import astrodata
from astrodata import provenance
from astrodata.fits import drop_clean_pages
from astrodata.timestamps import TIMESTAMP_KEYWORDS, mark_history
from gempy.utils import logutils
from primitives.errors import ParameterError, PrimitiveError
from primitives.params import (
    UNIVERSAL_PARAMS,
    PrimitiveDeclaration,
    UnknownParameterError,
    normalize_user_params,
    primitive_names,
    resolve_params,
    split_user_key,
    suggest,
    validate_user_params,
)

__all__ = [
    "CalibrationUse",
    "FileRef",
    "LogCapture",
    "PrimitiveCall",
    "PrimitivesBASE",
    "UnknownParameterError",
    "file_digest",
    "independent_copy",
    "is_large_frame",
    "normalize_ucals",
    "refer_to_file",
    "release_freed_memory",
    "replay_log",
    "write_exact",
    "write_scratch",
    "written_exactly",
]

_MD5_CHUNK = 1 << 22

#: Scratch directory (in the working directory) for AstroData sent to or from workers.
TRANSFER_DIR = os.path.join(".reducecache", "transfer")
#: PHU keyword holding the cache key of the content a file was written from.
KEY_KEYWORD = "REDKEY"
#: Its comment: short enough for the 40-character key and the comment to fit in one card.
KEY_COMMENT = "astroreduce cache key"


def normalize_ucals(ucals: Any) -> dict[str, str]:
    """User calibrations as ``{caltype: path}``.

    Accepts None, a dict, ``'caltype:path'`` strings or ``(caltype, path)``
    pairs. Calibration types without the ``processed_`` prefix (``bias``)
    get it.

    Raises
    ------
    ParameterError
        For an entry that is not ``caltype:path``.
    """
    if not ucals:
        return {}
    if isinstance(ucals, str):
        ucals = [ucals]
    items = ucals.items() if isinstance(ucals, Mapping) else ucals
    result: dict[str, str] = {}
    for entry in items:
        if isinstance(entry, str):
            caltype, sep, path = entry.partition(":")
            if not sep or not caltype.strip() or not path.strip():
                raise ParameterError(f"user calibration {entry!r} is not of the form "
                                     f"caltype:path (e.g. processed_bias:bias.fits)")
        else:
            caltype, path = entry
        caltype = str(caltype).strip()
        if not caltype.startswith("processed_") and caltype not in ("bpm", "mask"):
            caltype = f"processed_{caltype}"
        result[caltype] = str(path).strip().strip("'\"")
    return result


def independent_copy(ad: Any) -> Any:
    """A deep copy of `ad` whose pixel arrays share nothing with `ad`.

    Planes in memory are copied. Planes still in their file stay there: the
    copy maps the file again, copy-on-write (``FitsLazyArray.__deepcopy__``),
    so an in-place change of one object never shows in the other, and a copy
    of frames kept on disk (a stream read into another) costs no memory
    until its pixels are used.
    """
    return copy.deepcopy(ad)


def _load_libc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None     # not glibc: the allocator keeps what it keeps


_MALLOC_TRIM = _load_libc_trim()


def release_freed_memory(collect: bool = True) -> None:
    """Free unreachable objects now and give the freed heap back to the system.

    AstroData objects hold reference cycles (extensions and their parent), so
    the pixel arrays of a finished step may wait for the cyclic collector;
    and glibc keeps freed memory of small and medium blocks in its heap
    unless asked to trim it; and pages of memory-mapped files read by a step
    stay resident while their object lives. Between steps (and after each
    worker task) the memory a reduction holds is thus only what its live
    objects need. ``collect=False`` skips the collector (tens of ms with
    many objects alive), for use after each frame of a step.
    """
    if collect:
        gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    drop_clean_pages()


def _released_after_each(items: Iterable[Any]) -> Iterator[Any]:
    """`items`, with :func:`release_freed_memory` (without the collector) after each."""
    for item in items:
        yield item
        release_freed_memory(collect=False)


def refer_to_file(ad: Any, path: str | os.PathLike) -> bool:
    """Make `ad`'s pixel arrays the memory-mapped arrays of `path`, a file just written from it.

    The private copies are released; pages of the file are read (and count as
    resident) only while used, and the kernel may drop clean ones. The map is
    copy-on-write: changing the pixels later never changes the file. The file
    is mapped now, so deleting it afterwards (a superseded checkpoint) does
    not take the pixels away. Returns False (and leaves `ad` as it was) if
    the file does not hold the same planes.
    """
    on_disk = astrodata.open(os.fspath(path))
    if len(on_disk) != len(ad):
        return False
    pairs = [(ext.nddata, disk.nddata) for ext, disk in zip(ad, on_disk, strict=True)]
    if any(nd.shape != disk.shape for nd, disk in pairs):
        return False
    before = [(nd._data, nd._lazy_variance, nd._uncertainty, nd._mask) for nd, _ in pairs]
    try:
        for nd, disk in pairs:
            nd.adopt_file_arrays(disk)
    except ValueError:
        for (nd, _), (data, lazy_variance, uncertainty, mask) in zip(pairs, before, strict=True):
            nd._data, nd._lazy_variance, nd._uncertainty, nd._mask = \
                data, lazy_variance, uncertainty, mask
        return False
    for nd, _ in pairs:
        file = getattr(nd._data, "file", None)
        if file is not None:
            file.buffer()
    return True


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _jsonable(value: Any) -> Any:
    """A JSON-friendly form of a parameter value (AstroData -> its file name)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    filename = getattr(value, "filename", None)
    if isinstance(filename, str):
        return filename
    return repr(value)


def written_exactly(path: str | os.PathLike) -> bool:
    """False when the file holds only a FITS approximation of a gWCS (``FITS-WCS='APPROXIMATE'``).

    Such a file is not the object it was written from: it is not used as a
    checkpoint nor to bring a worker's result back.
    """
    ad = astrodata.open(os.fspath(path))
    for ext in ad:
        if str(ext.hdr.get("FITS-WCS", "")).strip().upper() == "APPROXIMATE":
            return False
    return True


def write_scratch(ad: Any, path: str | os.PathLike) -> str:
    """Write `ad` to `path` atomically (temporary file + rename) without ``fsync``.

    For checkpoints and files handed to workers: they survive the death of a
    process (the data are in the page cache) and are checked against their
    recorded checksum before use, so forcing them to disk (what ``ad.write``
    does for products) would only make a reduction wait for the disk. The
    object's ``path`` is left unchanged.
    """
    from astrodata.fits import to_hdulist

    target = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                               dir=directory)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            to_hdulist(ad).writeto(tmp, overwrite=True, output_verify="silentfix")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return target


def write_exact(ad: Any, path: str | os.PathLike) -> str | None:
    """Write `ad` to `path` (:func:`write_scratch`) and return the file's :func:`file_digest`.

    None (and no file) when FITS holds only an approximation of `ad`'s WCS
    (:func:`written_exactly`): such a file cannot stand for the object.
    """
    write_scratch(ad, path)
    if not written_exactly(path):
        os.unlink(path)
        return None
    return file_digest(path)


def file_digest(path: str | os.PathLike) -> str:
    """``crc32:<hex>:<size>`` of a file: the checksum of checkpoint and transfer files.

    It detects an incomplete or altered file (what the step cache must never
    trust) at several GB/s; identity of inputs uses MD5 (``PROVENANCE``).
    """
    crc = 0
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_MD5_CHUNK), b""):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return f"crc32:{crc:08x}:{size}"


class PrimitiveCall(NamedTuple):
    """One call of a primitive, its parameters resolved (what the step cache keys on)."""

    declaration: Any
    params: dict[str, Any]
    skip: bool
    write_outputs: bool
    instream: str
    outstream: str
    stream: str | None
    notes: tuple[str, ...]

    @property
    def name(self) -> str:
        """The primitive's name."""
        return self.declaration.name


class CalibrationUse(NamedTuple):
    """A calibration handed to a primitive for one frame (see ``note_calibration``).

    ``frame`` is the AstroData object (in a worker: the index of the task's
    input, or None); ``via_provider`` is True when ``p.caldb`` answered, so
    that asking it again later must give the same file.
    """

    frame: Any
    caltype: str
    procmode: str | None
    path: str | None
    origin: str | None
    via_provider: bool


class _RecordingProvider:
    """Wraps ``p.caldb`` during a top-level call, noting every calibration it returns."""

    def __init__(self, provider: Any, sink: list) -> None:
        self._provider = provider
        self._sink = sink

    def get_calibrations(self, adinputs: Any, caltype: str, procmode: str | None = None) -> Any:
        frames = [adinputs] if hasattr(adinputs, "phu") else list(adinputs)
        answer = self._provider.get_calibrations(frames, caltype, procmode=procmode)
        files = list(getattr(answer, "files", None) or [])
        origins = list(getattr(answer, "origins", None) or [None] * len(files))
        for ad, path, origin in zip(frames, files, origins, strict=False):
            self._sink.append(CalibrationUse(ad, caltype, procmode,
                                             None if path is None else os.fspath(path),
                                             origin, True))
        return answer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_provider", "_sink"):
            raise AttributeError(name)
        return getattr(self._provider, name)

    def __reduce__(self) -> tuple:
        # a worker gets the provider itself; it wraps it again for its own record
        return (_identity, (self._provider,))


def _identity(value: Any) -> Any:
    return value


def _unwrapped(provider: Any) -> Any:
    while isinstance(provider, _RecordingProvider):
        provider = provider._provider
    return provider


class FileRef(NamedTuple):
    """An AstroData sent between processes as a file: where it is and what to restore.

    ``path`` is the file to open; ``ad_path`` the ``ad.path`` the object had
    (its file name drives output naming); ``tables`` optional
    ``{name: [row, ...]}`` replacing ``HISTORY``/``PROVENANCE`` after opening
    (rows added after the file was written; ``PHU`` rows are ``[keyword,
    value]`` pairs set in the primary header); ``checksum`` the ``file_digest``.
    """

    path: str
    ad_path: str | None
    tables: dict[str, list] | None = None
    checksum: str | None = None

    def open(self) -> Any:
        """The AstroData object as it was when sent."""
        ad = astrodata.open(self.path)
        ad.path = self.ad_path
        for name, rows in (self.tables or {}).items():
            if name == "PHU":
                for keyword, value in rows:
                    ad.phu[keyword] = value
                continue
            columns = (provenance.HISTORY_COLUMNS if name == "HISTORY"
                       else provenance.PROVENANCE_COLUMNS)
            setattr(ad, name, _string_table([tuple(r) for r in rows], columns))
        return ad


def _string_table(rows: list[tuple], columns: tuple[str, ...]) -> Any:
    from astropy.table import Table

    if not rows:
        return Table(names=columns, dtype=[str] * len(columns))
    return Table(rows=rows, names=columns, dtype=[str] * len(columns))


def _pixels_unread(ad: Any) -> bool:
    try:
        return all(not ext.nddata.is_loaded() for ext in ad)
    except AttributeError:
        return False


#: Pixels in the outputs of a step beyond which the memory it freed is released at once.
RELEASE_MIN_PIXELS = 1 << 22
#: Pixels of an output from which :meth:`PrimitivesBASE.settle` puts it on disk during its step.
SETTLE_MIN_PIXELS = 1 << 20


def _holds_large_images(outputs: list) -> bool:
    total = 0
    for ad in outputs:
        with contextlib.suppress(AttributeError, TypeError):
            total += _pixel_count(ad)
    return total >= RELEASE_MIN_PIXELS


def is_large_frame(ad: Any) -> bool:
    """Whether `ad` has at least ``SETTLE_MIN_PIXELS`` pixels (its memory is worth managing)."""
    try:
        return _pixel_count(ad) >= SETTLE_MIN_PIXELS
    except (AttributeError, TypeError):
        return False


def _pixel_count(ad: Any) -> int:
    total = 0
    for ext in ad:
        total += int(np.prod(ext.nddata.shape, dtype=np.int64))
    return total


class _ParameterView(Mapping):
    """``p.params[name]``: defaults + user values for primitive `name`, resolved lazily."""

    def __init__(self, owner: PrimitivesBASE) -> None:
        self._owner = owner
        self._names = primitive_names(type(owner))

    def __getitem__(self, name: str) -> dict[str, Any]:
        if name not in self._names:
            raise KeyError(name)
        values, _ = self._owner._user_values(name)
        return values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class PrimitivesBASE:
    """Root of every primitive class.

    Parameters
    ----------
    adinputs : list of AstroData
        The inputs; they become ``streams['main']``.
    mode : {'sq', 'ql', 'qa'}
        Processing mode (science quality, quicklook, quality assessment).
    ucals : dict or list, optional
        User calibrations, ``{caltype: path}`` or ``'caltype:path'`` strings.
    uparms : dict, list or str, optional
        User parameters: ``{'prim:par': value}``, ``[('prim:par', value)]`` or
        ``['prim:par=value']``; a bare ``par`` applies to every primitive
        having it.
    config_file : str, optional
        Configuration file (dragonsrc) used by the calibration provider.
    caldb : object, optional
        The calibration provider (contracts.md §6); None means no database.
    jobs : int, optional
        Number of parallel workers per-file primitives may use.
    upload : object, optional
        Accepted for DRAGONS compatibility; not used.

    Attributes
    ----------
    streams : dict[str, list]
        Named lists of AstroData; ``main`` is the default stream.
    params : Mapping[str, dict]
        Resolved parameters (defaults + user values) per primitive.
    user_params : dict
        The user parameters as given (``'prim:par'`` or ``'par'`` keys).
    processed_filenames : list of str
        Files written by the ``storeProcessed*`` primitives.

    Raises
    ------
    primitives.params.UnknownParameterError
        A user parameter names an unknown primitive or parameter.
    primitives.errors.ParameterError
        A user value cannot be typed or is not allowed.
    """

    #: Tags a dataset must have for this class to be chosen (None on mix-ins).
    tagset: frozenset[str] | set[str] | None = None
    #: ``{primitive: {parameter: default}}`` overrides, merged along the MRO.
    param_defaults: dict[str, dict[str, Any]] = {}
    #: The step cache handling top-level calls (set by the recipe system), or None.
    step_cache: Any = None
    #: The process pool running per-file work (set by the recipe system), or None.
    executor: Any = None

    def __init__(self, adinputs: Iterable[Any] | None, mode: str = "sq", ucals: Any = None,
                 uparms: Any = None, config_file: str | None = None, caldb: Any = None,
                 jobs: int | None = None, upload: Any = None) -> None:
        if mode not in ("sq", "ql", "qa"):
            raise ParameterError(f"unknown processing mode {mode!r}; expected sq, ql or qa")
        self._streams: dict[str, list] = {"main": list(adinputs or [])}
        self.mode = mode
        self.ucals = normalize_ucals(ucals)
        self.config_file = config_file
        self.caldb = caldb
        self.jobs = jobs
        self.upload = upload
        self.processed_filenames: list[str] = []
        self.log = logutils.get_logger("primitives")
        self.user_params = normalize_user_params(uparms)
        validate_user_params(type(self), self.user_params)
        self.params = _ParameterView(self)
        self._call_stack: list[str] = []
        self._md5_cache: dict[tuple[str, int, int], str] = {}
        self._input_files: dict[int, tuple[weakref.ref, str]] = {}
        self._step_context: Any = None
        self._nested_names: set[str] = set()
        self._calibrations_used: list[CalibrationUse] = []
        #: files written to hand AstroData to or from workers (see parallel_map)
        self.transfer_files: list[str] = []
        for ad in self._streams["main"]:
            self.note_input_file(ad)

    @property
    def streams(self) -> dict[str, list]:
        """Named lists of AstroData (``main`` is the default stream).

        When the step cache has reused recorded results without loading them
        yet, reading this attribute loads them first.
        """
        cache = self.step_cache
        if cache is not None:
            cache.materialize(self)
        return self._streams

    @streams.setter
    def streams(self, value: dict[str, list]) -> None:
        self._streams = value

    def __reduce__(self) -> tuple:
        # What a worker process needs to run a primitive on one file: the
        # configuration, parameters, calibration provider and the call stack,
        # not the streams (files travel as paths, see parallel_map).
        skip = {"_streams", "_input_files", "_md5_cache", "log", "params", "step_cache",
                "executor", "_step_context", "_calibrations_used", "_nested_names",
                "transfer_files"}
        state = {k: v for k, v in vars(self).items() if k not in skip}
        state["caldb"] = _unwrapped(self.caldb)
        state["jobs"] = 1
        return (_rebuild_primitives, (type(self), state))

    def __getattr__(self, name: str) -> Any:
        # Only reached for missing attributes: make a recipe calling a primitive
        # this class does not have fail with a message naming the class.
        if name.startswith("_"):
            raise AttributeError(name)
        hints = suggest(name, primitive_names(type(self)))
        hint = ("; did you mean " + " or ".join(repr(h) for h in hints) + "?") if hints else ""
        raise AttributeError(f"{type(self).__name__} has no primitive {name!r}{hint}")

    # -- public helpers ---------------------------------------------------
    @property
    def adinputs(self) -> list:
        """The main stream."""
        return self.streams["main"]

    @property
    def timestamp_keys(self) -> dict[str, str]:
        """Primitive name -> PHU timestamp keyword (``astrodata.timestamps``)."""
        return TIMESTAMP_KEYWORDS

    def myself(self) -> str | None:
        """Name of the primitive currently running (the innermost one)."""
        return self._call_stack[-1] if self._call_stack else None

    def _already_done(self, ad: Any, name: str | None = None,
                      keyword: str | None = None) -> bool:
        """True (with a warning) if `ad` carries the timestamp of primitive `name`.

        `name` defaults to the running primitive; `keyword` gives the timestamp
        keyword of a primitive that is not in ``astrodata.timestamps``. A
        primitive that finds its own timestamp passes the frame through
        unchanged, as DRAGONS does.
        """
        name = name or self.myself()
        keyword = keyword or self.timestamp_keys.get(name)
        if keyword and keyword in ad.phu:
            self.log.warning(f"No changes will be made to {ad.filename}, since it has already "
                             f"been processed by {name}")
            return True
        return False

    def mark(self, ad: Any, keyword: str | None = None, comment: str | None = None) -> str:
        """Stamp the current primitive's timestamp keyword (and ``GEM-TLM``) on `ad`."""
        name = self.myself()
        if name is None:
            raise PrimitiveError("mark() must be called from inside a primitive")
        return mark_history(ad, primname=name, keyword=keyword, comment=comment)

    def progress(self, items: Iterable[Any], desc: str | None = None) -> Iterable[Any]:
        """Wrap a per-file loop with a progress bar on an interactive terminal.

        The bar (tqdm, an optional dependency) appears only when stderr is a
        TTY, the loop has more than one item and logging is not in quiet
        mode (logs and CI stay clean). For large frames, the memory each
        iteration freed, and the pages of memory-mapped files it read, are
        given back before the next one (:func:`release_freed_memory`): a loop
        over N frames read from their files then holds one of them at a time.
        """
        items = list(items)
        bar = self._progress_bar(len(items), desc or self.myself() or "", items)
        loop = items if bar is None else bar
        large = any(is_large_frame(ad) for ad in items)
        return _released_after_each(loop) if large else loop

    @staticmethod
    def _progress_bar(total: int, desc: str, items: list | None = None) -> Any:
        """A tqdm bar of `total` files (over `items` if given) on a terminal, else None."""
        if total < 2 or logutils.console_mode() == "quiet":
            return None
        try:
            interactive = sys.stderr.isatty()
        except (AttributeError, ValueError):
            interactive = False
        if not interactive:
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        return tqdm(items, total=total, desc=desc, unit="file", leave=False, file=sys.stderr)

    def note_calibration(self, ad: Any, caltype: str, path: str | None,
                         origin: str | None = None) -> None:
        """Record that `path` is the `caltype` calibration used for frame `ad`.

        Answers of ``p.caldb.get_calibrations`` are noted automatically during
        a top-level call; code finding a calibration elsewhere (a parameter,
        ``setCalibration``, ``--user_cal``) calls this so that the file gets a
        ``PROVENANCE`` row in the outputs made from `ad`.
        """
        self._calibrations_used.append(
            CalibrationUse(ad, caltype, None, None if path is None else os.fspath(path),
                           origin, False))

    def parallel_map(self, func: Callable[[Any], Any], adinputs: Sequence[Any],
                     desc: str | None = None) -> list:
        """``[func(ad) for ad in adinputs]``, in worker processes when worthwhile.

        Parameters
        ----------
        func : callable
            Takes one AstroData and returns a value (often an AstroData). It
            must be picklable: a module-level function, or a method of this
            primitive object (the object travels without its streams).
        adinputs : sequence of AstroData
        desc : str, optional
            Label of the progress bar (default: the current primitive).

        Returns
        -------
        list
            The results, in input order. AstroData inputs and results travel as
            files, so the pixels are the same as in a serial run.

        Notes
        -----
        Runs serially when ``p.executor`` is None, for fewer than two inputs,
        or when the executor judges the inputs too small to gain from workers.
        Log messages of the workers are shown in input order once all are done.
        """
        adinputs = list(adinputs)
        label = desc or getattr(func, "__qualname__", None) or type(func).__qualname__
        if not self._parallel_worthwhile(adinputs, label):
            start = time.perf_counter()
            results = [func(ad) for ad in adinputs]
            if len(adinputs) > 1:
                _SECONDS_PER_FILE[label] = (time.perf_counter() - start) / len(adinputs)
            return results
        return self._parallel_map(func, adinputs, label)

    def settle(self, ad: Any, index: int) -> bool:
        """Put `ad`, finished output number `index` of the running step, on disk now.

        A step whose results the step cache saves writes each large output
        where its checkpoint goes as soon as it is complete (as a worker
        does), and `ad` then refers to that file's copy-on-write map: its
        pixels stop being private memory, so a step producing many frames
        holds one at a time instead of all of them. The checkpoint is then
        not written again at the end of the step. Nothing happens (False)
        outside a top-level step that saves its results, for frames smaller
        than ``SETTLE_MIN_PIXELS``, or when FITS cannot hold `ad` exactly
        (a WCS without an exact FITS form): `ad` stays in memory, as before.
        Call it once the output will not change any more (after ``mark`` and
        ``update_filename``).
        """
        if not self._step_saves_results() or len(self._call_stack) != 1 \
                or not is_large_frame(ad):
            return False
        context = self._step_context
        path = context.object_target(index)[0]
        checksum = write_exact(ad, path)
        if checksum is None:
            return False
        context.register_result(ad, path, checksum)
        refer_to_file(ad, path)
        return True

    def _per_file_settled(self, call: _PerFileCall, adinputs: list) -> list:
        """A per-file step run here, input by input, each output settled at once (see settle)."""
        outputs = []
        began = time.perf_counter()
        # progress() gives the private pages of each settled frame back before the next
        for index, ad in enumerate(self.progress(adinputs, call.name)):
            out = call(ad)
            self.settle(out, index)
            outputs.append(out)
        _SECONDS_PER_FILE[call.name] = (time.perf_counter() - began) / len(adinputs)
        return outputs

    def _settles_per_file(self, adinputs: list) -> bool:
        """Whether a per-file step on `adinputs` run here is worth settling input by input."""
        if len(adinputs) < 2 or not self._step_saves_results():
            return False
        return any(is_large_frame(ad) for ad in adinputs)

    def _step_saves_results(self) -> bool:
        """Whether the step running now is one whose results the step cache saves."""
        context = self._step_context
        return context is not None and bool(getattr(context, "saves_results", False))

    def _release_idle_workers(self, adinputs: list) -> None:
        """Stop idle pool workers before a step that holds large frames (see executors)."""
        release = getattr(self.executor, "release_idle_workers", None)
        if release is not None and _holds_large_images(adinputs):
            release()

    def _parallel_worthwhile(self, adinputs: list, label: str) -> bool:
        """Whether the executor takes these inputs (their size, the time seen per file)."""
        executor = self.executor
        if executor is None or len(adinputs) < 2:
            return False
        pixels = max(_pixel_count(ad) for ad in adinputs)
        seconds = _SECONDS_PER_FILE.get(label)
        if self._step_saves_results():
            # the step cache saves inputs and results anyway: a worker reads the
            # input's checkpoint and writes its result where the checkpoint goes,
            # so the hand-over is mostly work the step does in any case and even
            # cheap per-file steps gain (only the image size counts then)
            seconds = None
        return executor.worthwhile(len(adinputs), pixels, seconds)

    @classmethod
    def primitive_names(cls) -> list[str]:
        """Names of every primitive of the class."""
        return primitive_names(cls)

    @classmethod
    def parameters(cls, name: str) -> dict[str, Any]:
        """Resolved ``Param`` declarations of primitive `name` (for ``showpars``)."""
        return resolve_params(cls, name)

    # -- parameter resolution -------------------------------------------
    def _user_values(self, name: str) -> tuple[dict[str, Any], dict]:
        """Defaults + user values for primitive `name`; also the user values alone."""
        decl = resolve_params(type(self), name)
        spec = {**decl, **UNIVERSAL_PARAMS}
        values = {par: p.default for par, p in spec.items()}
        user: dict[str, Any] = {}
        # bare keys first so that a 'prim:par' key wins over a bare 'par'
        for key in sorted(self.user_params, key=lambda k: ":" in k):
            prim, par = split_user_key(key)
            if prim not in (None, name) or par not in spec:
                continue
            user[par] = spec[par].convert(self.user_params[key], name, par)
        values.update(user)
        return values, user

    def _resolve_call(self, name: str, kwargs: dict[str, Any], top_level: bool
                      ) -> tuple[dict[str, Any], list[str]]:
        """Parameters of one call and the messages about user values replacing recipe ones."""
        cls = type(self)
        spec = {**resolve_params(cls, name), **UNIVERSAL_PARAMS}
        recipe_values = {}
        for par, value in kwargs.items():
            if par not in spec:
                hints = suggest(par, spec)
                hint = ("; did you mean " + " or ".join(repr(h) for h in hints) + "?") \
                    if hints else ""
                raise UnknownParameterError(f"primitive {name} has no parameter {par!r}{hint}",
                                            primitive=name, parameter=par, suggestions=hints)
            recipe_values[par] = spec[par].convert(value, name, par)
        values, user = self._user_values(name)
        notes = []
        if top_level:
            for par, value in recipe_values.items():
                if par in user:
                    if user[par] != value:
                        notes.append(f"User value {par}={user[par]!r} replaces the recipe "
                                     f"value {par}={value!r}")
                else:
                    values[par] = value
        else:
            # a user value addressed to this primitive by name (-p stackSkyFrames:nlow=0)
            # wins over the value the calling primitive passes (skyCorrect passes them all)
            named = {par for prim, par in map(split_user_key, self.user_params) if prim == name}
            for par, value in recipe_values.items():
                if par in named and par in user:
                    if user[par] != value:
                        notes.append(f"User value {name}:{par}={user[par]!r} replaces the "
                                     f"value {par}={value!r} passed by the calling primitive")
                else:
                    values[par] = value
        return values, notes

    # -- the primitive wrapper ------------------------------------------
    def _call_primitive(self, declaration: PrimitiveDeclaration, args: tuple,
                        kwargs: dict[str, Any]) -> list:
        name = declaration.name
        kwargs = dict(kwargs)
        if len(args) > 1:
            raise TypeError(f"{name}() takes the input list as its only positional argument")
        adinputs = args[0] if args else kwargs.pop("adinputs", None)
        stream = kwargs.pop("stream", None)
        instream = kwargs.pop("instream", None) or stream or "main"
        outstream = kwargs.pop("outstream", None) or stream or "main"
        top_level = not self._call_stack
        params, notes = self._resolve_call(name, kwargs, top_level)
        skip = params.pop("skip_primitive")
        write_outputs = params.pop("write_outputs")
        call = PrimitiveCall(declaration, params, skip, write_outputs, instream, outstream,
                             stream, tuple(notes))
        if not top_level:
            self._nested_names.add(name)
        if adinputs is not None:
            adinputs = [adinputs] if hasattr(adinputs, "phu") else list(adinputs)
        elif top_level and self.step_cache is not None:
            return self.step_cache.run_step(self, call)
        return self._run_call(call, adinputs)

    def _log_title(self, name: str) -> None:
        title = f"PRIMITIVE: {name}"
        self.log.status(title)
        self.log.status("-" * len(title))

    def _run_call(self, call: PrimitiveCall, adinputs: list | None = None) -> list:
        """Run one call: streams, logging, the function, provenance, ``write_outputs``."""
        declaration, name, params = call.declaration, call.name, call.params
        instream, outstream = call.instream, call.outstream
        top_level = not self._call_stack
        explicit = adinputs is not None
        if not explicit:
            adinputs = list(self._streams.get(instream, []))
            if instream != outstream:
                adinputs = [independent_copy(ad) for ad in adinputs]

        depth = len(self._call_stack)
        self._log_title(name)
        logutils.update_indent(depth + 1)
        for note in call.notes:
            self.log.stdinfo(note)
        self._call_stack.append(name)
        provider = self.caldb
        if top_level:
            self._calibrations_used = []
            if provider is not None:
                self.caldb = _RecordingProvider(_unwrapped(provider), self._calibrations_used)
        try:
            if call.skip:
                self.log.stdinfo(f"Skipping {name} (skip_primitive=True)")
                outputs = adinputs
            else:
                inputs_on_disk = self._snapshot_inputs(adinputs) if top_level else []
                start = _utc_now()
                per_file = top_level and declaration.runs_per_file(params)
                if per_file and self._parallel_worthwhile(adinputs, name):
                    outputs = self._parallel_map(_PerFileCall(self, name, params), adinputs,
                                                 name)
                elif per_file and self._settles_per_file(adinputs):
                    outputs = self._per_file_settled(_PerFileCall(self, name, params), adinputs)
                else:
                    if top_level and not per_file:
                        self._release_idle_workers(adinputs)
                    began = time.perf_counter()
                    outputs = declaration.function(self, adinputs, **params)
                    if per_file and len(adinputs) > 1:
                        _SECONDS_PER_FILE[name] = (time.perf_counter() - began) / len(adinputs)
                stop = _utc_now()
                if outputs is None:
                    raise PrimitiveError(f"primitive {name} returned None instead of a list")
                outputs = [outputs] if hasattr(outputs, "phu") else list(outputs)
                if top_level:
                    self._check_output_types(name, outputs)
                    record = {k: _jsonable(v) for k, v in params.items()}
                    if call.stream or instream != "main" or outstream != "main":
                        record.update(instream=instream, outstream=outstream)
                    self._record_provenance(name, record, start, stop, adinputs, outputs,
                                            inputs_on_disk)
                    if call.write_outputs:
                        self._write_after(outputs)
        finally:
            self._call_stack.pop()
            logutils.update_indent(depth)
            if top_level:
                self.caldb = provider
        self.log.status(".")
        if not explicit:
            self._streams[outstream] = outputs
        if top_level and _holds_large_images(outputs):
            # the replaced stream and the step's temporaries go now, not at the next
            # collection (which costs tens of ms: only worth it for large images)
            del adinputs
            release_freed_memory()
        return outputs

    # -- work in worker processes -------------------------------------------
    def _transfer(self, ad: Any) -> Any:
        """What a worker gets for `ad`: the object itself if no pixel was read, else a file."""
        if _pixels_unread(ad):
            return ad
        cache = self.step_cache
        ref = cache.file_for(self, ad) if cache is not None else None
        if ref is not None:
            return ref
        directory = os.path.join(os.getcwd(), TRANSFER_DIR)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{uuid.uuid4().hex}.fits")
        write_scratch(ad, path)
        self.transfer_files.append(path)
        return FileRef(path, ad.path)

    def _result_target(self, index: int) -> tuple[str, str | None]:
        """(file, cache key) where the worker writes the AstroData result of input `index`."""
        context = self._step_context
        target = context.object_target(index) if context is not None else None
        if target is not None:
            return target
        directory = os.path.join(os.getcwd(), TRANSFER_DIR)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{uuid.uuid4().hex}.fits")
        self.transfer_files.append(path)
        return path, None

    def _parallel_map(self, func: Callable, adinputs: list, desc: str | None) -> list:
        executor = self.executor
        level = logging.getLogger().getEffectiveLevel()
        depth = logutils.current_indent()
        tasks = []
        for index, ad in enumerate(adinputs):
            path, key = self._result_target(index)
            tasks.append(_ParallelTask(func, self._transfer(ad), path, key, depth, level,
                                       os.getcwd()))
        futures = [executor.submit(_run_parallel_task, task) for task in tasks]
        if getattr(executor, "main_works", False):
            self._work_alongside(futures, tasks, getattr(executor, "pool_size", 1))
        bar = self._progress_bar(len(futures), desc or self.myself() or "parallel")
        for _ in executor.as_completed(futures):
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        results = [future.result() for future in futures]
        if desc:
            _SECONDS_PER_FILE[desc] = sum(r.seconds for r in results) / len(results)
        outputs = []
        context = self._step_context
        for index, result in enumerate(results):
            replay_log(result.log, depth)
            self._nested_names.update(result.nested)
            if result.error is not None:
                raise result.error
            value = result.value
            if isinstance(value, FileRef):
                ref, value = value, value.open()
                if context is not None and ref.checksum is not None:
                    context.register_result(value, ref.path, ref.checksum)
            frame = value if hasattr(value, "phu") else adinputs[index]
            for use in result.calibrations:
                self._calibrations_used.append(use._replace(
                    frame=frame if use.frame == 0 else None))
            outputs.append(value)
        return outputs

    def _work_alongside(self, futures: list, tasks: list, n_workers: int) -> None:
        """Run here, from the last, the tasks no worker has started (``executor.main_works``).

        A task is taken only if its future can still be cancelled (no worker
        has it); its result replaces the future. The workers take tasks from
        the front (the first `n_workers` are always theirs), so both ends
        meet: the machine's cores work without one more worker process and
        its memory.
        """
        for index in range(len(futures) - 1, n_workers - 1, -1):
            if not futures[index].cancel():
                continue
            done: concurrent.futures.Future = concurrent.futures.Future()
            done.set_result(self._run_task_here(tasks[index]))
            futures[index] = done

    def _run_task_here(self, task: _ParallelTask) -> _TaskResult:
        """Run a worker's task in this process, exactly as a worker would.

        The task works on its own copy of the input (the step's input objects
        stay as they are, and the copy's pixels go with the task); its log is
        kept for the in-order replay and not shown now; the state a worker
        task sets on its primitive object is restored afterwards.
        """
        source = task.source
        if not isinstance(source, FileRef):
            task = task._replace(source=independent_copy(source))
        root = logging.getLogger()
        handlers = list(root.handlers)
        saved = (self.caldb, self._calibrations_used, self._nested_names,
                 list(self._call_stack))
        for handler in handlers:
            root.removeHandler(handler)
        self._call_stack.clear()
        try:
            return _run_parallel_task(task)
        finally:
            for handler in handlers:
                root.addHandler(handler)
            self.caldb, self._calibrations_used, self._nested_names, stack = saved
            self._call_stack[:] = stack

    def _write_after(self, outputs: list) -> None:
        writer = getattr(self, "writeOutputs", None)
        if writer is not None:
            self._call_stack.append("write_outputs")
            try:
                writer(outputs)
            finally:
                self._call_stack.pop()
        else:
            for ad in outputs:
                ad.write(overwrite=True)

    # -- provenance -------------------------------------------------------
    def _md5(self, path: str) -> str | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._md5_cache:
            digest = hashlib.md5(usedforsecurity=False)
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(_MD5_CHUNK), b""):
                    digest.update(chunk)
            self._md5_cache[key] = digest.hexdigest()
        return self._md5_cache[key]

    def note_input_file(self, ad: Any) -> None:
        """Remember that `ad` holds the content of the file at ``ad.path`` as read.

        Called for the initial inputs and by primitives that reopen files
        (flushPixels, getList); the next top-level primitive records the md5
        of such files in PROVENANCE.
        """
        path = getattr(ad, "path", None)
        if path and os.path.isfile(path):
            self._input_files[id(ad)] = (weakref.ref(ad), path)

    def _snapshot_inputs(self, adinputs: list) -> list[tuple[Any, str, str | None]]:
        """(ad, filename, md5) for each input; md5 only for unchanged files read from disk."""
        snapshot = []
        for ad in adinputs:
            entry = self._input_files.get(id(ad))
            md5 = None
            if entry is not None and entry[0]() is ad and entry[1] == getattr(ad, "path", None):
                md5 = self._md5(entry[1])
                # recorded once, by the first top-level primitive that sees the file
                del self._input_files[id(ad)]
            snapshot.append((ad, getattr(ad, "filename", None), md5))
        return snapshot

    def _record_provenance(self, name: str, record: dict, start: str, stop: str,
                           inputs: list, outputs: list, snapshot: list) -> None:
        args = json.dumps(record, sort_keys=True)
        by_id = {id(ad): (ad, fname, md5) for ad, fname, md5 in snapshot}
        for out in outputs:
            if id(out) in by_id:
                sources = [by_id[id(out)]]
            elif len(outputs) < len(inputs):
                # fewer outputs than inputs: a combination (stack) of all of them
                sources = snapshot
            else:
                # a copy of one input: found by its original file name
                orig = getattr(out, "orig_filename", None)
                sources = [s for s in snapshot if orig and
                           getattr(s[0], "orig_filename", None) == orig] or snapshot
            for src, _fname, _md5 in sources:
                if src is not out:
                    tables = getattr(src, "tables", set())
                    if "PROVENANCE" in tables:
                        provenance.clone_provenance(src.PROVENANCE, out)
                    if "HISTORY" in tables:
                        provenance.clone_history(src.HISTORY, out)
            for _src, fname, md5 in sources:
                if md5 is not None:
                    provenance.add_provenance(out, fname, md5, name)
            for path in self._calibration_files_for(out, inputs, outputs):
                md5 = self._md5(path)
                if md5 is not None:
                    provenance.add_provenance(out, os.path.basename(path), md5, name)
            provenance.add_history(out, name, args, start, stop)

    def _calibration_files_for(self, out: Any, inputs: list, outputs: list) -> list[str]:
        """Calibration files noted during this call for the frames `out` was made from."""
        files = []
        combined = len(outputs) < len(inputs)
        orig = getattr(out, "orig_filename", None)
        for use in self._calibrations_used:
            if use.path is None or not isinstance(use.path, str):
                continue
            frame = use.frame
            if frame is out or combined or frame is None or (
                    orig and getattr(frame, "orig_filename", None) == orig
                    and all(frame is not o for o in outputs)):
                if use.path not in files:
                    files.append(use.path)
        return files

    # -- output checks ----------------------------------------------------
    def _check_output_types(self, name: str, outputs: list) -> None:
        """Refuse outputs whose pixel planes have a type the data model does not allow.

        Data at most 32 bits, variance float32, mask uint8/uint16, OBJMASK one
        byte. Planes still waiting to be read from their file are not loaded
        for this (the file's types were checked when it was written).
        """
        for ad in outputs:
            if not hasattr(ad, "phu"):
                raise PrimitiveError(f"primitive {name} returned {type(ad).__name__}, "
                                     f"not AstroData")
            for index, ext in enumerate(ad):
                problem = _pixel_type_problem(ext.nddata)
                if problem:
                    raise PrimitiveError(f"{name}: {ad.filename} extension {index + 1}: "
                                         f"{problem}")


def _pixel_type_problem(nd: Any) -> str | None:
    """What is wrong with the pixel types of one extension (None if nothing)."""
    data_type = np.dtype(nd.dtype)
    if data_type.kind in "fc" and data_type.itemsize > 4 or \
            data_type.kind in "iu" and data_type.itemsize > 4:
        return f"data have type {data_type} (at most 32 bits allowed)"
    if not nd.is_loaded():
        return None
    variance = nd.variance
    # float32 in either byte order: planes mapped from a file keep its big-endian order
    if variance is not None and np.asarray(variance).dtype.newbyteorder("=") != np.float32:
        return f"variance has type {np.asarray(variance).dtype} (float32 required)"
    mask = nd.mask
    if mask is not None and (mask.dtype.kind != "u" or mask.dtype.itemsize > 2):
        return f"mask has type {mask.dtype} (uint16 required)"
    objmask = nd.meta.get("other", {}).get("OBJMASK")
    if isinstance(objmask, np.ndarray) and objmask.dtype.itemsize != 1:
        return f"OBJMASK has type {objmask.dtype} (one byte required)"
    return None


# -- worker side of parallel_map ---------------------------------------------------
def _rebuild_primitives(cls: type, state: dict) -> PrimitivesBASE:
    """A primitive object in a worker process (see ``PrimitivesBASE.__reduce__``)."""
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    obj._streams = {"main": []}
    # a plain logger: get_logger would give the worker its own console
    obj.log = logging.getLogger("primitives")
    obj.params = _ParameterView(obj)
    obj._md5_cache = {}
    obj._input_files = {}
    obj._step_context = None
    obj._nested_names = set()
    obj._calibrations_used = []
    obj.transfer_files = []
    return obj


class _PerFileCall:
    """Run primitive `name` of `primitives` on one input (the per-file worker task)."""

    def __init__(self, primitives: PrimitivesBASE, name: str, params: dict[str, Any]) -> None:
        self.primitives = primitives
        self.name = name
        self.params = params

    def __call__(self, ad: Any) -> Any:
        p = self.primitives
        declaration = getattr(type(p), self.name)._primitive
        outputs = declaration.function(p, [ad], **self.params)
        outputs = [outputs] if hasattr(outputs, "phu") else list(outputs or [])
        if len(outputs) != 1:
            raise PrimitiveError(f"{self.name} is declared per_file but returned "
                                 f"{len(outputs)} outputs for {ad.filename}")
        return outputs[0]


class _ParallelTask(NamedTuple):
    func: Callable
    source: Any
    target: str
    key: str | None
    depth: int
    level: int
    cwd: str


class _TaskResult(NamedTuple):
    value: Any
    log: list[dict]
    nested: set[str]
    calibrations: list[CalibrationUse]
    error: BaseException | None
    seconds: float = 0.0


#: Seconds a file that primitives (and parallel_map labels) took, as last seen in
#: this process: the executor sends work to workers only when it takes longer
#: than handing the file over.
_SECONDS_PER_FILE: dict[str, float] = {}


class LogCapture(logging.Handler):
    """Keeps log records as plain dicts (text, level, nesting) to be shown by another process.

    ``exclude`` names top-level logger names not kept (e.g. ``distributed``).
    """

    def __init__(self, exclude: Sequence[str] = ()) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[dict] = []
        self.exclude = tuple(exclude)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in self.exclude:
            return
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        data = {key: value for key, value in vars(record).items()
                if isinstance(value, (str, int, float, bool)) and key not in _RECORD_SKIP}
        data.update(name=record.name, levelno=record.levelno, levelname=record.levelname,
                    msg=message, indent=logutils.current_indent())
        self.records.append(data)


#: LogRecord attributes not carried to another process (rebuilt or meaningless there).
_RECORD_SKIP = frozenset({"msg", "args", "exc_info", "exc_text", "stack_info", "message",
                          "asctime"})


def replay_log(records: list[dict], depth: int = 0) -> None:
    """Emit the records of a worker in this process, at their nesting levels."""
    previous = logutils.current_indent()
    try:
        for data in records:
            logutils.update_indent(data["indent"])
            fields = {k: v for k, v in data.items() if k != "indent"}
            record = logging.makeLogRecord({**fields, "args": None})
            logger = logging.getLogger(data["name"])
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
    finally:
        logutils.update_indent(previous if previous is not None else depth)


def _run_parallel_task(task: _ParallelTask) -> _TaskResult:
    """Worker side of ``parallel_map``: open the input, run, write an AstroData result."""
    try:
        return _run_task_in_worker(task)
    finally:
        # a pool worker lives on: what the task needed must not stay resident
        release_freed_memory()


def _run_task_in_worker(task: _ParallelTask) -> _TaskResult:
    root = logging.getLogger()
    capture = LogCapture()
    old_level = root.level
    try:
        old_cwd: str | None = os.getcwd()
    except OSError:
        old_cwd = None
    # a pool outlives the directory it was started in: work where the parent works
    os.chdir(task.cwd)
    root.addHandler(capture)
    root.setLevel(task.level)
    previous_indent = logutils.update_indent(task.depth)
    owner = getattr(task.func, "primitives", None) or getattr(task.func, "__self__", None)
    if not isinstance(owner, PrimitivesBASE):
        owner = None
    calibrations: list[CalibrationUse] = []
    if owner is not None:
        owner._calibrations_used = calibrations
        owner._nested_names = set()
        if owner.caldb is not None:
            owner.caldb = _RecordingProvider(_unwrapped(owner.caldb), calibrations)
    value: Any = None
    error: BaseException | None = None
    ad: Any = None
    seconds = 0.0
    try:
        ad = task.source.open() if isinstance(task.source, FileRef) else task.source
        pushed = False
        if owner is not None and isinstance(task.func, _PerFileCall):
            owner._call_stack.append(task.func.name)
            pushed = True
        began = time.perf_counter()
        try:
            value = task.func(ad)
        finally:
            seconds = time.perf_counter() - began
            if pushed:
                owner._call_stack.pop()
        if hasattr(value, "phu"):
            checksum = write_exact(value, task.target)
            if checksum is not None:        # else sent back whole: a file would lose its WCS
                value = FileRef(task.target, value.path, None, checksum)
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        error = exc
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)
        logutils.update_indent(previous_indent)
        if old_cwd is not None and os.path.isdir(old_cwd):
            os.chdir(old_cwd)
    frames = [use._replace(frame=0 if ad is not None and use.frame is ad else None)
              for use in calibrations]
    nested = set(owner._nested_names) if owner is not None else set()
    if error is not None:
        try:
            pickle.dumps(error)
        except Exception:  # noqa: BLE001 - an unpicklable error still reaches the parent
            error = PrimitiveError(f"{type(error).__name__}: {error}")
    return _TaskResult(value, capture.records, nested, frames, error, seconds)
