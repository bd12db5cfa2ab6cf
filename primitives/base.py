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
   caller's keywords win over user values.
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
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import sys
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from astrodata import provenance
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

__all__ = ["PrimitivesBASE", "UnknownParameterError", "independent_copy", "normalize_ucals"]

_MD5_CHUNK = 1 << 22


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

    Pixels not yet read are read into the copy: a lazily loaded plane of a
    deep copy may otherwise be a view of the same memory map as the
    original's, so that an in-place change of one would show in the other.
    """
    duplicate = copy.deepcopy(ad)
    for ext in duplicate:
        nd = ext.nddata
        if nd.is_loaded():
            continue
        nd.data = np.array(nd.data)
        if nd.has_mask():
            nd.mask = np.array(nd.mask)
        if nd.has_variance():
            nd.variance = np.array(nd.variance)
    return duplicate


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

    def __init__(self, adinputs: Iterable[Any] | None, mode: str = "sq", ucals: Any = None,
                 uparms: Any = None, config_file: str | None = None, caldb: Any = None,
                 jobs: int | None = None, upload: Any = None) -> None:
        if mode not in ("sq", "ql", "qa"):
            raise ParameterError(f"unknown processing mode {mode!r}; expected sq, ql or qa")
        self.streams: dict[str, list] = {"main": list(adinputs or [])}
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
        for ad in self.streams["main"]:
            self.note_input_file(ad)

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
        mode; otherwise `items` is returned unchanged (logs and CI stay clean).
        """
        items = list(items)
        if len(items) < 2 or logutils.console_mode() == "quiet":
            return items
        try:
            interactive = sys.stderr.isatty()
        except (AttributeError, ValueError):
            interactive = False
        if not interactive:
            return items
        try:
            from tqdm import tqdm
        except ImportError:
            return items
        return tqdm(items, desc=desc or self.myself() or "", unit="file", leave=False,
                    file=sys.stderr)

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
            values.update(recipe_values)
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

        explicit = adinputs is not None
        if explicit:
            adinputs = [adinputs] if hasattr(adinputs, "phu") else list(adinputs)
        else:
            adinputs = list(self.streams.get(instream, []))
            if instream != outstream:
                adinputs = [independent_copy(ad) for ad in adinputs]

        depth = len(self._call_stack)
        title = f"PRIMITIVE: {name}"
        self.log.status(title)
        self.log.status("-" * len(title))
        logutils.update_indent(depth + 1)
        for note in notes:
            self.log.stdinfo(note)
        self._call_stack.append(name)
        try:
            if skip:
                self.log.stdinfo(f"Skipping {name} (skip_primitive=True)")
                outputs = adinputs
            else:
                inputs_on_disk = self._snapshot_inputs(adinputs) if top_level else []
                start = _utc_now()
                outputs = declaration.function(self, adinputs, **params)
                stop = _utc_now()
                if outputs is None:
                    raise PrimitiveError(f"primitive {name} returned None instead of a list")
                outputs = [outputs] if hasattr(outputs, "phu") else list(outputs)
                if top_level:
                    self._check_output_types(name, outputs)
                    record = {k: _jsonable(v) for k, v in params.items()}
                    if stream or instream != "main" or outstream != "main":
                        record.update(instream=instream, outstream=outstream)
                    self._record_provenance(name, record, start, stop, adinputs, outputs,
                                            inputs_on_disk)
                    if write_outputs:
                        self._write_after(outputs)
        finally:
            self._call_stack.pop()
            logutils.update_indent(depth)
        self.log.status(".")
        if not explicit:
            self.streams[outstream] = outputs
        return outputs

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
            provenance.add_history(out, name, args, start, stop)

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
    if variance is not None and np.asarray(variance).dtype != np.float32:
        return f"variance has type {np.asarray(variance).dtype} (float32 required)"
    mask = nd.mask
    if mask is not None and (mask.dtype.kind != "u" or mask.dtype.itemsize > 2):
        return f"mask has type {mask.dtype} (uint16 required)"
    objmask = nd.meta.get("other", {}).get("OBJMASK")
    if isinstance(objmask, np.ndarray) and objmask.dtype.itemsize != 1:
        return f"OBJMASK has type {objmask.dtype} (one byte required)"
    return None
