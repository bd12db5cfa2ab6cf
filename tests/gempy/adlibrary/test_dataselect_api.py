"""dataselect's Python API as the tutorials call it, on simulated tutorial data."""

from __future__ import annotations

import logging
import os
import sys
import textwrap
from pathlib import Path

import pytest
from astropy.io import fits

import astrodata
from astrodata.factory import remove_class
from gempy.adlibrary import dataselect
from gempy.adlibrary.selection_expression import ExpressionError
from gempy.sim import load_truth


def sorted_files(directory: Path) -> list[str]:
    return sorted(str(p) for p in directory.glob("*.fits"))


def names(paths) -> list[str]:
    return [os.path.basename(os.fspath(p)) for p in paths]


def roles(directory: Path) -> dict[str, list[str]]:
    return load_truth(directory.parent / "sim")["roles"]


# ------------------------------------------------------------ seed 001 (F2 API)
def test_seed_001_dark_selections(f2_playdata):
    all_files = sorted_files(f2_playdata)
    dark_files_120s = dataselect.select_data(
        all_files, ["F2", "DARK", "RAW"], [], dataselect.expr_parser("exposure_time==120"))
    dark_files_2s = dataselect.select_data(
        all_files, ["F2", "DARK", "RAW"], [], dataselect.expr_parser("exposure_time==2"))
    truth = roles(f2_playdata)
    assert names(dark_files_120s) == sorted(truth["dark"])
    assert len(dark_files_120s) == 10
    assert names(dark_files_2s) == sorted(truth["dark_short"])
    assert len(dark_files_2s) == 7


def test_seed_001_flat_and_science_selections(f2_playdata):
    all_files = sorted_files(f2_playdata)
    list_of_flats_y = dataselect.select_data(
        all_files, ["FLAT"], [], dataselect.expr_parser('filter_name=="Y"'))
    list_of_science_images = dataselect.select_data(
        all_files, ["F2"], [],
        dataselect.expr_parser('(observation_class=="science" and filter_name=="Y")'))
    truth = roles(f2_playdata)
    assert names(list_of_flats_y) == sorted(truth["flat_lamp_on"] + truth["flat_lamp_off"])
    assert names(list_of_science_images) == sorted(truth["science"])
    assert len(list_of_science_images) == 9


def test_selection_keeps_input_items_and_order(f2_playdata):
    all_files = [Path(p) for p in reversed(sorted_files(f2_playdata))]
    chosen = dataselect.select_data(all_files, ["DARK"], [], "exposure_time==2")
    assert all(isinstance(p, Path) for p in chosen)
    assert chosen == [p for p in all_files if p.name in set(roles(f2_playdata)["dark_short"])]


def test_string_expression_equals_parsed_expression(f2_playdata):
    all_files = sorted_files(f2_playdata)
    text = 'observation_class=="science" and exposure_time==120.'
    assert (dataselect.select_data(all_files, [], [], text)
            == dataselect.select_data(all_files, [], [], dataselect.expr_parser(text)))


def test_tags_and_xtags(f2_playdata):
    all_files = sorted_files(f2_playdata)
    truth = roles(f2_playdata)
    not_darks = dataselect.select_data(all_files, ["F2"], ["DARK"])
    assert set(names(not_darks)) == set(truth["science"] + truth["flat_lamp_on"]
                                        + truth["flat_lamp_off"])
    # comma strings are accepted for tags and xtags
    assert dataselect.select_data(all_files, "F2,DARK", "CAL") == []
    lamp_on = dataselect.select_data(all_files, ["FLAT", "LAMPON"], [])
    assert names(lamp_on) == sorted(truth["flat_lamp_on"])


def test_strict_matching(f2_playdata):
    all_files = sorted_files(f2_playdata)
    n_flats = len(roles(f2_playdata)["flat_lamp_on"]) + len(roles(f2_playdata)["flat_lamp_off"])
    raw_filter = fits.getheader(dataselect.select_data(all_files, ["FLAT"])[0])["FILTER2"]
    assert raw_filter == "Y_G0811"
    strict_y = dataselect.expr_parser('filter_name=="Y"', strict=True)
    assert dataselect.select_data(all_files, ["FLAT"], [], strict_y) == []
    strict_full = dataselect.expr_parser('filter_name=="Open&Y_G0811"', strict=True)
    assert len(dataselect.select_data(all_files, ["FLAT"], [], strict_full)) == n_flats
    # exposure_time within 1% unless strict
    near = dataselect.select_data(all_files, ["DARK"], [], "exposure_time==119")
    assert len(near) == 10
    assert dataselect.select_data(all_files, ["DARK"], [],
                                  dataselect.expr_parser("exposure_time==119", strict=True)) == []


def test_date_and_time_comparisons_follow_the_headers(f2_playdata):
    all_files = sorted_files(f2_playdata)
    headers = {path: fits.getheader(path) for path in all_files}
    first_date = min(h["DATE-OBS"] for h in headers.values())
    on_first_date = dataselect.select_data(all_files, [], [], f"ut_date=='{first_date}'")
    assert on_first_date == [p for p, h in headers.items() if h["DATE-OBS"] == first_date]
    after = dataselect.select_data(all_files, [], [], f"ut_date>'{first_date}'")
    assert set(after) == set(all_files) - set(on_first_date)
    early = dataselect.select_data(all_files, [], [], "ut_time<'12:00:00'")
    assert early == [p for p, h in headers.items() if h["UT"] < "12:00:00"]
    assert 0 < len(early) < len(all_files)


def test_missing_keyword_compares_false_except_equal_none(f2_playdata, edited_copy):
    dark = dataselect.select_data(sorted_files(f2_playdata), ["DARK"], [], "exposure_time==2")[0]
    no_exptime = edited_copy(Path(dark), "no_exptime.fits", EXPTIME=None)
    assert dataselect.select_data([no_exptime], [], [], "exposure_time==2") == []
    assert dataselect.select_data([no_exptime], [], [], "exposure_time!=2") == []
    assert dataselect.select_data([no_exptime], [], [], "exposure_time==None") == [no_exptime]
    assert dataselect.select_data([dark], [], [], "exposure_time==None") == []
    assert dataselect.select_data([dark], [], [], "exposure_time!=None") == [dark]


def test_evaluate_and_callable_expression(f2_playdata):
    science = sorted(roles(f2_playdata)["science"])[0]
    ad = astrodata.open(str(f2_playdata / science))
    assert dataselect.evaluate(ad, "observation_class=='science' and exposure_time==120")
    assert not dataselect.evaluate(ad, "exposure_time>120")
    expression = dataselect.expr_parser("filter_name=='Y'")
    assert expression(ad) is True
    assert str(expression) == "filter_name=='Y'"
    assert expression.descriptors == {"filter_name"}


def test_bad_expression_fails_before_any_file_is_read(tmp_path):
    missing = [str(tmp_path / "does_not_exist.fits")]
    with pytest.raises(ExpressionError, match="did you mean: exposure_time"):
        dataselect.select_data(missing, [], [], "exposure_tme==3")
    with pytest.raises(ValueError):
        dataselect.expr_parser("filter_name = 'Y'")


def test_injection_through_the_api_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExpressionError, match="calls are not allowed"):
        dataselect.expr_parser("__import__('os').system('touch X')")
    with pytest.raises(ExpressionError):
        dataselect.select_data([], [], [], "__import__('os').system('touch X')")
    assert not (tmp_path / "X").exists()


def test_unreadable_files(f2_playdata, tmp_path, caplog):
    junk = tmp_path / "junk.fits"
    junk.write_text("this is not FITS")
    good = sorted_files(f2_playdata)[0]
    inputs = [str(junk), good, str(tmp_path / "missing.fits")]
    with caplog.at_level(logging.WARNING):
        assert dataselect.select_data(inputs) == [good]
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 2 and "junk.fits" in skipped[0] and "no such file" in skipped[1]
    with pytest.raises((astrodata.AstroDataError, OSError)):
        dataselect.select_data(inputs, on_error="raise")
    seen = []
    assert dataselect.select_data(inputs, on_error=lambda item, err: seen.append(item)) == [good]
    assert seen == [str(junk), str(tmp_path / "missing.fits")]


def test_list_header_and_atomic_list_writing(tmp_path):
    header = dataselect.list_header(["FLAT"], [], dataselect.expr_parser("filter_name=='Kshort'"))
    assert header == ["# Includes tags: ['FLAT']", "# Excludes tags: []",
                      "# Descriptor expression: filter_name=='Kshort'"]
    assert dataselect.list_header([], ["CAL"], None)[2] == "# Descriptor expression: None"
    target = tmp_path / "flats.list"
    dataselect.write_list(target, ["a.fits", "b.fits"], header)
    assert target.read_text().splitlines() == [*header, "a.fits", "b.fits"]

    def failing_names():
        yield "c.fits"
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        dataselect.write_list(target, failing_names(), header)
    assert target.read_text().splitlines() == [*header, "a.fits", "b.fits"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flats.list"]


def test_adpkg_registers_a_class_whose_descriptors_become_selectable(tmp_path, monkeypatch):
    package = tmp_path / "testcam_adpkg.py"
    package.write_text(textwrap.dedent('''
        import astrodata
        from astrodata import AstroData, astro_data_descriptor

        class AstroDataTestCam(AstroData):
            @staticmethod
            def _matches_data(source):
                return source.phu.get("INSTRUME") == "TESTCAM"

            @astro_data_descriptor
            def focus_position(self):
                return self.phu.get("FOCUSPOS")

        astrodata.add_class(AstroDataTestCam)
    '''))
    files = []
    for index, focus in enumerate((5.0, 15.0)):
        path = tmp_path / f"testcam{index}.fits"
        fits.PrimaryHDU(header=fits.Header([("INSTRUME", "TESTCAM"), ("FOCUSPOS", focus)])
                        ).writeto(path)
        files.append(str(path))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ExpressionError, match="unknown descriptor 'focus_position'"):
        dataselect.expr_parser("focus_position>10")
    try:
        assert dataselect.select_data(files, [], [], "focus_position>10",
                                      adpkg="testcam_adpkg") == [files[1]]
    finally:
        module = sys.modules.pop("testcam_adpkg", None)
        if module is not None:
            remove_class(module.AstroDataTestCam)
    with pytest.raises(ValueError, match="cannot import astrodata package"):
        dataselect.select_data(files, adpkg="no_such_adpkg_module")


# ------------------------------------------------------------ seed 003 (GSAOI API)
def test_seed_003_selections(gsaoi_playdata):
    all_files = sorted_files(gsaoi_playdata)
    truth = roles(gsaoi_playdata)
    list_of_flats_ks = dataselect.select_data(
        all_files, ["FLAT"], [], dataselect.expr_parser('filter_name=="Kshort"'))
    list_of_std_stars = dataselect.select_data(
        all_files, [], [], dataselect.expr_parser('observation_class=="partnerCal"'))
    list_of_science_images = dataselect.select_data(
        all_files, [], [],
        dataselect.expr_parser('(observation_class=="science" and exposure_time==60.)'))
    assert names(list_of_flats_ks) == sorted(truth["flat_lamp_on"] + truth["flat_lamp_off"])
    assert names(list_of_std_stars) == sorted(truth["standard"])
    # on-target and offset-to-sky frames are both science observations of NGC5128
    assert names(list_of_science_images) == sorted(truth["science"] + truth["sky"])
    assert len(list_of_science_images) == 16


def test_per_extension_descriptors_must_hold_on_every_extension(gsaoi_playdata):
    science = sorted_files(gsaoi_playdata)[-1]
    arrays = [a["name"] for a in load_truth(gsaoi_playdata.parent / "sim")["arrays"]]
    assert astrodata.open(science).array_name() == arrays
    assert dataselect.select_data([science], [], [], f"array_name=='{arrays[0]}'") == []
    assert dataselect.select_data([science], [], [], "array_name!='H2RG-000-000'") == [science]
    assert dataselect.select_data([science], [], [], f"array_name>='{min(arrays)}'") == [science]
    assert dataselect.select_data([science], [], [], f"array_name>'{min(arrays)}'") == []
