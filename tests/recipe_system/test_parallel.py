"""Per-file primitives across a local process pool: same pixels as a serial run, errors, logs."""

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import astrodata
from astrodata.provenance import md5sum
from primitives.errors import PrimitiveError
from recipe_system.executors import LocalExecutor

sys.path.insert(0, str(Path(__file__).resolve().parent / "rerun_support"))
pytest_plugins = ["rerun_fixtures"]
from rerun_fixtures import make_reduce, pixels  # noqa: E402
from rerun_prims import RerunF2, counted  # noqa: E402

pytestmark = pytest.mark.usefixtures("rerun_plugin")


def reduce_in(directory, monkeypatch, files, recipe, **attributes):
    directory.mkdir(exist_ok=True)
    monkeypatch.chdir(directory)
    r = make_reduce(files, recipe, **attributes)
    r.runr()
    return r


def test_parallel_run_equals_serial_run_byte_for_byte(tmp_path, monkeypatch, f2_raw):
    files = f2_raw["dark"][:4]
    serial = reduce_in(tmp_path / "serial", monkeypatch, files, "per_file_only", jobs=1)
    parallel = reduce_in(tmp_path / "parallel", monkeypatch, files, "per_file_only", jobs=2,
                         min_pixels=0)
    assert serial.output_filenames == parallel.output_filenames
    assert len(parallel.output_filenames) == 4
    for name in parallel.output_filenames:
        a, b = tmp_path / "serial" / name, tmp_path / "parallel" / name
        assert pixels(a) == pixels(b)
        ha, hb = astrodata.open(str(a)).HISTORY, astrodata.open(str(b)).HISTORY
        assert list(ha["primitive"]) == list(hb["primitive"]) == \
            ["scaleData", "addNoiseModel", "subtractRowMeans"]
        assert list(ha["args"]) == list(hb["args"])
    # the per-file work ran in a worker process in the parallel run only (this
    # process may take its share of the files: main_works)
    ran = counted(tmp_path / "parallel")
    workers = {pid for name, _, pid in ran if name in ("scaleData", "rowMeans")}
    assert workers - {os.getpid()}
    assert {pid for _, _, pid in counted(tmp_path / "serial")} == {os.getpid()}
    # the steps were recorded like serial ones: a second run reuses them
    monkeypatch.chdir(tmp_path / "parallel")
    for name in parallel.output_filenames:
        (tmp_path / "parallel" / name).unlink()
    again = make_reduce(files, "per_file_only", jobs=2, min_pixels=0)
    again.runr()
    assert [r.status for r in again.step_reports] == ["reused", "reused", "reused"]
    for name in again.output_filenames:
        assert pixels(tmp_path / "parallel" / name) == pixels(tmp_path / "serial" / name)


def test_this_process_takes_its_share_of_the_files(workdir, f2_raw, caplog):
    # jobs=2: one worker process, and this process runs the files no worker has
    # taken yet, from the last; every file once, the log once and in input order
    files = f2_raw["dark"][:4]
    names = [os.path.basename(f) for f in files]
    with caplog.at_level(logging.DEBUG):
        make_reduce(files, "failing", jobs=2, min_pixels=0).runr()
    ran = [(name, pid) for primitive, name, pid in counted(workdir) if primitive == "failOn"]
    assert sorted(name for name, _ in ran) == sorted(names)
    pids = {pid for _, pid in ran}
    assert os.getpid() in pids and pids - {os.getpid()}
    # the first file is always a worker's, the last one (taken first) this process's
    assert dict(ran)[names[0]] != os.getpid() and dict(ran)[names[-1]] == os.getpid()
    looked = [r.getMessage() for r in caplog.records if "failOn looked at" in r.getMessage()]
    assert looked == [f"failOn looked at {name}" for name in names]


def test_small_images_stay_in_this_process(workdir, f2_raw):
    files = f2_raw["dark"][:3]
    make_reduce(files, "per_file_only", jobs=2).runr()   # 256x256 < the default minimum
    assert {pid for _, _, pid in counted(workdir)} == {os.getpid()}


def test_a_failing_file_in_a_worker_raises_here_with_its_log(workdir, f2_raw, caplog):
    files = f2_raw["dark"][:3]
    bad = os.path.basename(files[1])
    with caplog.at_level(logging.DEBUG), pytest.raises(PrimitiveError,
                                                       match="failOn was told to fail"):
        make_reduce(files, "failing", jobs=2, min_pixels=0,
                    uparms=[("failOn:bad_file", bad)]).runr()
    looked = [r.getMessage() for r in caplog.records if "failOn looked at" in r.getMessage()]
    assert looked[:2] == [f"failOn looked at {os.path.basename(files[0])}",
                          f"failOn looked at {bad}"]
    # the main stream was saved as crash files
    assert sorted(p.name for p in workdir.glob("*_crash.fits"))


def test_calibrations_used_in_workers_are_recorded(workdir, f2_raw, caldb_path):
    make_reduce(f2_raw["dark"][:2], caldb=caldb_path).runr()
    science = f2_raw["science"][:3]
    first = make_reduce(science, caldb=caldb_path, jobs=2, min_pixels=0)
    first.runr()
    assert {pid for name, _, pid in counted(workdir) if name == "subtractDark"} - {os.getpid()}
    dark = workdir / "calibrations" / "processed_dark" / "S20131120S0115_dark.fits"
    for name in first.output_filenames:
        rows = [(r["filename"], r["md5"], r["provenance_added_by"])
                for r in astrodata.open(str(workdir / name)).PROVENANCE]
        assert (dark.name, md5sum(dark), "subtractDark") in rows
    again = make_reduce(science, caldb=caldb_path, jobs=2, min_pixels=0)
    again.runr()
    assert [r.status for r in again.step_reports] == ["reused", "reused", "reused"]


def test_parallel_map_helper_from_the_api(workdir, f2_raw):
    ads = [astrodata.open(f) for f in f2_raw["dark"][:3]]
    expected = [np.asarray(ad[0].data, dtype=np.float32).mean(axis=1) for ad in ads]
    p = RerunF2(ads)
    p.executor = LocalExecutor(2, min_pixels=0)
    means = p.parallel_map(p._row_means, ads)
    assert all(np.array_equal(m, e) for m, e in zip(means, expected, strict=True))
    assert os.getpid() not in {pid for _, _, pid in counted(workdir)}
    p.executor = None
    assert all(np.array_equal(m, e) for m, e in
               zip(p.parallel_map(p._row_means, ads), expected, strict=True))


def test_a_result_whose_wcs_has_no_exact_fits_form_comes_back_whole(workdir, f2_raw,
                                                                    tmp_path):
    files = f2_raw["dark"][:2]
    serial = RerunF2([astrodata.open(f) for f in files])
    serial.distortWCS()
    parallel = RerunF2([astrodata.open(f) for f in files])
    parallel.executor = LocalExecutor(2, min_pixels=0)
    parallel.distortWCS()
    ran_in = [pid for name, _, pid in counted(workdir) if name == "distortWCS"]
    assert ran_in[:2] == [os.getpid()] * 2 and os.getpid() not in ran_in[2:]
    for a, b in zip(serial.streams["main"], parallel.streams["main"], strict=True):
        assert a[0].wcs(100.5, 200.5) == b[0].wcs(100.5, 200.5)
    # a FITS file would only have held an approximation of that WCS
    a = serial.streams["main"][0]
    a.write(str(tmp_path / "roundtrip.fits"))
    assert astrodata.open(str(tmp_path / "roundtrip.fits"))[0].wcs(100.5, 200.5) != \
        a[0].wcs(100.5, 200.5)


def test_serial_per_file_step_puts_each_output_on_disk_before_the_next(tmp_path, monkeypatch,
                                                                       f2_raw):
    # jobs=1 on large frames: each output of a per-file step goes to its checkpoint
    # (and is dropped from memory) before the next input is processed
    import rerun_prims

    import primitives.base as base

    files = f2_raw["dark"][:3]
    reference = reduce_in(tmp_path / "whole", monkeypatch, files, "per_file_only", jobs=1)
    events = []
    real_count, real_refer = rerun_prims.count, base.refer_to_file

    def noting_count(name, ad):
        events.append(("run", name, ad.orig_filename))
        real_count(name, ad)

    def noting_refer(ad, path):
        events.append(("settled", ad.orig_filename))
        return real_refer(ad, path)

    monkeypatch.setattr(base, "SETTLE_MIN_PIXELS", 1)     # the test frames are small
    monkeypatch.setattr(rerun_prims, "count", noting_count)
    monkeypatch.setattr(base, "refer_to_file", noting_refer)
    settled = reduce_in(tmp_path / "settled", monkeypatch, files, "per_file_only", jobs=1)
    names = [os.path.basename(f) for f in files]
    scale = [e for e in events if e[:2] == ("run", "scaleData") or e[0] == "settled"][:6]
    assert scale == [event for name in names
                     for event in (("run", "scaleData", name), ("settled", name))]
    for name in settled.output_filenames:
        assert pixels(tmp_path / "settled" / name) == pixels(tmp_path / "whole" / name)
    assert settled.output_filenames == reference.output_filenames
