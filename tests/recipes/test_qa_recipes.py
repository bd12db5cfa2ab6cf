"""qa recipe libraries: structure, and ``reduce --qa`` on single simulated frames."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import subprocess
import sys

import pytest

import astrodata
from primitives.core.qa import read_metrics
from recipe_system import registry

sys.path.insert(0, os.path.dirname(__file__))
from conftest import reduce_files  # noqa: E402

INSTRUMENTS = ("f2", "gsaoi", "gmos", "niri")


def _qa_libraries():
    for inst in INSTRUMENTS:
        for module in registry.recipe_modules(inst, "qa"):
            yield inst, module


def test_qa_libraries_mirror_sq_and_are_plain():
    found = {m.__name__.replace(".qa.", ".X."): m for _, m in _qa_libraries()}
    sq = {m.__name__.replace(".sq.", ".X."): m for i in INSTRUMENTS
          for m in registry.recipe_modules(i, "sq")}
    assert found.keys() == sq.keys()                      # DARK, FLAT_IMAGE, IMAGE (+ BIAS)
    for key, module in found.items():
        assert module.recipe_tags == sq[key].recipe_tags
        recipes = {n: f for n, f in vars(module).items()
                   if inspect.isfunction(f) and not n.startswith("_")}
        assert module._default in recipes.values()
        tree = ast.parse(inspect.getsource(module))
        for node in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            for statement in node.body[1:]:
                call = statement.value
                assert isinstance(call.func, ast.Attribute) and call.func.value.id == "p", \
                    f"{module.__name__}.{node.name}"


@pytest.mark.parametrize("inst", ["f2", "gsaoi", "niri", "gmos"])
def test_qa_science_recipes_measure_and_accumulate(inst):
    module = importlib.import_module(f"recipes.{inst}.qa.recipes_IMAGE")
    assert module._default is module.reduce_nostack
    names = [n.func.attr for n in ast.walk(ast.parse(inspect.getsource(module.reduce_nostack)))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    assert {"measureIQ", "measureBG", "measureCC", "addToList"} <= set(names)
    assert "stackFrames" not in names
    stack = inspect.getsource(module.stack)
    assert 'getList(purpose="forStack")' in stack and "stackFrames" in stack


def test_showrecipes_lists_the_qa_recipes(sim_dataset):
    directory, truth = sim_dataset("f2-tutorial")
    science = directory / truth["roles"]["science"][0]
    out = subprocess.run([sys.executable, "-m", "gempy.scripts.showrecipes", "--all",
                          str(science)], capture_output=True, text=True, check=True).stdout
    for name in ("reduce_nostack", "stack", "reduce"):
        assert f"recipes.f2.qa.recipes_IMAGE::{name}" in out


@pytest.mark.slow
def test_f2_qa_without_calibrations_warns_and_measures(sim_dataset, workdir):
    """No dark, flat or BPM in the database: qa warns, skips them, and still measures."""
    directory, truth = sim_dataset("f2-tutorial")
    science = [directory / n for n in truth["roles"]["science"][:2]]
    for frame in science:
        reduce_files([frame], mode="qa")
    records = read_metrics(workdir / "qa_metrics.jsonl")
    for index, frame in enumerate(science, start=1):
        mine = [r for r in records if r["data_label"].endswith(f"-{index:03d}")]
        # measured before and after the sky step (the first frame has no sky yet)
        assert [r["metric"] for r in mine] == ["iq", "bg", "cc", "iq", "cc"]
        bg = mine[1]
        # no dark (~0 e- at 120 s) and no flat: the raw sky level, within 5%
        assert bg["sky_level"] == pytest.approx(truth["files"][frame.name]["sky_e_per_pix"],
                                                rel=0.05)
    out = astrodata.open(workdir / f"{science[1].stem}_skyCorrected.fits")
    assert "MEANFWHM" in out.phu and "SKYLEVEL" in out.phu
    assert abs(float(out[0].data[out[0].mask == 0].mean())) < 0.05 * out.phu["SKYLEVEL"]


@pytest.mark.slow
def test_f2_qa_with_calibrations_uses_them(sim_dataset, workdir):
    directory, truth = sim_dataset("f2-tutorial")
    darks = reduce_files([directory / n for n in truth["roles"]["dark"]])
    assert darks.output_filenames
    reduce_files([directory / truth["roles"]["science"][0]], mode="qa")
    frame = astrodata.open(workdir / f"{truth['roles']['science'][0][:-5]}_sourcesDetected.fits")
    assert os.path.basename(str(frame.phu["DARKIM"])) == os.path.basename(darks.output_filenames[0])
    (bg,) = [r for r in read_metrics(workdir / "qa_metrics.jsonl") if r["metric"] == "bg"]
    assert bg["sky_mag_arcsec2"] is not None


@pytest.mark.slow
def test_gmos_qa_without_calibrations(sim_dataset, workdir):
    directory, truth = sim_dataset("gmos-imaging")
    reduce_files([directory / truth["roles"]["science"][0]], mode="qa")
    metrics = {r["metric"]: r for r in read_metrics(workdir / "qa_metrics.jsonl")}
    assert set(metrics) == {"iq", "bg", "cc"}
    assert metrics["iq"]["nsources"] >= 1 and metrics["bg"]["sky_level"] > 0
