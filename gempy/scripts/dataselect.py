"""The ``dataselect`` command: list the files with given tags that satisfy an expression."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gempy.adlibrary import dataselect
from gempy.adlibrary.selection_expression import ExpressionError
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

PROG = "dataselect"

DESCRIPTION = """\
Select the files that carry all the --tags, none of the --xtags, and for which
the --expr expression on descriptors is true. Only headers are read.

Inputs are file names, glob patterns (expanded here, so they may be quoted)
and @list files (one or more names a line, '#' starts a comment).

The expression compares descriptors with values: == != < <= > >=, joined
with and / or / not and parentheses. Strings are quoted ('...' or "...");
dates, times and date-times too ('2013-11-21', '12:00:00',
'2013-11-21 12:00:00'). exposure_time== matches within 1% and filter_name,
detector_name and disperser are compared in their short form ('Kshort' for
Kshort_G1105&Clear) unless --strict. Descriptors are not booleans on their
own (write is_ao==True). Nothing in the expression is ever executed: calls,
attributes, subscripts and arithmetic are refused.

Exit status: 0 when files were selected, 1 when none matched, 2 for a usage
or expression error."""

EXAMPLES = """\
examples:
  dataselect --tags FLAT ../playdata/*.fits -o flats_Kshort.list
  dataselect --tags FLAT --expr "filter_name=='Kshort'" ../playdata/*.fits -o flats.list
  dataselect --expr 'observation_class=="partnerCal"' ../playdata/*.fits | showd -d object
  dataselect --expr '(observation_class=="science" and exposure_time==60.)' '../playdata/*.fits'
  dataselect --tags F2,DARK,RAW --xtags PROCESSED --expr 'exposure_time==120' @all.list
  dataselect --expr "ut_date>='2013-11-21' and ut_time<'06:00:00'" *.fits
  reduce @flats_Kshort.list"""


def build_parser() -> HelperArgumentParser:
    """The argument parser of ``dataselect``."""
    parser = HelperArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EXAMPLES)
    parser.add_argument("inputs", nargs="+", metavar="FILE",
                        help="input files, glob patterns or @list files")
    parser.add_argument("-t", "--tags", default="",
                        help="comma-separated tags that must ALL be present")
    parser.add_argument("--xtags", default="",
                        help="comma-separated tags; a file with ANY of them is excluded")
    parser.add_argument("--expr", dest="expression", default=None,
                        help="expression on descriptors, e.g. 'exposure_time==60.'")
    parser.add_argument("--strict", action="store_true",
                        help="exact exposure_time/central_wavelength; full filter_name,"
                             " detector_name and disperser values")
    parser.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="write the selected names to FILE (three '#' header lines,"
                             " then one name a line; ready for 'reduce @FILE')")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="with -o, also print the selected names")
    parser.add_argument("--adpkg", default=None, metavar="MODULE",
                        help="import MODULE first; it may register more AstroData classes")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks of errors")
    return parser


def _split_tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


@quiet_on_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dataselect``; return the exit status (0 matches, 1 none, 2 usage/expression error)."""
    parser = build_parser()
    args, status = parse_or_exit_code(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status

    try:
        dataselect.load_adpkg(args.adpkg)
    except ValueError as err:
        report_error(PROG, f"--adpkg: {err}", args.debug)
        return EXIT_USAGE

    expression = None
    if args.expression is not None:
        try:
            expression = dataselect.expr_parser(args.expression, strict=args.strict)
        except ExpressionError as err:
            report_error(PROG, f"--expr: {err}", args.debug)
            return EXIT_USAGE

    try:
        inputs = expand_inputs(args.inputs, warn=lambda msg: report_warning(PROG, msg))
    except UsageError as err:
        report_error(PROG, str(err), args.debug)
        return EXIT_USAGE

    def skip(name: str, err: BaseException) -> None:
        report_warning(PROG, f"skipping {name}: {dataselect.open_error_reason(err, name)}")

    tags, xtags = _split_tags(args.tags), _split_tags(args.xtags)
    selected = dataselect.select_data(
        inputs, tags, xtags, expression if expression is not None else "True", on_error=skip
    )

    if args.output is not None:
        header = dataselect.list_header(tags, xtags, args.expression)
        try:
            dataselect.write_list(args.output, selected, header)
        except OSError as err:
            report_error(PROG, f"cannot write {args.output}: {err.strerror or err}", args.debug)
            return EXIT_FAILURE
    if args.output is None or args.verbose:
        for name in selected:
            print(name)
    return EXIT_OK if selected else EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
