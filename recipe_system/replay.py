"""Replay: read how a product was made (its ``REDUCTION`` table) and set up the same reduction.

``reduce`` writes into each product a ``REDUCTION`` table (one row per item,
the value as JSON): the recipe (``recipe_ref``: ``package.module.function``,
``/path/module.function`` or a primitive name), the mode, the user
parameters and calibrations, the input files with their MD5 checksums, every
calibration the steps used (frame, type, file, MD5, primitive), the package
version and the product's cache key (also the PHU keyword ``REDKEY``).

``reduce --replay FILE`` (``Reduce.replay = FILE``) runs that reduction
again: the same recipe and parameters on the same inputs, with the same
calibrations pinned through a calibration cache (so the databases cannot
choose others). Inputs and calibrations are looked for at their recorded
path, then next to FILE, then in the working directory (calibrations also
under ``calibrations/<type>/``); each must have its recorded checksum. After
the run, the product's key is compared with the recorded one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import astrodata
from astrodata.errors import AstroDataError
from astrodata.provenance import md5sum
from recipe_system.errors import ReduceError

__all__ = ["find_file", "prepare_replay", "read_reduction_record"]

#: Name of the product table holding the record (``coreReduce.REDUCTION_TABLE``).
TABLE = "REDUCTION"


def read_reduction_record(path: str | os.PathLike) -> dict[str, Any]:
    """The ``REDUCTION`` record of a product, as a dictionary.

    Raises
    ------
    ReduceError
        If the file cannot be read or has no ``REDUCTION`` table (it was not
        written by ``reduce``, or by a version that did not record it).
    """
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ReduceError(f"{name}: no such file")
    try:
        ad = astrodata.open(name)
    except (AstroDataError, OSError) as exc:
        raise ReduceError(f"{name}: cannot be read: {exc}") from None
    if TABLE not in getattr(ad, "tables", ()):
        raise ReduceError(f"{os.path.basename(name)}: has no {TABLE} table (not a product "
                          f"written by reduce)")
    record: dict[str, Any] = {}
    for row in getattr(ad, TABLE):
        try:
            record[str(row["item"])] = json.loads(str(row["value"]))
        except ValueError:
            record[str(row["item"])] = str(row["value"])
    record.setdefault("key", ad.phu.get("REDKEY"))
    return record


def _candidates(recorded: str | None, name: str, product: Path,
                extra: tuple[str, ...] = ()) -> list[Path]:
    places = []
    if recorded:
        places.append(Path(recorded))
    places.append(product.parent / name)
    places.append(Path.cwd() / name)
    places.extend(Path.cwd() / sub / name for sub in extra)
    return places


def find_file(recorded: str | None, md5: str | None, product: str | os.PathLike,
              what: str, extra_dirs: tuple[str, ...] = ()) -> str:
    """The file recorded at `recorded` (or of that name near `product`) with checksum `md5`.

    Raises
    ------
    ReduceError
        If no candidate exists, or none has the recorded checksum (the
        message names the file and says which).
    """
    name = os.path.basename(recorded or "")
    changed = []
    for candidate in _candidates(recorded, name, Path(product).absolute(), extra_dirs):
        if candidate.is_file():
            if md5 is None or md5sum(candidate) == md5:
                return str(candidate.absolute())
            changed.append(str(candidate))
    if changed:
        raise ReduceError(f"{what} {name}: {changed[0]} differs from the recorded file "
                          f"(MD5 {md5}); cannot replay")
    raise ReduceError(f"{what} {name}: not found (looked at its recorded path, next to "
                      f"{os.path.basename(os.fspath(product))} and in the working directory)")


def prepare_replay(reduction: Any, product: str | os.PathLike) -> dict[str, Any]:
    """Set up `reduction` (a ``Reduce``) to run again what made `product`; return the record.

    Raises
    ------
    ReduceError
        If the product has no record, or an input or calibration is missing
        or changed.
    """
    record = read_reduction_record(product)
    product = os.path.abspath(os.fspath(product))
    inputs = record.get("inputs") or []
    if not inputs:
        raise ReduceError(f"{os.path.basename(product)}: its record lists no input files")
    reduction.files = [find_file(item.get("path"), item.get("md5"), product, "input file")
                       for item in inputs]
    reduction.recipename = record.get("primitive") or record.get("recipe_ref") \
        or record.get("recipe") or "_default"
    reduction.mode = record.get("mode") or "sq"
    reduction.uparms = [tuple(item) for item in record.get("uparms") or []]
    reduction.suffix = record.get("suffix")
    reduction.drpkg = record.get("drpkg")
    reduction.adpkg = record.get("adpkg")
    reduction.ucals = {caltype: find_file(item.get("path"), item.get("md5"), product,
                                          f"user calibration {caltype}")
                       for caltype, item in (record.get("ucals") or {}).items()}
    pins: dict[str, dict[str, str]] = {}
    for use in record.get("calibrations") or []:
        if not use.get("path") or not use.get("frame_label"):
            continue
        path = find_file(use["path"], use.get("md5"), product,
                         f"calibration {use.get('caltype')}",
                         (os.path.join("calibrations", str(use.get("caltype"))),))
        pins.setdefault(str(use["frame_label"]), {})[use["caltype"]] = path
    if pins:
        from recipe_system.cal_service import write_cal_cache

        key = record.get("key") or "unknown"
        target = os.path.join(os.getcwd(), ".reducecache", "replay", f"{key}.calcache.json")
        write_cal_cache(target, pins)
        reduction.cal_cache = target
    reduction.replayed_key = record.get("key")
    reduction.replay = product
    return record
