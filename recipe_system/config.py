"""Calibration configuration: which files configure astroreduce and which databases they name.

Where the configuration comes from, first match wins:

1. an explicit file (``reduce -c FILE``, ``caldb -c FILE``, ``config_file=``);
2. ``$DRAGONSRC``;
3. ``~/.dragons/dragonsrc`` (the current DRAGONS style);
4. ``~/.geminidr/rsys.cfg`` (the older style used by the tutorials);
5. nothing: the built-in default below.

The current style names the databases, one a line, each with optional flags::

    [calibs]
    databases = ~/work/calibrations get store
                postgresql+psycopg://me@dbhost/cals get

As in DRAGONS, a line without flags is ``get`` only, and once any flag is
given ``get`` must be listed explicitly to be used for look-ups. A line naming
a directory (an existing one, or a path without suffix that does not exist
yet) means the file ``cal_manager.db`` in it; anything else with ``://`` is an
SQLAlchemy URL; any other text is the path of a database file. ``~`` and
``$VAR``/``${VAR}`` are expanded; a variable that is not set is an error
(the tutorials' literal ``${path_to_my_data}`` would otherwise create a
directory with that name). Relative paths are taken from the current
directory, as DRAGONS does. Remote calibration servers (``http://``,
``https://``) are not supported: they are skipped with a warning, so a
DRAGONS ``dragonsrc`` that also lists the Gemini archive still works.

The older style::

    [calibs]
    standalone = True
    database_dir = ${path_to_my_data}/f2img_tutorial/playground

means one local database ``cal_manager.db`` in ``database_dir`` that is used
for look-ups **and** receives every calibration the ``store*`` primitives
produce (``get store``).

Default when no configuration file exists (a deliberate choice): one SQLite
database ``./calibrations/cal_manager.db`` in the current directory, ``get
store``. The ``store*`` primitives already write every processed calibration
under ``./calibrations/processed_<type>/``, so the database sits beside the
files it indexes and a sequence of ``reduce`` runs in one working directory
(darks, then flats, then science) finds its own calibrations with no set-up,
while separate projects in separate directories never mix. ``caldb config``
prints which configuration and databases are in use.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from recipe_system.errors import ConfigError

__all__ = [
    "DEFAULT_DATABASE_DIR",
    "DEFAULT_DATABASE_NAME",
    "CalibrationConfig",
    "DatabaseSpec",
    "config_search_path",
    "database_file",
    "expand_path",
    "find_config_file",
    "load_config",
    "parse_databases",
]

log = logging.getLogger(__name__)

#: File name of a local SQLite calibration database inside a directory.
DEFAULT_DATABASE_NAME = "cal_manager.db"
#: Directory (relative to the current directory) of the default database.
DEFAULT_DATABASE_DIR = "calibrations"

_FLAGS = ("get", "store")
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


@dataclass(frozen=True)
class DatabaseSpec:
    """One calibration database named by the configuration.

    Attributes
    ----------
    location : str
        The path of an SQLite file (absolute) or an SQLAlchemy URL.
    get : bool
        Whether look-ups use this database.
    store : bool
        Whether the ``store*`` primitives add their products to it.
    source : str
        Where it was named (the configuration line, or ``default``).
    """

    location: str
    get: bool = True
    store: bool = False
    source: str = ""

    @property
    def is_url(self) -> bool:
        """True when `location` is an SQLAlchemy URL rather than a file path."""
        return "://" in self.location

    @property
    def flags(self) -> str:
        """``'get store'``, ``'get'``, ``'store'`` or ``'(unused)'``."""
        words = [name for name in _FLAGS if getattr(self, name)]
        return " ".join(words) if words else "(unused)"


@dataclass
class CalibrationConfig:
    """The calibration configuration in force.

    Attributes
    ----------
    config_file : Path or None
        The file read, or None when the built-in default is used.
    style : str
        ``'dragonsrc'``, ``'rsys.cfg'`` or ``'default'``.
    databases : list of DatabaseSpec
        The databases, in look-up order.
    parser : configparser.ConfigParser
        Every section of the file, for the other users of the configuration.
    notes : list of str
        Remarks worth showing the user (skipped remote servers, shadowed files).
    """

    config_file: Path | None
    style: str
    databases: list[DatabaseSpec]
    parser: configparser.ConfigParser = field(default_factory=configparser.ConfigParser)
    notes: list[str] = field(default_factory=list)

    @property
    def get_databases(self) -> list[DatabaseSpec]:
        """Databases used for look-ups, in order."""
        return [db for db in self.databases if db.get]

    @property
    def store_databases(self) -> list[DatabaseSpec]:
        """Databases that receive new processed calibrations."""
        return [db for db in self.databases if db.store]

    def describe(self) -> str:
        """Several lines saying which file and databases are in use (``caldb config``)."""
        if self.config_file is None and self.style != "default":
            lines = [f"Configuration: set by the program ({self.style})."]
        elif self.config_file is None:
            searched = ", ".join(str(p) for p in config_search_path())
            lines = [f"No configuration file found (looked for {searched}).",
                     "Using the default database in the current directory."]
        else:
            lines = [f"Configuration file: {self.config_file} ({self.style} style)"]
        if not self.databases:
            lines.append("No calibration databases are configured.")
        for db in self.databases:
            kind = "URL" if db.is_url else "SQLite file"
            lines.append(f"Database: {db.location}")
            lines.append(f"    Type: {kind}   Get: {db.get}   Store: {db.store}")
        lines.extend(self.notes)
        return "\n".join(lines)


def config_search_path() -> list[Path]:
    """The files looked for, in order, when no file is given explicitly."""
    home = Path(os.path.expanduser("~"))
    paths = []
    if os.environ.get("DRAGONSRC"):
        paths.append(Path(os.path.expanduser(os.environ["DRAGONSRC"])))
    paths.append(home / ".dragons" / "dragonsrc")
    paths.append(home / ".geminidr" / "rsys.cfg")
    return paths


def find_config_file(config_file: str | os.PathLike | None = None) -> Path | None:
    """The configuration file in force, or None when there is none.

    Raises
    ------
    ConfigError
        If `config_file` or ``$DRAGONSRC`` names a file that does not exist
        (the user asked for it, so silently using another would mislead).
    """
    if config_file is not None:
        path = Path(os.path.expanduser(str(config_file)))
        if not path.is_file():
            raise ConfigError(f"{config_file}: configuration file not found")
        return path
    env = os.environ.get("DRAGONSRC")
    if env:
        path = Path(os.path.expanduser(env))
        if not path.is_file():
            raise ConfigError(f"{env}: configuration file named by $DRAGONSRC not found")
        return path
    for path in config_search_path():
        if path.is_file():
            return path
    return None


def expand_path(text: str, what: str = "path") -> str:
    """Expand ``~`` and ``$VAR``/``${VAR}`` in `text`.

    Raises
    ------
    ConfigError
        If a variable is not set in the environment.
    """
    expanded = os.path.expandvars(os.path.expanduser(text.strip()))
    leftover = _VARIABLE.search(expanded)
    if leftover:
        raise ConfigError(
            f"{what} {text!r} uses the environment variable {leftover.group(0)}, which is not set"
        )
    return expanded


def database_file(path: str | os.PathLike) -> Path:
    """The SQLite file meant by a path: ``cal_manager.db`` inside a directory.

    A path is a directory if it is an existing directory, or if it does not
    exist and its name has no suffix (``playground``, not ``cals.db``).
    """
    path = Path(os.path.expanduser(os.fspath(path))).absolute()
    if path.is_dir() or (not path.exists() and not path.suffix):
        return path / DEFAULT_DATABASE_NAME
    return path


def _database_location(text: str, source: str) -> str | None:
    """Resolve one configured location to an absolute file path or a URL (None: skip)."""
    if text.startswith(("http://", "https://")):
        return None
    if "://" in text:
        return text
    return str(database_file(expand_path(text, what=f"database {source!r}")))


def parse_databases(value: str, source: str = "databases") -> tuple[list[DatabaseSpec], list[str]]:
    """Parse the multi-line ``[calibs] databases`` value.

    Parameters
    ----------
    value : str
        The option's text: one database a line, ``location [get] [store]``.
    source : str
        Name of the file, for messages.

    Returns
    -------
    databases : list of DatabaseSpec
    notes : list of str
        Lines that were skipped (remote servers) and why.

    Raises
    ------
    ConfigError
        For an unknown flag or an unset environment variable.
    """
    databases: list[DatabaseSpec] = []
    notes: list[str] = []
    for raw_line in value.splitlines():
        line = raw_line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        words = line.split()
        location, flags = words[0], [w.lower() for w in words[1:]]
        unknown = [f for f in flags if f not in _FLAGS]
        if unknown:
            raise ConfigError(
                f"{source}: database line {line!r} has unknown flag(s) {', '.join(unknown)};"
                " allowed: get, store"
            )
        resolved = _database_location(location, f"{source}: {line}")
        if resolved is None:
            note = (f"Skipped {location}: remote calibration servers are not supported"
                    " (only local files and SQLAlchemy URLs).")
            log.warning(note)
            notes.append(note)
            continue
        if flags:
            get, store = "get" in flags, "store" in flags
        else:
            get, store = True, False
        databases.append(DatabaseSpec(resolved, get=get, store=store, source=f"{source}: {line}"))
    return databases, notes


def _default_databases() -> list[DatabaseSpec]:
    location = Path.cwd() / DEFAULT_DATABASE_DIR / DEFAULT_DATABASE_NAME
    return [DatabaseSpec(str(location), get=True, store=True, source="default")]


def load_config(config_file: str | os.PathLike | None = None) -> CalibrationConfig:
    """Read the calibration configuration in force.

    Parameters
    ----------
    config_file : path, optional
        An explicit file; otherwise ``$DRAGONSRC``, ``~/.dragons/dragonsrc``,
        ``~/.geminidr/rsys.cfg`` are tried in turn (``~`` follows ``$HOME``).

    Returns
    -------
    CalibrationConfig

    Raises
    ------
    ConfigError
        If the file cannot be parsed or names a database wrongly.
    """
    path = find_config_file(config_file)
    if path is None:
        return CalibrationConfig(None, "default", _default_databases())
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as stream:
            parser.read_file(stream)
    except (configparser.Error, UnicodeDecodeError) as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: cannot parse the configuration file: {first_line}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from None

    notes: list[str] = []
    calibs = parser["calibs"] if parser.has_section("calibs") else {}
    if "databases" in calibs:
        databases, notes = parse_databases(calibs["databases"], source=str(path))
        style = "dragonsrc"
        if "database_dir" in calibs:
            notes.append(f"{path}: database_dir is ignored because databases is given.")
    elif "database_dir" in calibs or "standalone" in calibs:
        style = "rsys.cfg"
        databases = []
        standalone = str(calibs.get("standalone", "True")).strip().lower()
        if standalone in ("false", "no", "0", "off"):
            note = (f"{path}: standalone = False asks for a remote calibration service,"
                    " which is not supported; no database is used.")
            log.warning(note)
            notes.append(note)
        elif "database_dir" not in calibs:
            raise ConfigError(f"{path}: [calibs] standalone = True needs database_dir")
        else:
            directory = Path(expand_path(calibs["database_dir"],
                                         what=f"{path}: database_dir")).absolute()
            databases = [DatabaseSpec(str(directory / DEFAULT_DATABASE_NAME), get=True,
                                      store=True, source=f"{path}: database_dir")]
    else:
        style = "dragonsrc" if path.name != "rsys.cfg" else "rsys.cfg"
        databases = []
        notes.append(f"{path}: no [calibs] databases are configured.")
    shadowed = [p for p in config_search_path() if p.is_file() and p != path]
    for other in shadowed:
        notes.append(f"Not read (lower precedence): {other}")
    return CalibrationConfig(path, style, databases, parser, notes)
