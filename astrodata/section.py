"""Section: a rectangular region of an image, 0-based and end-exclusive.

FITS headers describe regions in IRAF notation (``[x1:x2,y1:y2]``, 1-based,
end-inclusive, x first). ``Section`` holds the same region in Python terms
(``x1`` inclusive, ``x2`` exclusive, 0-based), converts between the two and
gives the numpy slice (which is y first).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["Section"]

_AXES = ("x", "y", "z", "u", "v", "w")
_RANGE = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


class Section(tuple):
    """A region of an N-dimensional array: ``(x1, x2, y1, y2[, z1, z2 ...])``.

    Coordinates are 0-based and the upper limits are exclusive, so
    ``Section(0, 2048, 0, 1024)`` is 2048 pixels wide and 1024 high and
    covers ``data[0:1024, 0:2048]``.

    Parameters
    ----------
    *args : int
        ``x1, x2, y1, y2, ...`` (an even number of values), or
    **kwargs : int
        the same by name: ``Section(x1=0, x2=10, y1=0, y2=5)``.

    Examples
    --------
    >>> s = Section.from_string("[1:2048,1:1024]")
    >>> s
    Section(x1=0, x2=2048, y1=0, y2=1024)
    >>> s.asIRAFsection()
    '[1:2048,1:1024]'
    >>> s.asslice()
    (slice(0, 1024, None), slice(0, 2048, None))
    """

    __slots__ = ()

    def __new__(cls, *args: int, **kwargs: int) -> Section:
        if args and kwargs:
            raise ValueError("Section takes positional or keyword values, not both")
        if kwargs:
            ndim = len(kwargs) // 2
            names = _names(ndim)
            if len(kwargs) % 2 or set(kwargs) != set(names):
                raise ValueError(
                    f"Section keywords must be {', '.join(names)}; got {sorted(kwargs)}"
                )
            args = tuple(kwargs[n] for n in names)
        if len(args) < 2 or len(args) % 2 or len(args) > 2 * len(_AXES):
            raise ValueError(f"Section needs an even number (2-12) of values, got {len(args)}")
        values = []
        for v in args:
            if v is None:
                raise ValueError("Section limits cannot be None")
            iv = int(v)
            if iv != v:
                raise ValueError(f"Section limits must be integers, got {v!r}")
            values.append(iv)
        for i in range(0, len(values), 2):
            if values[i + 1] < values[i]:
                axis = _AXES[i // 2]
                raise ValueError(
                    f"Section {axis}2={values[i + 1]} is smaller than {axis}1={values[i]}"
                )
        return super().__new__(cls, values)

    def __getnewargs__(self) -> tuple[int, ...]:
        return tuple(self)

    def __getattr__(self, name: str) -> int:
        if len(name) == 2 and name[0] in _AXES and name[1] in "12":
            index = 2 * _AXES.index(name[0]) + int(name[1]) - 1
            if index < len(self):
                return tuple.__getitem__(self, index)
        raise AttributeError(f"'Section' object has no attribute {name!r}")

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={v}" for n, v in zip(_names(self.ndim), self, strict=True))
        return f"Section({body})"

    # -- construction -------------------------------------------------------

    @classmethod
    def from_string(cls, value: str) -> Section:
        """Parse an IRAF section ``'[x1:x2,y1:y2]'`` (1-based, end-inclusive).

        Raises
        ------
        ValueError
            if the string is not of that form (``*`` wildcards need an array
            shape and are not accepted here).
        """
        text = str(value).strip()
        if not (text.startswith("[") and text.endswith("]")):
            raise ValueError(f"not an IRAF section: {value!r}")
        limits: list[int] = []
        for part in text[1:-1].split(","):
            match = _RANGE.match(part)
            if match is None:
                raise ValueError(f"not an IRAF section: {value!r}")
            start, stop = int(match.group(1)), int(match.group(2))
            if start < 1 or stop < start:
                raise ValueError(f"IRAF section {value!r} has a range that is empty or reversed")
            limits.extend((start - 1, stop))
        return cls(*limits)

    @classmethod
    def from_shape(cls, shape: Sequence[int]) -> Section:
        """The section covering a whole array of numpy ``shape`` (slowest axis first)."""
        limits: list[int] = []
        for length in reversed(tuple(shape)):
            limits.extend((0, int(length)))
        return cls(*limits)

    # -- properties ---------------------------------------------------------

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return len(self) // 2

    @property
    def shape(self) -> tuple[int, ...]:
        """numpy shape of the region (slowest axis first)."""
        return tuple(self[i + 1] - self[i] for i in range(0, len(self), 2))[::-1]

    @property
    def size(self) -> int:
        """Number of pixels in the region."""
        n = 1
        for length in self.shape:
            n *= length
        return n

    @property
    def axis_dict(self) -> dict[str, tuple[int, int]]:
        """``{'x': (x1, x2), 'y': (y1, y2), ...}``."""
        return {_AXES[i]: (self[2 * i], self[2 * i + 1]) for i in range(self.ndim)}

    # -- conversions --------------------------------------------------------

    def asIRAFsection(self, binning: Sequence[int] | None = None) -> str:  # noqa: N802 (DRAGONS API)
        """The region as a 1-based, end-inclusive IRAF string ``'[x1:x2,y1:y2]'``.

        Parameters
        ----------
        binning : sequence of int, optional
            ``(xbin, ybin, ...)``: divide the (unbinned) limits by the binning
            first, giving the section in binned pixels.
        """
        if binning is None:
            binning = (1,) * self.ndim
        if len(binning) != self.ndim:
            raise ValueError(f"binning {tuple(binning)} does not match a {self.ndim}-D section")
        parts = []
        for i, b in enumerate(binning):
            lo, hi = self[2 * i], self[2 * i + 1]
            parts.append(f"{lo // int(b) + 1}:{hi // int(b)}")
        return "[" + ",".join(parts) + "]"

    def asslice(self, add_dims: int = 0) -> tuple[slice, ...]:
        """numpy slices (slowest axis first); ``add_dims`` prepends full slices."""
        slices = [slice(self[i], self[i + 1]) for i in range(len(self) - 2, -1, -2)]
        return (slice(None),) * add_dims + tuple(slices)

    # -- geometry -----------------------------------------------------------

    def _check_ndim(self, other: Section) -> Section:
        other = other if isinstance(other, Section) else Section(*other)
        if other.ndim != self.ndim:
            raise ValueError(f"cannot compare a {self.ndim}-D and a {other.ndim}-D section")
        return other

    def contains(self, other: Any) -> bool:
        """True if ``other`` lies entirely inside this section."""
        other = self._check_ndim(other)
        return all(
            self[i] <= other[i] and other[i + 1] <= self[i + 1] for i in range(0, len(self), 2)
        )

    def overlap(self, other: Any) -> Section | None:
        """The intersection with ``other``, or None if they do not overlap."""
        other = self._check_ndim(other)
        limits = []
        for i in range(0, len(self), 2):
            lo, hi = max(self[i], other[i]), min(self[i + 1], other[i + 1])
            if hi <= lo:
                return None
            limits.extend((lo, hi))
        return Section(*limits)

    def is_same_size(self, other: Any) -> bool:
        """True if ``other`` has the same extent on every axis."""
        other = self._check_ndim(other)
        return self.shape == other.shape

    def shift(self, *shifts: int) -> Section:
        """A copy moved by ``(dx, dy, ...)`` pixels (missing shifts are 0)."""
        if len(shifts) > self.ndim:
            raise ValueError(f"{len(shifts)} shifts for a {self.ndim}-D section")
        full = tuple(shifts) + (0,) * (self.ndim - len(shifts))
        limits = []
        for i, d in enumerate(full):
            limits.extend((self[2 * i] + int(d), self[2 * i + 1] + int(d)))
        return Section(*limits)


def _names(ndim: int) -> list[str]:
    return [f"{a}{k}" for a in _AXES[:ndim] for k in "12"]
