"""The ``reduce`` command line: argument parser, @file lists and user parameter/calibration lists.

``build_parser()`` gives the parser shared by the ``reduce`` script and by
``Reduce()`` (whose defaults are ``build_parser().parse_args([])``).

@files (``reduce @flats.lis``) hold arguments, any number a line: blank lines
and lines starting with ``#`` are skipped, a token starting with ``#`` ends
the line (inline comment), quotes group words and are removed, and an @file
may name other @files (paths relative to the working directory).

Re-runs and execution (issue 10): ``--reprocess auto|always|never``,
``--jobs N``, ``--cluster ADDRESS``, ``--group-by group|night``, ``--replay
FILE`` and ``--cal-cache JSON`` (see ``recipe_system.cache``,
``recipe_system.executors`` and ``recipe_system.replay``).

Options taking several values (``-p``, ``--user_cal``, ``--upload``) give back
to the file list any value that does not look like theirs (no ``=``, no
``:``, not a valid upload target), and single-value options (``-r``,
``--suffix``...) give back a value containing ``.fits``; so ``reduce -p
a=1 x.fits`` reduces ``x.fits``. Repeating ``-p`` or ``--user_cal`` replaces
the entries with the same key and adds the others.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Sequence
from typing import Any

from recipe_system.errors import ReduceError

__all__ = [
    "GROUP_BY_CHOICES",
    "LOG_MODES",
    "REPROCESS_CHOICES",
    "UPLOAD_TARGETS",
    "ReduceArgumentParser",
    "build_parser",
    "normalize_ucals",
    "normalize_uparms",
    "parse_arguments",
]

LOG_MODES = ("standard", "quiet", "verbose", "debug", "rotating")
UPLOAD_TARGETS = ("metrics", "calibs", "science")

_RESCUED = "_rescued_files"
_OVERRIDES = "_overridden"


def _rescue(namespace: argparse.Namespace, value: str) -> None:
    rescued = getattr(namespace, _RESCUED, None) or []
    rescued.append(value)
    setattr(namespace, _RESCUED, rescued)


def _merge_keyed(namespace: argparse.Namespace, dest: str, values: list[str],
                 separator: str) -> None:
    current = list(getattr(namespace, dest, None) or [])
    overridden = 0
    for value in values:
        key = value.partition(separator)[0].strip()
        kept = [v for v in current if v.partition(separator)[0].strip() != key]
        overridden += len(current) - len(kept)
        current = kept + [value]
    setattr(namespace, dest, current)
    setattr(namespace, _OVERRIDES, getattr(namespace, _OVERRIDES, 0) + overridden)


class _ParamAction(argparse.Action):
    """``-p prim:par=val ...``: accumulate, override same keys, rescue values without '='."""

    def __call__(self, parser, namespace, values, option_string=None):
        params = []
        for value in values:
            if "=" in value:
                params.append(value)
            else:
                _rescue(namespace, value)
        _merge_keyed(namespace, self.dest, params, "=")


class _UserCalAction(argparse.Action):
    """``--user_cal caltype:path ...``: accumulate, override same caltype, rescue others."""

    def __call__(self, parser, namespace, values, option_string=None):
        cals = []
        for value in values:
            caltype, sep, path = value.partition(":")
            if sep and caltype and path and not caltype.lower().endswith(".fits"):
                cals.append(value)
            else:
                _rescue(namespace, value)
        _merge_keyed(namespace, self.dest, cals, ":")


class _UploadAction(argparse.Action):
    """``--upload metrics,calibs``: keep valid targets, rescue anything else."""

    def __call__(self, parser, namespace, values, option_string=None):
        targets = list(getattr(namespace, self.dest, None) or [])
        for value in values:
            parts = [v.strip() for v in value.split(",") if v.strip()]
            if parts and all(p.lower() in UPLOAD_TARGETS for p in parts):
                targets.extend(p.lower() for p in parts)
            else:
                _rescue(namespace, value)
        setattr(namespace, self.dest, targets)


class _UnitaryAction(argparse.Action):
    """A single-value option; a value containing '.fits' is an input file, not the value."""

    def __call__(self, parser, namespace, values, option_string=None):
        if ".fits" in values.lower():
            _rescue(namespace, values)
        else:
            setattr(namespace, self.dest, values)


class ReduceArgumentParser(argparse.ArgumentParser):
    """ArgumentParser reading @files with comments and quotes."""

    def convert_arg_line_to_args(self, arg_line: str) -> list[str]:
        stripped = arg_line.strip()
        if not stripped or stripped.startswith("#"):
            return []
        try:
            tokens = shlex.split(stripped, posix=True)
        except ValueError as exc:
            self.error(f"cannot read the @file line {stripped!r}: {exc}")
        args = []
        for token in tokens:
            if token.startswith("#"):
                break
            args.append(token)
        return args


def build_parser() -> ReduceArgumentParser:
    """The parser of the ``reduce`` command (also gives ``Reduce()`` its defaults)."""
    from astrodata import __version__

    parser = ReduceArgumentParser(
        prog="reduce",
        fromfile_prefix_chars="@",
        description="Reduce astronomical data with the recipe chosen from the tags of the "
                    "first input file.",
        epilog="examples:\n"
               "  reduce @flats.lis\n"
               "  reduce @darks.lis @flats.lis -r makeProcessedBPM\n"
               "  reduce @science.lis -p skyCorrect:offset_sky=False\n"
               "  reduce S*.fits --user_cal processed_flat:S001_flat.fits\n"
               "  reduce x.fits -r myrecipes/ngc.reduce_custom\n"
               "  reduce --auto ../playdata --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", metavar="fitsfile",
                        help="input files (or @file lists)")
    parser.add_argument("-v", "--version", action="version",
                        version=f"reduce (astroreduce) {__version__}")
    parser.add_argument("-d", "--displayflags", action="store_true", default=False,
                        help="print the reduction plan (files, recipe, primitive class, "
                             "parameters) and exit")
    parser.add_argument("--adpkg", default=None, action=_UnitaryAction,
                        help="module to import first; it may register more astrodata classes")
    parser.add_argument("--drpkg", default=None, action=_UnitaryAction,
                        help="module to import first; it may register more primitives and "
                             "recipes (recipe_system.registry)")
    parser.add_argument("--logfile", default="reduce.log", action=_UnitaryAction,
                        help="log file (default: reduce.log)")
    parser.add_argument("--logmode", default="standard", choices=LOG_MODES,
                        help="console logging: standard, quiet, verbose, debug, rotating")
    parser.add_argument("-p", "--param", dest="userparam", nargs="*", default=None,
                        action=_ParamAction, metavar="[PRIMITIVE:]PAR=VAL",
                        help="set a primitive parameter (prim:par=val for one primitive, "
                             "par=val for every primitive having it); beats the recipe")
    parser.add_argument("--qa", dest="mode", action="store_const", const="qa", default="sq",
                        help="quality-assessment mode")
    parser.add_argument("--ql", dest="mode", action="store_const", const="ql",
                        help="quicklook mode")
    parser.add_argument("-r", "--recipe", dest="recipename", default=None,
                        action=_UnitaryAction,
                        help="recipe name, primitive name, or path/module.function")
    parser.add_argument("--suffix", default=None, action=_UnitaryAction,
                        help="suffix of the final outputs (replacing all suffixes)")
    parser.add_argument("--upload", nargs="*", default=None, action=_UploadAction,
                        metavar="TARGET", help="accepted for DRAGONS compatibility "
                                               "(metrics, calibs, science); astroreduce has "
                                               "no upload service and ignores it")
    parser.add_argument("--user_cal", dest="user_cal", nargs="*", default=None,
                        action=_UserCalAction, metavar="CALTYPE:PATH",
                        help="use this calibration, e.g. processed_flat:S001_flat.fits")
    parser.add_argument("-c", "--config", dest="config", default=None, action=_UnitaryAction,
                        help="configuration file (instead of ~/.dragons/dragonsrc, $DRAGONSRC)")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the traceback of an error")
    # -- re-runs, provenance, parallel and distributed execution (issue 10) --
    parser.add_argument("--reprocess", default=None, choices=REPROCESS_CHOICES,
                        help="reuse recorded results whose inputs, parameters and code are "
                             "unchanged (auto, the default), recompute everything (always), "
                             "or refuse to overwrite an existing product (never)")
    parser.add_argument("--jobs", "-j", type=_positive_int, default=None, metavar="N",
                        help="processes for per-file primitives: this one and N-1 workers "
                             "(default: the number of cores; 1 = serial); with --group-by, "
                             "reductions run at once")
    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="run the reduction(s) on a Dask scheduler (tcp://HOST:PORT), or "
                             "'local[:N]' for a local cluster of N worker processes")
    parser.add_argument("--group-by", dest="group_by", default=None, choices=GROUP_BY_CHOICES,
                        help="split the inputs into independent reductions, one per "
                             "observation group (group) or per night and group (night); "
                             "calibrations first")
    parser.add_argument("--replay", default=None, metavar="FILE",
                        help="re-run the reduction recorded in FILE (a product of reduce): "
                             "same recipe, parameters, inputs and calibrations")
    parser.add_argument("--cal-cache", dest="cal_cache", default=None, metavar="JSON",
                        help="calibration cache: pins read from it (if it exists) beat the "
                             "databases; the choices made are written back to it")
    # -- automatic organisation of a folder (issue 11; recipe_system.auto) --
    parser.add_argument("--auto", default=None, metavar="DIR",
                        help="classify, group and reduce every raw frame in DIR: biases, "
                             "darks, BPM, flats, standards, then science (-p ROLE:prim:par=val "
                             "limits a parameter to one kind of step; -r ROLE:recipe)")
    parser.add_argument("--dry-run", dest="dry_run", action="store_true", default=False,
                        help="with --auto: print the plan (steps, groups, calibrations) and "
                             "the skipped files, and exit (without --auto: as -d)")
    parser.add_argument("--amin", type=_fraction, default=None, metavar="F",
                        help="with --auto: skip illuminated frames whose median counts are "
                             "below F of the saturation level (0-1)")
    parser.add_argument("--amax", type=_fraction, default=None, metavar="F",
                        help="with --auto: skip illuminated frames whose median counts are "
                             "above F of the saturation level (0-1)")
    return parser


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not a fraction between 0 and 1")
    return value


#: ``--reprocess`` values (see ``recipe_system.cache``).
REPROCESS_CHOICES = ("auto", "always", "never")
#: ``--group-by`` values (see ``Reduce.group_by``).
GROUP_BY_CHOICES = ("group", "night")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def parse_arguments(argv: Sequence[str] | None,
                    parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse `argv`, returning the rescued files to the file list (order kept).

    Raises
    ------
    SystemExit
        On usage errors (status 2), ``--help`` and ``--version`` (status 0).
    """
    parser = parser or build_parser()
    args = parser.parse_intermixed_args(list(argv) if argv is not None else None)
    rescued = getattr(args, _RESCUED, None) or []
    args.files = list(args.files or []) + rescued
    args.overridden = getattr(args, _OVERRIDES, 0)
    for name in (_RESCUED, _OVERRIDES):
        if hasattr(args, name):
            delattr(args, name)
    return args


def normalize_uparms(uparms: Any) -> list[tuple[str, Any]]:
    """User parameters as ``[(key, value)]`` from a dict, pairs or ``'key=value'`` strings.

    Raises
    ------
    ReduceError
        For an entry that is neither a pair nor ``key=value``.
    """
    if not uparms:
        return []
    if isinstance(uparms, str):
        uparms = [uparms]
    items = uparms.items() if isinstance(uparms, dict) else uparms
    result = []
    for entry in items:
        if isinstance(entry, str):
            key, sep, value = entry.partition("=")
            if not sep or not key.strip():
                raise ReduceError(f"user parameter {entry!r} is not of the form "
                                  f"[primitive:]parameter=value")
            result.append((key.strip(), value.strip()))
        else:
            try:
                key, value = entry
            except (TypeError, ValueError):
                raise ReduceError(f"user parameter {entry!r} is not a (key, value) pair") \
                    from None
            result.append((str(key).strip(), value))
    return result


def normalize_ucals(ucals: Any) -> dict[str, str]:
    """User calibrations as ``{caltype: absolute path}``, each file checked to exist.

    Accepts a dict, ``'caltype:path'`` strings or ``(caltype, path)`` pairs;
    ``bias`` is read as ``processed_bias``.

    Raises
    ------
    ReduceError
        For a malformed entry or a missing file.
    """
    if not ucals:
        return {}
    if isinstance(ucals, str):
        ucals = [ucals]
    items = ucals.items() if isinstance(ucals, dict) else ucals
    result: dict[str, str] = {}
    for entry in items:
        if isinstance(entry, str):
            caltype, sep, path = entry.partition(":")
            if not sep or not caltype.strip() or not path.strip():
                raise ReduceError(f"user calibration {entry!r} is not of the form "
                                  f"caltype:path (e.g. processed_bias:bias.fits)")
        else:
            try:
                caltype, path = entry
            except (TypeError, ValueError):
                raise ReduceError(f"user calibration {entry!r} is not a (caltype, path) "
                                  f"pair") from None
        caltype = str(caltype).strip()
        if not caltype.startswith("processed_") and caltype not in ("bpm", "mask"):
            caltype = f"processed_{caltype}"
        path = os.path.expanduser(str(path).strip().strip("'\""))
        if not os.path.isfile(path):
            raise ReduceError(f"user calibration {caltype}: {path}: no such file")
        result[caltype] = os.path.abspath(path)
    return result
