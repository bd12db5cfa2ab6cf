"""The ``caldb`` command: create, fill, list and query a local calibration database.

::

    caldb init [-w]                     create the database (-w: empty it first)
    caldb add FILE|DIR ... [-k]         add processed calibrations (-k: walk directories)
    caldb list                          list the files of every configured database
    caldb remove NAME ...               forget files (they stay on disk)
    caldb config                        show the configuration and databases in use
    caldb explain FILE ... [--type T]   which calibration a frame gets, and why (or why none)
    caldb check                         report registered files that vanished or changed

Options for every command (before or after it): ``-c/--config FILE``,
``-d/--database PATH|DIR|URL`` (use this database instead of the configured
ones), ``-v/--verbose``, ``--debug`` (tracebacks). Every refused file or name
gives one line on stderr, and the exit status is 1 if anything was refused.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from recipe_system.cal_service import (
    CALTYPES,
    CalibrationRefused,
    LocalDB,
    NotInDatabase,
    init_calibration_databases,
)
from recipe_system.cal_service.rules import RULES, not_applicable_reason
from recipe_system.cal_service.service import managed_database
from recipe_system.config import CalibrationConfig, load_config
from recipe_system.errors import ReduceError

__all__ = ["main"]

PROG = "caldb"
_LOGGER = logging.getLogger("recipe_system")


def _common_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("-c", "--config", default=default, metavar="FILE",
                        help="configuration file (default: $DRAGONSRC, ~/.dragons/dragonsrc,"
                             " ~/.geminidr/rsys.cfg)")
    parser.add_argument("-d", "--database", default=default, metavar="DB",
                        help="database to use: a directory, an SQLite file or an SQLAlchemy URL")
    parser.add_argument("-v", "--verbose", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="say more")
    parser.add_argument("--debug", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="show tracebacks and debugging messages")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``caldb``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Manage the local calibration database.")
    _common_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _common_options(sub, suppress=True)
        return sub

    init = command("init", "create the calibration database")
    init.add_argument("-w", "--wipe", action="store_true",
                      help="empty an existing database first")
    add = command("add", "add processed calibration files (or the ones in directories)")
    add.add_argument("paths", nargs="+", metavar="FILE", help="files or directories")
    add.add_argument("-k", "--walk", action="store_true",
                     help="explore directories recursively")
    command("list", "list the files in the database(s)")
    remove = command("remove", "remove files from the database (not from disk)")
    remove.add_argument("names", nargs="+", metavar="NAME", help="file names")
    command("config", "show the configuration in use")
    explain = command("explain", "say which calibration a frame would get, and why")
    explain.add_argument("files", nargs="+", metavar="FILE", help="frames to explain")
    explain.add_argument("-t", "--type", dest="caltype", choices=CALTYPES, metavar="CALTYPE",
                         help=f"one calibration type ({', '.join(CALTYPES)});"
                              " default: every type that applies")
    explain.add_argument("--mode", choices=("sq", "ql", "qa"), default="sq",
                         help="reduction mode (default sq)")
    command("check", "report registered files that are missing or changed on disk")
    return parser


def _error(command: str, message: str) -> None:
    print(f"{PROG} {command}: {message}", file=sys.stderr)


def _configuration(args: argparse.Namespace) -> CalibrationConfig | None:
    if args.database:
        return None
    return load_config(args.config)


def _managed(args: argparse.Namespace) -> LocalDB:
    if args.database:
        return LocalDB(args.database)
    spec = managed_database(load_config(args.config))
    return LocalDB(spec.location, get=spec.get, store=spec.store)


def _all_databases(args: argparse.Namespace) -> list[LocalDB]:
    if args.database:
        return [LocalDB(args.database)]
    config = load_config(args.config)
    if not config.databases:
        managed_database(config)
    return [LocalDB(spec.location, get=spec.get, store=spec.store) for spec in config.databases]


def _cmd_init(args: argparse.Namespace) -> int:
    db = _managed(args)
    existed = db.exists()
    db.init(wipe=args.wipe)
    if args.wipe and existed:
        print(f"Wiped calibration database {db.name}")
    elif existed:
        print(f"Calibration database {db.name} already exists ({db.count()} files)")
    else:
        print(f"Initialized calibration database {db.name}")
    return 0


def _cmd_add(args: argparse.Namespace) -> int:
    db = _managed(args)
    status = 0
    for path in args.paths:
        if os.path.isdir(path):
            results = db.add_directory(path, walk=args.walk)
            for result in results:
                if args.verbose:
                    print(f"{result.action.capitalize()} {result.filename} ({result.caltype})")
            print(f"{path}: {len(results)} calibration(s) added to {db.name}")
            continue
        try:
            result = db.add_cal(path)
        except CalibrationRefused as exc:
            _error("add", f"refused {exc}")
            status = 1
            continue
        if args.verbose or result.action != "added":
            print(f"{result.action.capitalize()} {result.filename} ({result.caltype})")
    return status


def _cmd_list(args: argparse.Namespace) -> int:
    status = 0
    for db in _all_databases(args):
        print(f"Database: {db.name}")
        if not db.exists():
            _error("list", f"{db.name}: calibration database does not exist (run 'caldb init')")
            status = 1
            continue
        rows = db.list_calibrations()
        if not rows:
            print("There are no files in the database")
        for row in rows:
            directory = os.path.dirname(row.path)
            if args.verbose:
                print(f"{row.filename:30} {row.caltype:20} {row.processing or '-':3} {directory}")
            else:
                print(f"{row.filename:30} {directory}")
    return status


def _cmd_remove(args: argparse.Namespace) -> int:
    db = _managed(args)
    status = 0
    for name in args.names:
        try:
            db.remove_cal(name)
        except NotInDatabase as exc:
            _error("remove", str(exc))
            status = 1
            continue
        if args.verbose:
            print(f"Removed {os.path.basename(name)}")
    return status


def _cmd_config(args: argparse.Namespace) -> int:
    if args.database:
        db = LocalDB(args.database)
        print(f"Database given with --database: {db.name}")
        print(f"    Exists: {db.exists()}")
        return 0
    config = load_config(args.config)
    print(config.describe())
    if config.databases:
        print(f"'caldb init/add/remove' act on: {managed_database(config).location}")
    return 0


def _applicable_types(ad: object) -> list[str]:
    from recipe_system.cal_service.frame_values import frame_values

    values = frame_values(ad, ("instrument", "observation_type"))
    family = values["instrument_family"]
    return [caltype for caltype in CALTYPES
            if (family, caltype) in RULES
            and not_applicable_reason(family, caltype, values["observation_type"]) is None]


def _cmd_explain(args: argparse.Namespace) -> int:
    import astrodata

    databases = [args.database] if args.database else None
    provider = init_calibration_databases(config_file=args.config, mode=args.mode,
                                          databases=databases)
    status = 0
    first = True
    for path in args.files:
        try:
            ad = astrodata.open(path)
        except (astrodata.AstroDataError, OSError) as exc:
            _error("explain", f"{path}: cannot be read: {exc}")
            status = 1
            continue
        caltypes = [args.caltype] if args.caltype else _applicable_types(ad)
        if not caltypes:
            _error("explain", f"{path}: no calibration type applies to this frame")
            status = 1
            continue
        for caltype in caltypes:
            if not first:
                print()
            first = False
            print(provider.explain(ad, caltype, args.mode))
    return status


def _cmd_check(args: argparse.Namespace) -> int:
    status = 0
    total = 0
    for db in _all_databases(args):
        if not db.exists():
            _error("check", f"{db.name}: calibration database does not exist (run 'caldb init')")
            status = 1
            continue
        for entry in db.check_files():
            total += 1
            if entry.status == "missing":
                _error("check", f"{entry.path}: registered in {db.name} but no longer exists")
                status = 1
            elif entry.status == "changed":
                _error("check", f"{entry.path}: changed on disk since it was added to"
                                f" {db.name} (checksum differs); 'caldb add' it again")
                status = 1
            elif args.verbose:
                print(f"{entry.filename:30} ok")
    if status == 0:
        print(f"All {total} registered file(s) are present and unchanged")
    return status


_COMMANDS = {
    "init": _cmd_init,
    "add": _cmd_add,
    "list": _cmd_list,
    "remove": _cmd_remove,
    "config": _cmd_config,
    "explain": _cmd_explain,
    "check": _cmd_check,
}


def _setup_logging(verbose: bool, debug: bool) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler.setLevel(level)
    _LOGGER.addHandler(handler)
    if _LOGGER.level == logging.NOTSET or _LOGGER.level > level:
        _LOGGER.setLevel(level)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``caldb``; returns the exit status (0 success, 1 failure, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    handler = _setup_logging(args.verbose, args.debug)
    try:
        return _COMMANDS[args.command](args)
    except (ReduceError, OSError) as exc:
        if args.debug:
            raise
        _error(args.command, str(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, traceback with --debug
        if args.debug:
            raise
        import astrodata

        if isinstance(exc, astrodata.AstroDataError):
            _error(args.command, str(exc))
            return 1
        _error(args.command, f"unexpected error: {type(exc).__name__}: {exc}"
                             " (run with --debug for the traceback)")
        return 1
    finally:
        _LOGGER.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
