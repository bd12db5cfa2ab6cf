"""LocalDB: one calibration database that stores processed calibrations and finds them again.

Adding a file (:meth:`LocalDB.add_cal`) reads its headers only, checks that it
is a processed calibration (``PROCESSED`` tag and a ``PROC*``/``BPMASK``
keyword that gives its type), records its path, size, modification time and
MD5 checksum and the descriptor values the rules compare. Adding a file whose
name is already in the database replaces that entry (re-adding a remade
calibration updates it).

Finding a calibration (:meth:`LocalDB.lookup`) applies the association rule of
the frame's instrument and the calibration type (:mod:`.rules`) and returns the
best file. Before a file is returned it is checked on disk: a file that has
disappeared, or whose content changed since it was added (size or
modification time differ *and* the checksum differs), is **skipped with a
warning** naming the file and the next best calibration is used; ``caldb
add FILE`` registers the new version. Skipping rather than failing lets a
reduction go on with a calibration that is known to be what was registered,
and the warning (and ``caldb explain``/``caldb check``) says why the expected
file was not used.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from recipe_system.cal_service.association import (
    Candidate,
    Target,
    describe_target,
    iter_candidates,
    nearest_candidates,
)
from recipe_system.cal_service.database import CalibrationDatabase
from recipe_system.cal_service.errors import CalibrationRefused, NotInDatabase
from recipe_system.cal_service.frame_values import (
    CALTYPES,
    all_descriptor_values,
    calibration_type,
    frame_values,
)
from recipe_system.cal_service.models import CHECKSUM_ALGORITHM, ProcessedCalibration
from recipe_system.cal_service.rules import ORDERING, accepted_processing
from recipe_system.errors import CalibrationDatabaseError

__all__ = [
    "AddResult",
    "CalReturn",
    "FileData",
    "FileStatus",
    "LocalDB",
    "Lookup",
    "file_checksum",
]

log = logging.getLogger("recipe_system.cal_service")

_FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fits.bz2", ".fz")


class CalReturn(NamedTuple):
    """Result of a calibration request: one entry per input frame.

    Attributes
    ----------
    files : list of (str or None)
        Path of the calibration for each input (None: none found).
    origins : list of (str or None)
        Where each came from (``user_cal``, a cache file, a database name).
    """

    files: list[str | None]
    origins: list[str | None]


class FileData(NamedTuple):
    """A file in the database (``caldb list``): its name and its directory."""

    name: str
    path: str


class AddResult(NamedTuple):
    """What :meth:`LocalDB.add_cal` did: ``action`` is added, updated or unchanged."""

    filename: str
    caltype: str
    action: str
    path: str


class FileStatus(NamedTuple):
    """State of a registered file on disk: ``status`` is ok, missing or changed."""

    filename: str
    path: str
    status: str


@dataclass
class Lookup:
    """Outcome of looking up one calibration for one frame in one database.

    Attributes
    ----------
    path : str or None
        The chosen file.
    chosen : Candidate or None
        Its row and distance.
    target : Target
        What was asked.
    skipped : list of (Candidate, str)
        Qualifying calibrations not used because the file is missing or changed.
    problem : str or None
        Why nothing could be looked up (no rule, no database).
    """

    path: str | None
    chosen: Candidate | None
    target: Target
    skipped: list[tuple[Candidate, str]] = field(default_factory=list)
    problem: str | None = None


def _database_errors(method):
    """Turn SQLAlchemy failures into CalibrationDatabaseError naming the database."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            raise CalibrationDatabaseError(f"{self.name}: {detail}") from None

    return wrapper


def file_checksum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The checksum stored in the database (:data:`.models.CHECKSUM_ALGORITHM`, hex)."""
    digest = hashlib.new(CHECKSUM_ALGORITHM, usedforsecurity=False)
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _is_fits_name(name: str) -> bool:
    return name.lower().endswith(_FITS_SUFFIXES)


class LocalDB:
    """A calibration database (the DRAGONS ``LocalDB`` API plus look-ups).

    Parameters
    ----------
    location : str or path
        A directory (the file ``cal_manager.db`` in it), an SQLite file path,
        or an SQLAlchemy URL such as ``postgresql+psycopg://user@host/cals``.
    get : bool
        Whether look-ups use this database (in a cascade).
    store : bool
        Whether processed calibrations made by ``store*`` primitives are added.
    """

    def __init__(self, location: str | os.PathLike, get: bool = True, store: bool = True) -> None:
        self.database = CalibrationDatabase(location)
        self.get = get
        self.store = store

    def __repr__(self) -> str:
        return f"LocalDB({self.name!r}, get={self.get}, store={self.store})"

    @property
    def name(self) -> str:
        """The database file (SQLite) or URL without password."""
        return self.database.name

    @property
    def url(self) -> str:
        """The SQLAlchemy URL."""
        return self.database.url

    # -- administration ------------------------------------------------------
    @_database_errors
    def init(self, wipe: bool = False) -> None:
        """Create the database (and its directory); with `wipe`, empty it first."""
        self.database.create(wipe=wipe)
        log.info("Calibration database %s %s", self.name, "wiped" if wipe else "ready")

    def exists(self) -> bool:
        """Whether the database has been created."""
        return self.database.exists()

    @_database_errors
    def add_cal(self, path: str | os.PathLike, caltype: str | None = None) -> AddResult:
        """Add (or update) one processed calibration file.

        Parameters
        ----------
        path : str or path
            The file.
        caltype : str, optional
            The type the caller expects; a file of another type is refused.

        Returns
        -------
        AddResult

        Raises
        ------
        CalibrationRefused
            If the file is missing, unreadable, not a processed calibration,
            not of `caltype`, or changed while it was being read.
        """
        record = self._describe_file(path, caltype)
        self.database.ensure()
        for attempt in range(5):
            try:
                action = self._upsert(record)
                break
            except IntegrityError:
                # Another process inserted the same file name just now.
                if attempt == 4:
                    raise
        log.info("%s %s (%s) in %s", action.capitalize(), record["filename"],
                 record["caltype"], self.name)
        return AddResult(record["filename"], record["caltype"], action, record["path"])

    def _describe_file(self, path: str | os.PathLike, caltype: str | None) -> dict[str, Any]:
        import astrodata

        shown = os.fspath(path)
        file = Path(os.path.expanduser(shown)).absolute()
        if not file.exists():
            raise CalibrationRefused(shown, "file not found")
        if not file.is_file():
            raise CalibrationRefused(shown, "not a file")
        before = file.stat()
        try:
            ad = astrodata.open(str(file))
        except Exception as exc:  # noqa: BLE001 - any reader failure refuses the file
            message = str(exc).replace(str(file), "").strip(" :") or type(exc).__name__
            raise CalibrationRefused(shown, f"cannot be read: {message}") from None
        found = calibration_type(ad)
        if found is None:
            if "PROCESSED" not in ad.tags and "BPM" not in ad.tags:
                reason = "not a processed calibration (no PROCESSED tag)"
            else:
                reason = ("processed file of unknown calibration type (no PROCBIAS, PROCDARK,"
                          " PROCFLAT, PROCFRNG, PROCBPM, PROCSTND or PROCSCI keyword)")
            raise CalibrationRefused(shown, reason)
        if caltype is not None and caltype != found:
            raise CalibrationRefused(shown, f"is a {found}, not a {caltype}")
        values = frame_values(ad)
        if values["instrument_family"] is None:
            raise CalibrationRefused(shown, "has no instrument (INSTRUME keyword)")
        checksum = file_checksum(file)
        after = file.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            raise CalibrationRefused(shown, "changed while it was being added; try again")
        record = {name: values.get(name) for name in _STORED_VALUES}
        processing = ad.phu.get("PROCMODE")
        record.update(
            filename=file.name,
            path=str(file),
            checksum=checksum,
            size=after.st_size,
            mtime_ns=after.st_mtime_ns,
            caltype=found,
            instrument_family=values["instrument_family"],
            processing=str(processing).strip().lower() if processing else None,
            tags=" ".join(sorted(values["tags"])),
            descriptors=all_descriptor_values(ad),
            added=_now(),
        )
        return record

    def _upsert(self, record: dict[str, Any]) -> str:
        cal = ProcessedCalibration
        with self.database.write_session() as session:
            existing = session.scalars(
                select(cal).where(cal.filename == record["filename"])).first()
            if existing is None:
                session.add(cal(**record))
                session.flush()
                return "added"
            same = (existing.checksum == record["checksum"] and existing.path == record["path"])
            for key, value in record.items():
                if same and key == "added":
                    continue
                setattr(existing, key, value)
            return "unchanged" if same else "updated"

    def add_directory(self, path: str | os.PathLike, walk: bool = False) -> list[AddResult]:
        """Add every processed calibration in a directory (recursively with `walk`).

        FITS files that are not processed calibrations are skipped silently
        (a working directory holds raw data too); an unreadable FITS file is
        skipped with a warning.
        """
        top = Path(os.path.expanduser(os.fspath(path)))
        if not top.is_dir():
            raise CalibrationDatabaseError(f"{path}: not a directory")
        results = []
        for name in self._fits_files(top, walk):
            try:
                results.append(self.add_cal(name))
            except CalibrationRefused as exc:
                if "cannot be read" in exc.reason:
                    log.warning("Skipped %s", exc)
                else:
                    log.debug("Skipped %s", exc)
        return results

    @staticmethod
    def _fits_files(top: Path, walk: bool) -> list[Path]:
        if walk:
            found = [Path(root) / name for root, _dirs, names in os.walk(top)
                     for name in names if _is_fits_name(name)]
        else:
            found = [p for p in top.iterdir() if p.is_file() and _is_fits_name(p.name)]
        return sorted(found)

    @_database_errors
    def remove_cal(self, name: str | os.PathLike) -> None:
        """Remove a file from the database by name (the file on disk is kept).

        Raises
        ------
        NotInDatabase
            If no file of that name is registered.
        """
        filename = os.path.basename(os.fspath(name))
        self.database.require()
        with self.database.write_session() as session:
            result = session.execute(
                delete(ProcessedCalibration).where(ProcessedCalibration.filename == filename))
            if result.rowcount == 0:
                raise NotInDatabase(f"{filename}: not in the database {self.name}")
        log.info("Removed %s from %s", filename, self.name)

    def list_files(self) -> Iterator[FileData]:
        """Every registered file as ``FileData(name, directory)``, sorted by name."""
        for row in self.list_calibrations():
            yield FileData(row.filename, os.path.dirname(row.path))

    @_database_errors
    def list_calibrations(self) -> list[ProcessedCalibration]:
        """Every registered calibration (ORM rows), sorted by file name."""
        self.database.require()
        with self.database.read_session() as session:
            return list(session.scalars(
                select(ProcessedCalibration).order_by(ProcessedCalibration.filename)))

    @_database_errors
    def count(self) -> int:
        """How many calibrations are registered."""
        self.database.require()
        with self.database.read_session() as session:
            return session.scalar(select(func.count()).select_from(ProcessedCalibration))

    def check_files(self) -> list[FileStatus]:
        """The on-disk state of every registered file (ok, missing, changed)."""
        statuses = []
        for row in self.list_calibrations():
            statuses.append(FileStatus(row.filename, row.path, self._file_state(
                {"path": row.path, "size": row.size, "mtime_ns": row.mtime_ns,
                 "checksum": row.checksum, "id": row.id})))
        return statuses

    # -- look-ups ------------------------------------------------------------
    def _file_state(self, values: dict[str, Any]) -> str:
        try:
            stat = os.stat(values["path"])
        except OSError:
            return "missing"
        if (stat.st_size, stat.st_mtime_ns) == (values["size"], values["mtime_ns"]):
            return "ok"
        if stat.st_size != values["size"] or file_checksum(values["path"]) != values["checksum"]:
            return "changed"
        # Same content, new modification time (copied or touched): remember it.
        try:
            with self.database.write_session() as session:
                session.execute(update(ProcessedCalibration)
                                .where(ProcessedCalibration.id == values["id"])
                                .values(mtime_ns=stat.st_mtime_ns))
        except (OperationalError, CalibrationDatabaseError):
            pass
        return "ok"

    @_database_errors
    def lookup(self, ad: Any, caltype: str, procmode: str | None = None,
               target: Target | None = None) -> Lookup:
        """Find the best calibration of `caltype` for frame `ad`.

        Parameters
        ----------
        ad : AstroData
            The frame.
        caltype : str
            ``processed_bias``, ``processed_dark``, ... (:data:`.frame_values.CALTYPES`).
        procmode : str, optional
            The reduction mode (``sq``, ``ql``, ``qa``): which processing modes
            of calibration are acceptable. None accepts all.
        target : Target, optional
            The frame already described (saves reading descriptors again).

        Returns
        -------
        Lookup
        """
        target = target or describe_target(ad, caltype)
        if target.not_applicable:
            return Lookup(None, None, target, problem=target.not_applicable)
        if target.rule is None:
            return Lookup(None, None, target, problem=(
                f"there is no {caltype} association rule for instrument"
                f" {target.values.get('instrument_family')}"))
        if not self.database.exists():
            return Lookup(None, None, target,
                          problem=f"the database {self.name} has not been created")
        skipped = []
        with self.database.read_session() as session:
            for candidate in iter_candidates(session, target.rule, target.values, procmode):
                state = self._file_state(candidate.values)
                if state == "ok":
                    return Lookup(candidate.path, candidate, target, skipped)
                reason = ("no longer exists" if state == "missing" else
                          "changed on disk since it was added (checksum differs)")
                log.warning("Calibration %s %s; not used. Run 'caldb add %s' to register"
                            " the file as it is now.", candidate.path, reason, candidate.path)
                skipped.append((candidate, reason))
        return Lookup(None, None, target, skipped)

    def get_calibrations(self, adinputs: Sequence[Any], caltype: str,
                         procmode: str | None = None) -> CalReturn:
        """The best calibration of `caltype` for each frame (None where none qualifies)."""
        files: list[str | None] = []
        origins: list[str | None] = []
        for ad in adinputs:
            found = self.lookup(ad, caltype, procmode)
            files.append(found.path)
            origins.append(self.name if found.path else None)
        return CalReturn(files, origins)

    def store_calibration(self, path: str | os.PathLike, caltype: str) -> None:
        """Add a calibration written by a ``store*`` primitive (if this database stores)."""
        if caltype not in CALTYPES:
            raise CalibrationRefused(os.fspath(path), f"unknown calibration type {caltype!r}")
        if self.store:
            self.add_cal(path, caltype=caltype)

    def explain(self, ad: Any, caltype: str, procmode: str | None = None,
                target: Target | None = None) -> str:
        """Which calibration this database would give `ad`, and why; or why none.

        The text names the rule, the frame's values, the chosen file and its
        distance, or the nearest candidates and what differs for each.
        """
        target = target or describe_target(ad, caltype)
        found = self.lookup(ad, caltype, procmode, target)
        return explain_lookup(self, found, procmode)


#: Frame values stored in their own columns.
_STORED_VALUES = tuple(
    c.key for c in ProcessedCalibration.__table__.columns
    if c.key not in ("id", "filename", "path", "checksum", "size", "mtime_ns", "added",
                     "caltype", "instrument_family", "processing", "tags", "descriptors")
)


def explain_lookup(db: LocalDB, found: Lookup, procmode: str | None, limit: int = 5) -> str:
    """The text of :meth:`LocalDB.explain` for a finished look-up."""
    target = found.target
    head = f"{target.caltype} for {target.label}"
    if target.not_applicable or target.rule is None:
        return f"{head}: {found.problem}."
    rule = target.rule
    lines = [f"{head} in {db.name}: rule {rule.instrument}/{rule.caltype}: {rule.summary()};"
             f" order: {', '.join(ORDERING)}."]
    accepted = accepted_processing(procmode)
    if accepted is not None:
        modes = ", ".join(m for m in accepted if m) + " or unmarked"
        lines.append(f"  A {procmode} reduction accepts calibrations processed in {modes}.")
    lines.append(f"  Frame: {target.wanted()}.")
    if found.problem:
        lines.append(f"  No calibration: {found.problem}.")
        return "\n".join(lines)
    for candidate, reason in found.skipped:
        lines.append(f"  Skipped {candidate.filename}: {reason}.")
    if found.chosen is not None:
        lines.append(f"  Chosen: {found.chosen.describe()} at {found.chosen.path}.")
        return "\n".join(lines)
    with db.database.read_session() as session:
        candidates, total = nearest_candidates(session, rule, target.values, procmode)
    if total == 0:
        lines.append(f"  No calibration: the database holds no {rule.caltype} for"
                     f" {rule.instrument}.")
        return "\n".join(lines)
    misses = [c for c in candidates if c.differences]
    lines.append(f"  No calibration: none of the {total} {rule.caltype} file(s) for"
                 f" {rule.instrument} qualifies. Nearest:")
    for candidate in misses[:limit]:
        lines.append(f"    {candidate.describe()}: {'; '.join(candidate.differences)}")
    return "\n".join(lines)
