"""Connections to a calibration database (SQLite file or SQLAlchemy URL), safe for concurrent use.

SQLite (the default) is opened in WAL journal mode with a long busy timeout,
and every writing transaction starts with ``BEGIN IMMEDIATE``: writers then
queue for the lock instead of failing with "database is locked" when they try
to upgrade a read lock, and readers never wait for writers. Several ``reduce``
processes can therefore look up and store calibrations in one file at once.
PostgreSQL (``postgresql+psycopg://...``) and other servers need nothing
special; concurrent inserts of the same file name are retried by the caller.

Engines are cached per process (a forked child gets its own).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from recipe_system.cal_service.errors import DatabaseNotInitialised
from recipe_system.cal_service.models import SCHEMA_VERSION, Base, DatabaseInfo
from recipe_system.config import database_file
from recipe_system.errors import CalibrationDatabaseError

__all__ = [
    "BUSY_TIMEOUT_S",
    "CalibrationDatabase",
    "database_url",
    "display_url",
]

#: How long an SQLite writer waits for the lock before giving up (seconds).
BUSY_TIMEOUT_S = 120.0

_ENGINES: dict[tuple[int, str], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def database_url(location: str | os.PathLike) -> str:
    """The SQLAlchemy URL of a database given as a URL, a file path or a directory.

    A directory means the file ``cal_manager.db`` inside it
    (:func:`recipe_system.config.database_file`).
    """
    text = os.fspath(location)
    if "://" in text:
        return text
    return f"sqlite:///{database_file(text)}"


def display_url(url: str) -> str:
    """The URL without its password (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:":
        return None
    return Path(database)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # noqa: ANN001
        if connection.get_execution_options().get("caldb_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _engine(url: str) -> Engine:
    key = (os.getpid(), url)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            try:
                parsed = make_url(url)
            except ArgumentError:
                raise CalibrationDatabaseError(f"{url}: not a valid database URL") from None
            if parsed.get_backend_name() == "sqlite":
                engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
                _configure_sqlite(engine)
            else:
                try:
                    engine = create_engine(url, pool_pre_ping=True)
                except (ArgumentError, ImportError, SQLAlchemyError) as exc:
                    raise CalibrationDatabaseError(
                        f"{display_url(url)}: cannot use this database: {exc}") from None
            _ENGINES[key] = engine
        return engine


class CalibrationDatabase:
    """One calibration database: its engine, schema checks and sessions.

    Parameters
    ----------
    location : str or path
        SQLAlchemy URL, SQLite file path, or directory (``cal_manager.db`` inside).
    """

    def __init__(self, location: str | os.PathLike) -> None:
        self.url = database_url(location)
        self.sqlite_path = _sqlite_path(self.url)
        self._schema_ok = False

    @property
    def name(self) -> str:
        """The file path (SQLite) or the URL without password."""
        return str(self.sqlite_path) if self.sqlite_path else display_url(self.url)

    @property
    def engine(self) -> Engine:
        """The (per-process cached) SQLAlchemy engine."""
        return _engine(self.url)

    # -- schema ------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the database holds the calibration tables (without creating anything)."""
        if self.sqlite_path is not None and not self.sqlite_path.is_file():
            return False
        try:
            return self._check_schema()
        except DatabaseNotInitialised:
            return False

    def _check_schema(self) -> bool:
        if self._schema_ok:
            return True
        try:
            with self.engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                if DatabaseInfo.__tablename__ not in tables:
                    if tables - {t.name for t in Base.metadata.sorted_tables}:
                        raise CalibrationDatabaseError(
                            f"{self.name}: not an astroreduce calibration database (it holds"
                            f" other tables: {', '.join(sorted(tables)[:5])})")
                    raise DatabaseNotInitialised(
                        f"{self.name}: calibration database not initialised (run 'caldb init')")
                version = conn.execute(
                    select(DatabaseInfo.value).where(DatabaseInfo.key == "schema_version")
                ).scalar()
        except OperationalError as exc:
            raise CalibrationDatabaseError(f"{self.name}: cannot open the database: "
                                           f"{exc.orig}") from None
        if str(version) != str(SCHEMA_VERSION):
            raise CalibrationDatabaseError(
                f"{self.name}: database schema version {version} is not the supported version"
                f" {SCHEMA_VERSION}; make a new one with 'caldb init -w'")
        self._schema_ok = True
        return True

    def create(self, wipe: bool = False) -> None:
        """Create the tables (and the SQLite file and its directory); `wipe` empties them first.

        Creating is safe when several processes do it at once.
        """
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._check_foreign_tables()
            if wipe:
                with self.write_connection() as conn:
                    Base.metadata.drop_all(conn)
                self._schema_ok = False
            for attempt in range(3):
                try:
                    with self.write_connection() as conn:
                        Base.metadata.create_all(conn, checkfirst=True)
                        have = conn.execute(select(DatabaseInfo.key).where(
                            DatabaseInfo.key == "schema_version")).scalar()
                        if have is None:
                            now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
                            conn.execute(DatabaseInfo.__table__.insert(), [
                                {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                                {"key": "created", "value": now},
                            ])
                    break
                except SQLAlchemyError:
                    # Another process created the tables between our check and
                    # our CREATE (PostgreSQL); the next pass sees them.
                    if attempt == 2:
                        raise
        except OperationalError as exc:
            raise CalibrationDatabaseError(
                f"{self.name}: cannot create the database: {exc.orig}") from None
        self._check_schema()

    def _check_foreign_tables(self) -> None:
        if self.sqlite_path is not None and not self.sqlite_path.is_file():
            return
        with self.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        ours = {t.name for t in Base.metadata.sorted_tables}
        if tables - ours and DatabaseInfo.__tablename__ not in tables:
            raise CalibrationDatabaseError(
                f"{self.name}: not an astroreduce calibration database; refusing to wipe it")

    def require(self) -> None:
        """Raise unless the tables exist (DatabaseNotInitialised names the database)."""
        if self.sqlite_path is not None and not self.sqlite_path.is_file():
            raise DatabaseNotInitialised(
                f"{self.name}: calibration database does not exist (run 'caldb init')")
        self._check_schema()

    def ensure(self) -> None:
        """Create the tables if they do not exist yet."""
        if not self.exists():
            self.create()

    # -- sessions ----------------------------------------------------------
    @contextlib.contextmanager
    def write_connection(self) -> Iterator:
        """A connection inside a writing transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self.engine.connect() as conn:
            conn.execution_options(caldb_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def write_session(self) -> Iterator[Session]:
        """An ORM session in a writing transaction, committed on success."""
        with self.engine.connect() as conn:
            conn.execution_options(caldb_write=True)
            with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """An ORM session for look-ups."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def dispose(self) -> None:
        """Close the pooled connections of this process."""
        key = (os.getpid(), self.url)
        with _ENGINES_LOCK:
            engine = _ENGINES.pop(key, None)
        if engine is not None:
            engine.dispose()
