"""Independent reductions on Dask: two F2 nights give the same products as two local runs."""

import os
import sys
from pathlib import Path

import pytest

import astrodata
from recipe_system.errors import ReduceError
from recipe_system.reduction.coreReduce import Reduce, plan_reductions

sys.path.insert(0, str(Path(__file__).resolve().parent / "rerun_support"))
pytest_plugins = ["rerun_fixtures"]
from rerun_fixtures import pixels  # noqa: E402

pytestmark = pytest.mark.usefixtures("rerun_plugin")


def nights(f2_raw):
    """Night 2013-11-20: three 120 s darks. Night 2013-11-21: three 2 s darks, one 120 s
    dark and three science frames (whose dark comes from the shared database)."""
    by_name = {os.path.basename(p): p for paths in f2_raw.values() for p in paths}
    first = [by_name[f"S20131120S01{n}.fits"] for n in (15, 16, 17)]
    second = [by_name[f"S20131121S03{n}.fits"] for n in (69, 70, 71)] + \
        [by_name["S20131122S0012.fits"]] + \
        [by_name[f"S20131121S00{n}.fits"] for n in (75, 76, 77)]
    return first, second


def grouped_reduce(files, directory, executor=None):
    from recipe_system.cal_service import LocalDB

    directory.mkdir(parents=True)
    LocalDB(directory / "calibrations").init()
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        r = Reduce(executor=executor)
        r.files = list(files)
        r.group_by = "night"
        r.jobs = 1
        r.drpkg = "rerun_drpkg"
        r.calibration_databases = [str(directory / "calibrations" / "cal_manager.db")]
        r.runr()
    finally:
        os.chdir(cwd)
    return r


def test_plan_puts_calibrations_first_and_splits_nights(f2_raw):
    first, second = nights(f2_raw)
    plan = plan_reductions(second + first, "night")
    names = [[os.path.basename(f) for f in files] for _, files in plan]
    ranks = [rank for rank, _ in plan]
    assert ranks == sorted(ranks) and ranks[-1] == 4 and ranks[0] == 1
    assert names[-1] == ["S20131121S0075.fits", "S20131121S0076.fits", "S20131121S0077.fits"]
    assert ["S20131120S0115.fits", "S20131120S0116.fits", "S20131120S0117.fits"] in names
    assert ["S20131122S0012.fits"] in names                      # 120 s dark of night 2
    assert len(plan) == 4
    together = plan_reductions(first + second, "group")         # both nights' 120 s darks
    assert sorted(os.path.basename(f) for f in together[0][1] + together[1][1]
                  if "S0012" in f or "S0115" in f) == ["S20131120S0115.fits",
                                                        "S20131122S0012.fits"]
    assert [len(files) for _, files in plan_reductions(first, None)] == [3]
    with pytest.raises(ReduceError, match="group_by"):
        plan_reductions(first, "week")


@pytest.mark.slow
def test_two_nights_on_a_local_dask_cluster_equal_two_local_runs(f2_raw, tmp_path):
    distributed = pytest.importorskip("distributed")
    from recipe_system.executors import DaskExecutor

    first, second = nights(f2_raw)
    local = tmp_path / "local"
    local_runs = [grouped_reduce(first, local / "n1"), grouped_reduce(second, local / "n2")]
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        executor = DaskExecutor(client)
        assert executor.max_workers == 2
        # one calibration database and one working directory for both nights
        dask_run = grouped_reduce(first + second, tmp_path / "dask", executor=executor)
        workers = set(client.run(os.getpid).values())
    assert all(r["ok"] for r in dask_run.reduction_results)
    assert len(dask_run.reduction_results) == 4
    local_products = {name: local / night / name for night, r in zip(("n1", "n2"), local_runs,
                                                                    strict=True)
                      for name in r.output_filenames}
    assert sorted(dask_run.output_filenames) == sorted(local_products)
    assert {"S20131120S0115_dark.fits", "S20131121S0369_dark.fits", "S20131122S0012_dark.fits",
            "S20131121S0075_reduced.fits"} <= set(local_products)
    for name, path in local_products.items():
        assert pixels(tmp_path / "dask" / name) == pixels(path)
        a = astrodata.open(str(tmp_path / "dask" / name))
        assert list(a.HISTORY["primitive"]) == list(astrodata.open(str(path)).HISTORY["primitive"])
    # the science frames got their dark from the shared database, written by a worker
    record = {row["item"]: row["value"] for row in
              astrodata.open(str(tmp_path / "dask" / "S20131121S0075_reduced.fits")).REDUCTION}
    assert "processed_dark" in record["calibrations"]
    # the reductions ran in the worker processes, not here
    assert os.getpid() not in workers
    steps = [s for r in dask_run.reduction_results for s in r["steps"]]
    assert {s["primitive"] for s in steps} >= {"addNoiseModel", "combineFrames", "subtractDark"}
    lines = dask_run.summary_lines()
    assert len(lines) == 2 + 4 and all("ok" in line for line in lines[2:])
