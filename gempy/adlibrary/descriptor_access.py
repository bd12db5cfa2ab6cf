"""Descriptor discovery and safe descriptor calls, shared by dataselect and showd.

Only methods marked with ``@astro_data_descriptor`` on the object's class are
ever called: a name typed by a user can never reach an arbitrary attribute
such as ``write`` or ``__class__``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import logging
import numbers
from collections.abc import Iterable
from typing import Any

import astrodata
from astrodata.descriptors import descriptor_names

__all__ = [
    "known_descriptor_names",
    "close_descriptor_names",
    "class_descriptor_names",
    "call_descriptor",
    "plain_value",
    "unknown_descriptor_message",
]

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=256)
def class_descriptor_names(cls: type) -> frozenset[str]:
    """Names of the descriptor methods of an AstroData class (cached per class)."""
    return frozenset(descriptor_names(cls))


def _registered_classes() -> list[type]:
    """Every AstroData class the factory knows about (the base class included)."""
    classes: list[type] = []
    registered = getattr(astrodata, "registered_classes", None)
    if registered is not None:
        classes.extend(registered())
    base = getattr(astrodata, "AstroData", None)
    if base is not None and base not in classes:
        classes.append(base)
    return classes


def known_descriptor_names() -> frozenset[str]:
    """Union of the descriptor names of every registered AstroData class.

    Classes registered later (``--adpkg``) are included as soon as they are
    registered: the union is recomputed on each call (cheap: each class's
    names are cached).
    """
    names: set[str] = set()
    for cls in _registered_classes():
        names |= class_descriptor_names(cls)
    return frozenset(names)


def close_descriptor_names(name: str, known: Iterable[str] | None = None) -> list[str]:
    """Up to three known descriptor names that look like ``name`` (difflib)."""
    pool = sorted(known_descriptor_names() if known is None else known)
    return difflib.get_close_matches(name, pool, n=3, cutoff=0.6)


def unknown_descriptor_message(name: str, known: Iterable[str] | None = None) -> str:
    """One-line message for a descriptor name no registered class defines."""
    close = close_descriptor_names(name, known)
    if close:
        return f"unknown descriptor '{name}' (did you mean: {', '.join(close)}?)"
    return f"unknown descriptor '{name}' (no similar descriptor name is known)"


@functools.lru_cache(maxsize=1024)
def _accepted_keywords(cls: type, name: str) -> frozenset[str] | None:
    """Keyword arguments the descriptor ``cls.name`` accepts; None if it takes ``**kwargs``."""
    try:
        signature = inspect.signature(getattr(cls, name))
    except (TypeError, ValueError):
        return None
    accepted = set()
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (inspect.Parameter.KEYWORD_ONLY,
                              inspect.Parameter.POSITIONAL_OR_KEYWORD):
            accepted.add(parameter.name)
    return frozenset(accepted)


def call_descriptor(ad: Any, name: str, **kwargs: Any) -> Any:
    """Call descriptor ``name`` on ``ad`` with the keywords it accepts.

    Keywords the descriptor does not take (e.g. ``pretty`` on ``object``) are
    dropped rather than raising, so a caller can ask for the pretty form of
    every column of a table.

    Raises
    ------
    AttributeError
        if ``name`` is not a descriptor of ``ad``'s class.
    Exception
        whatever the descriptor itself raises.
    """
    cls = type(ad)
    if name not in class_descriptor_names(cls):
        raise AttributeError(f"{cls.__name__} has no descriptor '{name}'")
    if kwargs:
        accepted = _accepted_keywords(cls, name)
        if accepted is not None:
            kwargs = {key: value for key, value in kwargs.items() if key in accepted}
    return getattr(ad, name)(**kwargs)


def plain_value(value: Any) -> Any:
    """Convert numpy scalars (and lists/tuples of them) to plain Python values."""
    if isinstance(value, (list, tuple)):
        return [plain_value(item) for item in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) == ():
        return item()
    if isinstance(value, numbers.Integral):
        return int(value)
    return value
