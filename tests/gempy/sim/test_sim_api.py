"""Public API of gempy.sim: determinism, truth round trip, errors, command line."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from gempy.sim import DATASETS, load_truth, make_dataset
from gempy.sim.cli import main


def _digests(path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.glob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path, small_dataset):
    reference, _ = small_dataset("f2-tutorial")
    again = make_dataset("f2-tutorial", tmp_path / "again", small=True, seed=0)
    assert _digests(again) == _digests(reference)


def test_another_seed_changes_the_pixels(tmp_path, small_dataset):
    reference, _ = small_dataset("f2-tutorial")
    other = make_dataset("f2-tutorial", tmp_path / "other", small=True, seed=7)
    a = fits.getdata(reference / "S20131121S0075.fits")
    b = fits.getdata(other / "S20131121S0075.fits")
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert json.loads((other / "truth" / "truth.json").read_text())["seed"] == 7


def test_truth_round_trip(small_dataset):
    path, truth = small_dataset("gsaoi-tutorial")
    assert truth["dataset"] == "gsaoi-tutorial" and truth["small"] is True
    assert truth["instrument"] == "GSAOI"
    assert set(truth["files"]) == {p.name for p in path.glob("S2017*.fits")}
    for role, names in truth["roles"].items():
        assert all(truth["files"][n]["role"] == role for n in names)
    for key in ("id", "ra", "dec", "flux_e_per_s", "fwhm_arcsec", "type"):
        assert key in truth["catalog"].colnames
    assert set(truth["catalog"]["type"]) == {"star", "galaxy"}
    assert len(truth["flat"]) == len(truth["bpm"]) == len(truth["dark"]) == 4
    assert truth["bpm"][0].dtype == np.uint16
    arrays = {a["name"]: a for a in truth["arrays"]}
    assert arrays["H2RG-032-064"]["dark_current_e_per_s"] == pytest.approx(0.01)
    record = truth["files"]["S20170505S0095.fits"]
    assert [e["gain_e_per_adu"] for e in record["extensions"]] == [2.434, 2.010, 2.411, 2.644]
    assert record["extensions"][1]["read_noise_e"] == 9.85


def test_unknown_dataset_and_foreign_directory_are_refused(tmp_path, small_dataset):
    with pytest.raises(ValueError, match="unknown simulated dataset"):
        make_dataset("no-such-set", tmp_path)
    path, _ = small_dataset("niri-imaging")
    with pytest.raises(ValueError, match="already holds simulated dataset 'niri-imaging'"):
        make_dataset("f2-tutorial", path, small=True)


def test_load_truth_of_an_empty_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="truth"):
        load_truth(tmp_path)


def test_cli_list_and_generate(tmp_path, capsys):
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in DATASETS)
    assert main(["gmos-imaging-ccd2", "-o", str(tmp_path / "ccd2"), "--small", "--seed", "3"]) == 0
    assert "raw files" in capsys.readouterr().out
    assert load_truth(tmp_path / "ccd2")["seed"] == 3


def test_cli_error_is_one_line_and_non_zero(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gempy.sim", "bogus", "-o", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bogus" in lines[0] and "Traceback" not in result.stderr
