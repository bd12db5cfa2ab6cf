"""Mapping a dataset to its recipe library, recipe and primitive class."""

import logging

import pytest

import astrodata
from recipe_system import registry
from recipe_system.errors import ModeError, PrimitivesNotFound, RecipeNotFound
from recipe_system.mappers import (
    PrimitiveMapper,
    RecipeMapper,
    dataset_signature,
    instrument_key,
    load_user_recipe,
)

# kind -> (primitive class, recipe module, default recipe name)
EXPECTED = {
    "f2_dark": ("F2", "recipes.f2.sq.recipes_DARK", "makeProcessedDark"),
    "f2_flat": ("F2Image", "recipes.f2.sq.recipes_FLAT_IMAGE", "makeProcessedFlat"),
    "f2_science": ("F2Image", "recipes.f2.sq.recipes_IMAGE", "reduce"),
    "gsaoi_flat": ("GSAOIImage", "recipes.gsaoi.sq.recipes_FLAT_IMAGE", "makeProcessedFlat"),
    "gsaoi_science": ("GSAOIImage", "recipes.gsaoi.sq.recipes_IMAGE", "reduce_nostack"),
    "gmos_bias": ("GMOS", "recipes.gmos.sq.recipes_BIAS", "makeProcessedBias"),
    "gmos_twilight": ("GMOSImage", "recipes.gmos.sq.recipes_FLAT_IMAGE", "makeProcessedFlat"),
    "gmos_science": ("GMOSImage", "recipes.gmos.sq.recipes_IMAGE", "reduce"),
    "niri_dark": ("NIRI", "recipes.niri.sq.recipes_DARK", "makeProcessedDark"),
    "niri_flat": ("NIRIImage", "recipes.niri.sq.recipes_FLAT_IMAGE", "makeProcessedFlat"),
    "niri_science": ("NIRIImage", "recipes.niri.sq.recipes_IMAGE", "reduce"),
}


def signature(path):
    return dataset_signature([astrodata.open(path)])


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_instrument_and_type_maps(kind, make_frame):
    tags, instrument = signature(make_frame(f"{kind}.fits", kind))
    cls_name, module_name, default = EXPECTED[kind]
    pclass = PrimitiveMapper(tags, instrument).get_applicable_primitives()
    assert pclass.__name__ == cls_name
    assert frozenset(pclass.tagset) <= tags
    mapper = RecipeMapper(tags, instrument, "sq")
    assert mapper.get_applicable_library().__name__ == module_name
    recipe = mapper.get_applicable_recipe()
    assert recipe.__name__ == default and recipe.__module__ == module_name


def test_named_recipe_in_the_library(make_frame):
    tags, instrument = signature(make_frame("flat.fits", "f2_flat"))
    recipe = RecipeMapper(tags, instrument, "sq", "makeProcessedBPM").get_applicable_recipe()
    assert recipe.__name__ == "makeProcessedBPM"
    # a primitive name is not a recipe: the mapper says so with None
    assert RecipeMapper(tags, instrument, "sq", "showInputs").get_applicable_recipe() is None


def test_ql_mode_and_exact_mode_names(make_frame):
    tags, instrument = signature(make_frame("sci.fits", "f2_science"))
    ql = RecipeMapper(tags, instrument, "ql").get_applicable_recipe()
    assert ql.__module__ == "recipes.f2.ql.recipes_IMAGE" and ql.__name__ == "reduce"
    dark_tags, _ = signature(make_frame("dark.fits", "f2_dark"))
    ql_dark = RecipeMapper(dark_tags, instrument, "ql").get_applicable_recipe()
    assert ql_dark.__name__ == "makeProcessedDark"      # re-exported sq recipe
    qa = RecipeMapper(tags, instrument, "qa").get_applicable_recipe()
    assert qa.__module__ == "recipes.f2.qa.recipes_IMAGE" and qa.__name__ == "reduce_nostack"
    # DRAGONS matched the mode with a substring test ("s" in "sq"); we do not
    with pytest.raises(ModeError):
        RecipeMapper(tags, instrument, "s").get_applicable_recipe()


def test_blocked_tags_exclude_a_library(make_frame):
    tags, instrument = signature(make_frame("slit.fits", "gmos_thruslit"))
    assert {"IMAGE", "THRUSLIT"} <= tags
    with pytest.raises(RecipeNotFound, match="no sq recipe library"):
        RecipeMapper(tags, instrument).get_applicable_library()


def test_no_primitive_class_or_instrument():
    with pytest.raises(PrimitivesNotFound, match="'nosuch'"):
        PrimitiveMapper({"NOSUCH"}, "nosuch").get_applicable_primitives()
    with pytest.raises(PrimitivesNotFound, match="no primitive class of 'f2'"):
        PrimitiveMapper({"F2"}, "f2").get_applicable_primitives()
    with pytest.raises(RecipeNotFound, match="no recipes registered"):
        RecipeMapper({"X"}, "nosuch").get_applicable_library()


def test_instrument_key_is_generic(make_frame):
    ad = astrodata.open(make_frame("b.fits", "gmos_bias"))
    assert instrument_key(ad) == "gmos"
    assert instrument_key(astrodata.open(make_frame("d.fits", "f2_dark"))) == "f2"


def test_mixed_inputs_warn(make_frame, caplog):
    ads = [astrodata.open(make_frame("a.fits", "f2_flat")),
           astrodata.open(make_frame("b.fits", "f2_dark")),
           astrodata.open(make_frame("c.fits", "niri_flat"))]
    with caplog.at_level(logging.WARNING, logger="recipe_system"):
        tags, key = dataset_signature(ads, logging.getLogger("recipe_system"))
    assert key == "f2" and "FLAT" in tags
    text = caplog.text
    assert "b.fits has observation type 'DARK'" in text
    assert "c.fits is from instrument 'niri'" in text


def test_user_recipe_from_a_path(tmp_path):
    recipe_file = tmp_path / "my_recipes.py"
    recipe_file.write_text("def tidy(p):\n    p.sortInputs()\n")
    recipe = load_user_recipe(f"{tmp_path}/my_recipes.tidy")
    assert recipe.__name__ == "tidy"
    assert load_user_recipe(f"{tmp_path}/my_recipes.py.tidy").__name__ == "tidy"
    mapper = RecipeMapper({"F2"}, "f2", "sq", f"{tmp_path}/my_recipes.tidy")
    assert mapper.is_user_recipe and mapper.get_applicable_recipe().__name__ == "tidy"
    with pytest.raises(RecipeNotFound, match="no function 'nope'"):
        load_user_recipe(f"{tmp_path}/my_recipes.nope")
    with pytest.raises(RecipeNotFound, match="does not exist"):
        load_user_recipe(f"{tmp_path}/missing.tidy")
    with pytest.raises(RecipeNotFound, match="cannot import"):
        load_user_recipe("no_such_module_xyz.tidy")
    broken = tmp_path / "broken.py"
    broken.write_text("def f(p):\n    p.x(\n")
    with pytest.raises(RecipeNotFound, match="SyntaxError"):
        load_user_recipe(f"{tmp_path}/broken.f")


def test_plugin_registration(tmp_path, monkeypatch, make_frame):
    plugin = tmp_path / "toy_plugin"
    (plugin / "recipes" / "sq").mkdir(parents=True)
    (plugin / "__init__.py").write_text(
        "from recipe_system import registry\n"
        "registry.register_primitives('f2', 'toy_plugin.prims')\n"
        "registry.register_recipes('f2', 'toy_plugin.recipes')\n")
    (plugin / "prims.py").write_text(
        "from primitives.core.bookkeeping import Bookkeeping\n"
        "__all__ = ['ToyF2']\n"
        "class ToyF2(Bookkeeping):\n    tagset = {'F2'}\n")
    (plugin / "recipes" / "__init__.py").write_text("")
    (plugin / "recipes" / "sq" / "__init__.py").write_text("")
    (plugin / "recipes" / "sq" / "recipes_ANY.py").write_text(
        "recipe_tags = {'F2'}\n\ndef look(p):\n    p.showInputs()\n\n_default = look\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = (registry.primitive_modules(), registry.recipe_packages())
    try:
        registry.load_plugin("toy_plugin")
        tags, key = signature(make_frame("d.fits", "f2_dark"))
        assert PrimitiveMapper(tags, key).get_applicable_primitives().__name__ == "ToyF2"
        assert RecipeMapper(tags, key).get_applicable_recipe().__name__ == "look"
    finally:
        registry.register_primitives("f2", saved[0]["f2"])
        registry.register_recipes("f2", saved[1]["f2"])
    from recipe_system.errors import ReduceError
    with pytest.raises(ReduceError, match="cannot import plug-in module 'nope_plugin'"):
        registry.load_plugin("nope_plugin")


def test_registry_lists_the_builtin_instruments():
    assert {"f2", "gsaoi", "gmos", "niri"} <= set(registry.primitive_modules())
    assert {"f2", "gsaoi", "gmos", "niri"} <= set(registry.recipe_packages())
    assert {"f2", "gsaoi", "gmos", "niri", "gemini"} <= set(registry.instrument_entry_points())
    names = [c.__name__ for c in registry.primitive_classes("gsaoi")]
    assert names == ["GSAOI", "GSAOIImage"]
