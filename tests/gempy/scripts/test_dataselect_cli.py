"""The dataselect command: the GSAOI tutorial's commands, exit codes, lists, expression safety."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gempy.scripts import dataselect
from gempy.sim import load_truth


def truth_roles(playdata: Path) -> dict[str, list[str]]:
    return load_truth(playdata.parent / "sim")["roles"]


def relative(names, directory="../playdata") -> list[str]:
    return [f"{directory}/{name}" for name in sorted(names)]


# -------------------------------------------------------------- GSAOI tutorial
def test_tutorial_flats_list(gsaoi_playground, gsaoi_playdata, run_cli):
    result = run_cli(dataselect.main, "--tags", "FLAT", *sorted(
        str(Path("../playdata") / p.name) for p in gsaoi_playdata.glob("*.fits")),
        "-o", "flats_Kshort.list")
    assert result.status == 0
    assert result.out == ""  # names go to the file only, unless -v
    roles = truth_roles(gsaoi_playdata)
    flats = sorted(roles["flat_lamp_on"] + roles["flat_lamp_off"])
    assert len(flats) == 30
    lines = (gsaoi_playground / "flats_Kshort.list").read_text().splitlines()
    assert lines == ["# Includes tags: ['FLAT']", "# Excludes tags: []",
                     "# Descriptor expression: None", *relative(flats)]


def test_tutorial_flats_list_with_filter_expression(gsaoi_playground, gsaoi_playdata, run_cli):
    # the script expands the (quoted) glob itself
    result = run_cli(dataselect.main, "--tags", "FLAT", "--expr", "filter_name=='Kshort'",
                     "../playdata/*.fits", "-o", "flats_Kshort.list", "-v")
    assert result.status == 0
    lines = (gsaoi_playground / "flats_Kshort.list").read_text().splitlines()
    assert lines[:3] == ["# Includes tags: ['FLAT']", "# Excludes tags: []",
                         "# Descriptor expression: filter_name=='Kshort'"]
    assert lines[3:] == result.out_lines  # -v echoes the same names
    assert len(lines[3:]) == 30


def test_tutorial_standard_and_science_lists(gsaoi_playground, gsaoi_playdata, run_cli):
    roles = truth_roles(gsaoi_playdata)
    std = run_cli(dataselect.main, "--expr", 'object=="9132"', "../playdata/*.fits",
                  "-o", "std_9132.list")
    assert std.status == 0
    assert (gsaoi_playground / "std_9132.list").read_text().splitlines()[3:] == \
        relative(roles["standard"])
    sci = run_cli(dataselect.main, "--expr",
                  '(observation_class=="science" and exposure_time==60.)',
                  "../playdata/*.fits", "-o", "science.list")
    assert sci.status == 0
    science = (gsaoi_playground / "science.list").read_text().splitlines()[3:]
    assert science == relative(roles["science"] + roles["sky"])
    assert len(science) == 16
    assert science[0].endswith("S20170505S0095.fits") and science[-1].endswith("S0110.fits")


def test_printed_names_feed_reduce_style_lists(gsaoi_playground, gsaoi_playdata, run_cli):
    # `--expr=...` spelling from the tutorial's disco command
    result = run_cli(dataselect.main, "../playdata/*.fits",
                     '--expr=observation_class=="partnerCal"')
    assert result.status == 0
    assert result.out_lines == relative(truth_roles(gsaoi_playdata)["standard"])


def test_no_match_exits_1_and_still_writes_the_header(gsaoi_playground, run_cli):
    result = run_cli(dataselect.main, "--tags", "DARK", "../playdata/*.fits", "-o", "none.list")
    assert result.status == 1
    assert result.out == ""
    assert (gsaoi_playground / "none.list").read_text().splitlines() == [
        "# Includes tags: ['DARK']", "# Excludes tags: []", "# Descriptor expression: None"]


def test_xtags_and_at_lists(gsaoi_playground, gsaoi_playdata, run_cli):
    roles = truth_roles(gsaoi_playdata)
    everything = relative(p.name for p in gsaoi_playdata.glob("*.fits"))
    Path("all.list").write_text(
        "# every raw file\n" + "\n".join(everything[:20]) + "\n@more.list\n")
    Path("more.list").write_text(" ".join(everything[20:]) + "  # inline comment\n")
    result = run_cli(dataselect.main, "@all.list", "--tags", "GSAOI,IMAGE", "--xtags", "CAL")
    assert result.status == 0
    assert result.out_lines == relative(roles["science"] + roles["sky"] + roles["standard"])


def test_missing_and_unreadable_inputs_are_warned_about(gsaoi_playground, gsaoi_playdata,
                                                        run_cli):
    Path("junk.fits").write_bytes(b"\0" * 100)
    std = relative(truth_roles(gsaoi_playdata)["standard"])
    result = run_cli(dataselect.main, "junk.fits", "nothere.fits", "../playdata/*.fitz", *std)
    assert result.status == 0
    assert result.out_lines == std
    assert len(result.err_lines) == 3
    assert result.err_lines[0].startswith("dataselect: warning: no file matches")
    assert result.err_lines[1].startswith("dataselect: warning: skipping junk.fits: ")
    assert result.err_lines[2] == "dataselect: warning: skipping nothere.fits: no such file"


def test_unwritable_output_exits_1_with_one_line(gsaoi_playground, run_cli):
    result = run_cli(dataselect.main, "../playdata/*.fits", "-o", "no/such/dir/x.list")
    assert result.status == 1
    assert len(result.err_lines) == 1 and "cannot write no/such/dir/x.list" in result.err


def test_usage_errors_exit_2_with_one_line(gsaoi_playground, run_cli):
    no_input = run_cli(dataselect.main, "--tags", "FLAT")
    assert no_input.status == 2 and len(no_input.err_lines) == 1
    assert no_input.err.startswith("dataselect: error:")
    unknown = run_cli(dataselect.main, "--expr", "filtr_name=='K'", "../playdata/*.fits")
    assert unknown.status == 2
    assert len(unknown.err_lines) == 1
    assert unknown.err.startswith("dataselect: error: --expr: unknown descriptor 'filtr_name'"
                                  " (did you mean: filter_name")
    adpkg = run_cli(dataselect.main, "--adpkg", "no_such_module_xyz", "../playdata/*.fits")
    assert adpkg.status == 2 and len(adpkg.err_lines) == 1


def test_help_has_examples(run_cli):
    result = run_cli(dataselect.main, "--help")
    assert result.status == 0
    assert "examples:" in result.out and "dataselect --tags FLAT" in result.out
    assert "--adpkg" in result.out and "--strict" in result.out


# ---------------------------------------------------------- injection suite
INJECTIONS = [
    "__import__('os').system('touch X')",
    "ad.__class__",
    "().__class__",
    "exposure_time.__add__",
    "[x for x in ()]",
    "lambda: 1",
    "a[0]",
    "exposure_time + 1 > 2",
    "f\"{__import__('os').system('touch X')}\" == '0'",
    "f'{exposure_time}' == '60.0'",
    "exposure_time == __import__('os').system('touch X')",
    "(lambda: __import__('os').system('touch X'))() == 0",
    "[__import__('os').system('touch X') for _ in 'a'] == [0]",
    "exposure_time.__class__.__mro__[-1].__subclasses__()",
    "open('X', 'w').write('x') > 0",
    "exec(\"import os; os.system('touch X')\")",
    "eval('1') == 1",
    "globals()['__builtins__']",
    "exposure_time==1 if __import__('os').system('touch X') else 2",
    "(x := __import__('os')) == 1",
    "'%s' % __import__('os').system('touch X') == '0'",
    "__builtins__",
    "__import__",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injected_expressions_run_nothing_and_exit_2(payload, f2_playdata, tmp_path,
                                                     monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)
    result = run_cli(dataselect.main, "--expr", payload, str(f2_playdata / "*.fits"))
    assert result.status == 2
    assert result.out == ""
    assert len(result.err_lines) == 1
    assert result.err.startswith("dataselect: error: --expr: ")
    assert "Traceback" not in result.err
    assert not (tmp_path / "X").exists()


def test_injection_in_a_real_process_creates_no_file(f2_playdata, tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "gempy.scripts.dataselect", "--expr",
         "__import__('os').system('touch X')", str(f2_playdata / "*.fits")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert process.returncode == 2
    assert process.stderr.strip() == (
        "dataselect: error: --expr: calls are not allowed: __import__('os')")
    assert not (tmp_path / "X").exists()
    assert list(tmp_path.iterdir()) == []
