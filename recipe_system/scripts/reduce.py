"""The ``reduce`` command: run the recipe matching the input files.

Exit status: 0 on success, 1 when the reduction fails (one line on stderr,
``reduce: error: ...``; the traceback only with ``--debug`` or ``--logmode
debug``), 2 on a usage error, 130 when interrupted.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Sequence

from astrodata.errors import AstroDataError
from gempy.utils import logutils
from recipe_system.errors import ReduceError
from recipe_system.reduction.command_line import build_parser, parse_arguments
from recipe_system.reduction.coreReduce import Reduce


def _error_line(exc: BaseException) -> str:
    message = " ".join(str(exc).split()) if str(exc) else ""
    if isinstance(exc, (ReduceError, AstroDataError)):
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _print_plan(plan: dict) -> None:
    width = max(len(k) for k in plan)
    for key, value in plan.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, indent=None, default=str)
        print(f"{key:<{width}} : {value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``reduce`` with `argv` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parse_arguments(argv, parser)
    except SystemExit as exc:
        return int(exc.code or 0)
    debug = args.debug or args.logmode == "debug"

    try:
        if args.auto is not None:
            from recipe_system.auto import run_auto_command

            return run_auto_command(args)
        if args.displayflags or args.dry_run:
            logutils.config(mode="quiet")
            _print_plan(Reduce(args).plan())
            return 0
        logutils.config(mode=args.logmode, file_name=args.logfile)
        log = logutils.get_logger("recipe_system")
        if args.overridden:
            log.stdinfo(f"Overriding {args.overridden} parameter(s)")
        Reduce(args).runr()
    except KeyboardInterrupt:
        print("reduce: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(f"reduce: error: {_error_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
