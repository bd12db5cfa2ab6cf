"""The reduce command: same products as the API, exit codes, one-line errors, -d, logging."""

import os
import subprocess
import sys

import numpy as np
import pytest

import astrodata
from recipe_system.reduction.coreReduce import Reduce
from recipe_system.scripts.reduce import main

RECIPES = '''
def tidy(p):
    p.selectFromInputs(tags="DARK")
    p.sortInputs(descriptor="exposure_time")
    p.writeOutputs(suffix="_tidy")


def crash(p):
    p.rejectInputs(at_start=1)
    p.sortInputs(descriptor="nonsense")
'''


@pytest.fixture
def inputs(make_frame, tmp_path):
    files = [make_frame(f"S20131121S03{i}.fits", "f2_dark", value=i, EXPTIME=float(t))
             for i, t in ((69, 120), (70, 2), (71, 60))]
    files.append(make_frame("S20131129S0320.fits", "f2_flat"))
    lis = tmp_path / "raw" / "all.lis"
    lis.write_text("# every file\n" + "\n".join(files) + "\n")
    recipes = tmp_path / "raw" / "myrecipes.py"
    recipes.write_text(RECIPES)
    return {"files": files, "list": str(lis), "recipes": str(recipes)}


def fits_names(directory):
    return sorted(f.name for f in directory.glob("*.fits"))


def test_cli_and_api_produce_the_same_files(inputs, tmp_path, monkeypatch, capsys):
    recipe = inputs["recipes"].replace(".py", ".tidy")
    cli_dir, api_dir = tmp_path / "cli", tmp_path / "api"
    cli_dir.mkdir()
    api_dir.mkdir()
    monkeypatch.chdir(cli_dir)
    assert main([f"@{inputs['list']}", "-r", recipe, "-p", "sortInputs:reverse=True"]) == 0
    monkeypatch.chdir(api_dir)
    r = Reduce()
    r.files.extend(inputs["files"])
    r.recipename = recipe
    r.uparms = [("sortInputs:reverse", True)]
    r.runr()
    assert fits_names(cli_dir) == fits_names(api_dir) == sorted(r.output_filenames)
    assert r.output_filenames == ["S20131121S0369_tidy.fits", "S20131121S0371_tidy.fits",
                                  "S20131121S0370_tidy.fits"]
    for name in r.output_filenames:
        a = astrodata.open(str(cli_dir / name))
        b = astrodata.open(str(api_dir / name))
        assert np.array_equal(a[0].data, b[0].data)
        assert list(a.HISTORY["primitive"]) == list(b.HISTORY["primitive"])
        assert list(a.HISTORY["args"]) == list(b.HISTORY["args"])
    assert (cli_dir / "reduce.log").exists()
    log_text = (cli_dir / "reduce.log").read_text()
    assert "RECIPE: tidy" in log_text and "reduce completed successfully." in log_text
    assert "User value reverse=True replaces the recipe value" not in log_text
    out = capsys.readouterr()
    assert "PRIMITIVE: sortInputs" in out.out and out.err == ""


def test_single_primitive_from_the_command_line(inputs, workdir, capsys):
    assert main(inputs["files"][:2] + ["-r", "writeOutputs", "-p", "suffix=_w"]) == 0
    assert fits_names(workdir) == ["S20131121S0369_w.fits", "S20131121S0370_w.fits"]
    assert "PRIMITIVE: writeOutputs" in capsys.readouterr().out
    assert main(inputs["files"][:2] + ["-r", "showInputs", "--logmode", "quiet"]) == 0
    assert "PRIMITIVE" not in capsys.readouterr().out


def one_error_line(capsys):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("reduce: error: ")
    return lines[0]


def test_missing_file_one_line_exit_1(inputs, workdir, capsys):
    assert main([inputs["files"][0], "S_nowhere.fits"]) == 1
    assert "S_nowhere.fits: no such file" in one_error_line(capsys)


def test_non_fits_file_one_line_exit_1(inputs, workdir, tmp_path, capsys):
    bad = tmp_path / "raw" / "readme.fits"
    bad.write_text("not a FITS file at all\n")
    assert main([inputs["files"][0], str(bad)]) == 1
    assert "readme.fits" in one_error_line(capsys)


def test_unknown_parameter_one_line_with_suggestion(inputs, workdir, capsys):
    assert main([inputs["files"][0], "-r", "writeOutputs", "-p", "writeOutputs:sufix=_x"]) == 1
    line = one_error_line(capsys)
    assert "sufix" in line and "did you mean 'suffix'" in line
    assert main([inputs["files"][0], "-p", "stackFramez:hsigma=3"]) == 1
    assert "stackFramez" in one_error_line(capsys)


def test_bad_value_one_line(inputs, workdir, capsys):
    assert main([inputs["files"][0], "-r", "rejectInputs", "-p", "at_start=many"]) == 1
    line = one_error_line(capsys)
    assert "at_start='many'" in line and "rejectInputs" in line


def test_unknown_recipe_one_line(inputs, workdir, capsys):
    assert main([inputs["files"][0], "-r", "makeProcessedDrak"]) == 1
    assert "did you mean 'makeProcessedDark'" in one_error_line(capsys)


def test_crash_writes_crash_files_and_traceback_only_with_debug(inputs, workdir, capsys):
    recipe = inputs["recipes"].replace(".py", ".crash")
    assert main(inputs["files"][:3] + ["-r", recipe]) == 1
    assert "nonsense" in one_error_line(capsys)
    assert fits_names(workdir) == ["S20131121S0370_crash.fits", "S20131121S0371_crash.fits"]
    assert main(inputs["files"][:3] + ["-r", recipe, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("reduce: error: ")


def test_usage_errors_exit_2(workdir, capsys):
    assert main(["--logmode", "shouting"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["@no_such_list.lis"]) == 2


def test_no_input_files(workdir, capsys):
    assert main([]) == 1
    assert "no input files" in one_error_line(capsys)


def test_display_flags_print_the_plan(inputs, workdir, capsys):
    assert main([inputs["files"][3], inputs["files"][0], "-d", "-r", "makeProcessedBPM",
                 "-p", "addToList:purpose=x"]) == 0
    out = capsys.readouterr().out
    assert "makeProcessedBPM" in out and "primitives.f2.f2_image.F2Image" in out
    assert "S20131129S0320.fits" in out and "addToList:purpose" in out
    assert fits_names(workdir) == [] and not (workdir / "reduce.log").exists()


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("reduce (astroreduce)")


def test_console_script_runs(inputs, workdir):
    """The installed entry point: exit status and one stderr line, in a fresh process."""
    env = dict(os.environ)
    result = subprocess.run([sys.executable, "-m", "recipe_system.scripts.reduce",
                             inputs["files"][0], "-p", "nosuchpar=1"],
                            capture_output=True, text=True, cwd=workdir, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("reduce: error:")]
    assert "nosuchpar" in result.stderr
