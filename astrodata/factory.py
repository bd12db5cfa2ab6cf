"""The class factory: which AstroData class represents a given file.

Classes are registered through the ``astroreduce.instruments`` entry-point
group (loaded once, on first use) or with :func:`add_class` (what an
``--adpkg`` module does). :func:`open` asks every registered class whether it
matches the file's headers, keeps the most specific matching classes (a
class that is a base of another candidate is dropped) and builds the object.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
from typing import Any

import numpy as np
from astropy.io import fits

from astrodata.core import AstroData
from astrodata.errors import AstroDataError, NoMatchingClass
from astrodata.fits import FitsSource, read_source

__all__ = ["add_class", "create", "open", "registered_classes", "select_class"]

log = logging.getLogger("astrodata")

ENTRY_POINT_GROUP = "astroreduce.instruments"

_registry: list[type[AstroData]] = [AstroData]
_entry_points_loaded = False
_lock = threading.RLock()


def add_class(cls: type[AstroData]) -> None:
    """Register an AstroData subclass (it needs a static ``_matches_data(source)``)."""
    if not (isinstance(cls, type) and issubclass(cls, AstroData)):
        raise AstroDataError(f"{cls!r} is not an AstroData subclass")
    if not callable(getattr(cls, "_matches_data", None)):
        raise AstroDataError(f"{cls.__name__} has no _matches_data method")
    with _lock:
        if cls not in _registry:
            _registry.append(cls)


def remove_class(cls: type[AstroData]) -> None:
    """Unregister a class (for tests and plug-in reloads); the base class stays."""
    with _lock:
        if cls is not AstroData and cls in _registry:
            _registry.remove(cls)


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                cls = ep.load()
            except Exception as err:  # one broken plug-in must not hide the others
                log.warning("cannot load AstroData class %s (%s): %s: %s",
                            ep.name, ep.value, type(err).__name__, err)
                continue
            try:
                add_class(cls)
            except AstroDataError as err:
                log.warning("entry point %s: %s", ep.name, err)


def registered_classes() -> list[type[AstroData]]:
    """The classes known to the factory (entry points loaded on first call)."""
    _load_entry_points()
    with _lock:
        return list(_registry)


def select_class(source: FitsSource) -> type[AstroData]:
    """The most specific registered class whose ``_matches_data`` accepts ``source``.

    Raises
    ------
    NoMatchingClass
        if no class, or more than one unrelated class, matches.
    """
    candidates = []
    for cls in registered_classes():
        try:
            if cls._matches_data(source):
                candidates.append(cls)
        except Exception as err:  # a header a class cannot judge is not its file
            log.debug("%s._matches_data failed: %s", cls.__name__, err)
    specific = [c for c in candidates
                if not any(other is not c and issubclass(other, c) for other in candidates)]
    where = source.path or "HDUList"
    if not specific:
        raise NoMatchingClass(f"{where}: no AstroData class matches this file")
    if len(specific) > 1:
        names = ", ".join(sorted(c.__name__ for c in specific))
        raise NoMatchingClass(f"{where}: more than one AstroData class matches ({names})")
    return specific[0]


def open(source: str | os.PathLike[str] | fits.HDUList) -> AstroData:  # noqa: A001
    """Open a FITS file (or HDUList) as the most specific AstroData class.

    Only headers are read; pixels are memory-mapped on first access.

    Raises
    ------
    AstroDataError
        naming the file, if it cannot be read or no class matches.
    """
    src = read_source(source)
    return select_class(src).read(src)


def create(phu: Any, extensions: Any = None) -> AstroData:
    """Make an AstroData object in memory from a PHU and optional extensions.

    Parameters
    ----------
    phu : Header, PrimaryHDU, dict or list of cards
    extensions : list, optional
        ImageHDU, array, NDData/CCDData or table HDUs (BinTableHDU); an
        ``astropy.table.Table`` needs an ``EXTNAME`` in its meta.
    """
    from astropy.nddata import NDData
    from astropy.table import Table

    if isinstance(phu, fits.PrimaryHDU):
        header = phu.header.copy()
    elif isinstance(phu, fits.Header):
        header = phu.copy()
    elif isinstance(phu, dict):
        header = fits.Header()
        for key, value in phu.items():
            header[key] = value
    elif isinstance(phu, list | tuple):
        header = fits.Header(list(phu))
    else:
        raise AstroDataError(f"create: phu must be a Header, PrimaryHDU, dict or list of cards, "
                             f"not {type(phu).__name__}")
    hdus = [fits.PrimaryHDU(header=header)]
    pending = []
    for ext in extensions or []:
        if isinstance(ext, fits.ImageHDU | fits.BinTableHDU | fits.TableHDU):
            hdus.append(ext)
        elif isinstance(ext, Table):
            name = ext.meta.get("EXTNAME")
            if not name:
                raise AstroDataError("create: a Table extension needs meta['EXTNAME']")
            hdus.append(fits.table_to_hdu(ext))
        elif isinstance(ext, NDData | np.ndarray):
            pending.append(ext)
        else:
            raise AstroDataError(f"create: cannot use a {type(ext).__name__} as an extension")
    hdulist = fits.HDUList(hdus)
    src = read_source(hdulist)
    cls = select_class(src)
    ad = cls.read(src)
    for ext in pending:
        ad.append(ext)
    ad._tags_cache = None
    return ad
