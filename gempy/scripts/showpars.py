"""The ``showpars`` command: the parameters of a primitive, as they apply to a given file.

A top-of-stack command kept in gempy for DRAGONS compatibility: the primitive
class is chosen by the recipe system's PrimitiveMapper (imported at run
time), exactly as ``reduce`` would choose it, and the parameters are read
from the primitive's declaration (defaults of that instrument applied).
"""

from __future__ import annotations

import difflib
import inspect
import sys
from collections.abc import Sequence
from typing import Any

import astrodata
from gempy.adlibrary import dataselect
from gempy.scripts.cli_support import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    HelperArgumentParser,
    package_version,
    parse_or_exit_code,
    quiet_on_broken_pipe,
    report_error,
)

PROG = "showpars"

DESCRIPTION = """\
Show the settable parameters of a primitive, with the values that apply to
the given file (the instrument's own defaults included) and what each one
does. Any of them can be changed with 'reduce -p PRIMITIVE:NAME=VALUE'.

Exit status: 0 on success, 1 when the file cannot be read or no primitive
class matches it, 2 for a usage error (e.g. an unknown primitive)."""

EXAMPLES = """\
examples:
  showpars ../playdata/S20170505S0095.fits skyCorrect
  showpars ../playdata/S20170505S0030.fits makeLampFlat --doc
  showpars S20131121S0075.fits stackFrames --all
  reduce @science.list -p skyCorrect:offset_sky=False"""


def build_parser() -> HelperArgumentParser:
    """The argument parser of ``showpars``."""
    parser = HelperArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EXAMPLES)
    parser.add_argument("filename", metavar="FILE", help="a FITS file")
    parser.add_argument("primitive", metavar="PRIMITIVE", help="primitive name")
    parser.add_argument("-d", "--doc", action="store_true",
                        help="also print the primitive's docstring")
    parser.add_argument("-a", "--all", action="store_true",
                        help="also show debug_* parameters and the universal"
                             " skip_primitive/write_outputs")
    parser.add_argument("--adpkg", default=None, metavar="MODULE",
                        help="import MODULE first; it may register more AstroData classes")
    parser.add_argument("--drpkg", default=None, metavar="MODULE",
                        help="import MODULE first; it may register primitives and recipes")
    parser.add_argument("-v", "--version", action="version",
                        version=f"%(prog)s v{package_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def primitive_class_for(ad: Any) -> type:
    """The primitive class ``reduce`` would use for ``ad`` (raises ReduceError if none)."""
    from recipe_system.mappers import PrimitiveMapper, instrument_key

    return PrimitiveMapper(ad.tags, instrument_key(ad)).get_applicable_primitives()


def _description(param: Any) -> str:
    """The parameter's one-line doc, plus its allowed values or bounds when it has them."""
    text = getattr(param, "doc", "") or ""
    limits = []
    choices = getattr(param, "choices", None)
    if choices is not None:
        limits.append("one of " + ", ".join(repr(choice) for choice in choices))
    if getattr(param, "min", None) is not None:
        limits.append(f">= {param.min}")
    if getattr(param, "max", None) is not None:
        limits.append(f"<= {param.max}")
    if limits:
        text = f"{text} [{'; '.join(limits)}]" if text else f"[{'; '.join(limits)}]"
    return text


def parameter_table(pclass: type, primname: str, show_all: bool = False) -> list[str]:
    """The ``Name / Current setting / Description`` block of lines."""
    params = dict(pclass.parameters(primname))
    if show_all:
        from primitives.params import UNIVERSAL_PARAMS

        params.update(UNIVERSAL_PARAMS)
    lines = [
        f"Settable parameters on '{primname}':",
        "=" * 40,
        f"{'Name':20s} {'Current setting':20s} Description",
        "",
    ]
    for name, param in params.items():
        if name.startswith("debug") and not show_all:
            continue
        lines.append(f"{name:20s} {param.default!r:20s} {_description(param)}".rstrip())
    return lines


@quiet_on_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``showpars``; return the exit status."""
    parser = build_parser()
    args, status = parse_or_exit_code(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from recipe_system import registry
    from recipe_system.errors import ReduceError

    try:
        dataselect.load_adpkg(args.adpkg)
        if args.drpkg:
            registry.load_plugin(args.drpkg)
    except (ValueError, ReduceError) as err:
        report_error(PROG, str(err), args.debug)
        return EXIT_USAGE
    try:
        ad = astrodata.open(args.filename)
    except (astrodata.AstroDataError, OSError) as err:
        reason = dataselect.open_error_reason(err, args.filename)
        report_error(PROG, f"{args.filename}: {reason}", args.debug)
        return EXIT_FAILURE
    try:
        pclass = primitive_class_for(ad)
    except ReduceError as err:
        report_error(PROG, f"{args.filename}: {err}", args.debug)
        return EXIT_FAILURE

    names = pclass.primitive_names()
    if args.primitive not in names:
        close = difflib.get_close_matches(args.primitive, names, n=3, cutoff=0.6)
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        report_error(PROG, f"'{args.primitive}' is not a primitive of {pclass.__name__},"
                           f" the class used for {args.filename}{hint}", args.debug)
        return EXIT_USAGE

    print(f"Dataset tagged as {{{', '.join(repr(tag) for tag in sorted(ad.tags))}}}")
    print(f"Primitive class: {pclass.__module__}.{pclass.__name__}\n")
    print("\n".join(parameter_table(pclass, args.primitive, args.all)))
    if args.doc:
        doc = inspect.getdoc(getattr(pclass, args.primitive)) or "(no docstring)"
        print(f"\nDocstring for '{args.primitive}':")
        print("=" * 40)
        print(doc)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
