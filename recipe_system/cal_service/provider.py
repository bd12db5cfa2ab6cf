"""The calibration provider handed to primitives: user choices, then local databases, then nothing.

:func:`init_calibration_databases` builds a :class:`CalibrationProvider` from
the configuration (``recipe_system.config``) or from explicit databases.
It implements the interface of ``docs/developer/contracts.md`` §6:
``get_calibrations``, ``store_calibration`` and ``explain`` (plus
``set_calibrations`` for ``setCalibration`` and ``choices`` for writing a
calibration cache).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

from recipe_system.cal_service.association import describe_target
from recipe_system.cal_service.calcache import frame_keys
from recipe_system.cal_service.errors import CalibrationRefused
from recipe_system.cal_service.localdb import CalReturn, LocalDB, explain_lookup
from recipe_system.cal_service.userdb import UserDB, normalize_caltype
from recipe_system.config import CalibrationConfig, DatabaseSpec, load_config
from recipe_system.errors import CalibrationDatabaseError

__all__ = [
    "CalibrationProvider",
    "ORIGIN_NOT_APPLICABLE",
    "init_calibration_databases",
]

log = logging.getLogger("recipe_system.cal_service")

#: Origin reported (with file None) when a calibration type never applies to a frame.
ORIGIN_NOT_APPLICABLE = "not applicable"

_MODES = ("sq", "ql", "qa")


class CalibrationProvider:
    """User choices > local databases > nothing: the ``p.caldb`` of a reduction.

    Parameters
    ----------
    databases : sequence of LocalDB
        Databases in look-up order (their ``get``/``store`` flags are honoured).
    user_db : UserDB, optional
        The user's overrides and pins.
    mode : str
        The reduction mode (``sq``, ``ql``, ``qa``): the default ``procmode``.
    config : CalibrationConfig, optional
        Where the databases came from (for messages).
    """

    def __init__(self, databases: Sequence[LocalDB] = (), user_db: UserDB | None = None,
                 mode: str = "sq", config: CalibrationConfig | None = None) -> None:
        if mode not in _MODES:
            raise CalibrationDatabaseError(f"unknown reduction mode {mode!r} (sq, ql or qa)")
        self.databases = list(databases)
        self.user_db = user_db or UserDB()
        self.mode = mode
        self.config = config
        self.choices: dict[str, dict[str, str | None]] = {}

    def __repr__(self) -> str:
        return f"CalibrationProvider(mode={self.mode!r}, databases={self.databases!r})"

    # -- the contract ----------------------------------------------------------
    def get_calibrations(self, adinputs: Sequence[Any], caltype: str,
                         procmode: str | None = None) -> CalReturn:
        """The calibration of `caltype` for each frame, with where it came from.

        Parameters
        ----------
        adinputs : sequence of AstroData
        caltype : str
            ``processed_bias`` ... (a short name such as ``flat`` is accepted).
        procmode : str, optional
            ``sq``/``ql``/``qa``: which processing modes of calibrations are
            acceptable (default: the provider's mode).

        Returns
        -------
        CalReturn
            ``files`` (path or None) and ``origins`` per input. A calibration
            type that never applies to a frame gives None with the origin
            :data:`ORIGIN_NOT_APPLICABLE`.
        """
        caltype = normalize_caltype(caltype)
        procmode = procmode or self.mode
        files: list[str | None] = []
        origins: list[str | None] = []
        for ad in adinputs:
            path, origin = self._lookup(ad, caltype, procmode)
            files.append(path)
            origins.append(origin)
            keys = frame_keys(ad)
            if keys and path is not None:
                self.choices.setdefault(keys[0], {})[caltype] = path
        return CalReturn(files, origins)

    def _lookup(self, ad: Any, caltype: str, procmode: str) -> tuple[str | None, str | None]:
        chosen = self.user_db.lookup(ad, caltype)
        if chosen is not None:
            return chosen
        target = describe_target(ad, caltype)
        if target.not_applicable:
            return None, ORIGIN_NOT_APPLICABLE
        for db in self.databases:
            if not db.get:
                continue
            found = db.lookup(ad, caltype, procmode, target=target)
            if found.path is not None:
                return found.path, db.name
        return None, None

    def store_calibration(self, path: str | os.PathLike, caltype: str) -> None:
        """Add a processed calibration to every database configured with ``store``.

        Raises
        ------
        CalibrationRefused
            If the file is not a processed calibration of `caltype`.
        CalibrationDatabaseError
            After trying every database, if any could not add the file (the
            message names each failure).
        """
        caltype = normalize_caltype(caltype)
        stores = [db for db in self.databases if db.store]
        if not stores:
            log.info("%s was not added to any database (none is configured with 'store')",
                     os.fspath(path))
            return
        failures = []
        for db in stores:
            try:
                db.add_cal(path, caltype=caltype)
            except CalibrationRefused:
                raise  # the file itself is the problem, whatever the database
            except CalibrationDatabaseError as exc:
                failures.append(f"{db.name}: {exc}")
        if failures:
            raise CalibrationDatabaseError("; ".join(failures))

    def explain(self, ad: Any, caltype: str, procmode: str | None = None) -> str:
        """Which calibration `ad` would get and why, or why none (one paragraph)."""
        caltype = normalize_caltype(caltype)
        procmode = procmode or self.mode
        user = self.user_db.explain(ad, caltype)
        if user is not None:
            return user
        target = describe_target(ad, caltype)
        if target.not_applicable:
            return f"{caltype} for {target.label}: {target.not_applicable}."
        active = [db for db in self.databases if db.get]
        if not active:
            where = (f" by {self.config.config_file}" if self.config and self.config.config_file
                     else "")
            return (f"{caltype} for {target.label}: no calibration database is configured"
                    f" for look-ups{where} (see 'caldb config'), and no --user_cal was given.")
        texts = []
        for db in active:
            found = db.lookup(ad, caltype, procmode, target=target)
            texts.append(explain_lookup(db, found, procmode))
            if found.path is not None:
                break
        return "\n".join(texts)

    # -- extensions ------------------------------------------------------------
    def set_calibrations(self, adinputs: Iterable[Any], caltype: str, calfile: str) -> None:
        """Pin `calfile` as the `caltype` of each frame for the rest of the reduction."""
        self.user_db.set_calibrations(adinputs, caltype, calfile)

    @property
    def store_databases(self) -> list[LocalDB]:
        """The databases that receive new calibrations."""
        return [db for db in self.databases if db.store]


def _as_localdb(item: Any) -> LocalDB:
    if isinstance(item, LocalDB):
        return item
    if isinstance(item, DatabaseSpec):
        return LocalDB(item.location, get=item.get, store=item.store)
    if isinstance(item, (str, os.PathLike)):
        return LocalDB(item, get=True, store=True)
    raise CalibrationDatabaseError(f"{item!r} is not a database (path, URL or LocalDB)")


def init_calibration_databases(ucals: Any = None, config_file: str | os.PathLike | None = None,
                               mode: str = "sq", databases: Iterable[Any] | None = None,
                               cal_cache: str | os.PathLike | None = None
                               ) -> CalibrationProvider:
    """Build the calibration provider of a reduction.

    Parameters
    ----------
    ucals : optional
        User calibrations (``{caltype: file}``, ``'caltype:file'`` strings or
        pairs): they beat every database.
    config_file : path, optional
        Configuration file (``reduce -c``). Without it, the configuration set
        by ``cal_service.set_calservice()`` if any, else the usual search
        (``$DRAGONSRC``, ``~/.dragons/dragonsrc``, ``~/.geminidr/rsys.cfg``,
        default ``./calibrations/cal_manager.db``).
    mode : str
        ``sq``, ``ql`` or ``qa``.
    databases : iterable, optional
        Explicit databases (paths, URLs, :class:`LocalDB`,
        :class:`~recipe_system.config.DatabaseSpec`) instead of the configured ones;
        a path or URL is used with ``get`` and ``store``.
    cal_cache : path, optional
        An editable calibration cache (:mod:`.calcache`) whose per-frame pins
        are used before the databases.

    Returns
    -------
    CalibrationProvider
    """
    from recipe_system.cal_service.service import active_configuration

    user_db = UserDB(ucals, cal_cache=cal_cache)
    config = None
    if databases is not None:
        dbs = [_as_localdb(item) for item in databases]
    else:
        config = load_config(config_file) if config_file is not None else active_configuration()
        if config is None:
            config = load_config()
        dbs = [_as_localdb(spec) for spec in config.databases]
    return CalibrationProvider(dbs, user_db=user_db, mode=mode, config=config)

