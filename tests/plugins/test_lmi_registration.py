"""The LMI plug-in is found only through its entry points; no core module knows about it."""

import ast
import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import astrodata
from astrodata.instruments.lmi import AstroDataLMI

ROOT = Path(__file__).resolve().parents[2]
CORE_PACKAGES = ("astrodata", "gempy", "primitives", "recipes", "recipe_system")

#: The plug-in's own files; everything else under the packages is "core".
PLUGIN_PATHS = ("astrodata/instruments/lmi/", "primitives/lmi/", "recipes/lmi/",
                "gempy/sim/instruments/lmi.py")

EXPECTED_ENTRY_POINTS = {
    "astroreduce.instruments": "astrodata.instruments.lmi:AstroDataLMI",
    "astroreduce.primitives": "primitives.lmi",
    "astroreduce.recipes": "recipes.lmi",
}


def _core_modules():
    for package in CORE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if not relative.startswith(PLUGIN_PATHS):
                yield relative, path


def test_entry_points_declare_the_plugin():
    for group, target in EXPECTED_ENTRY_POINTS.items():
        found = {ep.name: ep.value for ep in entry_points(group=group)}
        assert found.get("lmi") == target, group


def test_no_core_module_imports_or_names_the_plugin():
    offenders = []
    for relative, path in _core_modules():
        source = path.read_text()
        for node in ast.walk(ast.parse(source, filename=relative)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [alias.name for alias in node.names]
            if any("lmi" in name.lower().split(".") for name in names):
                offenders.append(f"{relative}:{node.lineno} imports {names}")
        # dynamic imports would name the module in a string
        for needle in ("instruments.lmi", "primitives.lmi", "recipes.lmi", "AstroDataLMI"):
            if needle in source:
                offenders.append(f"{relative} mentions {needle}")
    assert not offenders, "\n".join(offenders)
    assert sum(1 for _ in _core_modules()) > 60


def test_factory_and_registry_list_the_plugin(lmi_night, role_files):
    from recipe_system import registry

    assert AstroDataLMI in astrodata.registered_classes()
    assert registry.instrument_entry_points()["lmi"] == EXPECTED_ENTRY_POINTS[
        "astroreduce.instruments"]
    assert registry.primitive_modules()["lmi"] == "primitives.lmi"
    assert registry.recipe_packages()["lmi"] == "recipes.lmi"
    assert [c.__name__ for c in registry.primitive_classes("lmi")] == ["LMI", "LMIImage"]
    assert [m.__name__.rsplit(".", 1)[1] for m in registry.recipe_modules("lmi", "sq")] == [
        "recipes_BIAS", "recipes_DARK", "recipes_FLAT_IMAGE", "recipes_IMAGE"]


@pytest.mark.parametrize("role,pclass,recipe", [
    ("bias", "LMI", "makeProcessedBias"),
    ("dark", "LMI", "makeProcessedDark"),
    ("domeflat", "LMIImage", "makeProcessedFlat"),
    ("skyflat", "LMIImage", "makeProcessedFlat"),
    ("science", "LMIImage", "reduce"),
])
def test_mappers_choose_the_lmi_classes_and_recipes(lmi_night, role_files, role, pclass,
                                                    recipe):
    from recipe_system.mappers import PrimitiveMapper, RecipeMapper
    from recipe_system.mappers.dataset import dataset_signature

    path, truth = lmi_night
    ads = [astrodata.open(path / name) for name in role_files(truth, role)]
    tags, key = dataset_signature(ads)
    assert key == "lmi"
    assert PrimitiveMapper(tags, key, "sq").get_applicable_primitives().__name__ == pclass
    assert RecipeMapper(tags, key, "sq").get_applicable_recipe().__name__ == recipe


def test_calibration_rules_come_from_the_plugin_entry_point():
    from importlib.metadata import entry_points

    from recipe_system.cal_service import rules

    assert not any(rule.instrument == "LMI" for rule in rules._RULE_LIST)
    assert "lmi" in {ep.name for ep in entry_points(group=rules.RULES_ENTRY_POINT)}
    for caltype in ("processed_bias", "processed_dark", "processed_flat", "processed_bpm"):
        rule = rules.find_rule("LMI", caltype)
        assert rule is not None and rule.instrument == "LMI"
    flat = rules.find_rule("LMI", "processed_flat")
    assert {"filter_name", "detector_x_bin", "detector_y_bin"} <= set(flat.match)
    assert rules.not_applicable_reason("LMI", "processed_bias", "BIAS")


_HIDDEN = textwrap.dedent("""
    import importlib.metadata as metadata
    import json, sys

    original = metadata.entry_points

    def without_lmi(**kwargs):
        found = original(**kwargs)
        if not str(kwargs.get("group", "")).startswith("astroreduce."):
            return found
        return metadata.EntryPoints(ep for ep in found if ep.name != "lmi")

    if sys.argv[2] == "hide":
        metadata.entry_points = without_lmi

    import astrodata
    import gempy.sim
    from recipe_system import registry
    from recipe_system.errors import ReduceError
    from recipe_system.mappers import PrimitiveMapper
    from recipe_system.mappers.dataset import dataset_signature

    ad = astrodata.open(sys.argv[1])
    result = {"class": type(ad).__name__, "tags": sorted(ad.tags),
              "primitives": sorted(registry.primitive_modules()),
              "sim_dataset": "lmi-night" in gempy.sim.DATASETS}
    try:
        tags, key = dataset_signature([ad])
        result["mapped"] = PrimitiveMapper(tags, key).get_applicable_primitives().__name__
    except ReduceError as exc:
        result["mapped"] = type(exc).__name__
    result["modules"] = sorted(m for m in sys.modules if "lmi" in m.split("."))
    print(json.dumps(result))
""")


@pytest.mark.parametrize("mode", ["hide", "keep"])
def test_without_its_entry_points_the_plugin_is_invisible(lmi_night, role_files, mode):
    """Hiding the three ``lmi`` entry points leaves LMI files as plain AstroData, unmapped."""
    path, truth = lmi_night
    raw = path / role_files(truth, "science")[0]
    run = subprocess.run([sys.executable, "-c", _HIDDEN, str(raw), mode], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if mode == "hide":
        assert result["class"] == "AstroData"
        assert "LMI" not in result["tags"]
        assert "lmi" not in result["primitives"]
        assert result["mapped"] == "PrimitivesNotFound"
        assert result["modules"] == []
        assert result["sim_dataset"] is False
    else:
        assert result["class"] == "AstroDataLMI"
        assert result["mapped"] == "LMIImage"
        assert {"astrodata.instruments.lmi", "primitives.lmi"} <= set(result["modules"])
