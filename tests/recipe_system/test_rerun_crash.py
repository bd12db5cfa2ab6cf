"""kill -9 in the middle of ``reduce``: no half-written file; the next run resumes, not restarts."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import astrodata

sys.path.insert(0, str(Path(__file__).resolve().parent / "rerun_support"))
pytest_plugins = ["rerun_fixtures"]
from rerun_fixtures import SUPPORT, user_recipe  # noqa: E402
from rerun_prims import counted  # noqa: E402

PRODUCT = "S20131120S0115_combined.fits"


def reduce_command(files, recipe):
    return [sys.executable, "-m", "recipe_system.scripts.reduce", *files, "-r",
            user_recipe(recipe), "--drpkg", "rerun_drpkg", "--jobs", "1", "--logmode", "quiet"]


def environment(home):
    """The subprocess environment: the plug-in importable, the default checkpoint policy.

    The default (``'auto'``: cheap steps' checkpoints roll) must already
    guarantee that no completed step is redone after a crash, however cheap.
    """
    dragons = Path(home) / ".dragons"
    dragons.mkdir(exist_ok=True)
    (dragons / "dragonsrc").write_text("[reduce]\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT)] + [
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["HOME"] = str(home)
    env.pop("DRAGONSRC", None)
    return env


def every_fits_is_whole(directory):
    """Every FITS file under `directory` opens and its pixels read; no temporary file left."""
    leftovers = [p for p in directory.rglob("*") if p.name.endswith((".tmp", ".tmp.gz"))]
    assert leftovers == []
    for path in directory.rglob("*.fits"):
        ad = astrodata.open(str(path))
        for ext in ad:
            assert np.isfinite(np.asarray(ext.data, dtype=np.float64)).all()


def test_kill_9_then_rerun_finishes_without_redoing_completed_steps(workdir, f2_raw,
                                                                    isolated_home):
    files = f2_raw["dark"][:3]
    command = reduce_command(files, "interruptible")
    env = environment(isolated_home)
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not any(name == "waitForRelease" for name, _, _ in counted(workdir)):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the reduction never reached waitForRelease"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert not (workdir / PRODUCT).exists()
    every_fits_is_whole(workdir)
    first = counted(workdir)
    assert sorted({name for name, _, _ in first}) == ["addNoiseModel", "scaleData",
                                                      "waitForRelease"]

    (workdir / "release.txt").write_text("go\n")
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    every_fits_is_whole(workdir)
    runs = counted(workdir)[len(first):]
    # the completed steps were not redone; the interrupted one and the rest ran
    assert sorted(name for name, _, _ in runs) == ["combineFrames"] * 3 + ["waitForRelease"] * 3
    log = (workdir / "reduce.log").read_text()
    assert log.count("Reused the result recorded") == 2
    product = astrodata.open(str(workdir / PRODUCT))
    raw = np.mean([np.asarray(astrodata.open(f)[0].data, dtype=np.float32) for f in files],
                  axis=0)
    assert np.allclose(product[0].data, 2.0 * raw, rtol=1e-6)
    assert list(product.HISTORY["primitive"]) == ["scaleData", "addNoiseModel",
                                                  "waitForRelease", "combineFrames"]


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.25])
def test_kill_9_at_any_moment_leaves_only_whole_files(workdir, f2_raw, isolated_home, delay):
    files = f2_raw["dark"][:4]
    command = reduce_command(files, "chain")
    env = environment(isolated_home)
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not counted(workdir) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    # a file being written when the process died can only be a hidden temporary
    # file (never one under a product or checkpoint name); nothing reads them
    for path in workdir.rglob(".*.tmp"):
        path.unlink()
    every_fits_is_whole(workdir)
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    product = astrodata.open(str(workdir / PRODUCT))
    raw = np.mean([np.asarray(astrodata.open(f)[0].data, dtype=np.float32) for f in files],
                  axis=0)
    assert np.allclose(product[0].data, 2.0 * raw, rtol=1e-6)
