"""The step cache: recorded results of top-level primitive calls, reused when nothing changed.

Every top-level call of a primitive on the streams of a reduction is a *step*.
Its key is a hash of everything the result depends on:

* the content keys of every object in every stream before the step (a raw
  input file's key is made of its name and MD5 checksum; an object made by a
  step has a key derived from that step's key and its position), so keys chain
  from the raw files through the recipe;
* the primitive, the primitive class and its resolved parameters (a parameter
  naming a file contributes the file's checksum; an AstroData parameter its
  content key), the streams used and the reduction mode;
* the user calibrations (``--user_cal``, with checksums) and any other state
  the primitive object keeps (e.g. ``setCalibration`` pins);
* the package version and a fingerprint of the source files of the primitive
  class and its bases (so an edited development tree does not reuse results).

What the step depended on *while running* is recorded and checked again
before a record is reused: the calibrations the provider returned (asked
again for the same frames: same file, same checksum), the files named by
noted calibrations (same checksum) and the user values of the primitives it
called (nested calls). A processed calibration stored again from unchanged
inputs (every re-run's ``storeProcessed*``) differs only by the time stamps
in its primary header: the same ``REDKEY`` and the same bytes after the
primary header count as the same calibration.

The journal lives in ``./.reducecache/``::

    steps/ab/abcd....json    one record per step key (written atomically, last)
    objects/ab/abcd....fits  checkpoints: the objects a step produced
    products/....json        the key and checksum of each final product written

Checkpoints roll: when a step ends, its new objects are saved, so the latest
state of every stream is always on disk. Which of them are *kept* after a
later step supersedes them is a policy (``checkpoint_min_seconds``, ``[reduce]
checkpoint_min_seconds`` in the configuration): by default (``'auto'``) those
of steps that took longer than saving them takes (counting the rolling steps
before them), with a number those of steps that took at least that many
seconds (``0`` keeps every step). A superseded checkpoint that is not kept is
deleted once the next step's record is on disk (its own record stays). Kept
too, whatever the policy: the objects a step asked the calibration provider
about (checking that step's record later asks again, from their headers) and
the inputs of a step that always runs (``cacheable=False``: ``flushPixels``,
``store*``...), which every re-run needs.

A step is *reused* when ``reprocess`` is ``auto`` or ``never``, its record
exists and is still valid: nothing is loaded then. Reused results are
*materialized* (their checkpoint files opened, each one's checksum checked
against the journal) only when something needs the objects: a step that
must run, a primitive with side effects (``cacheable=False``), the recipe
reading ``p.streams``, or the final products. A checkpoint that is missing or
whose checksum differs is never trusted: the latest state that can be loaded
is used and the steps after it run again. So:

* ``kill -9`` in the middle of a ``reduce`` costs only the step that was
  running: the state before it is the latest one, always saved. Files are
  written atomically (temporary file + rename, no ``fsync``); a step's record
  is written (and ``fsync``-ed) after its checkpoints, and superseded
  checkpoints are deleted only after that.
* An unchanged re-run loads nothing (every record is valid, the products are
  up to date), whatever was deleted.
* Changing a parameter of step *k* (or anything its key depends on) reloads
  the state before *k* if it is still on disk (the last state of a
  reduction, a kept step, or a frame the provider was asked about), else the
  nearest kept state before it (or the raw files), and runs again the
  rolling steps between that state and *k* (status ``rerun``), then *k* and
  what follows. With ``checkpoint_min_seconds = 0`` nothing before *k* is
  run again.

The cache only grows when something changes (a checkpoint is stored under
its content key, so an unchanged step run again replaces its own files);
delete ``.reducecache/`` to reclaim the space of old variants.

``reprocess``: ``auto`` (default) reuses valid records and recomputes the
rest; ``always`` recomputes every step (and records them again); ``never``
reuses like ``auto`` but makes the recipe system refuse to overwrite an
existing final product that was not made from the same key
(:meth:`StepCache.check_product`).

The primitives reach this module only through the hooks of
:class:`primitives.base.PrimitivesBASE` (``p.step_cache``).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import logging
import os
import queue
import sys
import tempfile
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import astrodata
from gempy.utils import logutils
from primitives.base import (
    KEY_COMMENT,
    KEY_KEYWORD,
    FileRef,
    PrimitiveCall,
    file_digest,
    is_large_frame,
    refer_to_file,
    release_freed_memory,
    write_scratch,
    written_exactly,
)
from recipe_system.errors import ReduceError

__all__ = [
    "ALWAYS_RUN",
    "CACHE_DIRNAME",
    "FORMAT",
    "REPROCESS_MODES",
    "ObjectInfo",
    "StepCache",
    "StepReport",
    "code_fingerprint",
    "file_key",
    "package_version",
]

log = logging.getLogger("recipe_system.cache")

#: Name of the cache directory in the working directory.
CACHE_DIRNAME = ".reducecache"
#: Version of the record format (part of every key).
FORMAT = 1
#: Values of the ``reprocess`` setting.
REPROCESS_MODES = ("auto", "always", "never")

#: Built-in primitives acting outside their outputs, always run even when not
#: declared ``cacheable=False`` (plus every ``store*`` primitive).
ALWAYS_RUN = frozenset({
    "writeOutputs", "flushPixels", "addToList", "getList", "setCalibration",
})

#: Attributes of a primitive object that are not "state" for the key (they are
#: covered elsewhere or do not change results).
_FRAMEWORK_ATTRIBUTES = frozenset({
    "_streams", "mode", "ucals", "config_file", "caldb", "jobs", "upload",
    "processed_filenames", "log", "user_params", "params", "_call_stack", "_md5_cache",
    "_input_files", "_step_context", "_nested_names", "_calibrations_used", "step_cache",
    "executor", "transfer_files",
})

_KEY_LENGTH = 40


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:_KEY_LENGTH]


def package_version() -> str:
    """The installed astroreduce version."""
    try:
        from importlib.metadata import version

        return version("astroreduce")
    except Exception:  # noqa: BLE001 - a source tree without metadata
        return astrodata.__version__


_FINGERPRINTS: dict[type, str] = {}


def code_fingerprint(cls: type) -> str:
    """Package version + SHA-1 of the source files of `cls` and its bases."""
    cached = _FINGERPRINTS.get(cls)
    if cached is not None:
        return cached
    digest = hashlib.sha1(package_version().encode(), usedforsecurity=False)
    files = set()
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__)
        path = getattr(module, "__file__", None)
        if path and klass.__module__ != "builtins":
            files.add(path)
    for path in sorted(files):
        try:
            with open(path, "rb") as handle:
                digest.update(handle.read())
        except OSError:
            digest.update(path.encode())
    _FINGERPRINTS[cls] = digest.hexdigest()
    return _FINGERPRINTS[cls]


def file_key(name: str, md5: str) -> str:
    """Content key of an object read from a file: its base name and MD5 checksum."""
    return _hash({"file": os.path.basename(name), "md5": md5})


def _derived_key(step_key: str, where: str, index: int) -> str:
    return _hash({"step": step_key, "where": where, "index": index})


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


class _Uncacheable(Exception):
    """A step whose key cannot be computed (an input of unknown content)."""


def _write_json(path: str, data: Any, fsync: bool = False) -> None:
    """Write JSON atomically (temporary file in the same directory + rename).

    With `fsync`, the file is forced to disk before the rename (a step
    record: after a power cut, a record on disk names checkpoints whose
    checksums are checked before use, so those need no ``fsync`` of their own).
    """
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=1, sort_keys=True, default=str)
            if fsync:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return None


@dataclass
class ObjectInfo:
    """How to load one object of a recorded state.

    Attributes
    ----------
    key : str
        The content key.
    file : str or None
        The checkpoint (relative to the cache directory) or, for an input
        file, its absolute path; None when the object was not saved.
    checksum : str or None
        ``crc32:...`` of a checkpoint (``file_digest``), ``md5:...`` of an input file.
    ad_path : str or None
        ``ad.path`` of the object (its name drives output naming).
    orig_filename : str or None
        ``ORIGNAME`` (to know without loading whether it was renamed).
    tables : dict or None
        ``HISTORY``/``PROVENANCE`` rows replacing the file's after loading
        (rows added after a worker wrote the file).
    """

    key: str
    file: str | None = None
    checksum: str | None = None
    ad_path: str | None = None
    orig_filename: str | None = None
    tables: dict[str, list] | None = None

    @property
    def filename(self) -> str | None:
        """Base name of ``ad_path``."""
        return None if self.ad_path is None else os.path.basename(self.ad_path)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "file": self.file, "checksum": self.checksum,
                "ad_path": self.ad_path, "orig_filename": self.orig_filename,
                "tables": self.tables}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectInfo:
        return cls(data["key"], data.get("file"), data.get("checksum"), data.get("ad_path"),
                   data.get("orig_filename"), data.get("tables"))


@dataclass
class StepReport:
    """One line of the summary: what happened to a step of the recipe."""

    index: int
    primitive: str
    status: str          # ran, reused, rerun (reused then needed again), always, skipped
    files: int
    seconds: float
    recorded_seconds: float | None = None
    key: str | None = None
    saving_seconds: float = 0.0      # writing its checkpoints (foreground writer)


@dataclass
class _State:
    """A state of the streams: objects (deduplicated by identity) and their keys."""

    streams: dict[str, list[int]]
    keys: list[str | None]
    objects: list[Any] = field(default_factory=list)    # real objects (empty if virtual)

    @property
    def complete(self) -> bool:
        return all(k is not None for k in self.keys)

    def describe(self) -> dict[str, Any]:
        return {"streams": self.streams, "keys": self.keys}


@dataclass
class _Pending:
    """A reused step whose result has not been loaded yet."""

    call: PrimitiveCall
    key: str
    record: dict[str, Any]
    report: StepReport


class _StepContext:
    """What a running step offers the wrapper (``p._step_context``): where workers write."""

    def __init__(self, cache: StepCache, key: str | None) -> None:
        self.cache = cache
        self.key = key
        self.files: dict[int, tuple[weakref.ref, str, str]] = {}

    def object_target(self, index: int) -> tuple[str, None] | None:
        # The key of a result is known only after the step (it includes what
        # the step used): a worker's file is named after the step key and the
        # input, so running the same step again replaces it (the cache does
        # not grow); a record naming the replaced file no longer matches its
        # checksum and is simply not reused.
        if self.key is None:
            return None
        path = self.cache._object_path(_derived_key(self.key, "worker", index))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path, None

    @property
    def saves_results(self) -> bool:
        """Whether the step's results are saved as checkpoints (a recorded step).

        Its inputs are then checkpoints already (no file to write for a
        worker) and a worker writes its result where the checkpoint goes
        (nothing written here after the step): the hand-over costs little
        more than reading the input, and per-file work gains from workers
        however cheap it is (measured: benchmarks/bench_rerun.py).
        """
        return self.key is not None

    def register_result(self, ad: Any, path: str, checksum: str) -> None:
        """`ad` was opened from `path` (checksum `checksum`), written by a worker."""
        self.files[id(ad)] = (weakref.ref(ad), os.path.abspath(path), checksum)


class _DeferredOutputs(Sequence):
    """The return value of a reused step: loaded when first used."""

    def __init__(self, cache: StepCache, p: Any, keys: list[str]) -> None:
        self._cache = cache
        self._p = p
        self._keys = keys
        self._items: list | None = None

    def _resolve(self) -> list:
        if self._items is None:
            self._items = self._cache._objects_for_keys(self._p, self._keys)
        return self._items

    def __getitem__(self, index):  # type: ignore[override]
        return self._resolve()[index]

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._resolve())

    def __eq__(self, other: object) -> bool:
        return list(self._resolve()) == other

    def __repr__(self) -> str:
        return f"<reused outputs: {len(self._keys)} object(s)>"


class _Writer:
    """Runs the recording jobs of the steps (step records, deletions) in one thread, in order.

    The checkpoints themselves are written when their step ends (no copy is
    kept for this thread). At most one job waits while another runs;
    ``submit`` blocks beyond that. A failure is logged (the step is then
    simply not recorded).
    """

    def __init__(self, background: bool = True) -> None:
        self.background = background
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        if not self.background:
            self._run_one(job)
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="astroreduce-checkpoints",
                                            daemon=True)
            self._thread.start()
        self._queue.put(job)

    @staticmethod
    def _run_one(job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as exc:  # noqa: BLE001 - a cache failure must not stop a reduction
            log.warning(f"step cache: could not save a step ({type(exc).__name__}: {exc}); "
                        f"it will be recomputed next time")

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._run_one(job)
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.join()

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._thread = None


class StepCache:
    """Reuse and record the steps of one reduction (one primitive object).

    Parameters
    ----------
    directory : str, optional
        The cache directory (default ``./.reducecache`` of the working directory).
    reprocess : {'auto', 'always', 'never'}
        See the module docstring.
    checkpoint_min_seconds : float or 'auto'
        Which saved step outputs are *kept* once a later step supersedes
        them (the latest state is always saved: see the module docstring).
        ``'auto'`` (default): those of a step that took longer than saving
        them would (estimated from the write speed seen so far, counting the
        rolling steps since the last kept state), so that cheap steps cost
        no disk space and are redone, in seconds, only when a changed later
        step needs their result; expensive steps are never redone. A number:
        the outputs of steps that took at least this many seconds; 0 keeps
        every step (no completed step is ever redone, at the price of about
        the size of the inputs on disk per step). Every step is recorded
        whatever the policy.
    background : bool
        Write the step records in a background thread, overlapping the next
        steps; :meth:`close` waits for them (the checkpoints are written when
        their step ends either way: a copy for a background writer would
        double the memory of the frames). Off by default: the FITS writing is
        mostly Python work, which competes with the primitives for the
        interpreter.

    Attributes
    ----------
    reports : list of StepReport
        What happened to each step, for the summary table.
    """

    def __init__(self, directory: str | os.PathLike | None = None, reprocess: str = "auto",
                 checkpoint_min_seconds: float | str = "auto",
                 background: bool = False) -> None:
        if reprocess not in REPROCESS_MODES:
            raise ReduceError(f"reprocess={reprocess!r}: expected one of "
                              f"{', '.join(REPROCESS_MODES)}")
        self.directory = os.path.abspath(os.fspath(directory) if directory is not None
                                         else os.path.join(os.getcwd(), CACHE_DIRNAME))
        self.reprocess = reprocess
        if checkpoint_min_seconds != "auto":
            try:
                checkpoint_min_seconds = float(checkpoint_min_seconds)
            except (TypeError, ValueError):
                raise ReduceError(f"checkpoint_min_seconds={checkpoint_min_seconds!r}: "
                                  f"expected a number of seconds or 'auto'") from None
        self.checkpoint_min_seconds = checkpoint_min_seconds
        self.reports: list[StepReport] = []
        self._pending: list[_Pending] = []
        self._keys: dict[int, tuple[weakref.ref, str]] = {}
        self._info: dict[str, ObjectInfo] = {}
        self._verified: dict[tuple[str, int, int], str] = {}
        self._records: list[dict[str, Any]] = []
        self._materializing = False
        self._writer = _Writer(background)
        self._deleter = _Writer(background=True)
        #: time to recompute the current state from the last kept one ('auto' policy)
        self._unsaved_seconds = 0.0
        #: rolling checkpoints written by this reduction, deleted once superseded: key -> file
        self._rolling: dict[str, str] = {}
        #: keys whose rolling checkpoint was deleted (saved again if they come back)
        self._deleted: set[str] = set()

    def remove_stale_temporaries(self, older_than: float = 600.0) -> int:
        """Delete temporary files of writes interrupted long ago (a killed run); return how many.

        Every file of the cache is written under a hidden temporary name and
        renamed when complete; one older than `older_than` seconds belongs to
        a process that died while writing (a live writer's file is recent).
        """
        removed = 0
        limit = time.time() - older_than
        for sub in ("objects", "steps", "products", "transfer", "replay"):
            for root, _, names in os.walk(os.path.join(self.directory, sub)):
                for name in names:
                    if name.startswith(".") and ".tmp" in name:
                        path = os.path.join(root, name)
                        with contextlib.suppress(OSError):
                            if os.stat(path).st_mtime < limit:
                                os.unlink(path)
                                removed += 1
        return removed

    def files_in_use(self) -> set[str]:
        """The checkpoint files of the objects this reduction made or reused (absolute paths)."""
        used = {self._absolute(info.file) for info in self._info.values() if info.file}
        for record in self._records:
            for obj in record.get("after", {}).get("objects", []):
                if obj.get("file"):
                    used.add(self._absolute(obj["file"]))
        return used

    def prune(self, max_bytes: int, keep: set[str] = frozenset(),
              min_age: float = 600.0) -> tuple[int, int]:
        """Delete the least recently used checkpoints until ``objects/`` holds at most `max_bytes`.

        Files in `keep` (absolute paths: those of the reduction just run) and
        files used less than `min_age` seconds ago (those of reductions
        running at the same time in this cache) are never deleted. A
        checkpoint is "used" when written or reused (its access time is set
        then). The step records stay: a step whose checkpoint is gone is
        simply computed again when next needed. Returns (files deleted,
        bytes freed).
        """
        recent = time.time() - min_age
        files = []
        total = 0
        for root, _, names in os.walk(os.path.join(self.directory, "objects")):
            for name in names:
                if name.startswith("."):
                    continue
                path = os.path.join(root, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                total += stat.st_size
                used = max(stat.st_atime, stat.st_mtime)
                if path not in keep and used < recent:
                    files.append((used, stat.st_size, path))
        removed = freed = 0
        for _, size, path in sorted(files):
            if total <= max_bytes:
                break
            try:
                os.unlink(path)
            except OSError:
                continue
            total -= size
            removed += 1
            freed += size
        return removed, freed

    def load_checksums(self, p: Any) -> None:
        """Give `p` the MD5 checksums computed by earlier runs of files unchanged since.

        A file is known by its path, size and modification time (in ns), as
        ``make`` or ``git`` know them: an input file rewritten since has
        another modification time and is read again.
        """
        memo = _read_json(os.path.join(self.directory, "checksums.json")) or {}
        for path, (size, mtime_ns, md5) in memo.items():
            p._md5_cache.setdefault((path, int(size), int(mtime_ns)), md5)

    def save_checksums(self, p: Any) -> None:
        """Keep the MD5 checksums `p` computed (of files that still exist unchanged)."""
        path = os.path.join(self.directory, "checksums.json")
        memo = _read_json(path) or {}
        changed = False
        for (name, size, mtime_ns), md5 in p._md5_cache.items():
            try:
                stat = os.stat(name)
            except OSError:
                continue
            if (stat.st_size, stat.st_mtime_ns) == (size, mtime_ns) and \
                    memo.get(name) != [size, mtime_ns, md5]:
                memo[name] = [size, mtime_ns, md5]
                changed = True
        if changed:
            try:
                _write_json(path, memo)
            except OSError as exc:       # only a speed-up for the next run
                log.debug("checksum memo not written: %s", exc)

    # -- paths ---------------------------------------------------------------
    def _object_path(self, key: str) -> str:
        return os.path.join(self.directory, "objects", key[:2], f"{key}.fits")

    def _record_path(self, key: str) -> str:
        return os.path.join(self.directory, "steps", key[:2], f"{key}.json")

    def _product_path(self, target: str) -> str:
        digest = hashlib.sha1(os.path.abspath(target).encode(), usedforsecurity=False)
        return os.path.join(self.directory, "products",
                            f"{os.path.basename(target)}.{digest.hexdigest()[:12]}.json")

    def _relative(self, path: str) -> str:
        return os.path.relpath(path, self.directory)

    def _absolute(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.directory, path)

    # -- keys of live objects ---------------------------------------------------
    def key_of(self, p: Any, ad: Any) -> str | None:
        """The content key of a live object of `p` (None if unknown)."""
        entry = self._keys.get(id(ad))
        if entry is not None and entry[0]() is ad:
            return entry[1]
        noted = p._input_files.get(id(ad))
        path = getattr(ad, "path", None)
        if noted is not None and noted[0]() is ad and noted[1] == path:
            md5 = p._md5(path)
            if md5 is not None:
                key = file_key(path, md5)
                self._set_key(ad, key)
                self._info.setdefault(key, ObjectInfo(
                    key, os.path.abspath(path), f"md5:{md5}", path, ad.orig_filename))
                return key
        return None

    def _set_key(self, ad: Any, key: str) -> None:
        self._keys[id(ad)] = (weakref.ref(ad), key)

    def _live_state(self, p: Any) -> _State:
        streams: dict[str, list[int]] = {}
        objects: list[Any] = []
        index_of: dict[int, int] = {}
        for name in sorted(p._streams):
            positions = []
            for ad in p._streams[name]:
                if id(ad) not in index_of:
                    index_of[id(ad)] = len(objects)
                    objects.append(ad)
                positions.append(index_of[id(ad)])
            streams[name] = positions
        return _State(streams, [self.key_of(p, ad) for ad in objects], objects)

    def _current_state(self, p: Any) -> _State:
        if self._pending:
            after = self._pending[-1].record["after"]
            return _State({k: list(v) for k, v in after["streams"].items()},
                          [o["key"] for o in after["objects"]])
        return self._live_state(p)

    # -- the step key -------------------------------------------------------------
    def _canonical(self, p: Any, value: Any, strict: bool) -> Any:
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            if value and os.path.isfile(value):
                return {"file": os.path.basename(value), "md5": p._md5(value)}
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return {"array": hashlib.sha1(np.ascontiguousarray(value).tobytes(),
                                          usedforsecurity=False).hexdigest(),
                    "dtype": str(value.dtype), "shape": list(value.shape)}
        if isinstance(value, os.PathLike):
            return self._canonical(p, os.fspath(value), strict)
        if hasattr(value, "phu"):
            key = self.key_of(p, value)
            if key is None:
                if strict:
                    raise _Uncacheable(f"{getattr(value, 'filename', value)} has no known "
                                       f"content")
                return {"astrodata": getattr(value, "filename", None)}
            return {"astrodata": key}
        if isinstance(value, (list, tuple)):
            return [self._canonical(p, v, strict) for v in value]
        if isinstance(value, (set, frozenset)):
            return sorted((self._canonical(p, v, strict) for v in value), key=repr)
        if isinstance(value, dict):
            return {str(k): self._canonical(p, v, strict) for k, v in value.items()}
        if strict:
            raise _Uncacheable(f"a value of type {type(value).__name__}")
        return {"type": f"{type(value).__module__}.{type(value).__qualname__}"}

    def _instance_state(self, p: Any) -> dict[str, Any]:
        # empty values count as absent: a primitive may create its (empty) state
        # lazily, and a reused step does not run to create it
        return {name: self._canonical(p, value, strict=False)
                for name, value in sorted(vars(p).items())
                if name not in _FRAMEWORK_ATTRIBUTES
                and not (value is None or (isinstance(value, (dict, list, set, tuple))
                                           and not value))}

    def _step_key(self, p: Any, call: PrimitiveCall, state: _State) -> str | None:
        if not state.complete:
            return None
        cls = type(p)
        try:
            params = self._canonical(p, call.params, strict=True)
        except _Uncacheable as exc:
            log.debug("%s: not cached: %s", call.name, exc)
            return None
        payload = {
            "format": FORMAT,
            "code": code_fingerprint(cls),
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "primitive": call.name,
            "params": params,
            "streams": {"in": call.instream, "out": call.outstream, "given": call.stream},
            "mode": p.mode,
            "ucals": self._canonical(p, dict(p.ucals), strict=False),
            "state": self._instance_state(p),
            "inputs": state.describe(),
        }
        return _hash(payload)

    @staticmethod
    def _cacheable(call: PrimitiveCall) -> bool:
        name = call.name
        declaration = call.declaration
        reusable = declaration.reusable(call.params) if hasattr(declaration, "reusable") \
            else bool(getattr(declaration, "cacheable", True))
        return (reusable and name not in ALWAYS_RUN
                and not name.startswith("store") and not call.skip and not call.write_outputs)

    # -- running a step ---------------------------------------------------------------
    def run_step(self, p: Any, call: PrimitiveCall) -> Any:
        """Reuse the recorded result of `call` or run it (``PrimitivesBASE`` hook)."""
        state = self._current_state(p)
        key = self._step_key(p, call, state)
        cacheable = self._cacheable(call)
        n_files = len(state.streams.get(call.instream, []))
        if key is not None and cacheable and self.reprocess != "always":
            record = _read_json(self._record_path(key))
            if record is not None and record.get("format") == FORMAT \
                    and self._still_valid(p, record, state):
                report = StepReport(len(self.reports) + 1, call.name, "reused", n_files, 0.0,
                                    record.get("seconds"), key)
                self.reports.append(report)
                self._pending.append(_Pending(call, key, record, report))
                self._records.append(record)
                saved = all(o.get("file") and os.path.isfile(self._absolute(o["file"]))
                            for o in record["after"]["objects"])
                self._unsaved_seconds = 0.0 if saved else \
                    self._unsaved_seconds + float(record.get("seconds") or 0.0)
                p._log_title(call.name)
                previous = logutils.update_indent(logutils.current_indent() + 1)
                p.log.stdinfo(f"Reused the result recorded {record.get('created', '')} "
                              f"(inputs, parameters and code unchanged; key {key[:12]})")
                logutils.update_indent(previous)
                p.log.status(".")
                after = record["after"]
                outs = [after["objects"][i]["key"] for i in after["streams"][call.outstream]]
                return _DeferredOutputs(self, p, outs)
        self.materialize(p)
        status = "ran" if cacheable else ("skipped" if call.skip else "always")
        report = StepReport(len(self.reports) + 1, call.name, status, n_files, 0.0, None, key)
        self.reports.append(report)
        return self._execute(p, call, key, cacheable, report)

    def _execute(self, p: Any, call: PrimitiveCall, key: str | None, cacheable: bool,
                 report: StepReport) -> list:
        before = self._live_state(p)
        if key is None:
            key = self._step_key(p, call, before)
        report.key = key
        if not cacheable:
            # what a side-effect step writes (a calibration copy, a list) says what it holds
            for ad, obj_key in zip(before.objects, before.keys, strict=True):
                if obj_key is not None:
                    ad.phu[KEY_KEYWORD] = (obj_key, KEY_COMMENT)
                    # a step that always runs needs this state on every re-run: kept
                    self._rolling.pop(obj_key, None)
        context = _StepContext(self, key)
        p._step_context = context
        p._nested_names = set()
        start = time.perf_counter()
        try:
            outputs = p._run_call(call)
        finally:
            p._step_context = None
        seconds = time.perf_counter() - start
        report.seconds = seconds
        uses = self._calibration_record(p, call, before)
        nested = {name: self._canonical(p, p._user_values(name)[1], strict=False)
                  for name in sorted(p._nested_names)}
        # what the step turned out to depend on while running is part of its result
        result_key = None if key is None or uses is None else _hash({
            "step": key, "nested": nested,
            "calibrations": [[u["frame"], u["caltype"], u["path"], u["md5"]] for u in uses]})
        after = self._assign_keys(p, call, result_key, before, outputs)
        if result_key is not None and cacheable and after.complete:
            # frames the provider was asked about: a reused record is checked by
            # asking again, which needs their headers (see _still_valid)
            asked = {before.keys[u["frame"]] for u in uses
                     if u.get("via_provider") and u.get("frame") is not None}
            start = time.perf_counter()
            self._record(p, call, key, after, context, seconds, uses, nested, asked)
            report.saving_seconds = time.perf_counter() - start
        return outputs

    def _assign_keys(self, p: Any, call: PrimitiveCall, key: str | None, before: _State,
                     outputs: list) -> _State:
        """Give content keys to the objects after a step; return the new live state.

        Outputs get keys derived from the step key and their position; so do
        the objects the step received (it may have changed them in place; a
        step reading ``instream`` into another stream received copies) and any
        new object in another stream. Other objects keep their keys.
        """
        received = set() if call.instream != call.outstream else {
            id(ad) for ad in _stream_objects(before, call.instream)}
        done = set()
        for index, ad in enumerate(outputs):
            if id(ad) not in done:
                self._assign_one(p, ad, key, "out", index)
                done.add(id(ad))
        for name in sorted(p._streams):
            for index, ad in enumerate(p._streams[name]):
                if id(ad) in done:
                    continue
                entry = self._keys.get(id(ad))
                if entry is not None and entry[0]() is ad and id(ad) not in received:
                    continue
                self._assign_one(p, ad, key, name, index)
                done.add(id(ad))
        return self._live_state(p)

    def _assign_one(self, p: Any, ad: Any, key: str | None, where: str, index: int) -> None:
        noted = p._input_files.get(id(ad))
        if noted is not None and noted[0]() is ad and noted[1] == getattr(ad, "path", None):
            self._keys.pop(id(ad), None)
            if self.key_of(p, ad) is not None:
                return
        if key is None:
            self._keys.pop(id(ad), None)
            return
        self._set_key(ad, _derived_key(key, where, index))

    # -- recording --------------------------------------------------------------------
    def _record(self, p: Any, call: PrimitiveCall, key: str, after: _State,
                context: _StepContext, seconds: float, uses: list[dict[str, Any]],
                nested: dict[str, Any], asked: set[str | None] = frozenset()) -> None:
        """Save the new objects of a step, write its record, drop superseded rolling checkpoints.

        Every new object is saved (the latest state of every stream is on
        disk when a step ends, so a crash never loses a completed step). Those
        of a step the policy does not keep (:meth:`_worth_keeping`) are
        *rolling*: deleted once they are superseded, i.e. once a later step's
        record is on disk and they are no longer in any stream. Their records
        stay, so an unchanged re-run still walks the chain of keys. Objects a
        step asked the calibration provider about are kept (checking a record
        asks again, from their headers).
        """
        keep = self._worth_keeping(after, seconds)
        for obj_key in asked:
            self._rolling.pop(obj_key, None)
        current = set(after.keys)
        superseded = [path for obj_key, path in self._rolling.items() if obj_key not in current]
        for obj_key in [k for k in self._rolling if k not in current]:
            del self._rolling[obj_key]
            self._deleted.add(obj_key)
        infos, jobs = [], []
        for ad, obj_key in zip(after.objects, after.keys, strict=True):
            info = self._info.get(obj_key)
            if info is None or info.file is None or obj_key in self._deleted:
                self._deleted.discard(obj_key)
                info, job = self._checkpoint(ad, obj_key, context)
                if job is not None:
                    jobs.append(job)
                if info.file is not None and not keep and obj_key not in asked:
                    self._rolling[obj_key] = self._absolute(info.file)
            infos.append(info)
        record = {
            "format": FORMAT, "key": key, "primitive": call.name,
            "class": f"{type(p).__module__}.{type(p).__qualname__}",
            "version": package_version(),
            "params": self._canonical(p, call.params, strict=False),
            "instream": call.instream, "outstream": call.outstream,
            "created": _utc_now(), "seconds": round(seconds, 6),
            "calibrations": uses, "nested": nested, "kept": keep,
        }
        self._records.append(record)

        def finish() -> None:
            # the record is written last: a step is in the journal only once all
            # its checkpoints are complete on disk
            for job in jobs:
                job()
            _write_json(self._record_path(key), {
                **record, "after": {"streams": after.streams,
                                    "objects": [info.as_dict() for info in infos]}},
                fsync=True)
            if superseded:
                # freeing the pages of large files takes tens of ms each: not
                # on the reduction's path (a file left by a crash is only space)
                self._deleter.submit(functools.partial(_unlink_all, superseded))

        self._writer.submit(finish)

    def _checkpoint(self, ad: Any, key: str, context: _StepContext
                    ) -> tuple[ObjectInfo, Callable[[], None] | None]:
        """The ObjectInfo of `ad` (registered now) and the job writing its checkpoint."""
        path = self._object_path(key)
        entry = context.files.get(id(ad))
        registered = None
        if entry is not None and entry[0]() is ad:
            source, registered = entry[1], entry[2]
        info = ObjectInfo(key, None, None, getattr(ad, "path", None),
                          getattr(ad, "orig_filename", None))
        self._info[key] = info
        ad.phu[KEY_KEYWORD] = (key, KEY_COMMENT)
        if registered is not None and _pixels_unread(ad):
            # a worker's file: kept as it is, with what was changed here since
            info.file, info.checksum = self._relative(source), registered
            info.tables = _table_rows(ad)
            info.tables["PHU"] = [[KEY_KEYWORD, key]]
            return info, None
        info.file = self._relative(path)

        def write() -> bool:
            start = time.perf_counter()
            write_scratch(ad, path)
            _WRITE_SPEED.append((os.path.getsize(path), time.perf_counter() - start))
            if written_exactly(path):
                info.checksum = file_digest(path)
                return True
            # FITS holds only an approximation of its WCS: not a faithful checkpoint
            os.unlink(path)
            info.file = None
            log.fullinfo(f"{getattr(ad, 'filename', key)}: not saved in the step cache "
                         f"(its WCS has no exact FITS form)")
            return False

        # Written now, not by the background writer: a later step may change the
        # object in place, and a copy kept for the writer would double the memory of
        # the frames. Once on disk, the object refers to the file's copy-on-write
        # map instead of private arrays (pages resident only while used).
        if write():
            refer_to_file(ad, path)
            if is_large_frame(ad):
                # writing read every page of the frame's previous file: given back now,
                # so that saving the N frames of a step holds one of them at a time
                release_freed_memory(collect=False)
        return info, None

    def _worth_keeping(self, after: _State, seconds: float) -> bool:
        """Whether the new objects of a step that took `seconds` are kept (the policy).

        ``'auto'`` compares the cost of saving them with the cost of
        recomputing them from the last kept state: this step and the rolling
        steps before it. A chain of cheap steps is thus kept once redoing it
        would take longer than saving it. A number: steps of at least that
        many seconds are kept.
        """
        if self.checkpoint_min_seconds == "auto":
            new = [ad for ad, key in zip(after.objects, after.keys, strict=True)
                   if self._info.get(key) is None]
            chain = self._unsaved_seconds + seconds
            save = chain >= sum(_estimated_write_seconds(ad) for ad in new)
            self._unsaved_seconds = 0.0 if save else chain
            return save
        return seconds >= float(self.checkpoint_min_seconds)

    def flush(self) -> None:
        """Wait until every checkpoint and record of this reduction is on disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and stop the background writer (and the deletion of superseded checkpoints)."""
        self._writer.close()
        self._deleter.close()

    def _calibration_record(self, p: Any, call: PrimitiveCall,
                            before: _State) -> list[dict[str, Any]] | None:
        """The calibrations used, frames as positions in the state before; None: not reusable."""
        index_of = {id(ad): i for i, ad in enumerate(before.objects)}
        instream = [before.objects[i] for i in before.streams.get(call.instream, [])]
        uses = []
        for use in p._calibrations_used:
            frame = None
            if use.frame is not None:
                frame = index_of.get(id(use.frame))
                if frame is None:
                    # a copy (instream != outstream): same original name in the input stream
                    orig = getattr(use.frame, "orig_filename", None)
                    matches = [index_of[id(ad)] for ad in instream
                               if orig and getattr(ad, "orig_filename", None) == orig]
                    frame = matches[0] if len(matches) == 1 else None
            if frame is None and use.via_provider:
                log.fullinfo(f"{call.name}: not recorded for reuse (a calibration was asked "
                             f"for a frame that is not in the streams)")
                return None
            label = None
            if use.frame is not None:
                try:
                    label = use.frame.data_label()
                except Exception:  # noqa: BLE001 - a frame without a data label
                    label = None
            uses.append({
                "frame": frame, "frame_label": label or getattr(use.frame, "filename", None),
                "frame_name": getattr(use.frame, "filename", None),
                "caltype": use.caltype, "procmode": use.procmode, "origin": use.origin,
                "via_provider": use.via_provider, "primitive": call.name,
                "path": use.path,
                "md5": p._md5(use.path) if use.path and os.path.isfile(use.path) else None,
                "content": _content_key(use.path),
            })
        return uses

    # -- checking a record ------------------------------------------------------------------
    def _still_valid(self, p: Any, record: dict[str, Any], state: _State) -> bool:
        for name, recorded in record.get("nested", {}).items():
            try:
                current = self._canonical(p, p._user_values(name)[1], strict=False)
            except Exception:  # noqa: BLE001 - the primitive is gone: not valid
                return False
            if current != recorded:
                return False
        uses = record.get("calibrations") or []
        for use in uses:
            if not use.get("via_provider") and use.get("path"):
                if not _same_calibration(p, use["path"], use):
                    return False
        asked = [u for u in uses if u.get("via_provider")]
        if not asked:
            return True
        if p.caldb is None:
            return False
        frames = self._frames(p, state, {u["frame"] for u in asked})
        if frames is None:
            self.materialize(p)
            live = self._live_state(p)
            frames = {i: live.objects[i] for i in range(len(live.objects))}
        groups: dict[tuple, list[dict]] = {}
        for use in asked:
            groups.setdefault((use["caltype"], use["procmode"]), []).append(use)
        for (caltype, procmode), group in groups.items():
            try:
                answer = p.caldb.get_calibrations([frames[u["frame"]] for u in group],
                                                  caltype, procmode=procmode)
            except Exception as exc:  # noqa: BLE001 - cannot check: run the step
                log.debug("calibration check failed: %s", exc)
                return False
            for use, path in zip(group, answer.files, strict=False):
                path = None if path is None else os.fspath(path)
                if path != use["path"]:
                    return False
                if path is not None and not _same_calibration(p, path, use):
                    return False
        return True

    def _frames(self, p: Any, state: _State, wanted: set[int]) -> dict[int, Any] | None:
        """Objects of `state` by position (headers only for recorded ones); None if unavailable."""
        if not self._pending:
            return {i: state.objects[i] for i in wanted}
        objects = self._pending[-1].record["after"]["objects"]
        frames = {}
        for i in wanted:
            live = self._find_live(p, objects[i]["key"])
            if live is not None:
                frames[i] = live
                continue
            info = ObjectInfo.from_dict(objects[i])
            if info.file is None or not os.path.isfile(self._absolute(info.file)):
                return None
            frames[i] = self._open(info)
        return frames

    # -- loading recorded states -----------------------------------------------------------
    def _find_live(self, p: Any, key: str) -> Any:
        for name in p._streams:
            for ad in p._streams[name]:
                entry = self._keys.get(id(ad))
                if entry is not None and entry[0]() is ad and entry[1] == key:
                    return ad
        return None

    def _verified_file(self, info: ObjectInfo) -> str | None:
        if info.file is None or info.checksum is None:
            return None
        path = self._absolute(info.file)
        try:
            stat = os.stat(path)
        except OSError:
            return None
        # reused: its access time says so to prune() (least recently used go first)
        with contextlib.suppress(OSError):
            os.utime(path, ns=(time.time_ns(), stat.st_mtime_ns))
        memo = (path, stat.st_size, stat.st_mtime_ns)
        checksum = self._verified.get(memo)
        if checksum is None:
            if info.checksum.startswith("md5:"):
                checksum = "md5:" + astrodata.provenance.md5sum(path)
            else:
                checksum = file_digest(path)
            self._verified[memo] = checksum
        if checksum != info.checksum:
            log.warning(f"{path}: checksum differs from the journal; not reused")
            return None
        return path

    def _open(self, info: ObjectInfo) -> Any:
        # the name is the recorded one, the directory the cache's: a file of that
        # name in the working directory (written by the earlier run) is not where
        # this object comes from, and must not be taken for it ("the input file
        # itself") by a primitive writing the object there
        # (an input file is opened as itself: raw inputs are never overwritten)
        ad_path = info.ad_path
        if ad_path is not None and not str(info.checksum or "").startswith("md5:"):
            ad_path = os.path.join(self.directory, "objects", os.path.basename(ad_path))
        ref = FileRef(self._absolute(info.file), ad_path, info.tables, info.checksum)
        return ref.open()

    def _load_state(self, p: Any, after: dict[str, Any]) -> dict[str, list] | None:
        used: set[int] = set()
        loaded: list[Any] = []
        for data in after["objects"]:
            info = ObjectInfo.from_dict(data)
            live = self._find_live(p, info.key)
            if live is not None and id(live) not in used:
                used.add(id(live))
                loaded.append(live)
                continue
            path = self._verified_file(info)
            if path is None:
                return None
            ad = self._open(info)
            self._info.setdefault(info.key, info)
            loaded.append(ad)
        for ad, data in zip(loaded, after["objects"], strict=True):
            self._set_key(ad, data["key"])
        return {name: [loaded[i] for i in positions]
                for name, positions in after["streams"].items()}

    def materialize(self, p: Any) -> None:
        """Load the reused results not loaded yet, running again what cannot be loaded."""
        if not self._pending or self._materializing:
            return
        self._materializing = True
        try:
            pending, self._pending = self._pending, []
            start = -1
            for j in range(len(pending) - 1, -1, -1):
                streams = self._load_state(p, pending[j].record["after"])
                if streams is not None:
                    p._streams = streams
                    start = j
                    if j > 0:
                        self._adopt_rolling(pending[j - 1].record, pending[j].record)
                    break
            for item in pending[start + 1:]:
                p.log.stdinfo(f"Running {item.call.name} again: its recorded result is not "
                              f"available (checkpoint missing, not saved or changed)")
                item.report.status = "rerun"
                self._execute(p, item.call, None, True, item.report)
        finally:
            self._materializing = False

    def _adopt_rolling(self, previous: dict[str, Any], record: dict[str, Any]) -> None:
        """Treat the checkpoints a rolling step of an earlier run made as this run's.

        A run resumed from the rolling state an interrupted run left (or from
        an older variant's) deletes it in turn once superseded, so that the
        cache does not keep it for ever.
        """
        if record.get("kept") is not False:
            return
        earlier = {o["key"] for o in previous["after"]["objects"]}
        for data in record["after"]["objects"]:
            name, checksum = data.get("file"), str(data.get("checksum") or "")
            if data["key"] not in earlier and name and not os.path.isabs(name) \
                    and checksum.startswith("crc32:"):
                self._rolling[data["key"]] = self._absolute(name)

    def _objects_for_keys(self, p: Any, keys: list[str]) -> list:
        self.materialize(p)
        found = []
        for key in keys:
            live = self._find_live(p, key)
            if live is None:
                info = self._info.get(key)
                if info is None or self._verified_file(info) is None:
                    raise ReduceError(f"the result {key[:12]} of a reused step is no longer "
                                      f"available")
                live = self._open(info)
            found.append(live)
        return found

    def file_for(self, p: Any, ad: Any) -> FileRef | None:
        """A checkpoint holding exactly `ad` (to send it to a worker), or None."""
        key = self.key_of(p, ad)
        info = self._info.get(key) if key is not None else None
        if info is None or info.file is None or info.checksum is None \
                or info.checksum.startswith("md5:"):
            return None
        path = self._absolute(info.file)
        if not os.path.isfile(path):
            return None
        return FileRef(path, getattr(ad, "path", None), info.tables, info.checksum)

    # -- the end of a reduction --------------------------------------------------------------
    def final_objects(self, p: Any, stream: str = "main") -> list[ObjectInfo]:
        """Key, name and original name of each object of `stream`, without loading them."""
        if self._pending:
            after = self._pending[-1].record["after"]
            return [ObjectInfo.from_dict(after["objects"][i])
                    for i in after["streams"].get(stream, [])]
        result = []
        for ad in p._streams.get(stream, []):
            key = self.key_of(p, ad)
            result.append(ObjectInfo(key or "", None, None, getattr(ad, "path", None),
                                     getattr(ad, "orig_filename", None)))
        return result

    def has_pending(self) -> bool:
        """Whether reused results are waiting to be loaded."""
        return bool(self._pending)

    def calibrations(self) -> list[dict[str, Any]]:
        """Every calibration the steps of this reduction used (ran or reused)."""
        seen = set()
        result = []
        for record in self._records:
            for use in record.get("calibrations") or []:
                ident = (use.get("frame_label"), use.get("caltype"), use.get("path"))
                if use.get("path") and ident not in seen:
                    seen.add(ident)
                    result.append({k: use.get(k) for k in (
                        "frame_label", "frame_name", "caltype", "path", "md5", "origin",
                        "primitive")})
        return result

    def product_state(self, target: str, key: str | None) -> str:
        """``'absent'``, ``'same'`` (written from `key`, checksum unchanged) or ``'different'``."""
        if not os.path.exists(target):
            return "absent"
        record = _read_json(self._product_path(target))
        if key and record and record.get("key") == key:
            try:
                current = file_digest(target)
            except OSError:
                return "different"
            if current == record.get("checksum"):
                return "same"
        return "different"

    def record_product(self, target: str, key: str | None) -> None:
        """Note that `target` was written from content `key` (with its checksum)."""
        _write_json(self._product_path(target), {
            "path": os.path.abspath(target), "key": key, "checksum": file_digest(target),
            "written": _utc_now()})

    def check_product(self, target: str, key: str | None) -> bool:
        """Whether `target` must be written; raises in ``never`` mode if it would be replaced.

        Raises
        ------
        ReduceError
            ``reprocess='never'`` and `target` exists but was not written
            from content `key`.
        """
        state = self.product_state(target, key)
        if state == "same" and self.reprocess != "always":
            return False
        if state == "different" and self.reprocess == "never":
            raise ReduceError(f"{os.path.basename(target)}: exists and was not made from the "
                              f"same inputs, parameters and code; not overwritten "
                              f"(--reprocess never). Remove it or use --reprocess auto")
        return True

    def summary_lines(self) -> list[str]:
        """The summary table of the steps (what ran, what was reused, time per primitive)."""
        if not self.reports:
            return []
        width = max(len("Primitive"), *(len(r.primitive) for r in self.reports))
        lines = [f"{'Step':>4}  {'Primitive':<{width}}  {'Status':<7}  {'Files':>5}  "
                 f"{'Time (s)':>8}  {'Saving (s)':>10}  {'Recorded (s)':>12}",
                 f"{'-' * 4}  {'-' * width}  {'-' * 7}  {'-' * 5}  {'-' * 8}  {'-' * 10}  "
                 f"{'-' * 12}"]
        for r in self.reports:
            recorded = "" if r.recorded_seconds is None else f"{r.recorded_seconds:12.2f}"
            saving = f"{r.saving_seconds:10.2f}" if r.saving_seconds else ""
            lines.append(f"{r.index:>4}  {r.primitive:<{width}}  {r.status:<7}  {r.files:>5}  "
                         f"{r.seconds:8.2f}  {saving:>10}  {recorded:>12}")
        counts: dict[str, int] = {}
        for r in self.reports:
            counts[r.status] = counts.get(r.status, 0) + 1
        total = sum(r.seconds for r in self.reports)
        saving = sum(r.saving_seconds for r in self.reports)
        lines.append(", ".join(f"{n} {status}" for status, n in counts.items())
                     + f"; {total:.2f} s in primitives, {saving:.2f} s saving checkpoints")
        return lines


#: (bytes, seconds) of the checkpoints written by this process: the write speed.
_WRITE_SPEED: list[tuple[int, float]] = []
#: Assumed before any checkpoint was written: 150 MB/s and 0.1 s a file.
_DEFAULT_SECONDS_PER_BYTE = 1 / 150e6
_FILE_OVERHEAD_SECONDS = 0.1


def _estimated_write_seconds(ad: Any) -> float:
    """How long saving `ad` as a checkpoint would take (from the speed seen so far)."""
    nbytes = 0
    for ext in ad:
        nd = ext.nddata
        size = int(np.prod(nd.shape, dtype=np.int64))
        nbytes += size * np.dtype(nd.dtype).itemsize
        # planes still in their file count too (an object refers to its last checkpoint)
        if nd.has_variance():
            variance = nd._lazy_variance if nd._lazy_variance is not None else nd.variance
            nbytes += size * np.dtype(variance.dtype).itemsize
        if nd.has_mask():
            nbytes += size * np.dtype(nd._mask.dtype).itemsize
    return _estimated_write_seconds_of(nbytes)


def _estimated_write_seconds_of(nbytes: int) -> float:
    """How long writing `nbytes` as a checkpoint would take (from the speed seen so far)."""
    recent = _WRITE_SPEED[-20:]
    if recent:
        written = sum(b for b, _ in recent)
        spent = sum(t for _, t in recent)
        per_byte = spent / written if written else _DEFAULT_SECONDS_PER_BYTE
        return per_byte * nbytes
    return _FILE_OVERHEAD_SECONDS + nbytes * _DEFAULT_SECONDS_PER_BYTE


def _content_key(path: str | None) -> str | None:
    """What a stored calibration holds: its PHU ``REDKEY`` and a CRC of everything after the PHU.

    None for a file without ``REDKEY`` or with data in its primary HDU. Two
    files with the same value differ at most in their primary header (where
    ``storeProcessed*`` puts the time it stored the file).
    """
    if not path or not os.path.isfile(path):
        return None
    header = b""
    try:
        with open(path, "rb") as handle:
            while True:
                block = handle.read(2880)
                if len(block) < 2880:
                    return None
                header += block
                cards = [block[i:i + 80] for i in range(0, 2880, 80)]
                if any(card[:8].rstrip() == b"END" for card in cards):
                    break
            values = {}
            for i in range(0, len(header), 80):
                card = header[i:i + 80].decode("ascii", "replace")
                if card[8:10] == "= ":
                    values[card[:8].rstrip()] = card[10:].split("/")[0].strip().strip("'").strip()
            if values.get("NAXIS", "0") != "0" or not values.get(KEY_KEYWORD):
                return None
            crc = 0
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                crc = zlib.crc32(chunk, crc)
    except OSError:
        return None
    return f"{values[KEY_KEYWORD]}:{crc:08x}"


def _same_calibration(p: Any, path: str, use: dict[str, Any]) -> bool:
    """Whether `path` still holds the calibration a record used.

    The same MD5, or the same content (:func:`_content_key`): a processed
    calibration stored again from unchanged inputs (a re-run's
    ``storeProcessed*``) differs only by the time stamps of the storing in
    its primary header.
    """
    if not os.path.isfile(path):
        return False
    if p._md5(path) == use.get("md5"):
        return True
    content = use.get("content")
    return content is not None and _content_key(path) == content


def _unlink_all(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _stream_objects(state: _State, name: str) -> list:
    """The objects of stream `name` in a live state."""
    return [state.objects[i] for i in state.streams.get(name, [])]


def _pixels_unread(ad: Any) -> bool:
    try:
        return all(not ext.nddata.is_loaded() for ext in ad)
    except AttributeError:
        return False


def _table_rows(ad: Any) -> dict[str, list]:
    rows = {}
    for name in ("HISTORY", "PROVENANCE"):
        if name in getattr(ad, "tables", ()):
            table = getattr(ad, name)
            rows[name] = [[str(v) for v in row] for row in table.iterrows()]
    return rows
