"""Descriptor decorators: ``@astro_data_descriptor`` and ``@returns_list``.

A descriptor is a plain method of an AstroData class that returns a metadata
value (``ad.exposure_time()``). ``@astro_data_descriptor`` only marks it, so
``ad.descriptors`` can list it. ``@returns_list`` gives per-extension
descriptors their shape: one value per extension on a full object, a scalar
on a single slice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from astrodata.errors import DescriptorLengthError

__all__ = ["astro_data_descriptor", "returns_list", "descriptor_names"]

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
