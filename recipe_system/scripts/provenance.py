"""The ``provenance`` command: how a product was made — recipe, parameters, inputs, calibrations.

``provenance FILE`` prints, from the product's ``REDUCTION`` table, its
``HISTORY``/``PROVENANCE`` tables and its cache key (PHU ``REDKEY``):

* the recipe and the command that reproduces it (``reduce --replay FILE``),
  the mode, the user parameters and calibrations, the software version;
* every primitive that ran, with its parameters as resolved (``HISTORY``);
* the input files with their MD5 checksums (``PROVENANCE``), marked when a
  file next to the product or at its recorded path no longer matches;
* the calibrations: type, file, MD5, the frame and the primitive using it;
* whether the step cache in ``./.reducecache`` (or ``--cache DIR``) still
  holds the journal of that key.

Files made without a ``REDUCTION`` table (by an older version, or written in
the middle of a recipe) show what their ``HISTORY`` and ``PROVENANCE`` hold.
``--json`` prints everything as one JSON object.

Exit status: 0, or 1 with one line on stderr (``provenance: error: ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import astrodata
from astrodata.errors import AstroDataError
from astrodata.provenance import md5sum
from recipe_system.errors import ReduceError

__all__ = ["build_parser", "describe", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``provenance`` command."""
    parser = argparse.ArgumentParser(
        prog="provenance",
        description="Show how a product was made: recipe, parameters, input files with "
                    "checksums, calibrations, and the command that re-runs it.")
    parser.add_argument("file", metavar="FILE", help="a product written by reduce")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="step cache to look the key up in (default ./.reducecache, "
                             "then the one next to FILE)")
    parser.add_argument("--check", action="store_true",
                        help="also check the MD5 of the inputs and calibrations found on "
                             "disk")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


def _rows(ad: Any, name: str) -> list[dict[str, str]]:
    if name not in getattr(ad, "tables", ()):
        return []
    table = getattr(ad, name)
    return [{column: str(row[column]) for column in table.colnames} for row in table]


def _cache_status(key: str | None, product: str, cache: str | None) -> dict[str, Any]:
    if not key:
        return {"key": None, "found": False, "where": None}
    places = [cache] if cache else [os.path.join(os.getcwd(), ".reducecache"),
                                    os.path.join(os.path.dirname(product), ".reducecache")]
    for place in places:
        if not place or not os.path.isdir(place):
            continue
        for name in os.listdir(os.path.join(place, "products")) \
                if os.path.isdir(os.path.join(place, "products")) else []:
            try:
                with open(os.path.join(place, "products", name), encoding="utf-8") as stream:
                    data = json.load(stream)
            except (OSError, ValueError):
                continue
            if data.get("key") == key:
                return {"key": key, "found": True, "where": os.path.abspath(place),
                        "written": data.get("written")}
    return {"key": key, "found": False, "where": None}


def _check(path: str | None, md5: str | None, product: str) -> str:
    """'ok', 'changed' or 'missing' for a recorded file."""
    candidates = [p for p in (path, os.path.join(os.path.dirname(product),
                                                 os.path.basename(path or ""))) if p]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return "ok" if md5 is None or md5sum(candidate) == md5 else "changed"
    return "missing"


def describe(path: str, cache: str | None = None, check: bool = False) -> dict[str, Any]:
    """Everything known about how `path` was made, as a dictionary.

    Raises
    ------
    ReduceError
        If the file cannot be read.
    """
    if not os.path.isfile(path):
        raise ReduceError(f"{path}: no such file")
    try:
        ad = astrodata.open(path)
    except (AstroDataError, OSError) as exc:
        raise ReduceError(f"{path}: cannot be read: {exc}") from None
    product = os.path.abspath(path)
    record: dict[str, Any] = {}
    if "REDUCTION" in getattr(ad, "tables", ()):
        from recipe_system.replay import read_reduction_record

        record = read_reduction_record(product)
    key = record.get("key") or ad.phu.get("REDKEY")
    history = _rows(ad, "HISTORY")
    for row in history:
        try:
            row["args"] = json.loads(row.get("args") or "{}")
        except ValueError:
            pass
    provenance = _rows(ad, "PROVENANCE")
    calibrations = record.get("calibrations") or []
    cal_names = {os.path.basename(c.get("path") or "") for c in calibrations}
    inputs = record.get("inputs") or [
        {"name": row["filename"], "path": None, "md5": row["md5"]} for row in provenance
        if row["filename"] not in cal_names and row.get("provenance_added_by") ==
        (provenance[0].get("provenance_added_by") if provenance else None)]
    if check:
        for item in inputs:
            item["status"] = _check(item.get("path") or item.get("name"), item.get("md5"),
                                    product)
        for item in calibrations:
            item["status"] = _check(item.get("path"), item.get("md5"), product)
    replay = f"reduce --replay {path}" if record else None
    return {
        "file": path,
        "key": key,
        "recipe": record.get("recipe"),
        "recipe_ref": record.get("recipe_ref"),
        "primitive_class": record.get("primitive_class"),
        "mode": record.get("mode"),
        "user_parameters": record.get("uparms") or [],
        "user_calibrations": record.get("ucals") or {},
        "version": record.get("version"),
        "created": record.get("created"),
        "inputs": inputs,
        "calibrations": calibrations,
        "steps": history,
        "provenance_rows": provenance,
        "replay": replay,
        "cache": _cache_status(key, product, cache),
    }


def _print(info: dict[str, Any]) -> None:
    out = print
    out(f"File:        {info['file']}")
    out(f"Cache key:   {info['key'] or '(none recorded)'}")
    if info["recipe"]:
        out(f"Recipe:      {info['recipe']} ({info['recipe_ref']}), mode {info['mode']}")
        out(f"Primitives:  {info['primitive_class']}")
        out(f"Made by:     astroreduce {info['version']} on {info['created']} UTC")
        out(f"Re-run with: {info['replay']}")
    else:
        out("Recipe:      not recorded (this file has no REDUCTION table)")
    if info["user_parameters"]:
        out("User parameters:")
        for key, value in info["user_parameters"]:
            out(f"    {key}={value}")
    if info["user_calibrations"]:
        out("User calibrations:")
        for caltype, item in info["user_calibrations"].items():
            out(f"    {caltype}: {item.get('path')} (md5 {item.get('md5')})")
    out("")
    out(f"Input files ({len(info['inputs'])}):")
    for item in info["inputs"]:
        status = f"  [{item['status']}]" if "status" in item else ""
        out(f"    {item.get('name') or os.path.basename(item.get('path') or '')}  "
            f"md5 {item.get('md5')}{status}")
    out("")
    if info["calibrations"]:
        out(f"Calibrations ({len(info['calibrations'])}):")
        for item in info["calibrations"]:
            status = f"  [{item['status']}]" if "status" in item else ""
            out(f"    {item.get('caltype')}: {os.path.basename(item.get('path') or '')}  "
                f"md5 {item.get('md5')}  for {item.get('frame_label')} "
                f"(by {item.get('primitive')}, from {item.get('origin')}){status}")
    else:
        out("Calibrations: none")
    out("")
    out(f"Steps ({len(info['steps'])}):")
    for number, row in enumerate(info["steps"], start=1):
        args = row.get("args")
        text = json.dumps(args, sort_keys=True) if isinstance(args, dict) else str(args)
        out(f"  {number:>3}. {row.get('primitive')}  {text}")
        out(f"       {row.get('timestamp_start')} -> {row.get('timestamp_stop')}")
    out("")
    cache = info["cache"]
    if cache["found"]:
        out(f"Step cache:  journal of this key in {cache['where']} "
            f"(written {cache.get('written')})")
    elif cache["key"]:
        out("Step cache:  this key is not in the step cache here (a re-run recomputes it)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``provenance`` with `argv` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        info = describe(args.file, cache=args.cache, check=args.check)
    except Exception as exc:
        if args.debug:
            import traceback

            traceback.print_exc(file=sys.stderr)
        message = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, (ReduceError, AstroDataError)):
            message = f"{type(exc).__name__}: {message}"
        print(f"provenance: error: {message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info, indent=1, sort_keys=True, default=str))
    else:
        _print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
