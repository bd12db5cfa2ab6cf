"""PROVENANCE and HISTORY tables: which files and which primitive calls made a product.

``PROVENANCE`` has one row per input file (timestamp, filename, md5 and the
primitive that added it); ``HISTORY`` has one row per primitive call
(primitive, its parameters as JSON, start and stop times). Both are
top-level tables, written to the file like any other.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from astropy.table import Table

__all__ = [
    "HISTORY_COLUMNS",
    "PROVENANCE_COLUMNS",
    "add_history",
    "add_provenance",
    "clone_history",
    "clone_provenance",
    "md5sum",
    "provenance_summary",
]

PROVENANCE_COLUMNS = ("timestamp", "filename", "md5", "provenance_added_by")
HISTORY_COLUMNS = ("primitive", "args", "timestamp_start", "timestamp_stop")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _rows(table: Table | None, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    if table is None:
        return []
    return [tuple(_as_text(row[c]) if c in table.colnames else "" for c in columns)
            for row in table]


def _table(rows: list[tuple[str, ...]], columns: tuple[str, ...]) -> Table:
    from astropy.table import Table  # imported here: opening files must not pay for it

    # Built afresh each time so string columns grow to fit the longest value.
    if not rows:
        return Table(names=columns, dtype=[str] * len(columns))
    return Table(rows=rows, names=columns, dtype=[str] * len(columns))


def md5sum(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex MD5 checksum of a file."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _get(ad: Any, name: str) -> Table | None:
    return ad._table(name) if name in ad.tables else None


def add_provenance(ad: Any, filename: str, md5: str, primitive: str,
                   timestamp: str | datetime | None = None) -> bool:
    """Add a row to ``ad.PROVENANCE``; returns False if the same row was already there.

    A row is a duplicate when filename, md5 and primitive all match.
    """
    rows = _rows(_get(ad, "PROVENANCE"), PROVENANCE_COLUMNS)
    filename, md5, primitive = _as_text(filename), _as_text(md5), _as_text(primitive)
    if any(r[1:] == (filename, md5, primitive) for r in rows):
        return False
    rows.append((_as_text(timestamp) or _now(), filename, md5, primitive))
    ad.PROVENANCE = _table(rows, PROVENANCE_COLUMNS)
    return True


def add_history(ad: Any, primitive: str, args: str | dict | None,
                timestamp_start: str | datetime, timestamp_stop: str | datetime) -> None:
    """Add a row to ``ad.HISTORY``; ``args`` is a JSON string or a dict (dumped sorted)."""
    if isinstance(args, dict):
        args = json.dumps(args, sort_keys=True, default=str)
    rows = _rows(_get(ad, "HISTORY"), HISTORY_COLUMNS)
    rows.append((_as_text(primitive), _as_text(args), _as_text(timestamp_start),
                 _as_text(timestamp_stop)))
    ad.HISTORY = _table(rows, HISTORY_COLUMNS)


def clone_provenance(provenance: Table, ad: Any) -> None:
    """Add the rows of another PROVENANCE table to ``ad`` (skipping duplicates)."""
    for row in _rows(provenance, PROVENANCE_COLUMNS):
        add_provenance(ad, row[1], row[2], row[3], timestamp=row[0])


def clone_history(history: Table, ad: Any) -> None:
    """Add the rows of another HISTORY table to ``ad`` (skipping rows already present)."""
    existing = set(_rows(_get(ad, "HISTORY"), HISTORY_COLUMNS))
    for row in _rows(history, HISTORY_COLUMNS):
        if row not in existing:
            add_history(ad, *row)
            existing.add(row)


def provenance_summary(ad: Any, provenance: bool = True, history: bool = True) -> str:
    """A readable listing of the PROVENANCE and HISTORY tables (JSON args indented)."""
    out: list[str] = []
    if provenance:
        rows = _rows(_get(ad, "PROVENANCE"), PROVENANCE_COLUMNS)
        if rows:
            widths = [max(len(h), *(len(r[i]) for r in rows))
                      for i, h in enumerate(("Timestamp", "Filename", "MD5", "Added by"))]
            header = ("Timestamp", "Filename", "MD5", "Added by")
            out.append("Provenance")
            out.append("----------")
            out.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
            out.append("  ".join("-" * w for w in widths))
            for r in rows:
                out.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
        else:
            out.append("No provenance information.")
    if history:
        if out:
            out.append("")
        rows = _rows(_get(ad, "HISTORY"), HISTORY_COLUMNS)
        if rows:
            w_prim = max(len("Primitive"), *(len(r[0]) for r in rows))
            w_time = max(len("Start"), *(len(r[2]) for r in rows))
            out.append("History")
            out.append("-------")
            out.append(f"{'Primitive'.ljust(w_prim)}  {'Start'.ljust(w_time)}  Stop")
            out.append(f"{'-' * w_prim}  {'-' * w_time}  {'-' * w_time}")
            for prim, args, start, stop in rows:
                out.append(f"{prim.ljust(w_prim)}  {start.ljust(w_time)}  {stop}")
                if args:
                    try:
                        pretty = json.dumps(json.loads(args), indent=4, sort_keys=True)
                    except ValueError:
                        pretty = args
                    out.extend("    " + line for line in pretty.splitlines())
        else:
            out.append("No history information.")
    return "\n".join(out)
