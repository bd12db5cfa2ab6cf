"""The flat field's error shared by frames divided by the same flat: finding it, and its rows.

``flatCorrect`` propagates the flat's variance into every frame it divides:
a frame's VAR holds ``f**2 * r2`` (f the frame's value, ``r2 = VAR_flat /
flat**2`` the flat's relative variance) besides its own noise. That part is
the same error, pixel for pixel, in every frame divided by that flat. Two
places must know it:

* ``stackSkyFrames``: the median (or mean) of sky frames divided by one flat
  does not average the flat's error away: the stack carries ``s**2 * r2``,
  not ``f(m) * mean(s_k**2 * r2)``. The inputs' variance is stacked without
  the flat's share (:class:`FlatFreeVariance`, row by row) and the common
  share is added to the result.
* ``skyCorrect``: frame and sky, divided by the same flat, have correlated
  errors: ``var(f - g) = VAR_f + VAR_g - 2 f g r2`` (g the scaled sky), so
  the flat's error cancels on blank sky and stays, ``(f - g)**2 r2``, on
  sources.

The flat of a frame is the file named by its ``FLATIM`` keyword, found (in
this order) among the flats ``flatCorrect`` used in this process, the
``flatCorrect:flat`` user parameter, the calibration pins / ``--user_cal`` /
calibration service, the working directory and ``calibrations/
processed_flat/``; a candidate is accepted only if its file name is the
``FLATIM`` value and, when the frame has a ``PROVENANCE`` row for it, its md5
matches. The relative variance is computed once per flat and frame layout
and shared (read-only) by every frame; a frame whose flat cannot be found
is treated as before (no covariance), with a log line.
"""

from __future__ import annotations

import collections
import os
import threading
import weakref
from typing import Any

import numpy as np

import astrodata
from astrodata.provenance import md5sum

__all__ = ["FlatError", "FlatFreeVariance", "flat_error_of", "common_flat_error",
           "register_flat"]

#: Relative-variance planes kept (flat, frame layout); 17 MB each for a 2048x2048 F2 frame.
_CACHE_SIZE = 4

_lock = threading.Lock()
_cache: collections.OrderedDict[tuple, FlatError] = collections.OrderedDict()
_md5: dict[tuple[str, int, int], str] = {}
#: Flats flatCorrect used in this process: file name -> path, or weak reference to the object.
_registered: dict[str, Any] = {}


class FlatError:
    """The relative variance ``VAR/flat**2`` of one flat, cut to a frame's extensions.

    Attributes
    ----------
    name : str
        The flat's file name (``FLATIM``).
    key : tuple
        Identifies the flat file (path, modification time, size).
    relvar : list of float32 ndarray
        One read-only plane per extension of the frame.
    """

    __slots__ = ("name", "key", "relvar")

    def __init__(self, name: str, key: tuple, relvar: list[np.ndarray]) -> None:
        self.name = name
        self.key = key
        self.relvar = relvar

    def same_flat(self, other: FlatError | None) -> bool:
        """Whether `other` comes from the same flat file."""
        return other is not None and other.key[:2] == self.key[:2]


class FlatFreeVariance:
    """A frame's variance without the flat's share, ``VAR - data**2 * r2``, read by row blocks.

    What :func:`gempy.library.stacking.stack` needs from a lazy frame:
    ``shape``, ``dtype``, ``ndim`` and ``[y0:y1]``. Negative values (rounding)
    are set to 0.
    """

    def __init__(self, data: Any, variance: Any, relvar: np.ndarray) -> None:
        self.data = data
        self.variance = variance
        self.relvar = relvar
        self.shape = tuple(relvar.shape)
        self.dtype = np.dtype(np.float32)
        self.ndim = 2

    def __getitem__(self, item: Any) -> np.ndarray:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("only row blocks [y0:y1] can be read")
        data = np.asarray(self.data[item], dtype=np.float32)
        rows = np.array(self.variance[item], dtype=np.float32)
        rows -= data * data * self.relvar[item]
        np.maximum(rows, 0, out=rows)
        return rows


def register_flat(flat: Any) -> None:
    """Note a flat ``flatCorrect`` divided by (a path or an AstroData object)."""
    if flat is None:
        return
    if hasattr(flat, "phu"):
        name = flat.filename
        path = getattr(flat, "path", None)
        if not name:
            return
        if path and os.path.isfile(path):
            _registered[name] = os.path.abspath(path)
        else:
            try:
                _registered[name] = weakref.ref(flat)
            except TypeError:
                return
    else:
        path = os.path.abspath(os.fspath(flat))
        _registered[os.path.basename(path)] = path


def _file_key(path: str) -> tuple[str, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return os.path.abspath(path), stat.st_mtime_ns, stat.st_size


def _provenance_md5(ad: Any, name: str) -> str | None:
    try:
        table = ad.PROVENANCE if "PROVENANCE" in ad.tables else None
    except AttributeError:
        return None
    if table is None or "filename" not in table.colnames or "md5" not in table.colnames:
        return None
    for row in table:
        if str(row["filename"]).strip() == name and str(row["md5"]).strip():
            return str(row["md5"]).strip()
    return None


def _md5_matches(key: tuple[str, int, int], expected: str | None) -> bool:
    if not expected:
        return True
    with _lock:
        known = _md5.get(key)
    if known is None:
        known = md5sum(key[0]) or ""
        with _lock:
            _md5[key] = known
    return known == expected


def _candidates(p: Any, ad: Any, name: str) -> list[Any]:
    """Paths (or objects) that may be the flat called `name`, most likely first."""
    found: list[Any] = []
    registered = _registered.get(name)
    if isinstance(registered, weakref.ref):
        registered = registered()
    if registered is not None:
        found.append(registered)
    if p is not None:
        try:
            user = p._user_values("flatCorrect")[0].get("flat")
        except (AttributeError, KeyError, TypeError):
            user = None
        for value in user if isinstance(user, (list, tuple)) else [user]:
            if value is not None:
                found.append(value)
        try:
            answers = p._find_calibrations([ad], "processed_flat")
        except Exception:  # noqa: BLE001 - a failing lookup only means "not found here"
            answers = []
        found.extend(path for path, _ in answers if path)
    cwd = os.getcwd()
    found.append(os.path.join(cwd, name))
    found.append(os.path.join(cwd, "calibrations", "processed_flat", name))
    return found


def _relative_variance(ad: Any, flat: Any) -> list[np.ndarray] | None:
    from primitives.core.preprocess import matching_calibration

    try:
        parts = matching_calibration(ad, flat, "flat")
    except Exception:  # noqa: BLE001 - any mismatch: the flat is not usable here
        return None
    planes = []
    for part in parts:
        if part.variance is None:
            return None
        data = np.asarray(part.data, dtype=np.float32)
        relvar = np.array(part.variance, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            relvar /= data * data
        relvar[~np.isfinite(relvar)] = 0.0
        relvar.setflags(write=False)
        planes.append(relvar)
    return planes


def _layout(ad: Any) -> tuple:
    sections = []
    for name in ("detector_section", "data_section"):
        try:
            values = getattr(ad, name)()
        except (AttributeError, TypeError, ValueError):
            values = None
        sections.append(str(values))
    return tuple(tuple(ext.shape) for ext in ad), tuple(sections)


def flat_error_of(p: Any, ad: Any) -> FlatError | None:
    """The error of the flat frame `ad` was divided by, or None if unknown or not found.

    Parameters
    ----------
    p : PrimitivesBASE or None
        Gives the calibration lookups and the user parameters.
    ad : AstroData
        A flat-fielded frame (``FLATIM``).
    """
    name = str(ad.phu.get("FLATIM", "") or "").strip()
    if not name:
        return None
    expected = _provenance_md5(ad, name)
    layout = _layout(ad)
    for candidate in _candidates(p, ad, name):
        if hasattr(candidate, "phu"):
            if candidate.filename != name:
                continue
            key = ("memory", id(candidate), 0)
            opened = candidate
        else:
            path = os.fspath(candidate)
            if os.path.basename(path) != name:
                continue
            key = _file_key(path)
            if key is None or not _md5_matches(key, expected):
                continue
            opened = None
        cache_key = (key, layout)
        with _lock:
            if cache_key in _cache:
                _cache.move_to_end(cache_key)
                return _cache[cache_key]
        if opened is None:
            try:
                opened = astrodata.open(key[0])
            except Exception:  # noqa: BLE001 - unreadable: try the next candidate
                continue
        relvar = _relative_variance(ad, opened)
        if relvar is None:
            continue
        error = FlatError(name, key, relvar)
        with _lock:
            _cache[cache_key] = error
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return error
    return None


def common_flat_error(p: Any, adinputs: list) -> FlatError | None:
    """The flat error shared by all `adinputs` (same flat file found for each), else None."""
    if not adinputs:
        return None
    first = flat_error_of(p, adinputs[0])
    if first is None:
        return None
    for ad in adinputs[1:]:
        if not first.same_flat(flat_error_of(p, ad)):
            return None
    return first
