"""Idle pool workers stop before a step that holds large frames and start again on demand."""

import sys
from pathlib import Path

import numpy as np
import pytest

import astrodata
import primitives.base as base
from recipe_system.executors import LocalExecutor

sys.path.insert(0, str(Path(__file__).resolve().parent / "rerun_support"))
pytest_plugins = ["rerun_fixtures"]
from rerun_prims import RerunF2  # noqa: E402

pytestmark = pytest.mark.usefixtures("rerun_plugin")


def test_workers_stop_before_a_whole_stream_step_and_return_for_the_next_per_file_step(
        workdir, f2_raw, monkeypatch):
    # the small simulated frames count as "large" here
    monkeypatch.setattr(base, "RELEASE_MIN_PIXELS", 1)
    files = f2_raw["dark"][:3]
    p = RerunF2([astrodata.open(f) for f in files])
    p.executor = LocalExecutor(2, min_pixels=0, shared=False)
    try:
        p.scaleData(factor=3.0)                      # per file: runs in the workers
        pool = p.executor._pool
        assert pool is not None
        workers = list(pool._processes.values())
        assert workers and all(w.is_alive() for w in workers)
        p.subtractRowMeans()                         # not per file: workers stopped first
        for worker in workers:
            worker.join(timeout=10)
        assert not any(w.is_alive() for w in workers)
        # its own parallel_map started new workers on demand
        assert p.executor._pool is not None and p.executor._pool is not pool
        p.scaleData(factor=2.0)
    finally:
        p.executor.close()
    serial = RerunF2([astrodata.open(f) for f in files])
    serial.scaleData(factor=3.0)
    serial.subtractRowMeans()
    serial.scaleData(factor=2.0)
    for a, b in zip(serial.streams["main"], p.streams["main"], strict=True):
        assert np.array_equal(a[0].data, b[0].data)


def test_small_frames_keep_the_workers(workdir, f2_raw):
    p = RerunF2([astrodata.open(f) for f in f2_raw["dark"][:2]])
    p.executor = LocalExecutor(2, min_pixels=0, shared=False)
    try:
        p.scaleData()
        pool = p.executor._pool
        workers = list(pool._processes.values())
        p.subtractRowMeans()                         # 256x256 frames: not worth a restart
        assert p.executor._pool is pool and all(w.is_alive() for w in workers)
    finally:
        p.executor.close()
