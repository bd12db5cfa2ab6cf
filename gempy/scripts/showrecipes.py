"""The ``showrecipes`` command: which recipe reduce would run on a file, and its primitives.

A top-of-stack command kept in gempy for DRAGONS compatibility: it asks the
recipe system's registry and mappers (imported at run time), so it always
agrees with what ``reduce`` would choose.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import astrodata
from gempy.adlibrary import dataselect
from gempy.scripts.cli_support import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    HelperArgumentParser,
    parse_or_exit_code,
    quiet_on_broken_pipe,
    report_error,
)

PROG = "showrecipes"
MODES = ("sq", "qa", "ql")

DESCRIPTION = """\
Show the recipe that 'reduce' would run on a file: the matched recipe
library, its tags, its location, and the primitives the recipe calls.
With --all, list every recipe available for the file in every mode.

Exit status: 0 on success, 1 when the file cannot be read or no recipe
matches, 2 for a usage error."""

EXAMPLES = """\
examples:
  showrecipes ../playdata/S20170505S0030.fits
  showrecipes ../playdata/S20170505S0030.fits -r makeProcessedBPM
  showrecipes ../playdata/S20170505S0095.fits -m ql
  showrecipes ../playdata/S20170505S0095.fits --all"""


def build_parser() -> HelperArgumentParser:
    """The argument parser of ``showrecipes``."""
    parser = HelperArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EXAMPLES)
    parser.add_argument("inputfile", metavar="FILE", help="a FITS file")
    parser.add_argument("--all", action="store_true",
                        help="list all the recipes available for the file, in every mode")
    parser.add_argument("-r", "--recipe", default="_default", metavar="NAME",
                        help="recipe to show (default: the library's default recipe)")
    parser.add_argument("-m", "--mode", default="sq", choices=MODES,
                        help="processing mode (default sq)")
    parser.add_argument("--adpkg", default=None, metavar="MODULE",
                        help="import MODULE first; it may register more AstroData classes")
    parser.add_argument("--drpkg", default=None, metavar="MODULE",
                        help="import MODULE first; it may register primitives and recipes")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def primitive_calls(recipe: Callable) -> list[str]:
    """The primitive calls of a recipe, in order, as written (``p.addVAR(read_noise=True)``).

    Read from the recipe's source with :mod:`ast`: every call of a method of
    the recipe's first argument. A call spread over several lines is shown
    on one line.
    """
    try:
        source = textwrap.dedent(inspect.getsource(recipe))
    except (OSError, TypeError):
        return []
    function = ast.parse(source).body[0]
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    arguments = function.args.posonlyargs + function.args.args
    if not arguments:
        return []
    owner = arguments[0].arg
    calls = []
    for node in ast.walk(function):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == owner):
            text = ast.get_source_segment(source, node) or ast.unparse(node)
            calls.append((node.lineno, node.col_offset, " ".join(text.split())))
    return [text for _, _, text in sorted(calls)]


def _recipe_functions(library: ModuleType) -> list[str]:
    from recipe_system.mappers.recipe_mapper import recipe_names

    return recipe_names(library)


def _load_plugins(adpkg: str | None, drpkg: str | None) -> None:
    dataselect.load_adpkg(adpkg)
    if drpkg:
        from recipe_system import registry

        registry.load_plugin(drpkg)


def describe_all(ad: Any, path: str) -> tuple[str, bool]:
    """The ``--all`` report and whether any recipe was found."""
    from recipe_system.errors import RecipeNotFound
    from recipe_system.mappers import RecipeMapper, instrument_key

    key = instrument_key(ad)
    found = []
    for mode in MODES:
        mapper = RecipeMapper(ad.tags, key, mode=mode)
        try:
            library = mapper.get_applicable_library()
        except RecipeNotFound:  # ModeError included: that mode has no recipes
            continue
        found.extend(f"{library.__name__}::{name}" for name in _recipe_functions(library))
    lines = [f"Input file: {os.path.abspath(path)}", f"Input tags: {sorted(ad.tags)}"]
    if found:
        lines.append("Recipes available for the input file:")
        lines.extend(f"   {name}" for name in found)
    else:
        lines.append("!!! No recipes were found for this file !!!")
    return "\n".join(lines), bool(found)


def describe_recipe(ad: Any, path: str, mode: str, recipename: str) -> str:
    """The report on one recipe (raises RecipeNotFound if there is none)."""
    from recipe_system.errors import RecipeNotFound
    from recipe_system.mappers import RecipeMapper, instrument_key

    mapper = RecipeMapper(ad.tags, instrument_key(ad), mode=mode, recipename=recipename)
    recipe = mapper.get_applicable_recipe()
    library = None if mapper.is_user_recipe else mapper.get_applicable_library()
    if recipe is None:
        available = ", ".join(_recipe_functions(library)) if library is not None else ""
        raise RecipeNotFound(
            f"{library.__name__ if library else 'the recipe library'} has no recipe"
            f" '{recipename}' (available: {available or 'none'})"
        )
    lines = []
    if recipename == "_default":
        lines.append(f"Recipe not provided, default recipe ({recipe.__name__}) will be used.")
    module = sys.modules.get(recipe.__module__)
    location = inspect.getsourcefile(recipe) or getattr(module, "__file__", None) or "?"
    recipe_tags = getattr(library, "recipe_tags", None) if library is not None else None
    # a ql library may re-export an sq recipe: name the library that matched
    matched = library.__name__ if library is not None else recipe.__module__
    lines += [
        f"Input file: {os.path.abspath(path)}",
        f"Input tags: {sorted(ad.tags)}",
        f"Input mode: {mode}",
        f"Input recipe: {recipe.__name__}",
        f"Matched recipe: {matched}::{recipe.__name__}",
        f"Recipe location: {location}",
        f"Recipe tags: {_set_text(recipe_tags)}",
        "Primitives used:",
    ]
    lines += [f"   {call}" for call in primitive_calls(recipe)]
    return "\n".join(lines)


def _set_text(values: Any) -> str:
    if values is None:
        return "None"
    return "{" + ", ".join(repr(value) for value in sorted(values)) + "}"


@quiet_on_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``showrecipes``; return the exit status."""
    parser = build_parser()
    args, status = parse_or_exit_code(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from recipe_system.errors import ReduceError

    try:
        _load_plugins(args.adpkg, args.drpkg)
    except (ValueError, ReduceError) as err:
        report_error(PROG, str(err), args.debug)
        return EXIT_USAGE
    try:
        ad = astrodata.open(args.inputfile)
    except (astrodata.AstroDataError, OSError) as err:
        reason = dataselect.open_error_reason(err, args.inputfile)
        report_error(PROG, f"{args.inputfile}: {reason}", args.debug)
        return EXIT_FAILURE
    try:
        if args.all:
            text, found = describe_all(ad, args.inputfile)
            print(text)
            return EXIT_OK if found else EXIT_FAILURE
        print(describe_recipe(ad, args.inputfile, args.mode, args.recipe))
    except ReduceError as err:
        report_error(PROG, f"{args.inputfile}: {err}", args.debug)
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
