"""The showrecipes command: the recipe reduce would run, read from the recipe system's registry."""

from __future__ import annotations

import importlib
import inspect
import re

from gempy.scripts import showrecipes
from gempy.sim import load_truth
from recipe_system.mappers.recipe_mapper import recipe_names


def first_of_role(playdata, role):
    return str(playdata / sorted(load_truth(playdata.parent / "sim")["roles"][role])[0])


def calls_in_source(function) -> list[str]:
    """Primitive calls of a recipe found line by line (DRAGONS' own way: ``p\\..*``)."""
    return [" ".join(m.split()) for m in re.findall(r"p\.\w+\(.*\)", inspect.getsource(function))]


def test_default_recipe_of_a_gsaoi_flat(gsaoi_playdata, run_cli):
    import astrodata

    flat = first_of_role(gsaoi_playdata, "flat_lamp_on")
    result = run_cli(showrecipes.main, flat)
    assert result.status == 0, result.err
    library = importlib.import_module("recipes.gsaoi.sq.recipes_FLAT_IMAGE")
    recipe = library._default
    tags = sorted(astrodata.open(flat).tags)
    assert result.out_lines[:8] == [
        f"Recipe not provided, default recipe ({recipe.__name__}) will be used.",
        f"Input file: {flat}",
        f"Input tags: {tags}",
        "Input mode: sq",
        f"Input recipe: {recipe.__name__}",
        f"Matched recipe: recipes.gsaoi.sq.recipes_FLAT_IMAGE::{recipe.__name__}",
        f"Recipe location: {inspect.getsourcefile(recipe)}",
        "Recipe tags: {" + ", ".join(repr(t) for t in sorted(library.recipe_tags)) + "}",
    ]
    assert result.out_lines[8] == "Primitives used:"
    shown = [line.strip() for line in result.out_lines[9:]]
    assert shown == calls_in_source(recipe)
    assert "p.makeLampFlat()" in shown


def test_named_recipe_and_f2_dark(f2_playdata, gsaoi_playdata, run_cli):
    flat = first_of_role(gsaoi_playdata, "flat_lamp_off")
    bpm = run_cli(showrecipes.main, flat, "-r", "makeProcessedBPM")
    assert bpm.status == 0
    assert not bpm.out.startswith("Recipe not provided")
    assert "Matched recipe: recipes.gsaoi.sq.recipes_FLAT_IMAGE::makeProcessedBPM" in bpm.out
    dark = first_of_role(f2_playdata, "dark")
    f2 = run_cli(showrecipes.main, dark)
    library = importlib.import_module("recipes.f2.sq.recipes_DARK")
    assert (f"Matched recipe: recipes.f2.sq.recipes_DARK::{library._default.__name__}"
            in f2.out_lines)


def test_all_recipes_of_a_science_frame(f2_playdata, run_cli):
    science = first_of_role(f2_playdata, "science")
    result = run_cli(showrecipes.main, science, "--all")
    assert result.status == 0
    assert result.out_lines[0] == f"Input file: {science}"
    assert result.out_lines[2] == "Recipes available for the input file:"
    listed = [line.strip() for line in result.out_lines[3:]]
    expected = []
    for mode in ("sq", "qa", "ql"):
        try:
            library = importlib.import_module(f"recipes.f2.{mode}.recipes_IMAGE")
        except ImportError:
            continue
        expected += [f"{library.__name__}::{name}" for name in recipe_names(library)]
    assert listed == expected
    sq_library = importlib.import_module("recipes.f2.sq.recipes_IMAGE")
    assert f"recipes.f2.sq.recipes_IMAGE::{sq_library._default.__name__}" in listed


def test_errors_are_one_line(f2_playdata, tmp_path, run_cli):
    science = first_of_role(f2_playdata, "science")
    unknown = run_cli(showrecipes.main, science, "-r", "noSuchRecipe")
    assert unknown.status == 1 and len(unknown.err_lines) == 1
    assert "has no recipe 'noSuchRecipe' (available: " in unknown.err
    missing = run_cli(showrecipes.main, str(tmp_path / "missing.fits"))
    assert missing.status == 1
    assert missing.err_lines == [f"showrecipes: error: {tmp_path / 'missing.fits'}: no such file"]
    bad_mode = run_cli(showrecipes.main, science, "-m", "xx")
    assert bad_mode.status == 2 and len(bad_mode.err_lines) == 1
    help_text = run_cli(showrecipes.main, "--help")
    assert help_text.status == 0 and "examples:" in help_text.out and "--drpkg" in help_text.out
