"""Sections and binning of a frame from its descriptors, read leniently for the primitives.

A frame whose instrument class lacks a descriptor, or whose header values
cannot be read, gets ``None`` sections and 1x1 binning: the primitives then
fall back to the whole array instead of failing on a geometry they do not
strictly need.
"""

from __future__ import annotations

from typing import Any

from astrodata import Section

__all__ = ["binning_of", "sections_of"]


def sections_of(ad: Any, name: str) -> list[Section | None]:
    """Descriptor `name` (e.g. ``'data_section'``) per extension; None where not a Section."""
    try:
        values = getattr(ad, name)()
    except (AttributeError, TypeError):
        return [None] * len(ad)
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if len(values) != len(ad):
        return [None] * len(ad)
    return [v if isinstance(v, Section) else None for v in values]


def binning_of(ad: Any) -> tuple[int, int]:
    """(x, y) detector binning; (1, 1) when unknown."""
    try:
        return int(ad.detector_x_bin() or 1), int(ad.detector_y_bin() or 1)
    except (AttributeError, TypeError, ValueError):
        return 1, 1
