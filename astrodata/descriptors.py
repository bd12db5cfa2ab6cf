"""Descriptor decorators: ``@astro_data_descriptor`` and ``@returns_list``.

A descriptor is a plain method of an AstroData class that returns a metadata
value (``ad.exposure_time()``). ``@astro_data_descriptor`` only marks it, so
``ad.descriptors`` can list it. ``@returns_list`` gives per-extension
descriptors their shape: one value per extension on a full object, a scalar
on a single slice.

The *descriptor guard* (:func:`guard_descriptors`) is the contract every
instrument class gives: a descriptor never raises because a header value is
missing or malformed; it returns None (one None per extension for a
per-extension descriptor on a full object) and logs one warning on the
``astrodata`` logger naming the file, the descriptor and the problem. Code
inside a descriptor may simply let a ``KeyError``/``ValueError`` escape, or
raise :class:`MissingKeyword` with a message of its own.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from astrodata.errors import AstroDataError, DescriptorLengthError

__all__ = [
    "BAD_HEADER_ERRORS",
    "MissingKeyword",
    "astro_data_descriptor",
    "descriptor_names",
    "file_label",
    "guard_descriptor",
    "guard_descriptors",
    "header_problem",
    "returns_list",
]

log = logging.getLogger("astrodata")

#: What a missing or malformed header value raises inside a descriptor.
BAD_HEADER_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError, ArithmeticError)

F = TypeVar("F", bound=Callable[..., Any])


def astro_data_descriptor(fn: F) -> F:
    """Mark a method as a descriptor (sets ``fn.descriptor_method = True``).

    Use it as the outermost decorator, so the mark is on the final callable.
    The function itself is returned unchanged.
    """
    fn.descriptor_method = True  # type: ignore[attr-defined]
    return fn


def returns_list(fn: F) -> F:
    """Make a per-extension descriptor return a list on a full object.

    On a full (or multi-slice) object the result is a list with one value per
    extension: a scalar is broadcast to every extension, and a list must have
    exactly ``len(ad)`` items. On a single slice the result is a scalar: a
    one-item list is unwrapped.

    Raises
    ------
    DescriptorLengthError
        (also an ``IndexError``) when the wrapped method returns a list whose
        length does not match the number of extensions.
    """

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        ret = fn(self, *args, **kwargs)
        if self.is_single:
            if isinstance(ret, list):
                if len(ret) != 1:
                    raise DescriptorLengthError(
                        f"{fn.__name__}() returned {len(ret)} values for a single extension"
                        f" of {getattr(self, 'filename', None)}"
                    )
                return ret[0]
            return ret
        n = len(self)
        if isinstance(ret, list):
            if len(ret) != n:
                raise DescriptorLengthError(
                    f"{fn.__name__}() returned {len(ret)} values for {n} extensions"
                    f" of {getattr(self, 'filename', None)}"
                )
            return ret
        return [ret] * n

    return wrapper  # type: ignore[return-value]


_DESCRIPTOR_NAMES: dict[type, tuple[str, ...]] = {}


def descriptor_names(cls: type) -> tuple[str, ...]:
    """Names of the descriptor methods of a class, sorted alphabetically (cached per class)."""
    cached = _DESCRIPTOR_NAMES.get(cls)
    if cached is not None:
        return cached
    names = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = getattr(cls, name, None)
        if callable(attr) and getattr(attr, "descriptor_method", False):
            names.append(name)
    result = _DESCRIPTOR_NAMES[cls] = tuple(sorted(names))
    return result


# ---------------------------------------------------------------------------
# The descriptor guard
# ---------------------------------------------------------------------------


class MissingKeyword(KeyError):
    """A header keyword a descriptor or tag needs is absent (the message says which)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def header_problem(err: BaseException) -> str:
    """The text of a bad-header error for a warning (a bare KeyError names the keyword)."""
    text = str(err)
    if isinstance(err, KeyError) and not isinstance(err, MissingKeyword):
        text = f"keyword {text} is missing"
    return text or type(err).__name__


def file_label(ad: Any) -> str:
    """The file name of ``ad`` for messages (a placeholder for in-memory data)."""
    name = getattr(ad, "filename", None)
    return str(name) if name else "<in-memory AstroData>"


#: The code of every ``@returns_list`` wrapper: how a per-extension descriptor is recognised.
_RETURNS_LIST_CODE = returns_list(lambda self: None).__code__


def guard_descriptor(fn: F) -> F:
    """Wrap a descriptor so a bad header value gives None and one warning.

    An :class:`~astrodata.AstroDataError` still propagates (it is not a header
    problem). A per-extension (``@returns_list``) descriptor gives one None
    per extension on a full object, so its result is still a list. Wrapping
    twice has no further effect.
    """
    if getattr(fn, "_header_guarded", False):
        return fn
    per_extension = getattr(fn, "__code__", None) is _RETURNS_LIST_CODE

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except AstroDataError:
            raise
        except BAD_HEADER_ERRORS as err:
            log.warning("%s: %s(): %s; returning None", file_label(self), fn.__name__,
                        header_problem(err))
            if per_extension and not self.is_single:
                return [None] * len(self)
            return None

    wrapper._header_guarded = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def guard_descriptors(cls: type) -> None:
    """Apply :func:`guard_descriptor` to the descriptors defined in ``cls`` itself.

    Call it after a class definition and from ``__init_subclass__`` so that
    subclasses (instrument plug-ins) get the guarantee too.
    """
    for name, attr in list(vars(cls).items()):
        if callable(attr) and getattr(attr, "descriptor_method", False):
            setattr(cls, name, guard_descriptor(attr))
