"""``provenance FILE`` and ``reduce --replay FILE``: how a product was made, and making it again."""

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import astrodata
from astrodata.provenance import md5sum
from recipe_system.scripts.provenance import main as provenance_main
from recipe_system.scripts.reduce import main as reduce_main

sys.path.insert(0, str(Path(__file__).resolve().parent / "rerun_support"))
pytest_plugins = ["rerun_fixtures"]
from rerun_fixtures import make_reduce, pixels  # noqa: E402

pytestmark = pytest.mark.usefixtures("rerun_plugin")

SCIENCE = "S20131121S0075_reduced.fits"
DARK = "S20131120S0115_dark.fits"


@pytest.fixture
def science_product(workdir, f2_raw, caldb_path, tmp_path):
    """Raw copies in tmp/raw, a processed dark in the database, a reduced science frame."""
    raw = []
    for path in f2_raw["dark"][:2] + f2_raw["science"][:2]:
        target = tmp_path / "raw" / os.path.basename(path)
        shutil.copy(path, target)
        raw.append(str(target))
    make_reduce(raw[:2], caldb=caldb_path).runr()
    r = make_reduce(raw[2:], caldb=caldb_path, uparms=["addNoiseModel:read_noise=4.5"])
    r.runr()
    return {"raw": raw, "product": workdir / SCIENCE, "reduce": r,
            "dark": workdir / "calibrations" / "processed_dark" / DARK}


def test_provenance_prints_recipe_parameters_inputs_and_calibrations(science_product, capsys):
    assert provenance_main([str(science_product["product"])]) == 0
    out = capsys.readouterr().out
    assert "Recipe:      reduce (rerun_recipes.sq.recipes_IMAGE.reduce), mode sq" in out
    assert f"Re-run with: reduce --replay {science_product['product']}" in out
    assert "addNoiseModel:read_noise=4.5" in out
    for path in science_product["raw"][2:]:
        assert f"{os.path.basename(path)}  md5 {md5sum(path)}" in out
    dark = science_product["dark"]
    assert f"processed_dark: {DARK}  md5 {md5sum(dark)}  for GS-2013B-Q-15-39-001" in out
    assert "by subtractDark" in out
    steps = [line.split()[1] for line in out.splitlines() if line.strip()[:1].isdigit()
             and ". " in line]
    assert steps == ["addNoiseModel", "subtractDark", "scaleData"]
    assert '"read_noise": 4.5' in out and '"factor": 0.5' in out
    key = astrodata.open(str(science_product["product"])).phu["REDKEY"]
    assert f"Cache key:   {key}" in out and "Step cache:  journal of this key" in out


def test_provenance_json_and_check(science_product, capsys):
    assert provenance_main([str(science_product["product"]), "--json", "--check"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["recipe"] == "reduce" and info["mode"] == "sq"
    assert [i["status"] for i in info["inputs"]] == ["ok", "ok"]
    assert [c["status"] for c in info["calibrations"]] == ["ok", "ok"]
    assert {c["caltype"] for c in info["calibrations"]} == {"processed_dark"}
    # an input changed on disk since: --check says so
    ad = astrodata.open(science_product["raw"][2])
    ad[0].data = np.asarray(ad[0].data) + 1
    ad.write(science_product["raw"][2], overwrite=True)
    assert provenance_main([str(science_product["product"]), "--json", "--check"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [i["status"] for i in info["inputs"]] == ["changed", "ok"]


def test_provenance_errors_are_one_line(workdir, tmp_path, capsys):
    assert provenance_main([str(tmp_path / "nothing.fits")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("provenance: error: ") and \
        "nothing.fits: no such file" in err
    (tmp_path / "text.fits").write_text("not FITS")
    assert provenance_main([str(tmp_path / "text.fits")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "text.fits" in err


def test_a_file_without_a_record_shows_its_tables(f2_raw, capsys):
    assert provenance_main([f2_raw["dark"][0]]) == 0
    out = capsys.readouterr().out
    assert "Recipe:      not recorded" in out and "Input files (0):" in out


def test_replay_in_another_directory_reproduces_the_product(science_product, tmp_path,
                                                            monkeypatch, capsys):
    product = science_product["product"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(product, elsewhere / "original.fits")
    monkeypatch.chdir(elsewhere)
    assert reduce_main(["--replay", str(elsewhere / "original.fits"), "--drpkg",
                        "rerun_drpkg"]) == 0
    out = capsys.readouterr().out
    assert "same cache key" in out
    assert pixels(elsewhere / SCIENCE) == pixels(product)
    replayed = astrodata.open(str(elsewhere / SCIENCE))
    assert replayed.phu["REDKEY"] == astrodata.open(str(product)).phu["REDKEY"]
    assert list(replayed.HISTORY["args"]) == list(astrodata.open(str(product)).HISTORY["args"])


def test_replay_refuses_a_changed_input(science_product, tmp_path, monkeypatch, capsys):
    ad = astrodata.open(science_product["raw"][3])
    ad[0].data = np.asarray(ad[0].data) * 2
    ad.write(science_product["raw"][3], overwrite=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert reduce_main(["--replay", str(science_product["product"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "S20131121S0076.fits" in err and "differs from the recorded file" in err


def test_provenance_lists_a_user_calibration_with_its_checksum(science_product, tmp_path,
                                                              capsys):
    """A --user_cal calibration (not from the database) is listed like a database one."""
    dark = tmp_path / "my_dark.fits"
    shutil.copy(science_product["dark"], dark)
    os.chdir(tmp_path / "raw")
    r = make_reduce(science_product["raw"][2:3], ucals={"processed_dark": str(dark)})
    r.runr()
    product = tmp_path / "raw" / SCIENCE
    # the frame's PROVENANCE names the file the user gave, with its MD5
    table = astrodata.open(str(product)).PROVENANCE
    rows = set(zip(table["filename"], table["md5"], strict=True))
    assert ("my_dark.fits", md5sum(dark)) in rows
    assert provenance_main([str(product)]) == 0
    out = capsys.readouterr().out
    assert f"processed_dark: my_dark.fits  md5 {md5sum(dark)}" in out


def test_a_flat_given_as_user_calibration_gets_a_provenance_row(f2_raw, workdir):
    from primitives.f2 import F2Image

    p = F2Image([astrodata.open(f2_raw["flat_lamp_on"][0])])
    p.prepare()
    p.ADUToElectrons()
    flat = p.streams["main"][0]
    for ext in flat:
        ext.divide(np.float32(np.nanmedian(ext.data)))
    flat.write(str(workdir / "user_flat.fits"))
    science = F2Image([astrodata.open(f2_raw["science"][0])],
                      ucals={"processed_flat": str(workdir / "user_flat.fits")})
    science.prepare()
    science.ADUToElectrons()
    science.flatCorrect()
    out = science.streams["main"][0]
    table = out.PROVENANCE
    rows = set(zip(table["filename"], table["md5"], table["provenance_added_by"], strict=True))
    assert ("user_flat.fits", md5sum(workdir / "user_flat.fits"), "flatCorrect") in rows
