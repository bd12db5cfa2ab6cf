"""AstroData: a primary header plus a list of image extensions and tables.

An ``AstroData`` object is what ``astrodata.open`` returns. It holds the PHU
(``ad.phu``), one :class:`~astrodata.nddata.NDAstroData` per ``SCI``
extension (``ad[i]``) and top-level tables (``ad.REFCAT``, ``ad.PROVENANCE``).
Subclasses (one per instrument, in ``astrodata/instruments``) add tag methods
and descriptors; :mod:`astrodata.factory` picks the most specific class for a
file.

An object read from a file holds its extensions as
:class:`~astrodata.fits.PendingExtension` until something other than their
headers, shapes or extension items is asked for; the NDAstroData are built
then (see ``_nd_at``). So ``astropy.nddata`` and ``astropy.table`` are only
imported by code that works on pixels or tables.
"""

from __future__ import annotations

import copy as copy_module
import logging
import os
import sys
import textwrap
import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits

from astrodata.descriptors import astro_data_descriptor, descriptor_names
from astrodata.dq import DQ
from astrodata.errors import AstroDataError
from astrodata.fits import LazyTable, PendingExtension, build_extensions, read_source, write_fits
from astrodata.headers import FitsHeaderCollection, set_new_keyword
from astrodata.lazyarray import LazyArray
from astrodata.tags import collect_tagsets, resolve_tags

if TYPE_CHECKING:
    from astrodata.nddata import NDAstroData

__all__ = ["AstroData"]

log = logging.getLogger("astrodata")

_NOT_GIVEN = object()
_RESERVED_ATTRIBUTES = {"SCI": "data", "VAR": "variance", "DQ": "mask"}


def _is_upper_name(name: str) -> bool:
    return not name.startswith("_") and name.isupper()


def _is_instance_of(value: Any, module: str, name: str) -> bool:
    """``isinstance(value, module.name)`` without importing ``module``.

    An object cannot be an instance of a class whose module was never
    imported, so the (costly) import of astropy.table or astropy.nddata is
    left to the code that makes such objects.
    """
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(value, getattr(loaded, name))


def _is_table(value: Any) -> bool:
    return _is_instance_of(value, "astropy.table", "Table")


def _is_nddata(value: Any) -> bool:
    return _is_instance_of(value, "astropy.nddata", "NDData")


class AstroData:
    """A FITS file as PHU + image extensions + tables, with tags and descriptors.

    Build one with :func:`astrodata.open` or :func:`astrodata.create`, not
    directly. Indexing gives *slices* that share the parent's data:
    ``ad[0]`` is a single slice (``is_single``), ``ad[1:3]`` a multi-slice.

    Per-extension attributes (``data``, ``variance``, ``mask``, ``wcs``,
    ``shape``, ``nddata``, ``hdr``) are scalars on a single slice and lists on
    a full object. Upper-case attributes are the extension's other items
    (``ad[0].OBJMASK``, ``ad[0].OBJCAT``) or top-level tables (``ad.REFCAT``).
    """

    #: Descriptor name -> header keyword; merged along the MRO by ``_keyword_for``.
    _keyword_dict = {
        "instrument": "INSTRUME",
        "object": "OBJECT",
        "telescope": "TELESCOP",
        "ut_date": "DATE-OBS",
    }

    def __init__(
        self,
        nddata: Iterable[NDAstroData] | None = None,
        phu: fits.Header | None = None,
        tables: dict[str, Any] | None = None,
        path: str | None = None,
    ) -> None:
        self._phu = phu if phu is not None else fits.Header()
        self._nddata: list[NDAstroData | PendingExtension] = list(nddata or [])
        self._tables: dict[str, Any] = dict(tables or {})
        self._indices: list[int] | None = None
        self._single = False
        self._path = None if path is None else os.path.abspath(os.fspath(path))
        self._files: list[Any] = []
        self._tags_cache: tuple[Any, frozenset[str]] | None = None
        if "ORIGNAME" not in self._phu and self._path is not None:
            self._phu["ORIGNAME"] = (os.path.basename(self._path),
                                     "Original filename prior to processing")

    # -- construction -------------------------------------------------------

    @staticmethod
    def _matches_data(source: Any) -> bool:
        """The base class accepts any FITS file."""
        return True

    @classmethod
    def read(cls, source: Any) -> AstroData:
        """Build an object of this class from a path, HDUList or FitsSource (headers only)."""
        src = read_source(source)
        ext = build_extensions(src)
        ad = cls(ext.nddata, ext.phu, ext.tables)
        ad._path = None if src.path is None else os.path.abspath(src.path)
        if src.file is not None:
            ad._files.append(src.file)
        if "ORIGNAME" not in ad._phu and ad._path is not None:
            set_new_keyword(ad._phu, "ORIGNAME", os.path.basename(ad._path),
                            "Original filename prior to processing")
        return ad

    load = read

    def _slice(self, indices: list[int], single: bool) -> AstroData:
        obj = object.__new__(type(self))
        obj.__dict__.update(self.__dict__)
        obj._indices = indices
        obj._single = single
        obj._tags_cache = None
        return obj

    # -- structure ----------------------------------------------------------

    def _nd_at(self, index: int) -> NDAstroData:
        """The NDAstroData of extension ``index``, built now if it is still pending.

        The list is shared by every slice of the object, so all see the built one.
        """
        nd = self._nddata[index]
        if isinstance(nd, PendingExtension):
            nd = self._nddata[index] = nd.build()
        return nd

    def _selected(self) -> list[NDAstroData]:
        if self._indices is None:
            return [self._nd_at(i) for i in range(len(self._nddata))]
        return [self._nd_at(i) for i in self._indices]

    def _selected_stored(self) -> list[NDAstroData | PendingExtension]:
        """The selected extensions as stored, pending ones not built (for ``meta``, ``shape``)."""
        if self._indices is None:
            return list(self._nddata)
        return [self._nddata[i] for i in self._indices]

    def _all_nddata(self) -> list[NDAstroData]:
        return self._selected()

    @property
    def is_single(self) -> bool:
        """True for a single slice (``ad[i]``)."""
        return self._single

    @property
    def is_sliced(self) -> bool:
        """True for any slice of a parent object."""
        return self._indices is not None

    @property
    def indices(self) -> list[int]:
        """Indices of the extensions in the parent object."""
        return list(range(len(self._nddata))) if self._indices is None else list(self._indices)

    def __len__(self) -> int:
        if self._single:
            return 1
        return len(self._nddata) if self._indices is None else len(self._indices)

    def __iter__(self) -> Iterator[AstroData]:
        if self._single:
            yield self
            return
        for i in self.indices:
            yield self._slice([i], True)

    def __getitem__(self, index: Any) -> AstroData:
        if self._single:
            raise AstroDataError("a single slice cannot be sliced again")
        indices = self.indices
        if isinstance(index, int | np.integer):
            try:
                return self._slice([indices[int(index)]], True)
            except IndexError:
                raise IndexError(
                    f"extension index {index} out of range for {len(indices)} extension(s)"
                ) from None
        if isinstance(index, slice):
            return self._slice(indices[index], False)
        if isinstance(index, tuple | list):
            try:
                return self._slice([indices[int(i)] for i in index], False)
            except IndexError:
                raise IndexError(
                    f"extension indices {index} out of range for {len(indices)} extension(s)"
                ) from None
        raise TypeError(f"AstroData indices must be integers, slices or tuples, not {index!r}")

    def __setitem__(self, index: int, value: Any) -> None:
        if self._single:
            raise AstroDataError("cannot assign into a single slice")
        i = self.indices[index]
        from astrodata.nddata import NDAstroData

        if isinstance(value, AstroData):
            if not value.is_single:
                raise AstroDataError("only a single slice can be assigned to an extension")
            nd = value.nddata
        elif isinstance(value, NDAstroData):
            nd = value
        else:
            raise TypeError(f"cannot assign a {type(value).__name__} to an extension")
        if nd is not self._nddata[i]:
            self._nddata[i] = nd

    def __delitem__(self, index: int) -> None:
        if self.is_sliced:
            raise AstroDataError("extensions can only be deleted from an unsliced object")
        del self._nddata[index]

    def __repr__(self) -> str:
        what = self.filename or "(no file)"
        if self._single:
            return f"<{type(self).__name__} {what} [{self.indices[0]}]>"
        return f"<{type(self).__name__} {what}: {len(self)} extension(s)>"

    def __deepcopy__(self, memo: dict) -> AstroData:
        for index in range(len(self._nddata)):
            self._nd_at(index)  # copies are of NDAstroData, as they always were
        obj = object.__new__(type(self))
        memo[id(self)] = obj
        for key, value in self.__dict__.items():
            if key in ("_files", "_path"):
                obj.__dict__[key] = copy_module.copy(value)
            elif key == "_tags_cache":
                obj.__dict__[key] = None
            else:
                obj.__dict__[key] = copy_module.deepcopy(value, memo)
        return obj

    # -- headers ------------------------------------------------------------

    @property
    def phu(self) -> fits.Header:
        """The primary header."""
        return self._phu

    @phu.setter
    def phu(self, header: fits.Header) -> None:
        if not isinstance(header, fits.Header):
            raise TypeError(f"phu must be an astropy Header, not {type(header).__name__}")
        self._phu = header
        self._tags_cache = None

    @property
    def hdr(self) -> Any:
        """Extension header(s): a Header on a single slice, else a FitsHeaderCollection."""
        if self._single:
            return self._header_of(self._selected_stored()[0])
        return FitsHeaderCollection([self._header_of(nd) for nd in self._selected_stored()])

    @staticmethod
    def _header_of(nd: NDAstroData | PendingExtension) -> fits.Header:
        header = nd.meta.get("header")
        if header is None:
            header = nd.meta["header"] = fits.Header([("EXTNAME", "SCI")])
        return header

    # -- per-extension attributes ---------------------------------------------

    def _per_ext(self, getter: Any, stored: bool = False) -> Any:
        extensions = self._selected_stored() if stored else self._selected()
        values = [getter(nd) for nd in extensions]
        return values[0] if self._single else values

    def _single_nd(self, what: str) -> NDAstroData:
        if not self._single:
            raise AstroDataError(
                f"{what} can only be set on a single slice (use ad[i].{what} = ...)"
            )
        return self._selected()[0]

    @property
    def nddata(self) -> Any:
        """The NDAstroData of a single slice, or the list of them."""
        return self._per_ext(lambda nd: nd)

    @property
    def data(self) -> Any:
        """Pixel data (an array on a single slice, a list otherwise)."""
        return self._per_ext(lambda nd: nd.data)

    @data.setter
    def data(self, value: Any) -> None:
        self._single_nd("data").data = value

    @property
    def variance(self) -> Any:
        """Variance array(s) (None where there is none)."""
        return self._per_ext(lambda nd: nd.variance)

    @variance.setter
    def variance(self, value: Any) -> None:
        self._single_nd("variance").variance = value

    @property
    def uncertainty(self) -> Any:
        """The astropy uncertainty object(s) (variance)."""
        return self._per_ext(lambda nd: nd.uncertainty)

    @uncertainty.setter
    def uncertainty(self, value: Any) -> None:
        self._single_nd("uncertainty").uncertainty = value

    @property
    def mask(self) -> Any:
        """DQ array(s), uint16 (None where there is none)."""
        return self._per_ext(lambda nd: nd.mask)

    @mask.setter
    def mask(self, value: Any) -> None:
        self._single_nd("mask").mask = value

    @property
    def wcs(self) -> Any:
        """gWCS (a list on a full object)."""
        return self._per_ext(lambda nd: nd.wcs)

    @wcs.setter
    def wcs(self, value: Any) -> None:
        self._single_nd("wcs").wcs = value

    @property
    def shape(self) -> Any:
        """Data shape(s), known without reading pixels."""
        return self._per_ext(lambda nd: nd.shape, stored=True)

    @property
    def id(self) -> int:
        """1-based number of a single slice's extension."""
        if not self._single:
            raise AstroDataError("id is only defined on a single slice")
        return self.indices[0] + 1

    # -- upper-case attributes: extension items and top-level tables ------------

    def _table(self, name: str) -> Any:
        value = self._tables[name]
        if isinstance(value, LazyTable):
            value = value.load()
            self._tables[name] = value
        return value

    def __getattr__(self, name: str) -> Any:
        if not _is_upper_name(name) or "_nddata" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if self._single:
            other = self._selected_stored()[0].meta.setdefault("other", {})
            if name in other:
                value = other[name]
                if isinstance(value, LazyTable | LazyArray):
                    value = value.load()
                    other[name] = value
                return value
        if name in self._tables:
            return self._table(name)
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
            + ("" if self._single else " (extension items need a single slice: ad[i]." + name + ")")
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if not _is_upper_name(name):
            object.__setattr__(self, name, value)
            return
        if name in _RESERVED_ATTRIBUTES:
            raise AttributeError(f"use .{_RESERVED_ATTRIBUTES[name]} to set {name}")
        if self._single:
            other = self._selected_stored()[0].meta.setdefault("other", {})
            if value is None:
                other.pop(name, None)
            elif _is_table(value) or isinstance(value, np.ndarray):
                other[name] = value
            elif _is_nddata(value):
                other[name] = np.asarray(value.data)
            else:
                raise AstroDataError(
                    f"{name} must be a Table or an array, not {type(value).__name__}"
                )
            return
        if value is None:
            self._tables.pop(name, None)
        elif _is_table(value):
            self._tables[name] = value
        else:
            raise AstroDataError(
                f"only tables can be top-level attributes ({name} is a {type(value).__name__}); "
                f"per-extension arrays are set on a slice: ad[i].{name} = ..."
            )

    def __delattr__(self, name: str) -> None:
        if not _is_upper_name(name):
            object.__delattr__(self, name)
            return
        if self._single:
            other = self._selected_stored()[0].meta.get("other", {})
            if name in other:
                del other[name]
                return
        if name in self._tables:
            del self._tables[name]
            return
        raise AttributeError(f"no attribute {name!r} to delete")

    @property
    def tables(self) -> set[str]:
        """Names of the top-level tables."""
        return set(self._tables)

    @property
    def ext_tables(self) -> set[str]:
        """Names of the tables of a single slice (e.g. OBJCAT)."""
        if not self._single:
            raise AstroDataError("ext_tables is only defined on a single slice")
        other = self._selected_stored()[0].meta.get("other", {})
        return {k for k, v in other.items() if _is_table(v) or isinstance(v, LazyTable)}

    @property
    def exposed(self) -> set[str]:
        """Upper-case attribute names available on this object."""
        names = set(self._tables)
        if self._single:
            names |= set(self._selected_stored()[0].meta.get("other", {}))
        return names

    # -- files --------------------------------------------------------------

    @property
    def path(self) -> str | None:
        """Full path of the file (None for an object made in memory)."""
        return self._path

    @path.setter
    def path(self, value: str | os.PathLike[str] | None) -> None:
        self._path = None if value is None else os.path.abspath(os.fspath(value))
        if self._path is not None and "ORIGNAME" not in self._phu:
            self._phu["ORIGNAME"] = (os.path.basename(self._path),
                                     "Original filename prior to processing")

    @property
    def filename(self) -> str | None:
        """Base name of the file."""
        return None if self._path is None else os.path.basename(self._path)

    @filename.setter
    def filename(self, value: str | None) -> None:
        if value is None:
            self._path = None
            return
        if os.path.isabs(value):
            raise AstroDataError(f"filename must be a bare name, not a path: {value!r}")
        directory = os.path.dirname(self._path) if self._path else os.getcwd()
        self.path = os.path.join(directory, value)

    @property
    def orig_filename(self) -> str | None:
        """The original name of the file (PHU ``ORIGNAME``)."""
        return self._phu.get("ORIGNAME")

    def update_filename(
        self, prefix: str | None = None, suffix: str | None = None, strip: bool = False
    ) -> None:
        """Change the file name by adding a prefix and replacing suffixes.

        The name is seen as ``<prefix><root><suffixes><ext>`` where ``root``
        is the ``ORIGNAME`` root. A new ``suffix`` replaces only the last
        ``_suffix`` after the root (``N001_flat_stack`` + ``_x`` ->
        ``N001_flat_x``), or all of them with ``strip=True`` (-> ``N001_x``).
        A new ``prefix`` is prepended, or replaces the existing prefix with
        ``strip=True``. ``None`` (or ``''``) leaves that part alone.
        """
        if self.filename is None:
            orig = self.orig_filename
            if orig is None:
                raise AstroDataError("the object has no filename to update")
            self.filename = orig
        if "ORIGNAME" not in self._phu:
            self._phu["ORIGNAME"] = (self.filename, "Original filename prior to processing")
        name = self.filename
        ext = ""
        for candidate in (".fits.gz", ".fits.bz2", ".fits", ".fit", ".fts"):
            if name.lower().endswith(candidate):
                ext = name[-len(candidate):]
                name = name[: -len(candidate)]
                break
        else:
            name, ext = os.path.splitext(name)
        orig_root = self.orig_filename or name
        for candidate in (".fits.gz", ".fits.bz2", ".fits", ".fit", ".fts"):
            if orig_root.lower().endswith(candidate):
                orig_root = orig_root[: -len(candidate)]
                break
        else:
            orig_root = os.path.splitext(orig_root)[0]
        at = name.find(orig_root) if orig_root else -1
        if at >= 0:
            old_prefix, root, tail = name[:at], orig_root, name[at + len(orig_root):]
        else:
            old_prefix, root, tail = "", name, ""
        if suffix:
            if strip:
                tail = suffix
            else:
                cut = tail.rfind("_")
                tail = (tail[:cut] if cut >= 0 else tail) + suffix
        if prefix:
            new_prefix = prefix if strip else prefix + old_prefix
        else:
            new_prefix = old_prefix
        self.filename = new_prefix + root + tail + ext

    def write(self, filename: str | os.PathLike[str] | None = None,
              overwrite: bool = False) -> str:
        """Write to ``filename`` (default ``self.path``), atomically; return the path.

        Refuses to replace an existing file (including the one the object was
        read from) unless ``overwrite=True``.
        """
        if filename is None:
            if self._path is None:
                raise AstroDataError("no filename given and the object has no path")
            filename = self._path
        return write_fits(self, filename, overwrite=overwrite)

    def _pin_source_files(self, target: str) -> None:
        """Map the source file about to be replaced, so unread pixels and tables survive."""
        for file in self._files:
            if os.path.realpath(file.path) == os.path.realpath(target):
                file.buffer()

    # -- tags and descriptors ---------------------------------------------------

    @property
    def tags(self) -> frozenset[str]:
        """The tags of this object, recomputed when the PHU changes."""
        phu = self._phu
        key = (id(phu), len(self._nddata))
        cache = self._tags_cache
        if cache is not None and cache[0] == key and not _header_modified(phu):
            return cache[1]
        tags = resolve_tags(collect_tagsets(self))
        _mark_header_clean(phu)
        self._tags_cache = (key, tags)
        return tags

    @property
    def descriptors(self) -> tuple[str, ...]:
        """Names of the descriptor methods of this class."""
        return descriptor_names(type(self))

    def descriptor_values(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """``{name: value}`` for the given descriptors (all by default).

        A descriptor that does not exist or raises gives None.
        """
        result: dict[str, Any] = {}
        for name in self.descriptors if names is None else names:
            method = getattr(type(self), name, None)
            if method is None or not getattr(method, "descriptor_method", False):
                result[name] = None
                continue
            try:
                result[name] = getattr(self, name)()
            except Exception as err:
                log.debug("%s: descriptor %s failed: %s", self.filename, name, err)
                result[name] = None
        return result

    @classmethod
    def _keyword_for(cls, name: str) -> str:
        """Header keyword of a descriptor, from ``_keyword_dict`` along the MRO."""
        for klass in cls.__mro__:
            table = klass.__dict__.get("_keyword_dict")
            if table and name in table:
                return table[name]
        raise AttributeError(f"no keyword known for descriptor {name!r}")

    @astro_data_descriptor
    def instrument(self) -> str | None:
        """Instrument name (PHU ``INSTRUME``)."""
        return self._phu.get(self._keyword_for("instrument"))

    @astro_data_descriptor
    def object(self) -> str | None:
        """Target name (PHU ``OBJECT``)."""
        return self._phu.get(self._keyword_for("object"))

    @astro_data_descriptor
    def telescope(self) -> str | None:
        """Telescope name (PHU ``TELESCOP``)."""
        return self._phu.get(self._keyword_for("telescope"))

    # -- adding and changing extensions ---------------------------------------

    def append(self, ext: Any, name: str | None = None, header: fits.Header | None = None) -> Any:
        """Add an extension (array, NDData/CCDData, ImageHDU, single slice) or a table.

        Returns the new single slice (or the table).
        """
        if self.is_sliced:
            raise AstroDataError("cannot append to a sliced object")
        if name is not None and not name.isupper():
            log.warning("extension name %r is not upper case; using %r", name, name.upper())
            name = name.upper()
        if _is_table(ext):
            if not name:
                raise AstroDataError("a table needs a name to be appended")
            setattr(self, name, ext)
            return ext
        if name not in (None, "SCI"):
            raise AstroDataError(
                f"cannot append a {type(ext).__name__} as {name!r}: append images as SCI, "
                f"set extension items on a slice (ad[i].{name} = ...)"
            )
        nd = _as_nddata(ext, header)
        hdr = nd.meta["header"]
        hdr["EXTNAME"] = ("SCI", "Extension name")
        hdr["EXTVER"] = (len(self._nddata) + 1, "Extension version")
        self._nddata.append(nd)
        return self[len(self._nddata) - 1]

    def reset(self, data: Any, mask: Any = _NOT_GIVEN, variance: Any = _NOT_GIVEN,
              check: bool = True) -> None:
        """Replace a single slice's data (and mask/variance if given; None removes them)."""
        from astrodata.nddata import variance_of

        nd = self._single_nd("reset")
        if _is_nddata(data):
            if mask is _NOT_GIVEN:
                mask = data.mask
            if variance is _NOT_GIVEN:
                variance = variance_of(data.uncertainty)
            data = data.data
        data = np.asanyarray(data)
        if check:
            for what, arr in (("mask", mask), ("variance", variance)):
                if arr is not _NOT_GIVEN and arr is not None and np.shape(arr) != data.shape:
                    raise AstroDataError(
                        f"{what} shape {np.shape(arr)} does not match data shape {data.shape}"
                    )
        nd.data = data
        if mask is not _NOT_GIVEN:
            nd.mask = mask
        if variance is not _NOT_GIVEN:
            nd.variance = variance

    def operate(self, operator: Any, *args: Any, **kwargs: Any) -> None:
        """Apply ``operator(array, *args, **kwargs)`` to the data, mask and variance."""
        for nd in self._selected():
            nd.data = operator(nd.data, *args, **kwargs)
            if nd.mask is not None:
                nd.mask = operator(nd.mask, *args, **kwargs)
            if nd.variance is not None:
                nd.variance = operator(nd.variance, *args, **kwargs)

    def crop(self, x1: int, y1: int, x2: int, y2: int) -> None:
        """Keep pixels ``x1..x2``, ``y1..y2`` (0-based, inclusive) of every extension.

        Variance, mask, same-shaped extension items (OBJMASK) and the WCS
        follow.
        """
        item = (Ellipsis, slice(y1, y2 + 1), slice(x1, x2 + 1))
        for i in self.indices:
            self._nddata[i] = self._nd_at(i)[item]

    # -- arithmetic ---------------------------------------------------------

    def _operate(self, op: str, other: Any, inplace: bool, reflected: bool = False) -> AstroData:
        target = self if inplace else copy_module.deepcopy(self)
        exts = target._selected()
        if isinstance(other, AstroData):
            if other.is_single:
                operands = [other.nddata] * len(exts)
            else:
                if len(other) != len(exts):
                    raise AstroDataError(
                        f"cannot {op} objects with {len(exts)} and {len(other)} extensions"
                    )
                operands = other._selected()
                for name in other._tables:
                    if name not in target._tables:
                        target._tables[name] = copy_module.deepcopy(other._tables[name])
        else:
            operands = [other] * len(exts)
        for nd, operand in zip(exts, operands, strict=True):
            if reflected:
                new = nd._apply(op, operand, reflected=True)
                nd.data, nd.variance, nd.mask = new.data, new.variance, new.mask
            else:
                nd._apply_inplace(op, operand)
        return target

    def add(self, other: Any) -> AstroData:
        """In-place ``self += other``."""
        return self._operate("add", other, inplace=True)

    def subtract(self, other: Any) -> AstroData:
        """In-place ``self -= other``."""
        return self._operate("subtract", other, inplace=True)

    def multiply(self, other: Any) -> AstroData:
        """In-place ``self *= other``."""
        return self._operate("multiply", other, inplace=True)

    def divide(self, other: Any) -> AstroData:
        """In-place ``self /= other``."""
        return self._operate("divide", other, inplace=True)

    def __add__(self, other: Any) -> AstroData:
        return self._operate("add", other, inplace=False)

    def __sub__(self, other: Any) -> AstroData:
        return self._operate("subtract", other, inplace=False)

    def __mul__(self, other: Any) -> AstroData:
        return self._operate("multiply", other, inplace=False)

    def __truediv__(self, other: Any) -> AstroData:
        return self._operate("divide", other, inplace=False)

    def __radd__(self, other: Any) -> AstroData:
        return self._operate("add", other, inplace=False, reflected=True)

    def __rsub__(self, other: Any) -> AstroData:
        return self._operate("subtract", other, inplace=False, reflected=True)

    def __rmul__(self, other: Any) -> AstroData:
        return self._operate("multiply", other, inplace=False, reflected=True)

    def __rtruediv__(self, other: Any) -> AstroData:
        return self._operate("divide", other, inplace=False, reflected=True)

    def __iadd__(self, other: Any) -> AstroData:
        return self._operate("add", other, inplace=True)

    def __isub__(self, other: Any) -> AstroData:
        return self._operate("subtract", other, inplace=True)

    def __imul__(self, other: Any) -> AstroData:
        return self._operate("multiply", other, inplace=True)

    def __itruediv__(self, other: Any) -> AstroData:
        return self._operate("divide", other, inplace=True)

    __array_ufunc__ = None  # ndarray + ad -> ad.__radd__

    # -- summary ----------------------------------------------------------------

    def info(self) -> None:
        """Print the file name, tags, extensions and tables."""
        print(self._info_text())

    def _info_text(self) -> str:
        lines = [f"Filename: {self.path or '(not written)'}"]
        tags = " ".join(sorted(self.tags))
        lines.append(textwrap.fill(tags, width=80, initial_indent="Tags: ",
                                   subsequent_indent="    "))
        lines.append("")
        lines.append("Pixels Extensions")
        lines.append(f"{'Index':<6} {'Content':<22} {'Type':<22} {'Dimensions':<16} Format")
        for i, nd in zip(self.indices, self._selected(), strict=True):
            lines.append(f"[{i:2d}]   {'science':<22} {'NDAstroData':<22} "
                         f"{str(nd.shape):<16} {nd.dtype}")
            if nd.has_variance():
                lazy = nd._lazy_variance
                shape, dtype = ((lazy.shape, lazy.dtype) if lazy is not None
                                else (nd.variance.shape, nd.variance.dtype))
                lines.append(f"{'':6} {'.variance':<22} {'ADVarianceUncertainty':<22} "
                             f"{str(tuple(shape)):<16} {dtype}")
            if nd.has_mask():
                m = nd._mask
                lines.append(f"{'':6} {'.mask':<22} {'ndarray':<22} "
                             f"{str(tuple(m.shape)):<16} {m.dtype}")
            for name, value in sorted(nd.meta.get("other", {}).items()):
                if _is_table(value):
                    kind, dims, dtype = "Table", str((len(value), len(value.columns))), "n/a"
                elif isinstance(value, LazyTable):
                    kind, dims, dtype = "Table", "(not read)", "n/a"
                else:
                    kind = "ndarray" if isinstance(value, LazyArray) else type(value).__name__
                    dims = str(tuple(getattr(value, "shape", ())))
                    dtype = str(getattr(value, "dtype", "n/a"))
                lines.append(f"{'':6} {'.' + name:<22} {kind:<22} {dims:<16} {dtype}")
        if self._tables:
            lines.append("")
            lines.append("Other Extensions")
            lines.append(f"{'':16} {'Type':<12} Dimensions")
            for name in sorted(self._tables):
                value = self._tables[name]
                if _is_table(value):
                    dims = str((len(value), len(value.columns)))
                else:
                    dims = "(not read)"
                lines.append(f"{'.' + name:<16} {'Table':<12} {dims}")
        return "\n".join(lines)


def _header_modified(header: fits.Header) -> bool:
    """Whether an astropy Header changed since :func:`_mark_header_clean`."""
    try:
        return bool(header._modified)
    except AttributeError:
        return True


def _mark_header_clean(header: fits.Header) -> None:
    # Our PHU objects are never attached to an astropy HDU, so astropy's own
    # "modified" flags are free for us to use as a change detector.
    if getattr(header, "is_materialized", lambda: True)() is False:
        header._modified = False  # a LazyHeader not yet built has no card flags
        return
    try:
        for card in header._cards:
            if card._modified:
                # astropy re-renders a card's cached image only while the card is
                # flagged modified: render it now, or a later write emits the old value
                card.image  # noqa: B018
                card._modified = False
        header._modified = False
    except AttributeError:
        pass


def _header_from_meta(meta: Any) -> fits.Header:
    """A FITS header from an NDData/CCDData ``meta`` (a Header or a mapping)."""
    if isinstance(meta, fits.Header):
        return meta.copy()
    header = fits.Header()
    if not meta:
        return header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=fits.verify.VerifyWarning)
        for key, value in meta.items():
            try:
                header[str(key)] = value
            except (ValueError, TypeError) as err:
                log.debug("metadata %s not representable in a FITS header: %s", key, err)
    return header


def _as_nddata(ext: Any, header: fits.Header | None) -> NDAstroData:
    """An NDAstroData (with ``meta['header']``) from anything ``append`` accepts."""
    from astropy.nddata import NDData

    from astrodata.nddata import NDAstroData, variance_of

    if isinstance(ext, fits.PrimaryHDU):
        raise AstroDataError("a PrimaryHDU cannot be appended as an extension")
    if isinstance(ext, AstroData):
        if not ext.is_single:
            raise AstroDataError("only a single slice of an AstroData object can be appended")
        nd = copy_module.deepcopy(ext.nddata)
        if header is not None:
            nd.meta["header"] = header.copy()
        elif nd.meta.get("header") is None:
            nd.meta["header"] = fits.Header()
        return nd
    if isinstance(ext, fits.ImageHDU | fits.CompImageHDU):
        hdr = header.copy() if header is not None else ext.header.copy()
        return NDAstroData(ext.data, meta={"header": hdr, "other": {}})
    if isinstance(ext, NDAstroData):
        nd = NDAstroData(ext._data, mask=ext._mask,
                         variance=ext._lazy_variance if ext._lazy_variance is not None
                         else ext.variance,
                         meta=dict(ext.meta), unit=ext.unit)
        if ext.wcs is not None:
            nd.wcs = ext.wcs
    elif isinstance(ext, NDData):
        meta: dict = {}
        hdr = getattr(ext, "header", None)
        variance = variance_of(ext.uncertainty)
        nd = NDAstroData(np.asarray(ext.data), mask=ext.mask, variance=variance, meta=meta,
                         unit=ext.unit)
        if ext.wcs is not None:
            try:
                nd.wcs = ext.wcs
            except TypeError as err:
                log.warning("WCS of the appended %s not kept: %s", type(ext).__name__, err)
        nd.meta["header"] = _header_from_meta(hdr if hdr is not None else ext.meta)
    elif isinstance(ext, np.ndarray | list | tuple) or np.isscalar(ext):
        nd = NDAstroData(np.asanyarray(ext), meta={"other": {}})
    else:
        raise AstroDataError(f"cannot append a {type(ext).__name__}")
    if header is not None:
        nd.meta["header"] = header.copy()
    elif nd.meta.get("header") is None:
        nd.meta["header"] = fits.Header()
    else:
        nd.meta["header"] = nd.meta["header"].copy()
    nd.meta.setdefault("other", {})
    if nd.unit is not None:
        nd.meta["header"]["BUNIT"] = (nd.unit.to_string("fits"), "Physical unit of the data")
    if nd.mask is not None:
        nd.mask = np.asarray(nd.mask).astype(DQ.datatype, copy=False)
    return nd
