"""Benchmark of re-runs (step cache) and of per-file primitives on a local process pool.

Run ``python benchmarks/bench_rerun.py [--darks 7] [--repeat 3] [--jobs 2] [--science 10]
[--all-to-workers] [--small]``.

It simulates the F2 tutorial data (2048x2048, or 256x256 with ``--small``) in
a temporary directory.

1. Re-run: the 120 s darks reduced with the real F2 ``makeProcessedDark``
   recipe (prepare, addDQ, ADUToElectrons, addVAR, nonlinearityCorrect,
   stackDarks, storeProcessedDark) in an empty working directory, then the
   same ``reduce`` again (unchanged). Reported: both times, the ratio (target:
   the second run takes < 10 % of the first) and the disk space of the
   checkpoints after the first run, for the default checkpoint policy
   (``'auto'``: the latest state rolls, expensive steps are kept) and for
   ``0`` (every step kept); plus a first run that records nothing, for the
   cost of the journal and checkpoints.
2. Parallel: the per-file head of the F2 science recipe (prepare, addDQ,
   ADUToElectrons, addVAR, nonlinearityCorrect, darkCorrect, flatCorrect)
   and detectSources on ``--science`` frames, ``--jobs 1`` against ``--jobs
   N`` (``reprocess='always'``, the pool started and every primitive run once
   beforehand, the executor's own rules deciding what goes to workers).
   Reported: each step (including the saving of its checkpoints), the
   per-file part, the whole run and the speed-ups.

Medians of ``--repeat`` runs; the machine's load average is printed, since
other processes sharing the cores change the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _reduce(files, workdir, **attributes):
    from recipe_system.cal_service import LocalDB
    from recipe_system.reduction.coreReduce import Reduce

    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    database = os.path.join(workdir, "calibrations")
    if not os.path.exists(os.path.join(database, "cal_manager.db")):
        LocalDB(database).init()
    r = Reduce()
    r.files = list(files)
    r.calibration_databases = [os.path.join(database, "cal_manager.db")]
    for name, value in attributes.items():
        setattr(r, name, value)
    start = time.perf_counter()
    r.runr()
    return time.perf_counter() - start, r


def _remove(workdir):
    """Delete a working directory (the checkpoints of full frames fill a disk quickly)."""
    os.chdir(os.path.dirname(workdir))
    shutil.rmtree(workdir, ignore_errors=True)


def _disk_mb(directory):
    """Megabytes of the files under `directory`."""
    total = 0
    for root, _, names in os.walk(directory):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return total / 1e6


def bench_rerun(files, base, repeat, policy):
    """(first, second, MB of checkpoints, steps redone) medians for one checkpoint policy."""
    firsts, seconds, disks, redone = [], [], [], set()
    for i in range(repeat):
        workdir = os.path.join(base, f"rerun-{policy}-{i}")
        first, _ = _reduce(files, workdir, jobs=1, checkpoint_min_seconds=policy)
        disks.append(_disk_mb(os.path.join(workdir, ".reducecache", "objects")))
        second, r = _reduce(files, workdir, jobs=1, checkpoint_min_seconds=policy)
        assert all(s.status in ("reused", "rerun", "always") for s in r.step_reports)
        redone.update(s.primitive for s in r.step_reports if s.status == "rerun")
        firsts.append(first)
        seconds.append(second)
        _remove(workdir)
    return (statistics.median(firsts), statistics.median(seconds), statistics.median(disks),
            sorted(redone))


def bench_no_cache(files, base, repeat):
    """A run that records nothing (the step cache's recording switched off): the baseline."""
    from recipe_system import cache

    record = cache.StepCache._record
    cache.StepCache._record = lambda *args, **kwargs: None
    times = []
    try:
        for i in range(repeat):
            workdir = os.path.join(base, f"nocache-{i}")
            elapsed, _ = _reduce(files, workdir, jobs=1)
            times.append(elapsed)
            _remove(workdir)
    finally:
        cache.StepCache._record = record
    return statistics.median(times)


HEAD_RECIPE = """
def head(p):
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.darkCorrect(dark={dark!r})
    p.flatCorrect(flat={flat!r})
    p.detectSources()
"""


def _calibration(path, target, kind):
    """A dark (one frame as it is) or a flat (one frame normalised) for the head recipe."""
    import numpy as np

    import astrodata
    from primitives.f2 import F2

    p = F2([astrodata.open(path)])
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    ad = p.streams["main"][0]
    if kind == "flat":
        for ext in ad:
            ext.divide(np.float32(np.nanmedian(ext.data)))
    ad.write(target, overwrite=True)
    return target


def bench_head(files, dark, flat, base, repeat, jobs, min_pixels=None):
    """Per-file head of the F2 science recipe: {jobs: ({primitive: s}, total s)}, medians."""
    recipe = os.path.join(base, "bench_recipes.py")
    with open(recipe, "w") as handle:
        handle.write(HEAD_RECIPE.format(dark=dark, flat=flat))
    results = {}
    # the pool is started beforehand, and each primitive has run once (the executor
    # keeps a step in this process when it took less a file than the hand-over)
    _reduce(files, os.path.join(base, "warm-head"), jobs=jobs, reprocess="always",
            recipename=recipe[:-3] + ".head", min_pixels=min_pixels)
    _remove(os.path.join(base, "warm-head"))
    for n in (1, jobs):
        steps, totals = [], []
        for _ in range(repeat):
            total, r = _reduce(files, os.path.join(base, f"head{n}"), jobs=n,
                               reprocess="always", recipename=recipe[:-3] + ".head",
                               min_pixels=min_pixels)
            # the step and the saving of its checkpoints (done by the workers with --jobs N)
            steps.append({s.primitive: s.seconds + s.saving_seconds for s in r.step_reports})
            totals.append(total)
            _remove(os.path.join(base, f"head{n}"))
        results[n] = ({name: statistics.median(s[name] for s in steps) for name in steps[0]},
                      statistics.median(totals))
    return results


def _print_head(results, jobs):
    one, many = results[1][0], results[jobs][0]
    print(f"   {'primitive':<20} {'--jobs 1':>9} {f'--jobs {jobs}':>9} {'speed-up':>9}")
    for name in one:
        print(f"   {name:<20} {one[name]:8.2f}s {many[name]:8.2f}s {one[name] / many[name]:8.2f}x")
    per_file = [n for n in one if n != "detectSources"]
    a, b = sum(one[n] for n in per_file), sum(many[n] for n in per_file)
    print(f"   {'prepare..flatCorrect':<20} {a:8.2f}s {b:8.2f}s {a / b:8.2f}x")
    a, b = results[1][1], results[jobs][1]
    print(f"   {'whole run':<20} {a:8.2f}s {b:8.2f}s {a / b:8.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--darks", type=int, default=7, help="number of 120 s darks (max 10)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="256x256 frames")
    parser.add_argument("--all-to-workers", action="store_true",
                        help="also run part 2 with every per-file step sent to the workers "
                             "(min_pixels=0), against the executor's own rules")
    parser.add_argument("--science", type=int, default=10,
                        help="science frames for the per-file head (0: skip)")
    args = parser.parse_args(argv)

    from gempy.sim import load_truth, make_dataset
    from gempy.utils import logutils

    logutils.config(mode="quiet")
    with tempfile.TemporaryDirectory(prefix="bench_rerun_") as base:
        os.environ["HOME"] = base
        os.environ.pop("DRAGONSRC", None)
        start = time.perf_counter()
        raw = make_dataset("f2-tutorial", Path(base) / "raw", small=args.small)
        darks = sorted(str(raw / n) for n in load_truth(raw)["roles"]["dark"])[:args.darks]
        size = "256x256" if args.small else "2048x2048"
        print(f"{len(darks)} F2 darks of {size} simulated in {time.perf_counter() - start:.1f} s"
              f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        _reduce(darks, os.path.join(base, "warm-up"), jobs=1)   # imports, compilation
        _remove(os.path.join(base, "warm-up"))
        print("\n1. Second run of an unchanged reduction (makeProcessedDark, --jobs 1)")
        no_cache = bench_no_cache(darks, base, args.repeat)
        print(f"   nothing recorded (baseline):  first {no_cache:7.2f} s")
        for policy, label in (("auto", "'auto' (default, rolling)"),
                              (0.0, "0 (every step kept)")):
            first, second, disk, redone = bench_rerun(darks, base, args.repeat, policy)
            print(f"   {label:<28} first {first:7.2f} s   second {second:6.2f} s   "
                  f"= {100 * second / first:5.1f} % of the first (target < 10 %); "
                  f"checkpoints {disk:7.1f} MB")
            if redone:
                print(f"   {'':<28} (second run redid {', '.join(redone)})")

        if args.science:
            science = sorted(str(raw / n) for n in load_truth(raw)["roles"]["science"])
            science = (science * 2)[:args.science]      # 9 simulated: the first ones again
            roles = load_truth(raw)["roles"]
            dark = _calibration(str(raw / sorted(roles["dark"])[-1]),
                                os.path.join(base, "dark.fits"), "dark")
            flat = _calibration(str(raw / sorted(roles["flat_lamp_on"])[0]),
                                os.path.join(base, "flat.fits"), "flat")
            print(f"\n2. Per-file head of the F2 science recipe (prepare .. flatCorrect, then "
                  f"detectSources) on {len(science)} frames of {size}: --jobs 1 against "
                  f"--jobs {args.jobs} (reprocess=always, pool started, default executor "
                  f"rules; step time includes saving its checkpoints)")
            _print_head(bench_head(science, dark, flat, base, args.repeat, args.jobs),
                        args.jobs)
            if args.all_to_workers:
                print(f"\n   the same, every per-file step sent to the workers with --jobs "
                      f"{args.jobs} (min_pixels=0)")
                _print_head(bench_head(science, dark, flat, base, args.repeat, args.jobs,
                                       min_pixels=0), args.jobs)
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
        os.chdir(Path(base).parent)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
