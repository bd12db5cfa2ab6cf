"""reduce --auto planning: classification, screening, grouping, order, calibrations, dry run.

The plans are made on the small simulated tutorial folders (gempy.sim) and
checked against what the tutorials do by hand (which frames go into which
reduction, in which order, with which calibration) and against the
simulator's record of each file's role.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from gempy.sim import load_truth, make_dataset
from recipe_system.auto import (
    FLAT_MIN_ELECTRONS,
    AutoPlan,
    classify,
    measure_level,
    plan_auto,
    recipe_calls,
)
from recipe_system.errors import ReduceError, UnrecognizedParameter
from recipe_system.reduction.coreReduce import Reduce
from recipe_system.scripts.reduce import main

pytestmark = pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """``datasets(name)``: the small simulated folder (made once per module)."""
    made: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in made:
            root = tmp_path_factory.mktemp(name.replace("-", "_"))
            made[name] = str(make_dataset(name, root / "playdata", small=True))
        return made[name]

    return get


def names(paths):
    return [os.path.basename(p) for p in paths]


def roles(folder: str) -> dict[str, list[str]]:
    return {k: sorted(names(v)) for k, v in load_truth(folder)["roles"].items()}


def copy_folder(src: str, dst) -> str:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("truth"))
    return str(dst)


def scaled_copy(src: str, dst: str, factor: float) -> str:
    """A raw frame with its pixels multiplied by `factor` (headers kept, so tags are)."""
    with fits.open(src) as hdul:
        for hdu in hdul[1:]:
            hdu.data = (hdu.data * factor).astype(hdu.data.dtype)
        hdul.writeto(dst)
    return dst


# -- the tutorial folders ------------------------------------------------------------
def test_f2_plan_is_the_api_tutorial(datasets, workdir):
    folder = datasets("f2-tutorial")
    truth = roles(folder)
    plan = Reduce.auto(folder, dry_run=True)
    assert isinstance(plan, AutoPlan)
    assert [s.role for s in plan.steps] == ["dark", "bpm", "flat", "science"]
    dark, bpm, flat, science = plan.steps
    # 120 s darks for the science; the 2 s darks only go into the BPM (as in the tutorial)
    assert sorted(names(dark.files)) == truth["dark"]
    assert dark.group["exposure_time"] == 120.0
    flats = sorted(truth["flat_lamp_on"] + truth["flat_lamp_off"])
    assert names(bpm.files) == flats + truth["dark_short"]          # flats first
    assert bpm.recipe == "makeProcessedBPM"
    assert names(flat.files) == flats
    assert names(science.files) == truth["science"]
    # the tutorial's product names
    assert dark.expected_outputs == ["S20131120S0115_dark.fits"]
    assert bpm.expected_outputs == ["S20131129S0320_bpm.fits"]
    assert flat.expected_outputs == ["S20131129S0320_flat.fits"]
    assert science.expected_outputs == ["S20131121S0075_image.fits"]
    # calibrations: dark and flat made here, the BPM given as addDQ:user_bpm
    assert science.calibrations["processed_dark"].startswith("S20131120S0115_dark.fits")
    assert science.calibrations["processed_flat"].startswith("S20131129S0320_flat.fits")
    assert flat.calibrations == {"user_bpm": "S20131129S0320_bpm.fits (step 2)"}
    assert science.depends_on == [1, 2, 3] and flat.depends_on == [2]
    assert dark.depends_on == [] and bpm.depends_on == []
    assert not plan.skipped
    assert os.listdir(workdir) == []                     # a dry run writes nothing


def test_gsaoi_plan_has_flat_standard_science_and_no_dark(datasets, workdir):
    folder = datasets("gsaoi-tutorial")
    truth = roles(folder)
    plan = Reduce.auto(folder, dry_run=True)
    assert [s.role for s in plan.steps] == ["flat", "standard", "science"]
    flat, standard, science = plan.steps
    assert names(flat.files) == sorted(truth["flat_lamp_on"] + truth["flat_lamp_off"])
    assert names(standard.files) == truth["standard"]
    # on-target and offset-to-sky frames reduce together (skies found from the headers)
    assert names(science.files) == sorted(truth["science"] + truth["sky"])
    assert science.recipe == standard.recipe == "reduce_nostack"
    assert science.per_frame and science.expected_outputs[0] == \
        "S20170505S0095_skyCorrected.fits"
    # the full-frame flat serves the ROI standard (detector-section containment)
    for step in (standard, science):
        assert list(step.calibrations) == ["processed_flat"]      # no dark for GSAOI
        assert step.calibrations["processed_flat"] == "S20170505S0030_flat.fits (step 1)"
        assert step.depends_on == [1]


def test_niri_short_darks_make_the_bpm_only(datasets, workdir):
    folder = datasets("niri-imaging")
    truth = roles(folder)
    plan = plan_auto(folder)
    assert [s.role for s in plan.steps] == ["dark", "bpm", "flat", "science"]
    dark, bpm = plan.steps[:2]
    assert names(dark.files) == truth["dark"]
    assert names(bpm.files)[-len(truth["dark_short"]):] == truth["dark_short"]
    assert bpm.group["darks"] == "1s"
    science = plan.steps[3]
    assert science.calibrations["processed_dark"].startswith("N20160102S0423_dark")
    # the NIRI recipe drops the first frame of the sequence: the stack is named after
    # the second one
    assert names(science.files)[0] == "N20160102S0270.fits"
    assert science.expected_outputs == ["N20160102S0271_image.fits"]
    kept = plan_auto(folder, uparms=[("removeFirstFrame:remove_first", "False")])
    assert kept.steps[3].expected_outputs == ["N20160102S0270_image.fits"]


def test_gmos_plan_biases_then_flats_and_science_per_filter(datasets, workdir):
    folder = datasets("gmos-imaging")
    plan = plan_auto(folder)
    science_filters = {ad.filter_name() for ad in map(astrodata.open, sorted(
        glob.glob(str(Path(folder) / "*.fits")))) if ad.observation_class() == "science"}
    assert {"open1-6&r_G0326", "open1-6&i_G0327"} <= science_filters
    n = len(science_filters)
    assert [s.role for s in plan.steps] == ["bias"] + ["flat"] * n + ["science"] * n
    bias = plan.steps[0]
    flat_of = {s.group["filter_name"]: s for s in plan.steps_of("flat")}
    assert set(flat_of) == science_filters
    for science in plan.steps_of("science"):
        band = science.group["filter_name"]
        filters = {astrodata.open(p).filter_name() for p in science.files}
        assert filters == {band}
        flat = flat_of[band]
        assert science.calibrations["processed_flat"] == \
            f"{flat.expected_outputs[0]} (step {flat.number})"
        assert science.calibrations["processed_bias"].startswith(bias.expected_outputs[0])
        assert science.depends_on == sorted([bias.number, flat.number])
    for flat in flat_of.values():
        assert flat.calibrations["processed_bias"] == f"{bias.expected_outputs[0]} (step 1)"
    assert "bpm" not in [s.role for s in plan.steps]     # no darks, no GMOS BPM recipe


def test_database_calibrations_are_named_when_no_step_makes_them(datasets, workdir,
                                                                tmp_path):
    """A flat already in the database serves science frames whose folder has no flats."""
    from recipe_system.cal_service import init_calibration_databases

    folder = tmp_path / "science_only"
    folder.mkdir()
    source = datasets("gsaoi-tutorial")
    for name in roles(source)["standard"]:
        shutil.copy(os.path.join(source, name), folder)
    provider = init_calibration_databases(databases=[str(tmp_path / "empty.db")])
    plan = plan_auto(str(folder), provider=provider)
    assert [s.role for s in plan.steps] == ["standard"]
    assert plan.steps[0].calibrations == {"processed_flat": "none found"}
    assert plan.steps[0].depends_on == []


# -- screening -------------------------------------------------------------------------
def test_saturated_and_faint_flats_are_skipped_with_the_reason(datasets, tmp_path, workdir):
    folder = copy_folder(datasets("f2-tutorial"), tmp_path / "screen")
    lamp_on = os.path.join(folder, "S20131129S0320.fits")
    saturated = scaled_copy(lamp_on, os.path.join(folder, "S20131129S0324.fits"), 6.0)
    faint = scaled_copy(lamp_on, os.path.join(folder, "S20131129S0325.fits"), 0.02)
    ad = astrodata.open(saturated)
    level = measure_level(ad)
    assert level.median[0] > ad.non_linear_level()[0]
    assert measure_level(astrodata.open(faint)).electrons() < FLAT_MIN_ELECTRONS

    plan = plan_auto(folder)
    skipped = {s.filename: s for s in plan.skipped}
    assert set(skipped) == {"S20131129S0324.fits", "S20131129S0325.fits"}
    assert "saturated" in skipped["S20131129S0324.fits"].reason
    assert "non-linear level 25200 ADU" in skipped["S20131129S0324.fits"].reason
    assert "too faint" in skipped["S20131129S0325.fits"].reason
    flat = plan.steps_of("flat")[0]
    assert not {"S20131129S0324.fits", "S20131129S0325.fits"} & set(names(flat.files))
    assert "S20131129S0320.fits" in names(flat.files)
    # the lamp-off flats (a few ADU) are not "too faint": they are dark by design
    assert all("S20131126" not in s.filename for s in plan.skipped)
    assert "Skipped file" in plan.render() and "saturated flat" in plan.render()


def test_amin_amax_are_fractions_of_saturation_applied_to_illuminated_frames(
        datasets, tmp_path, workdir):
    folder = copy_folder(datasets("f2-tutorial"), tmp_path / "limits")
    science = os.path.join(folder, "S20131121S0075.fits")
    scaled_copy(science, os.path.join(folder, "S20131121S0084.fits"), 0.05)
    ad = astrodata.open(science)
    fraction = measure_level(ad).saturation_fraction()
    # F2 science: ~34000 ADU of 280000 (8 reads) in the simulation
    assert 0.05 < fraction < 0.3
    plan = plan_auto(folder, amin=0.05, amax=0.5)
    assert [s.filename for s in plan.skipped] == ["S20131121S0084.fits"]
    assert "below amin 0.05" in plan.skipped[0].reason
    assert len(plan.steps_of("science")[0].files) == 9
    # darks are never screened by amin, however dark they are
    assert len(plan.steps_of("dark")[0].files) == 10
    originals = roles(datasets("f2-tutorial"))["science"]
    lowest = min(measure_level(astrodata.open(os.path.join(folder, n))).saturation_fraction()
                 for n in originals)
    strict = plan_auto(folder, amax=0.9 * lowest)
    reasons = {s.filename: s.reason for s in strict.skipped}
    assert set(originals) <= set(reasons)
    # the lamp-on flats (~15% of saturation) are above that too: amax applies to them
    assert "above amax" in reasons["S20131129S0320.fits"]
    assert names(strict.steps_of("science")[0].files) == ["S20131121S0084.fits"]
    with pytest.raises(ReduceError, match="amin=0.5 is not below amax=0.2"):
        plan_auto(folder, amin=0.5, amax=0.2)
    with pytest.raises(ReduceError, match="between 0 and 1"):
        plan_auto(folder, amax=3.0)


def test_lamp_off_flats_without_lamp_on_are_skipped(datasets, tmp_path, workdir):
    folder = copy_folder(datasets("f2-tutorial"), tmp_path / "no_lamp_on")
    for n in range(320, 324):
        os.remove(os.path.join(folder, f"S20131129S{n:04d}.fits"))
    plan = plan_auto(folder)
    assert "flat" not in [s.role for s in plan.steps]
    assert "bpm" not in [s.role for s in plan.steps]
    off = [s for s in plan.skipped if s.filename.startswith("S20131126")]
    assert len(off) == 6 and all("without a usable lamp-on" in s.reason for s in off)
    # the science step still plans, and says no flat is available
    assert plan.steps_of("science")[0].calibrations["processed_flat"] == \
        "looked up when the step runs"


# -- classification ---------------------------------------------------------------------
def test_classification_of_frame_kinds(make_frame):
    cases = {
        "bias.fits": ("gmos_bias", {}, "bias"),
        "dark.fits": ("f2_dark", {}, "dark"),
        "flat.fits": ("f2_flat", {}, "flat"),
        "twilight.fits": ("gmos_twilight", {}, "flat"),
        "science.fits": ("f2_science", {}, "science"),
        "standard.fits": ("f2_science", {"OBSCLASS": "partnerCal"}, "standard"),
        "acq.fits": ("f2_science", {"OBSCLASS": "acq"}, None),
        "prepared.fits": ("f2_science", {"PREPARE": "2024-01-01T00:00:00"}, None),
    }
    for name, (kind, extra, expected) in cases.items():
        ad = astrodata.open(make_frame(name, kind, **extra))
        role, reason = classify(ad)
        assert role == expected, (name, reason)
        if name == "acq.fits":
            assert reason == "acquisition frame"


def test_unreadable_and_processed_files_are_reported(datasets, tmp_path, workdir,
                                                     make_frame):
    folder = copy_folder(datasets("gsaoi-tutorial"), tmp_path / "mixed")
    with open(os.path.join(folder, "broken.fits"), "wb") as handle:
        handle.write(b"not a FITS file at all")
    shutil.move(make_frame("S20170505S0999.fits", "gsaoi_science",
                           PREPARE="2024-01-01T00:00:00"), folder)
    with open(os.path.join(folder, "notes.txt"), "w") as handle:
        handle.write("observing log\n")
    plan = plan_auto(folder)
    skipped = {s.filename: s.reason for s in plan.skipped}
    assert set(skipped) == {"broken.fits", "S20170505S0999.fits"}   # .txt not examined
    assert skipped["broken.fits"].startswith("cannot be read")
    assert "already processed" in skipped["S20170505S0999.fits"]
    assert [s.role for s in plan.steps] == ["flat", "standard", "science"]


def test_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(ReduceError, match="no such directory"):
        plan_auto(tmp_path / "nowhere")


# -- user parameters and recipes ---------------------------------------------------------
def test_parameters_go_to_the_steps_that_have_them(datasets, workdir):
    folder = datasets("gsaoi-tutorial")
    r = Reduce()
    r.uparms = [("science:skyCorrect:offset_sky", False), ("stackFrames:hsigma", 4.0),
                ("makeLampFlat:lsigma", 2.5)]
    plan = r.auto(folder, dry_run=True)
    flat, standard, science = plan.steps
    assert ("skyCorrect:offset_sky", False) in science.uparms
    assert all(k != "skyCorrect:offset_sky" for k, _ in standard.uparms + flat.uparms)
    assert ("stackFrames:hsigma", 4.0) in flat.uparms        # every class has stackFrames
    assert ("makeLampFlat:lsigma", 2.5) in flat.uparms
    r.uparms = [("noSuchPrimitive:x", 1)]
    with pytest.raises(UnrecognizedParameter, match="noSuchPrimitive"):
        r.auto(folder, dry_run=True)
    r.uparms = [("bias:prepare:suffix", "_x")]
    with pytest.raises(UnrecognizedParameter, match="there is none"):
        r.auto(folder, dry_run=True)


def test_user_bpm_replaces_the_bpm_step(datasets, workdir, make_frame):
    folder = datasets("f2-tutorial")
    bpm = make_frame("mybpm.fits", "f2_dark")
    plan = plan_auto(folder, uparms=[("addDQ:user_bpm", bpm)])
    # without a BPM to make, the 2 s darks are just another processed dark
    assert [s.role for s in plan.steps] == ["dark", "dark", "flat", "science"]
    assert sorted(s.group["exposure_time"] for s in plan.steps_of("dark")) == [2.0, 120.0]
    for step in plan.steps[2:]:
        assert ("addDQ:user_bpm", bpm) in step.uparms
        assert "user_bpm" not in step.calibrations


def test_recipe_of_a_kind_of_step_can_be_chosen(datasets, workdir):
    folder = datasets("f2-tutorial")
    plan = plan_auto(folder, recipes={"science": "ultradeep"})
    assert plan.steps_of("science")[0].recipe == "ultradeep"
    assert plan.steps_of("flat")[0].recipe == "makeProcessedFlat"
    with pytest.raises(ReduceError, match="nonsense"):
        plan_auto(folder, recipes={"science": "nonsense"})
    user = workdir / "myrecipes.py"
    user.write_text("def quick(p):\n    p.prepare()\n    p.stackFrames(suffix='_quick')\n")
    plan = plan_auto(folder, recipes={"science": f"{workdir}/myrecipes.quick"})
    science = plan.steps_of("science")[0]
    assert science.recipe == f"{workdir}/myrecipes.quick"       # what Reduce is given
    assert science.expected_outputs == ["S20131121S0075_quick.fits"]
    assert "processed_dark" not in science.calibrations         # quick corrects nothing
    r = Reduce()
    r.recipename = "reduce"
    with pytest.raises(ReduceError, match="ROLE:recipe"):
        r.auto(folder, dry_run=True)


def test_recipe_calls_reads_primitives_and_suffixes():
    from recipes.f2.sq.recipes_IMAGE import reduce

    calls = recipe_calls(reduce)
    assert calls[0] == ("prepare", ())
    assert calls[-1] == ("storeProcessedScience", (("suffix", "_image"),))
    assert [c for c, _ in calls].index("darkCorrect") < [c for c, _ in calls].index(
        "flatCorrect")


def test_auto_on_an_instance_keeps_its_mode(datasets, workdir):
    r = Reduce()
    r.mode = "ql"
    plan = r.auto(datasets("gsaoi-tutorial"), dry_run=True)
    assert plan.steps[0].recipe == "makeProcessedFlat"
    assert r.output_filenames == []


# -- the command line ---------------------------------------------------------------------
def test_dry_run_prints_the_plan_and_writes_nothing(datasets, workdir, capsys):
    folder = datasets("f2-tutorial")
    assert main(["--auto", folder, "--dry-run"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("Step"))
    for column in ("Kind", "Recipe", "N", "First file", "Group", "Output", "Calibrations"):
        assert column in header
    assert "S20131121S0075_image.fits" in out and "makeProcessedBPM" in out
    assert "read_mode=8 exposure_time=120" in out
    assert os.listdir(workdir) == []


def test_cli_amin_is_checked_and_files_are_refused(datasets, workdir, capsys):
    folder = datasets("f2-tutorial")
    assert main(["--auto", folder, "--amin", "2"]) == 2
    assert "not a fraction" in capsys.readouterr().err
    assert main(["--auto", folder, "x.fits"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reduce: error: --auto") and len(err.strip().splitlines()) == 1
    assert main(["--auto", str(workdir / "missing"), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"reduce: error: {workdir / 'missing'}: no such directory"


def test_level_measurement_matches_numpy_on_the_data_section(datasets):
    path = os.path.join(datasets("gmos-imaging"), "S20220305S0011.fits")
    ad = astrodata.open(path)
    level = measure_level(ad)
    for i, ext in enumerate(ad):
        section = ad.data_section()[i]
        overscan = ad.overscan_section()[i]
        data = np.asarray(ext.data, dtype=float)
        assert level.median[i] == pytest.approx(np.median(data[section.asslice()]), rel=0.01)
        assert level.pedestal[i] == pytest.approx(np.median(data[overscan.asslice()]),
                                                  rel=0.01)
    # a twilight flat: signal well above the bias level in the illuminated amplifiers
    assert max(level.signal()) > 20000
