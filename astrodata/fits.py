"""Reading and writing multi-extension FITS files as AstroData objects.

Reading maps HDUs onto extensions as DRAGONS does: each ``SCI`` HDU is one
extension; ``VAR``, ``DQ`` and any other HDU with the same ``EXTVER``
(``OBJMASK``, ``OBJCAT``...) belong to it; HDUs with no matching ``EXTVER``,
and ``REFCAT``/``MDF``/``PROVENANCE``/``HISTORY``, are top-level tables.
Unnamed image HDUs become ``SCI`` with ``EXTVER`` 1..N, and a single-HDU file
becomes an empty PHU plus one ``SCI``. Only headers are read at open time:
pixels and tables are read on first access (uncompressed files through one
copy-on-write memory map per file).

Opening a file gives each extension as a :class:`PendingExtension` (its
header, lazy arrays and WCS recipe); the :class:`~astrodata.nddata.NDAstroData`
is built from it on first use of anything but the headers and shapes, so
reading tags and descriptors never imports ``astropy.nddata``.

Writing (:func:`write_fits`) is atomic: the file is written under a
temporary name in the target directory and renamed over the target.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import logging
import math
import mmap
import os
import tempfile
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits

from astrodata.dq import DQ
from astrodata.errors import AstroDataError, FileFormatError
from astrodata.headers import FitsScan, HDUInfo, scan_fits, set_new_keyword
from astrodata.lazyarray import LazyArray
from astrodata.wcs import fits_header_to_gwcs, gwcs_to_fits, update_header_wcs, wcs_fingerprint

if TYPE_CHECKING:
    from astropy.table import Table

    from astrodata.nddata import NDAstroData

__all__ = [
    "FitsFile",
    "FitsLazyArray",
    "FitsSource",
    "HDURecord",
    "LazyTable",
    "PendingExtension",
    "TOP_LEVEL_NAMES",
    "read_source",
    "build_extensions",
    "drop_clean_pages",
    "write_fits",
    "to_hdulist",
]

log = logging.getLogger("astrodata")

#: Extension names that are always top-level tables, whatever their EXTVER.
TOP_LEVEL_NAMES = frozenset({"REFCAT", "MDF", "PROVENANCE", "HISTORY", "PROVHISTORY"})
#: Keywords describing the layout of an HDU's data, regenerated on write.
_STRUCTURAL = (
    "SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "BZERO", "BSCALE", "BLANK",
    "CHECKSUM", "DATASUM", "TFIELDS", "THEAP", "ZIMAGE",
)

_BITPIX_DTYPE = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_UNSIGNED = {16: (">u2", 1 << 15), 32: (">u4", 1 << 31), 64: (">u8", 1 << 63)}


# ---------------------------------------------------------------------------
# Pixel access
# ---------------------------------------------------------------------------


class FitsFile:
    """Byte access to one FITS file whose headers were scanned.

    The file is mapped into memory (copy-on-write, so arrays can be changed
    without touching the file) on the first pixel access; a gzipped file is
    decompressed into memory instead. The size, modification time and inode
    recorded when the headers were read are checked then, so a file replaced
    in between gives a clear error rather than wrong pixels.
    """

    def __init__(self, scan: FitsScan) -> None:
        self.path = scan.path
        self.compressed = scan.compressed
        self._stat = scan.stat
        self._buffer: np.ndarray | None = None

    def buffer(self) -> np.ndarray:
        """The whole (decompressed) file as a uint8 array."""
        if self._buffer is None:
            try:
                st = os.stat(self.path)
            except OSError as err:
                raise FileFormatError(f"{self.path}: cannot read pixels ({err})") from None
            old = self._stat
            if old is not None and (st.st_size, st.st_mtime_ns, st.st_ino) != (
                old.st_size, old.st_mtime_ns, old.st_ino
            ):
                raise FileFormatError(
                    f"{self.path}: file changed on disk since its headers were read"
                )
            try:
                if self.compressed:
                    with gzip.open(self.path, "rb") as fh:
                        # a bytearray keeps the decompressed pixels writable, like the map
                        self._buffer = np.frombuffer(bytearray(fh.read()), dtype=np.uint8)
                else:
                    self._buffer = np.memmap(self.path, dtype=np.uint8, mode="c")
                    _track_mapping(self._buffer)
            except (OSError, EOFError) as err:
                raise FileFormatError(f"{self.path}: cannot read pixels ({err})") from None
        return self._buffer

    def is_open(self) -> bool:
        return self._buffer is not None

    def drop_clean_pages(self) -> int:
        """Unmap the resident pages of the map that were never changed; bytes dropped.

        They stay in the page cache and are mapped again on the next access;
        changed (copy-on-write) pages are private memory and are kept. Only
        pages that ``/proc/self/pagemap`` shows as file pages are dropped, so
        no change is ever lost.
        """
        return _drop_clean_pages_of(self._buffer)

    def same_on_disk(self) -> bool:
        """Whether the file is still the one whose headers were read (size, time, inode)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        old = self._stat
        return old is None or (st.st_size, st.st_mtime_ns, st.st_ino) == (
            old.st_size, old.st_mtime_ns, old.st_ino)

    def __getstate__(self) -> dict:
        # A memory map is not sent to another process: it is mapped again there.
        state = dict(self.__dict__)
        state["_buffer"] = None
        return state

    def raw(self, info: HDUInfo) -> np.ndarray:
        """The data of an image HDU as stored (big-endian, unscaled)."""
        dtype = np.dtype(_BITPIX_DTYPE[info.bitpix])
        buf = self.buffer()
        n_items = int(np.prod(info.shape, dtype=np.int64))
        if info.data_offset + n_items * dtype.itemsize > buf.size:
            raise FileFormatError(f"{self.path}: HDU {info.index}: truncated data")
        return np.ndarray(info.shape, dtype=dtype, buffer=buf, offset=info.data_offset)


def _drop_clean_pages_of(buf: np.ndarray | None) -> int:
    """:meth:`FitsFile.drop_clean_pages` of one mapped buffer (a ``np.memmap``); bytes dropped."""
    handle = getattr(buf, "_mmap", None)
    page = mmap.PAGESIZE
    if handle is None or buf.size == 0 or buf.ctypes.data % page:
        return 0
    n_pages = (buf.size + page - 1) // page
    try:
        with open("/proc/self/pagemap", "rb") as pagemap:
            pagemap.seek(buf.ctypes.data // page * 8)
            entries = np.frombuffer(pagemap.read(n_pages * 8), dtype="<u8")
    except OSError:
        return 0
    if entries.size != n_pages:
        return 0
    # bit 63: present; bit 61: a file page (not a private copy made by a write)
    clean = ((entries >> np.uint64(63)) & (entries >> np.uint64(61)) & np.uint64(1)) \
        .astype(bool)
    if not clean.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], clean.view(np.int8), [0]))))
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        handle.madvise(mmap.MADV_DONTNEED, int(first) * page, int(stop - first) * page)
    return int(clean.sum()) * page


#: The maps of the files whose pixels are mapped now (for :func:`drop_clean_pages`). The
#: maps themselves are tracked, not their FitsFile: pixel arrays read from a file are
#: views that keep its map alive after the FitsFile object is gone.
_MAPPED_BUFFERS: dict[int, weakref.ref] = {}


def _track_mapping(buf: np.memmap) -> None:
    key = id(buf)
    _MAPPED_BUFFERS[key] = weakref.ref(buf, lambda _ref: _MAPPED_BUFFERS.pop(key, None))


def drop_clean_pages() -> int:
    """:meth:`FitsFile.drop_clean_pages` of every mapped file; bytes dropped.

    Between the steps of a reduction, frames kept for later (a sky stream)
    then hold no resident memory until they are used again.
    """
    if not hasattr(mmap, "MADV_DONTNEED"):
        return 0
    buffers = [ref() for ref in list(_MAPPED_BUFFERS.values())]
    return sum(_drop_clean_pages_of(buf) for buf in buffers if buf is not None)


class FitsLazyArray(LazyArray):
    """An image HDU's data, scaled by BSCALE/BZERO, read on demand.

    Unsigned integers stored the FITS way (BITPIX 16 and BZERO 32768, etc.)
    come back as unsigned integers with their exact values. Other scalings
    give float32 (BITPIX 8/16) or float64 (BITPIX 32/64), as astropy does.
    Unscaled data are returned as the memory map itself (big-endian).
    """

    def __init__(self, file: FitsFile, info: HDUInfo, force_dtype: Any = None) -> None:
        self.file = file
        self.info = info
        # the scan read BSCALE/BZERO already: the extension header need not be parsed
        self.bscale, self.bzero = info.scaling()
        self.shape = tuple(info.shape)
        self.force_dtype = None if force_dtype is None else np.dtype(force_dtype)
        bitpix = info.bitpix
        if self.bscale == 1 and self.bzero == 0:
            self._mode = "plain"
            dtype = np.dtype(_BITPIX_DTYPE[bitpix])
        elif bitpix in _UNSIGNED and self.bscale == 1 and self.bzero == _UNSIGNED[bitpix][1]:
            self._mode = "unsigned"
            dtype = np.dtype(_UNSIGNED[bitpix][0]).newbyteorder("=")
        elif bitpix == 8 and self.bscale == 1 and self.bzero == -128:
            self._mode = "signed8"
            dtype = np.dtype(np.int8)
        else:
            self._mode = "scaled"
            dtype = np.dtype(np.float32 if bitpix in (8, 16, -32) else np.float64)
        self.dtype = self.force_dtype or dtype

    def _convert(self, raw: np.ndarray) -> np.ndarray:
        if self._mode == "plain":
            out = raw
        elif self._mode == "unsigned":
            udtype, offset = _UNSIGNED[self.info.bitpix]
            out = raw.view(udtype) ^ np.dtype(udtype).type(offset)
            out = out.astype(out.dtype.newbyteorder("="), copy=False)
        elif self._mode == "signed8":
            out = (raw.astype(np.int16) - 128).astype(np.int8)
        else:
            out = (raw * self.bscale + self.bzero).astype(self.dtype, copy=False)
        if self.force_dtype is not None and out.dtype != self.force_dtype:
            out = out.astype(self.force_dtype)
        return out

    def load(self) -> np.ndarray:
        return self._convert(self.file.raw(self.info))

    def __getitem__(self, item: Any) -> np.ndarray:
        section = self.file.raw(self.info)[item]
        return np.array(self._convert(section), copy=True)

    def __copy__(self) -> FitsLazyArray:
        return self

    def __deepcopy__(self, memo: dict) -> FitsLazyArray:
        # Arrays loaded from one FitsFile are views of one copy-on-write mapping, so a
        # copy must map the file again: changing its pixels must not change the original's.
        file = memo.get(id(self.file))
        if file is None:
            file = copy.copy(self.file)
            if self.file.is_open() and not self.file.compressed \
                    and not self.file.same_on_disk():
                # mapped before the file was deleted (a superseded checkpoint): the
                # copy cannot map it again, it gets the pixels as mapped
                file._buffer = np.array(self.file._buffer)
            else:
                file._buffer = None
                if not file.compressed and file.same_on_disk():
                    # mapped now (no page is read): the copy keeps these pixels even
                    # if the file is replaced or deleted later (a rolling checkpoint)
                    file.buffer()
            memo[id(self.file)] = file
        return FitsLazyArray(file, self.info, self.force_dtype)

    def __repr__(self) -> str:
        return f"<FitsLazyArray {self.file.path}[{self.info.index}] {self.shape} {self.dtype}>"


class _MemoryArray(LazyArray):
    """Adapter giving an in-memory HDU's data the LazyArray interface (read on demand)."""

    def __init__(self, hdu: Any, force_dtype: Any = None) -> None:
        self.force_dtype = None if force_dtype is None else np.dtype(force_dtype)
        data = hdu.data
        self._data = data if self.force_dtype is None else np.asarray(data, self.force_dtype)
        self.dtype = self._data.dtype
        self.shape = self._data.shape

    def load(self) -> np.ndarray:
        return self._data

    def __getitem__(self, item: Any) -> np.ndarray:
        return np.array(self._data[item], copy=True)


class LazyTable:
    """A table HDU read on first use (from the file's bytes, or from an in-memory HDU)."""

    def __init__(self, file: FitsFile | None = None, info: HDUInfo | None = None,
                 hdu: Any = None) -> None:
        self.file = file
        self.info = info
        self.hdu = hdu

    @property
    def description(self) -> str:
        if self.file is not None and self.info is not None:
            return f"{self.file.path}[{self.info.index}]"
        return f"HDU {getattr(self.hdu, 'name', '?')}"

    def load(self) -> Table:
        from astropy.table import Table

        try:
            if self.hdu is not None:
                return Table.read(self.hdu, character_as_bytes=False)
            info = self.info
            buf = self.file.buffer()
            end = min(info.data_offset + -(-info.data_size // 2880) * 2880, buf.size)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=fits.verify.VerifyWarning)
                hdu = fits.BinTableHDU.fromstring(buf[info.header_offset : end].tobytes())
                return Table.read(hdu, character_as_bytes=False)
        except (OSError, ValueError, TypeError, IndexError) as err:
            raise FileFormatError(f"{self.description}: cannot read table ({err})") from None

    def __deepcopy__(self, memo: dict) -> LazyTable:
        return self  # each load() gives a fresh Table

    def __repr__(self) -> str:
        return f"<LazyTable {self.description}>"


# ---------------------------------------------------------------------------
# Sources: what class selection sees
# ---------------------------------------------------------------------------


@dataclass
class HDURecord:
    """One HDU of a source, as seen by ``_matches_data`` and the reader."""

    index: int
    name: str | None
    ver: int | None
    kind: str  # 'image', 'table' or 'other'
    shape: tuple[int, ...]
    _header: Any = field(repr=False)
    _make_data: Any = field(repr=False, default=None)
    _make_table: Any = field(repr=False, default=None)

    @property
    def header(self) -> fits.Header:
        h = self._header
        if isinstance(h, HDUInfo):
            self._header = h = h.header
        return h

    @property
    def has_data(self) -> bool:
        return bool(self.shape) and all(n > 0 for n in self.shape)

    def data(self, force_dtype: Any = None) -> LazyArray:
        return self._make_data(force_dtype)

    def table(self) -> LazyTable:
        return self._make_table()


class FitsSource:
    """A FITS file (or HDUList) whose headers are known and whose data are not read.

    ``source.phu`` is the primary header and ``source[i].header`` the header
    of HDU ``i`` (``source[0].header`` is the PHU), which is what the
    ``_matches_data`` static methods of AstroData classes look at.
    """

    def __init__(self, records: list[HDURecord], path: str | None, file: FitsFile | None) -> None:
        self.records = records
        self.path = path
        self.file = file

    @property
    def phu(self) -> fits.Header:
        return self.records[0].header

    @property
    def filename(self) -> str | None:
        return None if self.path is None else os.path.basename(self.path)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> HDURecord:
        return self.records[index]

    def __iter__(self) -> Iterator[HDURecord]:
        return iter(self.records)

    def __repr__(self) -> str:
        return f"<FitsSource {self.path or 'in memory'}: {len(self.records)} HDUs>"


def _kind(xtension: str | None) -> str:
    if xtension is None or xtension == "IMAGE":
        return "image"
    if xtension in ("BINTABLE", "TABLE"):
        return "table"
    return "other"


def read_source(source: Any) -> FitsSource:
    """Make a :class:`FitsSource` from a path, PathLike, HDUList or FitsSource."""
    if isinstance(source, FitsSource):
        return source
    if isinstance(source, fits.HDUList):
        return _source_from_hdulist(source)
    if isinstance(source, str | os.PathLike):
        scan = scan_fits(source)
        file = FitsFile(scan)
        records = []
        for info in scan.hdus:
            kind = _kind(info.xtension)
            records.append(
                HDURecord(
                    index=info.index,
                    name=info.name,
                    ver=info.ver,
                    kind=kind,
                    shape=info.shape,
                    _header=info if info.index else info.header,
                    _make_data=(lambda force, i=info: FitsLazyArray(file, i, force)),
                    _make_table=(lambda i=info: LazyTable(file=file, info=i)),
                )
            )
        return FitsSource(records, os.fspath(source), file)
    raise AstroDataError(
        f"cannot open {source!r}: expected a file path or an astropy HDUList, "
        f"not {type(source).__name__}"
    )


def _source_from_hdulist(hdulist: fits.HDUList) -> FitsSource:
    records = []
    for index, hdu in enumerate(hdulist):
        header = hdu.header.copy()
        if index == 0:
            xtension = None
        else:
            xtension = str(header.get("XTENSION", "IMAGE")).strip().upper()
        kind = _kind(xtension)
        naxis = header.get("NAXIS", 0)
        shape: tuple[int, ...] = ()
        if kind == "image" and naxis and hdu.data is not None:
            shape = tuple(hdu.data.shape)
        elif kind == "table":
            shape = (header.get("NAXIS2", 0),)
        name = header.get("EXTNAME")
        name = str(name).strip().upper() if name else None
        ver = header.get("EXTVER")
        records.append(
            HDURecord(
                index=index,
                name=name,
                ver=int(ver) if isinstance(ver, int | np.integer) else None,
                kind=kind,
                shape=shape,
                _header=header,
                _make_data=(lambda force, h=hdu: _MemoryArray(h, force)),
                _make_table=(lambda h=hdu: LazyTable(hdu=h)),
            )
        )
    path = getattr(hdulist, "filename", lambda: None)()
    return FitsSource(records, path, None)


# ---------------------------------------------------------------------------
# HDUs -> extensions
# ---------------------------------------------------------------------------


@dataclass
class Extensions:
    """What a source holds, in AstroData terms."""

    phu: fits.Header
    nddata: list[PendingExtension]
    tables: dict[str, Any]


def _phu_from_single_hdu(header: fits.Header) -> fits.Header:
    phu = header.copy()
    for key in list(phu):
        if key.startswith("NAXIS") and key != "NAXIS" or key in ("BZERO", "BSCALE", "BLANK"):
            del phu[key]
    phu["NAXIS"] = 0
    return phu


def _ext_header_from_primary(header: fits.Header) -> fits.Header:
    ext = header.copy()
    for key in ("SIMPLE", "EXTEND"):
        if key in ext:
            del ext[key]
    ext.insert(0, ("XTENSION", "IMAGE", "Image extension"))
    ext["EXTNAME"] = ("SCI", "Added by AstroData")
    ext["EXTVER"] = (1, "Added by AstroData")
    return ext


class _HeaderWCS:
    """Builds an extension's gWCS from its header (else the PHU) on first access."""

    def __init__(self, phu: fits.Header) -> None:
        self.phu = phu

    def __call__(self, nd: NDAstroData) -> Any:
        header = nd.meta.get("header") or fits.Header()
        source = header if ("CTYPE1" in header or "CRPIX1" in header) else self.phu
        wcs = fits_header_to_gwcs(source)
        nd.meta_flags["wcs_fingerprint"] = wcs_fingerprint(wcs, nd.shape)
        return wcs


def build_extensions(source: FitsSource) -> Extensions:
    """Map the HDUs of a source onto a PHU, extensions and top-level tables."""
    where = source.path or "HDUList"
    records = list(source.records)
    if not records:
        raise FileFormatError(f"{where}: no HDU")
    primary = records[0]
    phu = primary.header
    tables: dict[str, Any] = {}
    if len(records) == 1:
        if not primary.has_data:
            return Extensions(phu, [], tables)
        sci_header = _ext_header_from_primary(phu)
        phu = _phu_from_single_hdu(phu)
        nd = _make_nd(primary.data(None), sci_header, phu, {}, None, None)
        return Extensions(phu, [nd], tables)

    # Name unnamed image HDUs SCI and number SCI HDUs without EXTVER.
    named = []
    used_vers = {r.ver for r in records[1:] if r.name == "SCI" and r.ver is not None}
    next_ver = max(used_vers, default=0) + 1
    for rec in records[1:]:
        name, ver = rec.name, rec.ver
        if name is None and rec.kind == "image":
            if not rec.has_data:
                log.warning("%s: HDU %d is an unnamed image without data; ignored", where,
                            rec.index)
                continue
            name = "SCI"
            set_new_keyword(rec.header, "EXTNAME", "SCI", "Added by AstroData")
        if name == "SCI" and ver is None:
            ver = next_ver
            next_ver += 1
            if "EXTVER" in rec.header:
                rec.header["EXTVER"] = (ver, "Added by AstroData")
            else:
                set_new_keyword(rec.header, "EXTVER", ver, "Added by AstroData")
        if name == "PROVHISTORY":
            name = "HISTORY"
        named.append((name, ver, rec))

    scis = sorted(((v, r) for n, v, r in named if n == "SCI"), key=lambda item: item[0])
    if len({v for v, _ in scis}) != len(scis):
        raise FileFormatError(f"{where}: several SCI extensions share the same EXTVER")
    parts: dict[int, dict[str, HDURecord]] = {v: {} for v, _ in scis}
    for name, ver, rec in named:
        if name == "SCI":
            continue
        if name is None:
            name = f"HDU{rec.index}"
        if name not in TOP_LEVEL_NAMES and ver in parts:
            if name in parts[ver]:
                log.warning("%s: two %s HDUs with EXTVER %s; keeping the first", where, name, ver)
                continue
            parts[ver][name] = rec
            continue
        if rec.kind != "table":
            log.warning("%s: HDU %d (%s) belongs to no SCI extension and is not a table; ignored",
                        where, rec.index, name)
            continue
        key = name if name not in tables else f"{name}{ver or rec.index}"
        tables[key] = rec.table()

    nddatas = []
    for ver, sci in scis:
        own = parts[ver]
        variance = own.pop("VAR").data(None) if "VAR" in own else None
        mask = own.pop("DQ").data(DQ.datatype) if "DQ" in own else None
        if "WCS" in own:
            own.pop("WCS")
            log.debug("%s: stored gWCS of extension %d ignored; FITS WCS keywords used", where,
                      ver)
        other: dict[str, Any] = {}
        for name, rec in own.items():
            if rec.kind == "table":
                other[name] = rec.table()
            elif rec.kind == "image" and rec.has_data:
                other[name] = rec.data(np.uint8 if name == "OBJMASK" else None)
        if not sci.has_data:
            log.warning("%s: SCI extension %d has no data; ignored", where, ver)
            continue
        nddatas.append(_make_nd(sci.data(None), sci.header, phu, other, variance, mask))
    return Extensions(phu, nddatas, tables)


class PendingExtension:
    """An extension read from a file whose NDAstroData is not built yet.

    It holds what the NDAstroData will be made of: the lazy data, variance
    and mask, the ``meta`` dict (``header`` and ``other`` items, the very
    objects the NDAstroData will hold) and the WCS recipe. Headers, other
    items and the shape are answered from here; :meth:`build` makes the
    NDAstroData (importing ``astropy.nddata`` the first time).
    """

    __slots__ = ("data", "variance", "mask", "meta", "wcs_factory")

    def __init__(self, data: LazyArray, header: fits.Header, phu: fits.Header, other: dict,
                 variance: LazyArray | None, mask: LazyArray | None) -> None:
        self.data = data
        self.variance = variance
        self.mask = mask
        self.meta = {"header": header, "other": other}
        self.wcs_factory = _HeaderWCS(phu)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def build(self) -> NDAstroData:
        """The NDAstroData of this extension (arrays still lazy, WCS still unbuilt)."""
        from astrodata.nddata import NDAstroData

        return NDAstroData(self.data, variance=self.variance, mask=self.mask, meta=self.meta,
                           wcs_factory=self.wcs_factory)

    def __repr__(self) -> str:
        return f"<PendingExtension {self.data!r}>"


def _make_nd(data: Any, header: fits.Header, phu: fits.Header, other: dict, variance: Any,
             mask: Any) -> PendingExtension:
    return PendingExtension(data, header, phu, other, variance, mask)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _clean_header(header: fits.Header) -> fits.Header:
    """A copy without the keywords astropy regenerates from the data."""
    out = header.copy(strip=False)
    for key in list(out):
        if key in _STRUCTURAL or key.startswith("NAXIS") or (
            key[:5] in ("TTYPE", "TFORM", "TUNIT", "TDISP", "TNULL", "TSCAL", "TZERO", "TDIM")
            and key[5:].isdigit()
        ):
            del out[key]
    return out


def _image_hdu(data: Any, header: fits.Header | None, name: str, ver: int) -> fits.ImageHDU:
    hdr = _clean_header(header) if header is not None else fits.Header()
    hdr["EXTNAME"] = (name, "Extension name")
    hdr["EXTVER"] = (ver, "Extension version")
    return fits.ImageHDU(data=np.asarray(data), header=hdr, name=name, ver=ver)


def _table_hdu(table: Table, name: str, ver: int | None) -> fits.BinTableHDU:
    from astropy.table import Table

    table = Table(table, copy=False)
    # a header holds no NaN or infinity: such meta values mean "not measured" and are
    # left out (astropy would warn and skip them one by one)
    undefined = [key for key, value in table.meta.items()
                 if isinstance(value, float) and not math.isfinite(value)]
    if undefined:
        table.meta = {k: v for k, v in table.meta.items() if k not in undefined}
    hdu = fits.table_to_hdu(table)
    hdu.header["EXTNAME"] = (name, "Extension name")
    if ver is not None:
        hdu.header["EXTVER"] = (ver, "Extension version")
    return hdu


def _ext_header_with_wcs(nd: NDAstroData) -> fits.Header:
    header = nd.meta.get("header")
    header = header.copy() if header is not None else fits.Header()
    if not nd.wcs_built() and not nd.meta_flags.get("wcs_set"):
        return header  # never touched: keep the header's own WCS keywords
    wcs = nd.wcs
    if wcs is None:
        return header
    if not nd.meta_flags.get("wcs_set"):
        fingerprint = nd.meta_flags.get("wcs_fingerprint")
        current = wcs_fingerprint(wcs, nd.shape)
        if fingerprint is not None and current is not None and np.array_equal(
            fingerprint, current
        ):
            return header
    keywords, _ = gwcs_to_fits(wcs, nd.shape)
    if keywords:
        update_header_wcs(header, keywords)
    return header


def to_hdulist(ad: Any) -> fits.HDUList:
    """The HDUList that :func:`write_fits` writes for an AstroData object."""
    from astropy.table import Table

    phu = _clean_header(ad.phu)
    n_ext = len(ad._all_nddata())
    hdus: list[Any] = [fits.PrimaryHDU(header=phu)]
    for ver, nd in enumerate(ad._all_nddata(), start=1):
        header = _ext_header_with_wcs(nd)
        hdus.append(_image_hdu(nd.data, header, "SCI", ver))
        if nd.has_variance():
            hdus.append(_image_hdu(np.asarray(nd.variance, dtype=np.float32), None, "VAR", ver))
        if nd.has_mask():
            hdus.append(_image_hdu(np.asarray(nd.mask).astype(DQ.datatype, copy=False), None,
                                   "DQ", ver))
        for name in sorted(nd.meta.get("other", {})):
            value = nd.meta["other"][name]
            if isinstance(value, LazyTable):
                value = value.load()
                nd.meta["other"][name] = value
            if isinstance(value, Table):
                hdus.append(_table_hdu(value, name, ver))
            elif isinstance(value, LazyArray | np.ndarray):
                arr = np.asarray(value)
                if name == "OBJMASK":
                    arr = arr.astype(np.uint8, copy=False)
                hdus.append(_image_hdu(arr, None, name, ver))
            else:
                log.warning("%s: extension %d item %s of type %s cannot be written; skipped",
                            ad.filename, ver, name, type(value).__name__)
    for name in sorted(ad._tables):
        table = ad._table(name)
        hdus.append(_table_hdu(table, name, None))
    hdus[0].header["NEXTEND"] = (len(hdus) - 1, "Number of extensions")
    if n_ext == 0 and not ad._tables:
        hdus[0].header["NEXTEND"] = (0, "Number of extensions")
    return fits.HDUList(hdus)


def write_fits(ad: Any, filename: str | os.PathLike[str], overwrite: bool = False) -> str:
    """Write ``ad`` to ``filename`` atomically; return the path written.

    The HDUList is written to a temporary file in the target directory, then
    renamed over the target, so a failure never leaves a partial file and a
    reader never sees one. A ``.gz`` name gives a gzipped file.

    Raises
    ------
    AstroDataError
        if the file exists and ``overwrite`` is False, or the write fails.
    """
    target = os.path.abspath(os.fspath(filename))
    if os.path.isdir(target):
        raise AstroDataError(f"{target}: is a directory")
    if os.path.exists(target) and not overwrite:
        raise AstroDataError(f"{target}: file exists (use overwrite=True to replace it)")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise AstroDataError(f"{target}: directory {directory} does not exist")
    # Pixels still to be read from the file being replaced must be mapped first:
    # the mapping keeps the old contents alive after the rename.
    ad._pin_source_files(target)
    hdulist = to_hdulist(ad)
    suffix = ".tmp.gz" if target.endswith(".gz") else ".tmp"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=suffix,
                                   dir=directory)
    except OSError as err:
        raise AstroDataError(f"{target}: cannot write ({err.strerror or err})") from None
    try:
        os.close(fd)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=fits.verify.VerifyWarning)
            hdulist.writeto(tmp, overwrite=True, output_verify="silentfix")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(err, AstroDataError | KeyboardInterrupt | SystemExit):
            raise
        if isinstance(err, OSError):
            raise AstroDataError(f"{target}: cannot write ({err.strerror or err})") from err
        raise AstroDataError(f"{target}: cannot write ({type(err).__name__}: {err})") from err
    return target
