"""Release the resident pages of memory-mapped arrays once a block of rows has been read.

Reading a memory-mapped FITS file maps its pages into the process: they count
in its resident set size until unmapped, so streaming N frames through a
stack would grow the RSS to the size of all the files, whatever the strip
size. After each strip, :meth:`MappedRows.release` unmaps the array's pages
(the page cache keeps them), without ever changing what the array holds:

- shared mappings (``np.memmap`` mode ``'r'`` / ``'r+'``, astropy
  ``'denywrite'`` / ``'update'``): ``MADV_DONTNEED`` unmaps the pages; their
  content lives on in the page cache and the file, and is mapped again if
  read again;
- private copy-on-write mappings (astropy's default ``'readonly'`` and
  ``'copyonwrite'``, ``np.memmap`` mode ``'c'``): a page the program has
  modified is a private anonymous copy that ``MADV_DONTNEED`` would throw
  away, so ``/proc/self/pagemap`` is read first and only the pages still
  backed by the file are unmapped. Modified pages are left alone (they are
  the program's own memory). Without pagemap, ``MADV_PAGEOUT`` is used
  instead: it never discards data, but it cannot reclaim page-cache pages
  that are still dirty (a file written moments ago).

A program that writes into an input array from another thread while it is
being stacked could lose that write; stacking is not meant to run alongside
writers of its inputs.

This is Linux-only; elsewhere, or when the kernel refuses, nothing is
released and only the RSS bound is lost.
"""

import mmap
import os
import sys

import numpy as np

_MADV_PAGEOUT = 21  # linux/mman-common.h; not exported by Python's mmap module

# /proc/self/pagemap: one little-endian 64-bit entry per virtual page.
_PAGE_PRESENT = np.uint64(1 << 63)
_PAGE_SWAPPED = np.uint64(1 << 62)
_PAGE_FILE_OR_SHARED = np.uint64(1 << 61)

# How far around the rows read a release reaches. Faulting one page in maps
# the whole page-cache folio around it (up to 2 MiB on x86-64), rows not read
# yet included, so MADV_DONTNEED covers that much on both sides. MADV_PAGEOUT
# skips a folio that the range covers only in part and evicts what it
# reclaims from the page cache, so it reaches back only: a folio cut by one
# strip's boundary goes with the next strip.
_RELEASE_MARGIN_BYTES = 4 * 2**20

try:
    from numpy.lib.array_utils import byte_bounds as _byte_bounds
except ImportError:  # numpy < 2
    from numpy import byte_bounds as _byte_bounds


def _find_mmap(array) -> mmap.mmap | None:
    """The mmap object behind an ndarray (np.memmap or astropy.io.fits data), if any."""
    base = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        inner = getattr(base, "_mmap", None)
        if isinstance(inner, mmap.mmap):
            return inner
        base = getattr(base, "base", None)
    return None


def _mapping_is_shared(address: int) -> bool | None:
    """Whether the mapping holding address is MAP_SHARED, from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                span, perms = line.split(maxsplit=2)[:2]
                start, stop = (int(value, 16) for value in span.split("-"))
                if start <= address < stop:
                    return perms[3] == "s"
    except (OSError, ValueError, IndexError):
        return None
    return None


def _file_backed_pages(address: int, npages: int) -> np.ndarray | None:
    """For each page from address: True unless it holds private anonymous (modified) data."""
    try:
        fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return None
    try:
        raw = os.pread(fd, 8 * npages, 8 * (address // mmap.PAGESIZE))
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(raw) != 8 * npages:
        return None
    entries = np.frombuffer(raw, dtype="<u8")
    present = (entries & _PAGE_PRESENT) != 0
    swapped = (entries & _PAGE_SWAPPED) != 0
    file_backed = (entries & _PAGE_FILE_OR_SHARED) != 0
    return ~((present & ~file_backed) | swapped)


class MappedRows:
    """The memory mapping behind a 2-D array, able to unmap blocks of its rows.

    Use :meth:`for_array`, which returns None for arrays that are not
    memory-mapped (nothing to release).
    """

    def __init__(self, array: np.ndarray, mapping: mmap.mmap, base_address: int, shared: bool):
        self._array = array
        self._mapping = mapping
        self._base = base_address
        self._shared = shared
        self._enabled = True

    @classmethod
    def for_array(cls, array) -> "MappedRows | None":
        """A MappedRows for a memory-mapped 2-D ndarray, else None."""
        if (
            not sys.platform.startswith("linux")
            or not isinstance(array, np.ndarray)
            or array.ndim != 2
        ):
            return None
        mapping = _find_mmap(array)
        if mapping is None or not hasattr(mapping, "madvise"):
            return None
        try:
            view = np.frombuffer(mapping, dtype=np.uint8)
        except (ValueError, TypeError):  # closed or empty mapping
            return None
        base_address = view.ctypes.data
        del view
        return cls(array, mapping, base_address, bool(_mapping_is_shared(base_address)))

    def release(self, row_start: int, row_stop: int) -> None:
        """Unmap the pages of the array around rows [row_start, row_stop), once read.

        Covers the rows and a few MiB on both sides (see
        ``_RELEASE_MARGIN_BYTES``); the page cache keeps the pages and a
        later read maps them again. With MADV_PAGEOUT (no pagemap) only the
        rows and the few MiB before them.
        """
        if not self._enabled or row_stop <= row_start:
            return
        first, end = _byte_bounds(self._array)
        low, high = _byte_bounds(self._array[row_start:row_stop])
        low = max(first, low - _RELEASE_MARGIN_BYTES)
        try:
            if self._shared:
                self._advise(mmap.MADV_DONTNEED, low, min(end, high + _RELEASE_MARGIN_BYTES))
                return
            start, stop = self._page_span(low, min(end, high + _RELEASE_MARGIN_BYTES))
            npages = -(-(stop - start) // mmap.PAGESIZE)
            safe = _file_backed_pages(self._base + start, npages)
            if safe is None:
                self._advise(_MADV_PAGEOUT, low, high)
                return
            # Unmap each run of file-backed pages; leave modified ones.
            edges = np.flatnonzero(np.diff(np.concatenate(([False], safe, [False]))))
            for run_start, run_stop in zip(edges[::2], edges[1::2], strict=True):
                self._advise(
                    mmap.MADV_DONTNEED,
                    self._base + start + int(run_start) * mmap.PAGESIZE,
                    self._base + min(start + int(run_stop) * mmap.PAGESIZE, stop),
                )
        except (OSError, ValueError):
            # Unsupported advice or a closed mapping: stop trying; the data
            # are read correctly all the same.
            self._enabled = False

    def _page_span(self, low: int, high: int) -> tuple[int, int]:
        """Offsets in the mapping of the pages holding addresses [low, high)."""
        start = (low - self._base) - (low - self._base) % mmap.PAGESIZE
        return max(0, start), min(high - self._base, len(self._mapping))

    def _advise(self, advice: int, low: int, high: int) -> None:
        start, stop = self._page_span(low, high)
        if stop > start:
            self._mapping.madvise(advice, start, stop - start)
