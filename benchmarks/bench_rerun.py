"""Benchmark of re-runs (step cache) and of per-file primitives on a local process pool.

Run ``python benchmarks/bench_rerun.py [--darks 7] [--repeat 3] [--jobs 2] [--small]``.

It simulates the F2 tutorial data (2048x2048, or 256x256 with ``--small``) in
a temporary directory and reduces the 120 s darks with the real F2
``makeProcessedDark`` recipe (prepare, addDQ, ADUToElectrons, addVAR,
nonlinearityCorrect, stackDarks, storeProcessedDark):

1. Re-run: a first run in an empty working directory, then the same
   ``reduce`` again (unchanged). Reported: both times, the ratio (target: the
   second run takes < 10 % of the first), for the default checkpoint policy
   (``checkpoint_min_seconds='auto'``) and for ``0`` (every step saved);
   plus the time of a run without any checkpoint, for the cost of saving them.
2. Parallel: ``--jobs 1`` against ``--jobs N`` with ``reprocess='always'``
   (the pool started beforehand). (a) The five per-file steps of the dark
   recipe, run with ``per_file=True`` (set here if the primitives do not
   declare it yet): cheap steps (tens of ms a frame) next to the FITS
   writing that hands frames to workers. (b) ``detectSources`` (per-file,
   seconds a frame) on ``--science`` prepared science frames. Reported: the
   time of those steps, the whole run, and the speed-up.

Medians of ``--repeat`` runs; the machine's load average is printed, since
other processes sharing the cores change the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

PER_FILE = ("prepare", "addDQ", "ADUToElectrons", "addVAR", "nonlinearityCorrect")


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


def bench_rerun(files, base, repeat, policy):
    firsts, seconds, redone = [], [], set()
    for i in range(repeat):
        workdir = os.path.join(base, f"rerun-{policy}-{i}")
        first, _ = _reduce(files, workdir, jobs=1, checkpoint_min_seconds=policy)
        second, r = _reduce(files, workdir, jobs=1, checkpoint_min_seconds=policy)
        assert all(s.status in ("reused", "rerun", "always") for s in r.step_reports)
        redone.update(s.primitive for s in r.step_reports if s.status == "rerun")
        firsts.append(first)
        seconds.append(second)
        _remove(workdir)
    return statistics.median(firsts), statistics.median(seconds), sorted(redone)


def bench_no_cache(files, base, repeat):
    times = []
    for i in range(repeat):
        workdir = os.path.join(base, f"nocache-{i}")
        elapsed, _ = _reduce(files, workdir, jobs=1, checkpoint_min_seconds=1e9)
        times.append(elapsed)
        _remove(workdir)
    return statistics.median(times)


def bench_parallel(files, base, repeat, jobs):
    from primitives.f2 import F2

    declared = {name: getattr(F2, name)._primitive.per_file for name in PER_FILE}
    for name in PER_FILE:
        getattr(F2, name)._primitive.per_file = True
    results = {}
    try:
        _reduce(files, os.path.join(base, "warm"), jobs=jobs, reprocess="always")  # start pool
        _remove(os.path.join(base, "warm"))
        for n in (1, jobs):
            steps, totals = [], []
            for _ in range(repeat):
                total, r = _reduce(files, os.path.join(base, f"jobs{n}"), jobs=n,
                                   reprocess="always")
                # the step and the saving of its outputs (done by the workers with --jobs N)
                steps.append(sum(s.seconds + s.saving_seconds for s in r.step_reports
                                 if s.primitive in PER_FILE))
                totals.append(total)
            results[n] = (statistics.median(steps), statistics.median(totals))
            _remove(os.path.join(base, f"jobs{n}"))
    finally:
        for name, value in declared.items():
            getattr(F2, name)._primitive.per_file = value
    return declared, results


DETECT_RECIPE = """
def detect(p):
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.detectSources()
"""


def bench_detect(files, base, repeat, jobs):
    recipe = os.path.join(base, "bench_recipes.py")
    with open(recipe, "w") as handle:
        handle.write(DETECT_RECIPE)
    results = {}
    for n in (1, jobs):
        steps, totals = [], []
        for _ in range(repeat):
            total, r = _reduce(files, os.path.join(base, f"detect{n}"), jobs=n,
                               reprocess="always", recipename=recipe[:-3] + ".detect")
            steps.append(sum(s.seconds + s.saving_seconds for s in r.step_reports
                             if s.primitive == "detectSources"))
            totals.append(total)
        results[n] = (statistics.median(steps), statistics.median(totals))
        _remove(os.path.join(base, f"detect{n}"))
    return results


def _speedups(label, results, jobs):
    (one_steps, one_total), (n_steps, n_total) = results[1], results[jobs]
    print(f"   --jobs 1: {label} {one_steps:6.2f} s, whole run {one_total:6.2f} s")
    print(f"   --jobs {jobs}: {label} {n_steps:6.2f} s, whole run {n_total:6.2f} s")
    print(f"   speed-up: {label} x{one_steps / n_steps:.2f}, whole run x{one_total / n_total:.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--darks", type=int, default=7, help="number of 120 s darks (max 10)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="256x256 frames")
    parser.add_argument("--science", type=int, default=6,
                        help="science frames for detectSources (0: skip)")
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
        print(f"   without saving checkpoints:             {no_cache:7.2f} s")
        for policy, label in (("auto", "'auto' (the default)"), (0.0, "every step saved (0)")):
            first, second, redone = bench_rerun(darks, base, args.repeat, policy)
            print(f"   {label:<28} first {first:7.2f} s   second {second:6.2f} s   "
                  f"= {100 * second / first:5.1f} % of the first (target < 10 %)")
            if redone:
                print(f"   {'':<28} (second run redid the unsaved {', '.join(redone)} to "
                      f"check the calibrations of the next step)")

        print(f"\n2a. Per-file steps of the dark recipe ({', '.join(PER_FILE)}): --jobs 1 "
              f"against --jobs {args.jobs} (reprocess=always, pool already started)")
        declared, results = bench_parallel(darks, base, args.repeat, args.jobs)
        if not all(declared.values()):
            print("   (per_file=True set by this benchmark on: "
                  + ", ".join(n for n, v in declared.items() if not v) + ")")
        _speedups("per-file steps", results, args.jobs)
        if args.science:
            science = sorted(str(raw / n) for n in
                             load_truth(raw)["roles"]["science"])[:args.science]
            print(f"\n2b. detectSources (per_file) on {len(science)} science frames: --jobs 1 "
                  f"against --jobs {args.jobs}")
            _speedups("detectSources", bench_detect(science, base, args.repeat, args.jobs),
                      args.jobs)
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
        os.chdir(Path(base).parent)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
