"""Data-quality (DQ) bits: their names, values and the named mask planes.

A DQ array (``ad[i].mask``) is ``uint16``; each bit flags one reason a pixel
is not a plain good measurement. The values are those Gemini uses, so DQ
planes written by DRAGONS read the same here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["DQ", "mask_plane"]


class DQ:
    """DQ bit values (class attributes) and lookups between names and bits.

    Examples
    --------
    >>> DQ.saturated
    4
    >>> DQ.name_of(8)
    'cosmic_ray'
    >>> DQ.plane('CR')
    8
    """

    datatype = np.uint16

    good = 0
    bad_pixel = 1
    non_linear = 2
    saturated = 4
    cosmic_ray = 8
    no_data = 16
    overlap = 32
    unilluminated = 64

    #: Pixels without a usable measurement.
    fail = bad_pixel | saturated | cosmic_ray | no_data
    #: Everything except the "still a valid signal" bits (non-linear, saturated);
    #: the default flags replaced by ``applyDQPlane``.
    not_signal = 0xFFFF ^ (non_linear | saturated)

    #: Short upper-case aliases of the single bits, for ``mask_plane(ad, 'CR')``.
    PLANES: Mapping[str, int] = {
        "BAD": bad_pixel,
        "NONLIN": non_linear,
        "SAT": saturated,
        "CR": cosmic_ray,
        "NODATA": no_data,
        "OVERLAP": overlap,
        "UNILLUM": unilluminated,
    }

    _BIT_NAMES = (
        "bad_pixel",
        "non_linear",
        "saturated",
        "cosmic_ray",
        "no_data",
        "overlap",
        "unilluminated",
    )

    @classmethod
    def bits(cls) -> dict[str, int]:
        """``{name: value}`` of the single bits, lowest bit first."""
        return {name: getattr(cls, name) for name in cls._BIT_NAMES}

    @classmethod
    def name_of(cls, bit: int) -> str:
        """Name of a single bit value (``0`` is ``'good'``).

        Raises
        ------
        ValueError
            if ``bit`` is not one of the defined single-bit values.
        """
        bit = int(bit)
        if bit == 0:
            return "good"
        for name, value in cls.bits().items():
            if value == bit:
                return name
        raise ValueError(f"{bit} is not a defined DQ bit (defined: {sorted(cls.bits().values())})")

    @classmethod
    def names_in(cls, value: int) -> list[str]:
        """Names of all the bits set in a DQ value, lowest bit first."""
        value = int(value)
        return [name for name, bit in cls.bits().items() if value & bit]

    @classmethod
    def plane(cls, name: str) -> int:
        """Bit value for a plane name: an alias (``'CR'``) or a bit name (``'cosmic_ray'``).

        Also accepts the combined names ``'fail'`` and ``'not_signal'``.
        Case-insensitive.
        """
        key = str(name).strip()
        if key.upper() in cls.PLANES:
            return cls.PLANES[key.upper()]
        lowered = key.lower()
        if lowered in cls.bits() or lowered in ("fail", "not_signal"):
            return getattr(cls, lowered)
        known = sorted(cls.PLANES) + sorted(cls.bits()) + ["fail", "not_signal"]
        raise ValueError(f"unknown DQ plane {name!r}; known: {', '.join(known)}")


def mask_plane(ad: Any, name: str) -> Any:
    """Boolean array(s) of the pixels that have the named DQ bit(s) set.

    Parameters
    ----------
    ad : AstroData, NDData-like or ndarray
        A single slice (or anything with ``.mask``) gives one array; a full
        AstroData gives one array per extension. A plain array is read as a
        DQ array.
    name : str
        Plane alias (``'CR'``), bit name (``'cosmic_ray'``), ``'fail'`` or
        ``'not_signal'``.

    Returns
    -------
    ndarray of bool, or list of them. An extension without a mask gives an
    all-False array of the data shape.
    """
    bit = DQ.plane(name)

    def one(mask: Any, shape: tuple[int, ...] | None) -> np.ndarray:
        if mask is None:
            return np.zeros(shape or (), dtype=bool)
        return (np.asarray(mask).astype(DQ.datatype, copy=False) & bit) != 0

    if isinstance(ad, np.ndarray):
        return one(ad, None)
    if getattr(ad, "is_single", True) is False:
        return [one(ext.mask, ext.shape) for ext in ad]
    return one(ad.mask, tuple(getattr(ad, "shape", ()) or ()))
