"""The Reduce class: seed-style API, single primitives, user recipes, crash files, HISTORY."""

import json
import os

import numpy as np
import pytest

import astrodata
from primitives.errors import PrimitiveError
from recipe_system.errors import (
    CalibrationNotFoundError,
    RecipeNotFound,
    ReduceError,
    UnrecognizedParameter,
)
from recipe_system.reduction.coreReduce import Reduce

USER_RECIPES = '''
def tidy(p):
    p.selectFromInputs(tags="DARK")
    p.sortInputs(descriptor="exposure_time", reverse=True)
    p.rejectInputs(at_end=1)
    p.writeOutputs(suffix="_tidy")


def needs_dark(p):
    p.rejectInputs(at_end=1)
    p.setCalibration(caltype="processed_dark", calfile="/nowhere/S_dark.fits")


def crash(p):
    p.sortInputs()
    p.rejectInputs(at_start=1)
    p.sortInputs(descriptor="nonsense")
'''


@pytest.fixture
def darks(make_frame):
    return [make_frame(f"S20131121S03{i}.fits", "f2_dark", value=i, EXPTIME=float(t))
            for i, t in ((69, 2), (70, 120), (71, 60))]


@pytest.fixture
def recipes_file(tmp_path):
    path = tmp_path / "user_recipes.py"
    path.write_text(USER_RECIPES)
    return path


def test_seed_style_single_primitive_with_appended_uparms(workdir, darks):
    reduce_darks = Reduce()
    reduce_darks.files.extend(darks)
    reduce_darks.recipename = "writeOutputs"
    reduce_darks.uparms.append(("writeOutputs:suffix", "_copy"))
    reduce_darks.runr()
    expected = ["S20131121S0369_copy.fits", "S20131121S0370_copy.fits",
                "S20131121S0371_copy.fits"]
    assert reduce_darks.output_filenames == expected
    assert sorted(f.name for f in workdir.glob("*.fits")) == expected
    out = astrodata.open(str(workdir / expected[1]))
    assert np.allclose(out[0].data, 70.0) and "DARK" in out.tags
    # raw inputs untouched and not rewritten in the working directory
    assert all(astrodata.open(f).filename == astrodata.open(f).orig_filename for f in darks)


def test_bare_user_parameter_goes_to_the_primitive_run(workdir, darks):
    r = Reduce()
    r.files = darks[:1]
    r.recipename = "writeOutputs"
    r.uparms = ["suffix=_one"]                         # list of strings
    r.runr()
    assert r.output_filenames == ["S20131121S0369_one.fits"]


def test_user_recipe_history_lists_each_primitive_with_parameters(workdir, darks,
                                                                 recipes_file, make_frame):
    flat = make_frame("S20131129S0320.fits", "f2_flat")
    r = Reduce()
    r.files.extend(darks + [flat])
    r.recipename = f"{recipes_file.parent}/user_recipes.tidy"
    r.uparms = {"sortInputs:reverse": "False"}        # dict form; user beats the recipe
    r.runr()
    assert r.recipename == "tidy"
    # darks selected, sorted by exposure time ascending (user value), last one dropped
    assert r.output_filenames == ["S20131121S0369_tidy.fits", "S20131121S0371_tidy.fits"]
    history = astrodata.open(str(workdir / r.output_filenames[0])).HISTORY
    assert list(history["primitive"]) == ["selectFromInputs", "sortInputs", "rejectInputs",
                                          "writeOutputs"]
    args = [json.loads(a) for a in history["args"]]
    assert args[0] == {"tags": ["DARK"], "xtags": None}
    assert args[1] == {"descriptor": "exposure_time", "reverse": False}
    assert args[2] == {"at_start": 0, "at_end": 1}
    assert args[3]["suffix"] == "_tidy" and args[3]["overwrite"] is True
    prov = astrodata.open(str(workdir / r.output_filenames[0])).PROVENANCE
    assert list(prov["filename"]) == ["S20131121S0369.fits"]


def test_crash_writes_crash_files_then_raises(workdir, darks, recipes_file):
    r = Reduce()
    r.files.extend(darks)
    r.recipename = f"{recipes_file.parent}/user_recipes.py.crash"
    with pytest.raises(PrimitiveError, match="nonsense"):
        r.runr()
    assert sorted(f.name for f in workdir.glob("*.fits")) == ["S20131121S0370_crash.fits",
                                                             "S20131121S0371_crash.fits"]
    assert r.output_filenames == []


def test_missing_calibration_becomes_a_reduce_error(workdir, darks, recipes_file):
    r = Reduce()
    r.files.extend(darks[:2])
    r.recipename = f"{recipes_file.parent}/user_recipes.needs_dark"
    with pytest.raises(CalibrationNotFoundError, match="S_dark.fits") as info:
        r.runr()
    assert isinstance(info.value, ReduceError)
    assert isinstance(info.value.__cause__, PrimitiveError)
    assert [f.name for f in workdir.glob("*.fits")] == ["S20131121S0369_crash.fits"]


def test_final_suffix_replaces_all_suffixes(workdir, darks):
    r = Reduce()
    r.files = list(darks[:2])
    r.recipename = "writeOutputs"
    r.uparms = [("suffix", "_a")]
    r.suffix = "_final"
    r.runr()
    assert r.output_filenames == ["S20131121S0369_final.fits", "S20131121S0370_final.fits"]


def test_show_inputs_writes_nothing(workdir, darks, caplog):
    r = Reduce()
    r.files = darks
    r.recipename = "showInputs"
    with caplog.at_level("INFO"):
        r.runr()
    assert r.output_filenames == [] and not list(workdir.glob("*.fits"))
    messages = [rec.getMessage() for rec in caplog.records]
    assert "  S20131121S0369.fits" in messages
    assert "RECIPE: showInputs" in messages and "reduce completed successfully." in messages
    assert "=" * 80 in messages


@pytest.mark.parametrize("setup,error,fragment", [
    (lambda r, d: setattr(r, "files", []), ReduceError, "no input files"),
    (lambda r, d: setattr(r, "files", ["/nowhere/S1.fits"]), ReduceError,
     "/nowhere/S1.fits: no such file"),
    (lambda r, d: setattr(r, "recipename", "makeProcesedDark"), RecipeNotFound,
     "did you mean 'makeProcessedDark'"),
    (lambda r, d: r.uparms.append(("writeOutputs:sufix", "_x")), UnrecognizedParameter,
     "did you mean 'suffix'"),
    (lambda r, d: r.uparms.append(("addDQQ:user_bpm", "bpm.fits")), UnrecognizedParameter,
     "no primitive 'addDQQ'"),
    (lambda r, d: setattr(r, "ucals", ["processed_dark:/nowhere/dark.fits"]), ReduceError,
     "no such file"),
    (lambda r, d: setattr(r, "mode", "xq"), ReduceError, "no recipes for mode 'xq'"),
])
def test_bad_requests_raise_reduce_errors(workdir, darks, setup, error, fragment):
    r = Reduce()
    r.files = list(darks)
    setup(r, darks)
    with pytest.raises(error, match=fragment):
        r.runr()


def test_non_fits_input_is_refused_naming_the_file(workdir, darks, tmp_path):
    text = tmp_path / "raw" / "notes.fits"
    text.write_text("this is not FITS\n" * 200)
    r = Reduce()
    r.files = [darks[0], str(text)]
    with pytest.raises(ReduceError, match="notes.fits"):
        r.runr()


def test_missing_primitive_in_a_recipe_is_reported(workdir, darks):
    """A recipe naming a primitive the class lacks fails with the class and the name."""
    recipe = workdir / "myrecipes.py"
    recipe.write_text("def broken(p):\n    p.noSuchPrimitive()\n")
    r = Reduce()
    r.files = darks
    r.recipename = f"{recipe}.broken"
    with pytest.raises(AttributeError, match="F2 has no primitive 'noSuchPrimitive'"):
        r.runr()


def test_default_dark_recipe_makes_a_processed_dark(workdir):
    """The F2 dark recipe runs end to end on simulated darks and stores the product."""
    import glob

    import astrodata
    from gempy.sim import make_dataset

    raw = make_dataset("f2-tutorial", workdir / "raw", small=True)
    darks = [f for f in sorted(glob.glob(str(raw / "S2013*.fits")))
             if astrodata.open(f).exposure_time() == 120.0][:3]
    r = Reduce()
    r.files = darks
    r.runr()
    assert r.output_filenames == [os.path.basename(darks[0]).replace(".fits", "_dark.fits")]
    product = astrodata.open(r.output_filenames[0])
    assert {"DARK", "PROCESSED"} <= product.tags
    assert (workdir / "calibrations" / "processed_dark" / r.output_filenames[0]).is_file()


def test_plan_describes_without_running(workdir, darks):
    r = Reduce()
    r.files = darks
    r.uparms = ["sortInputs:reverse=True", "purpose=stacking"]
    plan = r.plan()
    assert plan["recipe"] == "makeProcessedDark"
    assert plan["recipe_module"] == "recipes.f2.sq.recipes_DARK"
    assert plan["primitive_class"] == "primitives.f2.f2.F2"
    assert plan["user_params_apply_to"]["purpose"] == ["addToList", "getList", "showInputs"]
    assert "F2" in plan["tags"] and plan["mode"] == "sq"
    assert not list(workdir.glob("*.fits"))


def test_final_suffix_also_names_the_stored_calibration_copy(workdir, darks):
    """Runs with different --suffix values keep distinct copies in calibrations/."""
    names = []
    for suffix in ("_first", "_second"):
        r = Reduce()
        r.files = [darks[1]]
        r.recipename = "storeProcessedDark"
        r.suffix = suffix
        r.runr()
        names.append(r.output_filenames)
    assert names == [["S20131121S0370_first.fits"], ["S20131121S0370_second.fits"]]
    stored = sorted(p.name for p in (workdir / "calibrations" / "processed_dark").iterdir())
    assert stored == ["S20131121S0370_first.fits", "S20131121S0370_second.fits"]


def test_explicit_store_suffix_beats_the_final_suffix_for_the_copy(workdir, darks):
    r = Reduce()
    r.files = [darks[1]]
    r.recipename = "storeProcessedDark"
    r.uparms = [("storeProcessedDark:suffix", "_mydark")]
    r.suffix = "_final"
    r.runr()
    assert r.output_filenames == ["S20131121S0370_final.fits"]
    stored = [p.name for p in (workdir / "calibrations" / "processed_dark").iterdir()]
    assert stored == ["S20131121S0370_mydark.fits"]
