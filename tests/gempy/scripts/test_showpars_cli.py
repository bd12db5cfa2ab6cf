"""The showpars command: a primitive's parameters for the class reduce would use on a file."""

from __future__ import annotations

import inspect

import pytest

import astrodata
from gempy.scripts import showpars
from gempy.sim import load_truth


def first_of_role(playdata, role):
    return str(playdata / sorted(load_truth(playdata.parent / "sim")["roles"][role])[0])


def test_parameters_of_selectFromInputs_on_f2_science(f2_playdata, run_cli):
    science = first_of_role(f2_playdata, "science")
    result = run_cli(showpars.main, science, "selectFromInputs")
    assert result.status == 0, result.err
    from primitives.f2 import F2Image

    tags = sorted(astrodata.open(science).tags)
    lines = result.out_lines
    assert lines[0] == "Dataset tagged as {" + ", ".join(repr(t) for t in tags) + "}"
    assert lines[1] == f"Primitive class: {F2Image.__module__}.F2Image"
    assert lines[3:7] == ["Settable parameters on 'selectFromInputs':", "=" * 40,
                          f"{'Name':20s} {'Current setting':20s} Description", ""]
    declared = F2Image.parameters("selectFromInputs")
    rows = lines[7:]
    assert [row.split()[0] for row in rows] == [n for n in declared if not n.startswith("debug")]
    for row, (name, param) in zip(rows, declared.items(), strict=False):
        assert row.startswith(f"{name:20s} {param.default!r:20s} {param.doc}")


def test_dark_uses_the_class_without_image(f2_playdata, run_cli):
    dark = first_of_role(f2_playdata, "dark")
    result = run_cli(showpars.main, dark, "writeOutputs", "--doc", "--all")
    assert result.status == 0
    from primitives.f2 import F2

    assert result.out_lines[1] == f"Primitive class: {F2.__module__}.F2"
    assert any(line.startswith("skip_primitive ") for line in result.out_lines)
    assert "Docstring for 'writeOutputs':" in result.out
    assert inspect.getdoc(F2.writeOutputs).splitlines()[0] in result.out


def test_instrument_defaults_are_shown(gsaoi_playdata, run_cli):
    science = first_of_role(gsaoi_playdata, "science")
    from primitives.gsaoi import GSAOIImage

    if "skyCorrect" not in GSAOIImage.primitive_names():
        pytest.skip("skyCorrect is not declared yet in primitives/")
    result = run_cli(showpars.main, science, "skyCorrect")
    assert result.status == 0
    rows = {line.split()[0]: line for line in result.out_lines[7:]}
    # GSAOI offsets the sky rather than scaling it (the tutorial's -p skyCorrect:offset_sky=False)
    assert rows["offset_sky"].split()[1] == "True"
    assert rows["scale_sky"].split()[1] == "False"


def test_errors(f2_playdata, tmp_path, run_cli):
    science = first_of_role(f2_playdata, "science")
    typo = run_cli(showpars.main, science, "selectFromInput")
    assert typo.status == 2 and len(typo.err_lines) == 1
    assert "did you mean: selectFromInputs" in typo.err
    missing = run_cli(showpars.main, str(tmp_path / "nope.fits"), "writeOutputs")
    assert missing.status == 1 and len(missing.err_lines) == 1
    usage = run_cli(showpars.main, science)
    assert usage.status == 2 and len(usage.err_lines) == 1
    help_text = run_cli(showpars.main, "--help")
    assert help_text.status == 0 and "examples:" in help_text.out
