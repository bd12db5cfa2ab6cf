"""What the mappers need from a dataset: its tags and its instrument key."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from recipe_system.errors import ReduceError


def _call(ad: Any, name: str, **kwargs: Any) -> Any:
    method = getattr(ad, name, None)
    if method is None:
        return None
    try:
        return method(**kwargs)
    except TypeError:
        if kwargs:
            return _call(ad, name)
        return None
    except Exception:  # a bad header value must not stop the mapping; treated as unknown
        return None


def instrument_key(ad: Any) -> str | None:
    """Registry key of `ad`'s instrument: ``ad.instrument(generic=True).lower()``.

    ``GMOS-N``/``GMOS-S`` give ``gmos``; None when the instrument is unknown.
    """
    name = _call(ad, "instrument", generic=True)
    if not name:
        return None
    key = str(name).strip().lower()
    if key.startswith("gmos"):
        return "gmos"
    return key


def dataset_signature(adinputs: Sequence[Any], log: logging.Logger | None = None
                      ) -> tuple[frozenset[str], str | None]:
    """Tags and instrument key of the FIRST input, which decides the mapping.

    Warns (on `log`) when the other inputs differ in instrument or observation
    type, since they will be reduced with the first one's recipe and class.

    Raises
    ------
    ReduceError
        If there is no input.
    """
    if not adinputs:
        raise ReduceError("no input to map to a recipe")
    first = adinputs[0]
    key = instrument_key(first)
    if log is not None and len(adinputs) > 1:
        obstype = _call(first, "observation_type")
        for ad in adinputs[1:]:
            other_key = instrument_key(ad)
            if other_key != key:
                log.warning(f"{ad.filename} is from instrument {other_key!r} but "
                            f"{first.filename} (which decides the recipe) is from {key!r}")
            other_type = _call(ad, "observation_type")
            if obstype is not None and other_type is not None and other_type != obstype:
                log.warning(f"{ad.filename} has observation type {other_type!r} but "
                            f"{first.filename} (which decides the recipe) has {obstype!r}")
    return frozenset(first.tags), key
