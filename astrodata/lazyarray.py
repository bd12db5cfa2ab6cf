"""LazyArray: the interface of an array that is read from its file only when needed.

It lives apart from :mod:`astrodata.nddata` so that the FITS reader can use
it without importing ``astropy.nddata`` (and the WCS, coordinates and scipy
modules that come with it): opening files for their headers stays cheap.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

__all__ = ["LazyArray"]


class LazyArray(abc.ABC):
    """An array that is read from its file only when needed.

    Subclasses give ``shape`` and ``dtype`` without reading, ``load()`` for the
    whole array and ``__getitem__`` for a section (reading only that part).
    """

    shape: tuple[int, ...]
    dtype: np.dtype

    @abc.abstractmethod
    def load(self) -> np.ndarray:
        """The whole array."""

    @abc.abstractmethod
    def __getitem__(self, item: Any) -> np.ndarray:
        """A section, read from the file without loading the rest."""

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = self.load()
        return arr if dtype is None else arr.astype(dtype, copy=False)
