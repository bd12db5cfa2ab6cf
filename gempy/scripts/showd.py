"""The ``showd`` command: print a table of descriptor values, one row per file."""

from __future__ import annotations

import csv
import os
import stat
import sys
import traceback
from collections.abc import Sequence
from typing import Any, TextIO

import astrodata
from gempy.adlibrary import dataselect
from gempy.adlibrary.descriptor_access import (
    call_descriptor,
    class_descriptor_names,
    known_descriptor_names,
    unknown_descriptor_message,
)
from gempy.scripts.cli_support import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    HelperArgumentParser,
    UsageError,
    expand_inputs,
    parse_or_exit_code,
    quiet_on_broken_pipe,
    report_error,
    report_warning,
)

PROG = "showd"

#: Cell shown when a descriptor raised instead of returning a value.
ERROR_CELL = "ERROR"

DESCRIPTION = """\
Show the values of descriptors, one row per file, in a table (or CSV).

File names come from the arguments and, when the standard input is a pipe
or a file, from it first (so 'dataselect ... | showd -d object' works;
'#' lines are skipped). Glob patterns and @list files are expanded.

Values are shown as the descriptors return them by default; --long asks for
the full form (pretty=False) and --pretty for the short form (pretty=True)
of the descriptors that have one. A descriptor that fails on a file shows
ERROR in its cell; one that has no value shows None.

Exit status: 0 when every file was read, 1 when a file could not be read or
there was none, 2 for a usage error (e.g. an unknown descriptor name)."""

EXAMPLES = """\
examples:
  showd ../playdata/*.fits -d filter_name
  showd -d object,exposure_time ../playdata/S20170505S0095.fits
  dataselect --expr 'observation_class=="science"' *.fits | showd -d object,exposure_time
  showd -d filter_name --long --csv @science.list"""


def build_parser() -> HelperArgumentParser:
    """The argument parser of ``showd``."""
    parser = HelperArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EXAMPLES)
    parser.add_argument("inputs", nargs="*", metavar="FILE",
                        help="input files, glob patterns or @list files")
    parser.add_argument("-d", "--descriptors", action="append", required=True,
                        metavar="NAME[,NAME...]",
                        help="comma-separated descriptor names (may be repeated)")
    parser.add_argument("--csv", action="store_true", help="print comma-separated values")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--long", action="store_true",
                      help="full values (pretty=False), e.g. filter names with component IDs")
    form.add_argument("--pretty", action="store_true",
                      help="short values (pretty=True), e.g. 'Kshort' for Kshort_G1105&Clear")
    parser.add_argument("--adpkg", default=None, metavar="MODULE",
                        help="import MODULE first; it may register more AstroData classes")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def _stdin_is_data(stream: TextIO | None) -> bool:
    """True when the standard input is a pipe or a redirected file (not a terminal)."""
    if stream is None:
        return False
    try:
        if stream.isatty():
            return False
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, ValueError, OSError):
        # No file descriptor (e.g. an io.StringIO handed in by a caller): a stream of text.
        return hasattr(stream, "read")
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def names_from_stream(stream: TextIO) -> list[str]:
    """File names from a text stream: whitespace separated, ``#`` starts a comment."""
    try:
        text = stream.read()
    except (OSError, ValueError):
        return []
    names = []
    for line in text.splitlines():
        for token in line.split():
            if token.startswith("#"):
                break
            names.append(token)
    return names


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """The text table: dash line, header, dash line, rows.

    The first column is left-justified, the others right-justified, columns
    separated by three spaces, each as wide as its widest cell.
    """
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    dash = "-" * (sum(widths) + 3 * (len(widths) - 1))

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "   ".join(cells).rstrip()

    return "\n".join([dash, line(rows[0]), dash, *(line(row) for row in rows[1:])])


def format_csv(rows: Sequence[Sequence[str]]) -> str:
    """The rows as CSV (header included); cells with commas are quoted."""
    lines: list[str] = []

    class _Collector:
        def write(self, text: str) -> None:
            lines.append(text)

    writer = csv.writer(_Collector(), lineterminator="\n")
    writer.writerows(rows)
    return "".join(lines).rstrip("\n")


def descriptor_cells(ad: Any, names: Sequence[str], keywords: dict[str, Any],
                     debug: bool = False) -> list[str]:
    """The cells of one row: str(value), ``None``, or ERROR when the descriptor raised."""
    available = class_descriptor_names(type(ad))
    cells = []
    for name in names:
        if name not in available:
            cells.append("None")
            continue
        try:
            value = call_descriptor(ad, name, **keywords)
        except Exception as err:  # one bad descriptor must not stop the table
            if debug:
                traceback.print_exc(file=sys.stderr)
            report_warning(PROG, f"{getattr(ad, 'filename', '?')}: {name}: {err}")
            cells.append(ERROR_CELL)
            continue
        cells.append(str(value))
    return cells


@quiet_on_broken_pipe
def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None) -> int:
    """Run ``showd``; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).
    stdin : text stream, optional
        Where piped file names are read from (default ``sys.stdin``).
    """
    parser = build_parser()
    args, status = parse_or_exit_code(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    try:
        dataselect.load_adpkg(args.adpkg)
    except ValueError as err:
        report_error(PROG, f"--adpkg: {err}", args.debug)
        return EXIT_USAGE

    names = [name.strip() for value in args.descriptors for name in value.split(",")
             if name.strip()]
    if not names:
        report_error(PROG, "-d: no descriptor name given")
        return EXIT_USAGE
    known = known_descriptor_names()
    for name in names:
        if name not in known:
            report_error(PROG, f"-d: {unknown_descriptor_message(name, known)}")
            return EXIT_USAGE

    stream = sys.stdin if stdin is None else stdin
    tokens = names_from_stream(stream) if _stdin_is_data(stream) else []
    tokens += args.inputs
    try:
        inputs = expand_inputs(tokens, warn=lambda msg: report_warning(PROG, msg))
    except UsageError as err:
        report_error(PROG, str(err), args.debug)
        return EXIT_USAGE
    if not inputs:
        report_warning(PROG, "no input files")
        return EXIT_FAILURE

    keywords = {"pretty": False} if args.long else {"pretty": True} if args.pretty else {}
    rows = [["filename", *names]]
    failed = False
    for filename in inputs:
        try:
            ad = astrodata.open(filename)
        except (astrodata.AstroDataError, OSError) as err:
            reason = dataselect.open_error_reason(err, filename)
            report_warning(PROG, f"skipping {filename}: {reason}")
            failed = True
            continue
        rows.append([filename, *descriptor_cells(ad, names, keywords, args.debug)])

    if len(rows) > 1:
        print(format_csv(rows) if args.csv else format_table(rows))
    return EXIT_FAILURE if failed or len(rows) == 1 else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
