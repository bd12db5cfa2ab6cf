"""The tutorials' calibration-service API: ``CalibrationService`` and ``set_calservice``.

The tutorials (DRAGONS v2 style) do::

    from recipe_system import cal_service
    caldb = cal_service.CalibrationService()
    caldb.config()             # reads ~/.geminidr/rsys.cfg (or dragonsrc)
    caldb.init()               # creates the database
    cal_service.set_calservice()
    ...
    caldb.add_cal(reduce_darks.output_filenames[0])

``set_calservice()`` makes that configuration the one every later ``Reduce``
in the process uses (unless ``Reduce.config_file`` names another file);
:func:`clear_calservice` undoes it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator

from recipe_system.cal_service.errors import DatabaseNotInitialised
from recipe_system.cal_service.localdb import AddResult, FileData, LocalDB
from recipe_system.config import CalibrationConfig, DatabaseSpec, load_config
from recipe_system.errors import CalibrationDatabaseError

__all__ = [
    "CalibrationService",
    "active_configuration",
    "clear_calservice",
    "managed_database",
    "set_calservice",
]

log = logging.getLogger("recipe_system.cal_service")

_ACTIVE: CalibrationConfig | None = None
_LAST_SERVICE: CalibrationService | None = None
_LOCK = threading.Lock()


def managed_database(config: CalibrationConfig) -> DatabaseSpec:
    """The database that ``caldb``/``CalibrationService`` administer for a configuration.

    The first database configured with ``store``, else the first one.

    Raises
    ------
    CalibrationDatabaseError
        If no database is configured.
    """
    if not config.databases:
        where = config.config_file or "the configuration"
        raise CalibrationDatabaseError(f"{where}: no calibration database is configured")
    for spec in config.databases:
        if spec.store:
            return spec
    return config.databases[0]


class CalibrationService:
    """The local calibration database of the tutorials (DRAGONS v2 API).

    Call :meth:`config` first (it reads the configuration), then :meth:`init`,
    :meth:`add_cal`, :meth:`remove_cal`, :meth:`list_files`.
    """

    def __init__(self) -> None:
        self.configuration: CalibrationConfig | None = None
        self._db: LocalDB | None = None

    def config(self, config_file: str | os.PathLike | None = None,
               db_dir: str | os.PathLike | None = None, verbose: bool = False) -> None:
        """Read the configuration (or use `db_dir` as the database directory).

        Parameters
        ----------
        config_file : path, optional
            A configuration file instead of the usual search.
        db_dir : path, optional
            Use ``cal_manager.db`` in this directory (get and store) whatever
            the configuration says.
        verbose : bool
            Log the configuration in use.
        """
        global _LAST_SERVICE
        if db_dir is not None:
            configuration = CalibrationConfig(None, "db_dir", [
                DatabaseSpec(LocalDB(db_dir).name, get=True, store=True, source="db_dir")])
        else:
            configuration = load_config(config_file)
        self.configuration = configuration
        spec = managed_database(configuration)
        self._db = LocalDB(spec.location, get=spec.get, store=spec.store)
        with _LOCK:
            _LAST_SERVICE = self
        message = configuration.describe()
        if verbose:
            log.info(message)
        else:
            log.debug(message)

    @property
    def database(self) -> LocalDB:
        """The database administered (configuring with defaults if needed)."""
        if self._db is None:
            self.config()
        assert self._db is not None
        return self._db

    def init(self, wipe: bool = False) -> None:
        """Create the database; `wipe` empties an existing one."""
        self.database.init(wipe=wipe)

    def add_cal(self, path: str | os.PathLike) -> AddResult:
        """Add (or update) a processed calibration file.

        Raises
        ------
        CalibrationRefused
            For a missing file or a file that is not a processed calibration.
        """
        return self.database.add_cal(path)

    def remove_cal(self, name: str | os.PathLike) -> None:
        """Remove a file from the database by name (the file itself is kept)."""
        self.database.remove_cal(name)

    def list_files(self) -> Iterator[FileData]:
        """``FileData(name, path)`` of every registered file."""
        try:
            yield from self.database.list_files()
        except DatabaseNotInitialised:
            return


def set_calservice(local_db_dir: str | os.PathLike | None = None,
                   config_file: str | os.PathLike | None = None) -> CalibrationConfig:
    """Make later reductions in this process use a calibration configuration.

    Parameters
    ----------
    local_db_dir : path, optional
        Use ``cal_manager.db`` in this directory (get and store).
    config_file : path, optional
        Read this configuration file.

    Without arguments: the configuration of the last configured
    :class:`CalibrationService`, else the usual configuration search.

    Returns
    -------
    CalibrationConfig
        The configuration now in force.
    """
    global _ACTIVE
    if local_db_dir is not None:
        db = LocalDB(local_db_dir)
        configuration = CalibrationConfig(None, "db_dir", [
            DatabaseSpec(db.name, get=True, store=True, source="set_calservice")])
    elif config_file is not None:
        configuration = load_config(config_file)
    elif _LAST_SERVICE is not None and _LAST_SERVICE.configuration is not None:
        configuration = _LAST_SERVICE.configuration
    else:
        configuration = load_config()
    with _LOCK:
        _ACTIVE = configuration
    return configuration


def clear_calservice() -> None:
    """Forget :func:`set_calservice`: reductions read the configuration files again."""
    global _ACTIVE, _LAST_SERVICE
    with _LOCK:
        _ACTIVE = None
        _LAST_SERVICE = None


def active_configuration() -> CalibrationConfig | None:
    """The configuration set by :func:`set_calservice`, or None."""
    return _ACTIVE
