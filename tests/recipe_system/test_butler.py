"""The Butler: products of a working directory by dataset type and data id (recipe_system.butler).

One simulated project (gempy.sim F2 tutorial and GMOS CCD2 data, small) is
reduced "by hand" once per module: the real ``store*`` primitives mark and
store calibrations and science products in a playground directory with a
calibration database, and the reduce-style copies are written next to them.
Tests that change files work on their own copies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import astrodata
from astrodata import DQ
from astrodata.timestamps import mark_history
from gempy.library.detection import OBJCAT_COLUMNS, detect_sources
from gempy.sim import load_truth, make_dataset
from primitives.f2 import F2Image
from primitives.gmos import GMOSImage
from recipe_system import ReduceError
from recipe_system.butler import (
    ID_NAMES,
    AmbiguousDataIdError,
    Butler,
    ButlerError,
    DatasetNotFoundError,
    mask_plane,
    objcat_column_descriptions,
    parse_dataset_type,
)
from recipe_system.cal_service import (
    LocalDB,
    clear_calservice,
    init_calibration_databases,
    set_calservice,
)

F2_SCIENCE_LABEL = "GS-2013B-Q-15-39-001"
#: (x, y) 0-based positions of the stars put into the F2 science product
STARS = [(60.3, 70.7), (180.2, 40.5), (120.6, 200.1)]
#: (y, x) pixels flagged as cosmic rays / bad in its DQ plane
CR_PIXELS = [(10, 20), (11, 20), (100, 150), (30, 30)]
BAD_PIXELS = [(5, 5), (30, 30)]


def _store(cls, paths, method, provider, mode="sq"):
    """Run a real ``store*`` primitive on files or AstroData; return the product objects."""
    ads = [astrodata.open(str(p)) if isinstance(p, (str, Path)) else p for p in paths]
    prims = cls(ads, mode=mode, caldb=provider)
    return getattr(prims, method)()


def _star_image(shape=(256, 256)):
    rng = np.random.default_rng(3)
    image = rng.normal(100.0, 3.0, shape).astype(np.float32)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for x, y in STARS:
        image += 2000.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))
    return image


def _f2_science_product(raw_path):
    """A stacked-image-like product of the first science frame: stars, DQ and OBJCAT."""
    raw = astrodata.open(str(raw_path))
    product = astrodata.create(raw.phu)
    image = _star_image()
    product.append(image)
    dq = np.zeros(image.shape, dtype=DQ.datatype)
    for y, x in CR_PIXELS:
        dq[y, x] |= DQ.cosmic_ray
    for y, x in BAD_PIXELS:
        dq[y, x] |= DQ.bad_pixel
    product[0].mask = dq
    catalog, objmask = detect_sources(image, back_size=32)
    product[0].OBJCAT = catalog
    product[0].OBJMASK = objmask
    product.filename = raw.filename
    mark_history(product, "stackFrames")
    return product


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """playdata/ (F2 raw), gmosdata/ (GMOS raw) and playground/ with stored products."""
    base = tmp_path_factory.mktemp("butler")
    f2_dir = make_dataset("f2-tutorial", base / "playdata", small=True)
    gmos_dir = make_dataset("gmos-imaging-ccd2", base / "gmosdata", small=True)
    f2_roles = load_truth(f2_dir)["roles"]
    gmos_roles = load_truth(gmos_dir)["roles"]
    work = base / "playground"
    work.mkdir()
    db = LocalDB(work / "calibrations")
    db.init()
    provider = init_calibration_databases(databases=[db])
    f2 = {role: [f2_dir / name for name in names] for role, names in f2_roles.items()}
    gmos = {role: [gmos_dir / name for name in names] for role, names in gmos_roles.items()}
    with pytest.MonkeyPatch.context() as mp, contextlib.chdir(work):
        mp.setenv("HOME", str(base))
        mp.delenv("DRAGONSRC", raising=False)
        flat = _store(F2Image, f2["flat_lamp_on"][:1], "storeProcessedFlat", provider)[0]
        flat.write(str(work / flat.filename))          # the copy reduce leaves in the cwd
        _store(F2Image, f2["flat_lamp_on"][1:2], "storeProcessedFlat", provider, mode="ql")
        _store(F2Image, f2["dark"][:1], "storeProcessedDark", provider)
        _store(F2Image, f2["dark_short"][:1], "storeProcessedDark", provider)
        _store(F2Image, f2["dark_short"][1:2], "storeProcessedBPM", provider)
        _store(F2Image, f2["science"][2:3], "storeProcessedStandard", provider)
        stack = _f2_science_product(f2["science"][0])
        stack.update_filename(suffix="_stack")
        stack.write(str(work / stack.filename))
        image = _store(F2Image, [stack], "storeProcessedScience", provider)[0]
        image.write(str(work / image.filename))
        sky = astrodata.open(str(f2["science"][1]))
        mark_history(sky, "skyCorrect")
        sky.update_filename(suffix="_skyCorrected")
        sky.write(str(work / sky.filename))
        flatcorr = astrodata.open(str(f2["science"][3]))
        mark_history(flatcorr, "flatCorrect")
        flatcorr.update_filename(suffix="_flatCorrected")
        flatcorr.write(str(work / flatcorr.filename))
        _store(GMOSImage, gmos["bias"][:1], "storeProcessedBias", provider)
        _store(GMOSImage, gmos["science"][1:2], "storeProcessedFringe", provider)
        gmos_science = astrodata.open(str(gmos["science"][0]))
        for index in (0, 2):
            data = np.asarray(gmos_science[index].data, dtype=np.float32)
            gmos_science[index].OBJCAT = detect_sources(data, back_size=32)[0]
        _store(GMOSImage, [gmos_science], "storeProcessedScience", provider)
    return SimpleNamespace(base=base, work=work, f2_dir=f2_dir, gmos_dir=gmos_dir, f2=f2,
                           gmos=gmos, db=db)


@pytest.fixture(autouse=True)
def no_active_calservice():
    """No configuration set by set_calservice() leaks in or out of a test."""
    clear_calservice()
    yield
    clear_calservice()


@pytest.fixture
def butler(project):
    return Butler(project.work, extra_dirs=["../playdata", "../gmosdata"], cache=False)


def _copy_project(project, tmp_path, with_products=True):
    """A private copy of the project (for tests that change files)."""
    target = tmp_path / "copy"
    shutil.copytree(project.f2_dir, target / "playdata")
    if with_products:
        shutil.copytree(project.work, target / "playground",
                        ignore=shutil.ignore_patterns(".reducecache"))
    else:
        (target / "playground").mkdir()
    return target


# -- dataset types --------------------------------------------------------------------
def test_dataset_type_names_parse_into_type_suffix_and_variant():
    assert parse_dataset_type("processed_flat") == ("processed_flat", "processed_flat", None, "")
    assert parse_dataset_type("processed_flat_md").variant == "md"
    assert parse_dataset_type("raw_filename")[1:] == ("raw", None, "filename")
    assert parse_dataset_type("stack_filename")[1:] == ("processed_science", "_stack",
                                                        "filename")
    assert parse_dataset_type("src")[1:] == ("processed_science", None, "src")
    assert parse_dataset_type("image_catalog")[1:] == ("processed_science", "_image", "src")
    assert parse_dataset_type("flat")[1] == "processed_flat"
    with pytest.raises(ButlerError, match="did you mean 'processed_flat'"):
        parse_dataset_type("procesed_flat")


def test_index_holds_each_dataset_type_once(butler, project):
    counts = butler.datasets()
    raw_files = sum(len(v) for v in project.f2.values()) + sum(len(v) for v in
                                                              project.gmos.values())
    assert counts["raw"] == raw_files
    # two flats (sq and ql): the cwd copy of the sq flat is the same product
    assert counts["processed_flat"] == 2
    assert counts["processed_dark"] == 2
    assert counts["processed_bpm"] == 1
    assert counts["processed_bias"] == 1
    assert counts["processed_fringe"] == 1
    assert counts["processed_standard"] == 1
    # stack, F2 image, skyCorrected frame, GMOS image; the _flatCorrected file is not served
    assert counts["processed_science"] == 4


# -- processed calibrations -------------------------------------------------------------
@pytest.mark.parametrize("caltype, ids, tag, keyword", [
    ("processed_bias", {"instrument": "GMOS"}, "BIAS", "PROCBIAS"),
    ("processed_dark", {"exposure_time": 120}, "DARK", "PROCDARK"),
    ("processed_flat", {"filter_name": "Y", "procmode": "sq"}, "FLAT", "PROCFLAT"),
    ("processed_bpm", {"instrument": "F2"}, "BPM", "PROCBPM"),
    ("processed_fringe", {"filter_name": "r"}, "PROCESSED", "PROCFRNG"),
    ("processed_standard", {"object": "field_0140-2200"}, "PROCESSED", "PROCSTND"),
])
def test_get_a_processed_calibration_its_filename_and_header(butler, project, caltype, ids,
                                                             tag, keyword):
    ad = butler.get(caltype, **ids)
    assert "PROCESSED" in ad.tags and tag in ad.tags
    path = butler.get(caltype + "_filename", **ids)
    assert Path(path).parent == project.work / "calibrations" / caltype
    assert os.path.samefile(path, ad.path)
    header = butler.get(caltype + "_md", **ids)
    assert isinstance(header, fits.Header)
    assert keyword in header
    assert header["PROCMODE"] == "sq"
    assert header["DATALAB"] == ad.data_label()
    assert str(header["DATALAB"]).endswith("-SQ-" + {
        "processed_bias": "BIAS", "processed_dark": "DARK", "processed_flat": "FLAT",
        "processed_bpm": "BPM", "processed_fringe": "FRINGE",
        "processed_standard": "STANDARD"}[caltype])


def test_the_issue_example_with_one_flat(project, tmp_path):
    target = _copy_project(project, tmp_path, with_products=False)
    work = target / "playground"
    db = LocalDB(work / "calibrations")
    db.init()
    with contextlib.chdir(work):
        _store(F2Image, [target / "playdata" / project.f2["flat_lamp_on"][0].name],
               "storeProcessedFlat", init_calibration_databases(databases=[db]))
    b = Butler(work)   # default configuration: <workdir>/calibrations/cal_manager.db
    flat = b.get("processed_flat", filter_name="Y")
    assert {"PROCESSED", "FLAT"} <= flat.tags
    assert flat.filter_name(pretty=True) == "Y"
    assert b.get("processed_flat_filename", filter_name="Y") == flat.path
    assert b.get("processed_flat_md", filter_name="Y")["PROCMODE"] == "sq"
    assert b.get("flat", filter_name="Y").path == flat.path
    ref = b.ref("processed_flat", filter_name="Y")
    assert str(work / "calibrations" / "cal_manager.db") in ref.origins
    assert ref.get("_filename") == flat.path
    assert ref.get("md")["DATALAB"] == flat.data_label()
    assert ref.open().filename == flat.filename
    with pytest.raises(ButlerError, match="ext= does not apply to the _filename variant"):
        b.get("processed_flat_filename", ext=0)


def test_a_product_stored_and_written_to_the_cwd_is_one_product(butler, project):
    ref = butler.ref("processed_flat", filter_name="Y", procmode="sq")
    stored = project.work / "calibrations" / "processed_flat" / "S20131129S0320_flat.fits"
    assert ref.path == str(stored)
    assert ref.copies == (str(project.work / "S20131129S0320_flat.fits"),)
    assert project.db.name in ref.origins and "directory" in ref.origins


def test_darks_are_told_apart_by_exposure_time_within_one_percent(butler):
    long_dark = butler.get("processed_dark", exposure_time=120)
    assert long_dark.exposure_time() == pytest.approx(120)
    assert butler.get("dark", exposure_time=2.01).exposure_time() == pytest.approx(2)
    with pytest.raises(DatasetNotFoundError):
        butler.get("processed_dark", exposure_time=2.05)   # 2.5% away


# -- raw frames -----------------------------------------------------------------------
def test_raw_frame_by_data_label(butler, project):
    ad = butler.get("raw", data_label=F2_SCIENCE_LABEL)
    assert "RAW" in ad.tags
    assert ad.data_label() == F2_SCIENCE_LABEL
    assert Path(ad.path).parent == project.f2_dir
    assert butler.get("raw_filename", {"data_label": F2_SCIENCE_LABEL}) == ad.path


def test_raw_frames_by_descriptor_values(butler, project):
    short = butler.list("raw", observation_type="DARK", exposure_time=2)
    assert sorted(r.filename for r in short) == sorted(p.name for p in project.f2["dark_short"])
    science = {p.name for p in project.f2["science"]}
    lamp_frames = {p.name for p in project.f2["flat_lamp_on"] + project.f2["flat_lamp_off"]}
    expected = science | lamp_frames
    for spelling in ("Y", "y", "Open&Y", "Open&Y_G0811"):
        found = {r.filename for r in butler.list("raw", filter_name=spelling)}
        assert found == expected, spelling
    on = butler.list("raw", tags="GCAL_IR_ON,FLAT")
    assert sorted(r.filename for r in on) == sorted(p.name for p in project.f2["flat_lamp_on"])
    two = butler.list("raw", data_label=[F2_SCIENCE_LABEL, "GS-2013B-Q-15-39-002"])
    assert len(two) == 2


def test_ut_date_accepts_dates_and_both_text_forms(butler, project):
    on_date = {p.name for p in project.f2_dir.glob("S2013*.fits")
               if astrodata.open(str(p)).ut_date() == dt.date(2013, 11, 21)}
    assert on_date
    for value in ("2013-11-21", "20131121", dt.date(2013, 11, 21)):
        assert {r.filename for r in butler.list("raw", ut_date=value)} == on_date


def test_instrument_matches_name_or_family(butler):
    assert len(butler.list("processed_bias", instrument="GMOS")) == 1
    assert len(butler.list("processed_bias", instrument="gmos-s")) == 1
    assert butler.list("processed_bias", instrument="F2") == []


def test_keys_list_the_ids_with_values(butler):
    flat_keys = butler.keys("processed_flat")
    assert {"filter_name", "exposure_time", "data_label", "procmode"} <= set(flat_keys)
    raw_keys = butler.keys("raw")
    assert "procmode" not in raw_keys and "filter_name" in raw_keys
    assert set(raw_keys) <= set(ID_NAMES)


# -- errors -------------------------------------------------------------------------------
def test_ambiguous_id_lists_candidates_and_what_tells_them_apart(butler):
    with pytest.raises(AmbiguousDataIdError) as info:
        butler.get("processed_flat", filter_name="Y")
    error = info.value
    assert isinstance(error, ButlerError) and isinstance(error, ReduceError)
    assert isinstance(error, LookupError)
    message = str(error)
    assert message.startswith("processed_flat with filter_name='Y' is ambiguous: 2 files")
    assert "procmode" in message.splitlines()[0]
    assert "S20131129S0320_flat.fits" in message and "S20131129S0321_ql_flat.fits" in message
    assert "procmode='sq'" in message and "procmode='ql'" in message
    assert sorted(r.ids["procmode"] for r in error.candidates) == ["ql", "sq"]


def test_missing_id_names_the_nearest_candidates_and_what_differs(butler):
    with pytest.raises(DatasetNotFoundError) as info:
        butler.get("processed_flat", filter_name="J", procmode="sq")
    message = str(info.value)
    first, *rest = message.splitlines()
    assert first == ("no processed_flat matches filter_name='J', procmode='sq';"
                     " 2 processed_flat file(s) exist. Nearest:")
    # the sq flat misses only on the filter, so it comes first
    assert rest[0] == ("  calibrations/processed_flat/S20131129S0320_flat.fits:"
                       " filter_name is 'Open&Y_G0811' (Y), not 'J'")
    assert "procmode is 'ql', not 'sq'" in rest[1]
    assert info.value.candidates[0].filename == "S20131129S0320_flat.fits"


def test_missing_dataset_type_says_what_the_index_holds(project, tmp_path):
    target = _copy_project(project, tmp_path, with_products=False)
    b = Butler(target / "playground", extra_dirs=["../playdata"], databases=())
    with pytest.raises(DatasetNotFoundError, match=r"no processed_flat in .*playground.*"
                       r"the index holds: raw \(36\)"):
        b.get("processed_flat", filter_name="Y")


def test_unknown_names_and_bad_values_are_errors_with_suggestions(butler):
    with pytest.raises(ButlerError, match="unknown data id name 'filtre' .did you mean"
                       " filter_name"):
        butler.get("raw", filtre="Y")
    with pytest.raises(ButlerError, match="exposure_time='long': expected a number"):
        butler.get("raw", exposure_time="long")
    with pytest.raises(ButlerError, match="ut_date='Nov 21': expected a date"):
        butler.get("raw", ut_date="Nov 21")
    with pytest.raises(ButlerError, match="unknown dataset type 'rwa'"):
        butler.get("rwa", data_label=F2_SCIENCE_LABEL)


# -- science products, catalogues and masks ----------------------------------------------
def test_science_products_by_suffix_alias_and_data_label(butler, project):
    stack = butler.get("stack", data_label=F2_SCIENCE_LABEL)
    assert stack.filename == "S20131121S0075_stack.fits"
    image = butler.get("image", data_label=F2_SCIENCE_LABEL, instrument="F2")
    assert "PROCESSED_SCIENCE" in image.tags
    assert image.data_label() == F2_SCIENCE_LABEL + "-SQ-IMAGE"
    sky = butler.get("skyCorrected", data_label="GS-2013B-Q-15-39-002")
    assert sky.filename == "S20131121S0076_skyCorrected.fits"
    with pytest.raises(AmbiguousDataIdError, match="suffix") as info:
        butler.get("processed_science", data_label=F2_SCIENCE_LABEL)
    assert {r.ids["suffix"] for r in info.value.candidates} == {"_stack", "_image"}
    # intermediate products are not served, not even as raw frames
    assert butler.list("processed_science", filename="S20131121S0078_flatCorrected") == []
    assert butler.list("raw", filename="S20131121S0078_flatCorrected.fits") == []


def test_src_is_the_objcat_table_with_documented_columns(butler):
    table = butler.get("src", data_label=F2_SCIENCE_LABEL, suffix="_image")
    assert isinstance(table, Table)
    assert set(table.colnames) <= set(OBJCAT_COLUMNS)
    assert {"NUMBER", "X_IMAGE", "Y_IMAGE", "FLUX_AUTO", "FWHM_IMAGE", "FLAGS"} <= set(
        table.colnames)
    descriptions = objcat_column_descriptions()
    assert set(OBJCAT_COLUMNS) <= set(descriptions)
    assert all(table[name].description for name in table.colnames)
    assert "1-based" in table["X_IMAGE"].description
    assert table.meta["FILENAME"] == "S20131121S0075_image.fits"
    # X_IMAGE/Y_IMAGE are 1-based: the stars put at 0-based (x, y) are at (x+1, y+1)
    assert len(table) == len(STARS)
    for x, y in STARS:
        distance = np.hypot(table["X_IMAGE"] - (x + 1), table["Y_IMAGE"] - (y + 1))
        assert distance.min() < 0.05
    same = butler.get("stack_catalog", data_label=F2_SCIENCE_LABEL)
    assert np.allclose(same["X_IMAGE"], table["X_IMAGE"])


def test_src_of_a_multi_extension_product_is_per_extension(butler):
    tables = butler.get("src", instrument="GMOS")
    assert isinstance(tables, list) and len(tables) == 4
    assert tables[1] is None and tables[3] is None
    assert isinstance(tables[0], Table) and isinstance(tables[2], Table)
    assert tables[2].meta["EXTENSION"] == 2
    one = butler.get("src", instrument="GMOS", ext=2)
    assert len(one) == len(tables[2])
    with pytest.raises(ButlerError, match="extension 1: no OBJCAT"):
        butler.get("src", instrument="GMOS", ext=1)
    with pytest.raises(ButlerError, match="ext=7 is out of range: the file has 4"):
        butler.get("src", instrument="GMOS", ext=7)
    with pytest.raises(ButlerError, match="no OBJCAT"):
        butler.get("processed_bias_src")


def test_mask_planes_by_name(butler):
    ids = {"data_label": F2_SCIENCE_LABEL}
    cosmic = butler.get("stack_mask", plane="CR", **ids)
    assert cosmic.dtype == bool
    assert sorted(zip(*np.nonzero(cosmic), strict=True)) == sorted(CR_PIXELS)
    assert np.array_equal(butler.get("stack_mask", plane="cosmic_ray", **ids), cosmic)
    bad = butler.get("stack_mask", plane="BAD", **ids)
    assert sorted(zip(*np.nonzero(bad), strict=True)) == sorted(BAD_PIXELS)
    dq = butler.get("stack_mask", **ids)
    assert dq.dtype == np.uint16
    assert dq[30, 30] == DQ.cosmic_ray | DQ.bad_pixel
    assert np.array_equal(mask_plane(dq, "CR"), cosmic)
    assert DQ.name_of(DQ.plane("CR")) == "cosmic_ray"
    with pytest.raises(ButlerError, match="unknown DQ plane 'GLITCH'"):
        butler.get("stack_mask", plane="GLITCH", **ids)
    with pytest.raises(ButlerError, match="plane='CR' only applies to the _mask variant"):
        butler.get("stack", plane="CR", **ids)
    # a raw frame has no DQ: no flags, and no DQ array
    assert butler.get("raw_mask", plane="CR", **ids).sum() == 0
    assert butler.get("raw_mask", **ids) is None


def test_md_and_ext_give_extension_headers_and_slices(butler):
    phu = butler.get("processed_bias_md")
    assert phu["INSTRUME"] == "GMOS-S"
    header = butler.get("processed_bias_md", ext=3)
    assert header["EXTNAME"] == "SCI" and header["EXTVER"] == 4
    ad = butler.get("processed_bias", ext=3)
    assert ad.is_single and ad.shape == (header["NAXIS2"], header["NAXIS1"])


# -- the index ------------------------------------------------------------------------------
def test_index_file_is_reused_and_only_changed_files_are_read(project, tmp_path):
    target = _copy_project(project, tmp_path)
    work = target / "playground"
    first = Butler(work, extra_dirs=["../playdata"]).refresh()
    assert first.read == first.files > 40
    index_file = work / ".reducecache" / "butler.json"
    payload = json.loads(index_file.read_text())
    assert "S20131121S0075_stack.fits" in payload["files"]
    again = Butler(work, extra_dirs=["../playdata"]).refresh()
    assert again == (first.files, 0, first.files)
    # a changed file is read again, a removed one leaves the index
    stack = work / "S20131121S0075_stack.fits"
    with fits.open(stack, mode="update") as hdul:
        hdul[0].header["OBJECT"] = "Renamed"
    (work / "S20131121S0076_skyCorrected.fits").unlink()
    b = Butler(work, extra_dirs=["../playdata"])
    assert b.refresh() == (first.files - 1, 1, first.files - 2)
    assert b.get("stack", data_label=F2_SCIENCE_LABEL).object() == "Renamed"
    assert b.list("skyCorrected") == []


def test_cache_false_writes_no_index(project, tmp_path):
    target = _copy_project(project, tmp_path, with_products=False)
    b = Butler(target / "playground", extra_dirs=["../playdata"], cache=False, databases=())
    # every FITS file is indexed (the truth images too), none is served unless it qualifies
    assert b.refresh().read == len(list((target / "playdata").rglob("*.fits")))
    assert not (target / "playground" / ".reducecache").exists()


def test_new_and_changed_files_are_found_without_refresh(project, tmp_path):
    target = _copy_project(project, tmp_path)
    work = target / "playground"
    b = Butler(work, extra_dirs=["../playdata"])
    assert b.list("processed_dark", exposure_time=120)
    with pytest.raises(DatasetNotFoundError):
        b.get("processed_dark", data_label="GS-CAL20131121-2-001")
    db = LocalDB(work / "calibrations")
    with contextlib.chdir(work):
        _store(F2Image, [target / "playdata" / "S20131121S0010.fits"], "storeProcessedDark",
               init_calibration_databases(databases=[db]))
    dark = b.get("processed_dark", data_label="GS-CAL20131121-2-001")
    assert dark.filename == "S20131121S0010_dark.fits"
    # a served file that was replaced is read again before it is returned
    path = b.get("processed_dark_filename", data_label="GS-CAL20131121-2-001")
    time.sleep(0.01)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["OBJECT"] = "Dark again"
    assert b.ref("processed_dark", data_label="GS-CAL20131121-2-001").ids["object"] == (
        "Dark again")


def test_calibrations_in_a_configured_database_outside_the_workdir(project, tmp_path,
                                                                  monkeypatch):
    target = _copy_project(project, tmp_path, with_products=False)
    shared = tmp_path / "shared_cals"
    shared.mkdir()
    dark = project.work / "calibrations" / "processed_dark" / "S20131120S0115_dark.fits"
    shutil.copy(dark, shared / dark.name)
    shared_db = LocalDB(shared)
    shared_db.init()
    shared_db.add_cal(shared / dark.name)
    config = tmp_path / "dragonsrc"
    config.write_text(f"[calibs]\ndatabases = {shared} get\n")
    b = Butler(target / "playground", config_file=config)
    assert [db.name for db in b.databases] == [shared_db.name]
    ref = b.ref("processed_dark", exposure_time=120)
    assert ref.path == str(shared / dark.name)
    assert ref.origins == (shared_db.name,)
    # the same through $DRAGONSRC, as reduce would read it
    monkeypatch.setenv("DRAGONSRC", str(config))
    assert Butler(target / "playground").get("processed_dark_filename") == ref.path


def test_default_database_is_the_workdirs_not_the_cwds(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    b = Butler(project.work)
    assert [db.name for db in b.databases] == [
        str(project.work / "calibrations" / "cal_manager.db")]


def test_set_calservice_configuration_is_used_like_reduce_uses_it(project, tmp_path):
    other = tmp_path / "tutorial_cals"
    set_calservice(local_db_dir=other)
    b = Butler(project.work)
    assert [db.name for db in b.databases] == [str(other / "cal_manager.db")]
    # that database does not exist: calibrations are still found under calibrations/
    assert b.ref("processed_bias").origins == ("directory",)


def test_bad_directories_are_errors(tmp_path):
    with pytest.raises(ButlerError, match="not a directory"):
        Butler(tmp_path / "nowhere")
    with pytest.raises(ButlerError, match="missing: not a directory"):
        Butler(tmp_path, extra_dirs=["missing"])


def test_unreadable_and_foreign_fits_files_are_not_served(project, tmp_path, caplog):
    target = _copy_project(project, tmp_path, with_products=False)
    work = target / "playground"
    (work / "broken.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    fits.PrimaryHDU(np.zeros((4, 4), np.float32)).writeto(work / "foreign.fits")
    b = Butler(work, extra_dirs=["../playdata"])
    with caplog.at_level("WARNING", logger="recipe_system.butler"):
        summary = b.refresh()
    assert summary.files == len(list((target / "playdata").rglob("*.fits"))) + 2
    assert b.datasets() == {"raw": 36}
    assert any("broken.fits cannot be read" in r.getMessage() for r in caplog.records)
