"""astrodata: AstroData objects, tags, descriptors and FITS I/O (bottom layer).

>>> import astrodata
>>> ad = astrodata.open("S20131121S0075.fits")   # most specific registered class
>>> ad.tags, ad.exposure_time(), ad[0].data.shape

``NDAstroData`` and ``ADVarianceUncertainty`` are imported on first use (they
need ``astropy.nddata``, which costs more than reading a thousand headers).
"""

from typing import Any

from astrodata.core import AstroData
from astrodata.descriptors import astro_data_descriptor, returns_list
from astrodata.dq import DQ, mask_plane
from astrodata.errors import AstroDataError, FileFormatError, NoMatchingClass
from astrodata.factory import add_class, create, open, registered_classes
from astrodata.provenance import add_history, add_provenance, provenance_summary
from astrodata.section import Section
from astrodata.tags import TagSet, astro_data_tag
from astrodata.timestamps import TIMESTAMP_KEYWORDS, mark_history

#: Public names whose module is imported when they are first used.
_LAZY_NAMES = {"ADVarianceUncertainty": "astrodata.nddata", "NDAstroData": "astrodata.nddata"}


def __getattr__(name: str) -> Any:
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'astrodata' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))


__version__ = "0.1.0"
version = __version__

__all__ = [
    "ADVarianceUncertainty",
    "AstroData",
    "AstroDataError",
    "DQ",
    "FileFormatError",
    "NDAstroData",
    "NoMatchingClass",
    "Section",
    "TIMESTAMP_KEYWORDS",
    "TagSet",
    "__version__",
    "add_class",
    "add_history",
    "add_provenance",
    "astro_data_descriptor",
    "astro_data_tag",
    "create",
    "mark_history",
    "mask_plane",
    "open",
    "provenance_summary",
    "registered_classes",
    "returns_list",
    "version",
]
