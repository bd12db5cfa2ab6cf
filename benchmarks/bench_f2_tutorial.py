"""Benchmark: the whole F2 imaging tutorial (API chapter) on simulated data, time and memory.

The tutorial's Python (seed 001, lines 1-62; the same file the integration
test runs, ``tests/integration/scripts/f2_api_tutorial.py``) is run in a
fresh process from a ``playground`` next to ``playdata``, with a private
``HOME`` whose ``~/.geminidr/rsys.cfg`` names the calibration database. While
it runs, the resident memory of that process and all its children (worker
processes included) is sampled from ``/proc`` every 50 ms; the peak of the
sum is reported with the wall time of each reduction (from the log), with
the peak of the main process alone and the peak proportional set size of
the tree (pages shared by the workers and their fork server counted once).
``--jobs`` and ``--reprocess`` set ``[reduce] jobs / reprocess`` in the
configuration file the tutorial reads.

The memory target: the peak stays below 3x the data going into the science
stack: the 9 resampled frames handed to stackFrames, SCI float32, VAR
float32 and DQ uint16 on the stack's canvas (2161x2161 at full size, 420 MB).

Usage::

    python benchmarks/bench_f2_tutorial.py            # full size (2048x2048), ~620 MB of raw data
    python benchmarks/bench_f2_tutorial.py --small    # 256x256 arrays
    python benchmarks/bench_f2_tutorial.py --keep -d /tmp/f2bench   # keep the products
    python benchmarks/bench_f2_tutorial.py -d /tmp/f2bench --jobs 1 --reprocess always

Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from process_memory import MemorySampler

from gempy.sim import load_truth, make_dataset

SCRIPT = Path(__file__).resolve().parent.parent / "tests" / "integration" / "scripts" / \
    "f2_api_tutorial.py"
MEMORY_FACTOR_TARGET = 3.0
# bytes per pixel of a processed frame: SCI float32 + VAR float32 + DQ uint16
PROCESSED_BYTES_PER_PIXEL = 4 + 4 + 2
_RECIPE = re.compile(r"^(\S+ \S+) STATUS\s+- RECIPE: (\S+)")
# top-level primitives only: nested calls are indented in the log
_PRIMITIVE = re.compile(r"^(\S+ \S+) STATUS\s+- PRIMITIVE: (\S+)")
_DONE = re.compile(r"^(\S+ \S+) \S+\s+- reduce completed successfully")


def recipe_times(log: Path) -> list[tuple[str, float]]:
    """(recipe, seconds) of each reduction in the tutorial's log, in order."""
    marks: list[tuple[str, datetime.datetime]] = []
    end = None
    for line in log.read_text(errors="replace").splitlines():
        match = _RECIPE.match(line)
        if match:
            marks.append((match.group(2), _parse_time(match.group(1))))
            continue
        match = _DONE.match(line)
        if match:
            end = _parse_time(match.group(1))
    times = []
    for i, (name, start) in enumerate(marks):
        stop = marks[i + 1][1] if i + 1 < len(marks) else end
        if stop is not None:
            times.append((name, (stop - start).total_seconds()))
    return times


def peak_by_primitive(log: Path, series: list[tuple[datetime.datetime, int]]
                      ) -> list[tuple[str, str, int]]:
    """(recipe, top-level primitive, peak RSS bytes while it ran), in the order they ran."""
    steps: list[tuple[str, str, datetime.datetime]] = []
    recipe = "?"
    for line in log.read_text(errors="replace").splitlines():
        match = _RECIPE.match(line)
        if match:
            recipe = match.group(2)
            continue
        match = _PRIMITIVE.match(line)
        if match:
            steps.append((recipe, match.group(2), _parse_time(match.group(1))))
    result = []
    for i, (recipe, name, start) in enumerate(steps):
        stop = steps[i + 1][2] if i + 1 < len(steps) else datetime.datetime.max
        inside = [rss for when, rss in series if start <= when < stop]
        if inside:
            result.append((recipe, name, max(inside)))
    return result


def _parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")


def prepare(root: Path, small: bool, seed: int, reduce_settings: str = ""
            ) -> tuple[Path, Path, dict]:
    """Simulate the data (unless present) and set up playground and HOME; returns paths, env."""
    playdata, playground, home = root / "playdata", root / "playground", root / "home"
    if not list(playdata.glob("S2013*.fits")):
        start = time.perf_counter()
        make_dataset("f2-tutorial", playdata, small=small, seed=seed)
        print(f"simulated f2-tutorial ({'small' if small else 'full size'}) in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
    if playground.exists():
        shutil.rmtree(playground)
    playground.mkdir(parents=True)
    (home / ".geminidr").mkdir(parents=True, exist_ok=True)
    (home / ".geminidr" / "rsys.cfg").write_text(
        f"[calibs]\nstandalone = True\ndatabase_dir = {playground}\n{reduce_settings}")
    env = {k: v for k, v in os.environ.items() if k != "DRAGONSRC"}
    env["HOME"] = str(home)
    return playdata, playground, env


def stack_input_bytes(playdata: Path, stack: Path | None = None) -> tuple[int, int]:
    """(processed bytes, raw bytes) of the frames that go into the science stack.

    "One stack's input" is the SCI+VAR+DQ arrays handed to the final
    stackFrames: the resampled frames, on the output canvas of the stack
    (larger than a detector frame, as it covers all the dithers); without
    the stack, the detector size is used.
    """
    truth = load_truth(playdata)
    names = truth["roles"]["science"]
    ny, nx = truth["arrays"][0]["shape"]
    if stack is not None and stack.is_file():
        from astropy.io import fits
        with fits.open(stack) as hdul:
            ny, nx = hdul[1].shape
    raw = sum((playdata / name).stat().st_size for name in names)
    return len(names) * ny * nx * PROCESSED_BYTES_PER_PIXEL, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="256x256 arrays instead of 2048")
    parser.add_argument("-d", "--dir", help="work directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=8,
                        help="list the primitives with the N largest memory peaks")
    parser.add_argument("--jobs", type=int, help="worker processes ([reduce] jobs; default: cores)")
    parser.add_argument("--reprocess", choices=("auto", "always"),
                        help="step cache policy ([reduce] reprocess; default auto)")
    parser.add_argument("--rerun", action="store_true",
                        help="run the unchanged tutorial a second time in the same directory "
                             "and report its time against the first (step cache reuse)")
    args = parser.parse_args(argv)
    settings = [f"{name} = {value}" for name, value in
                (("jobs", args.jobs), ("reprocess", args.reprocess)) if value is not None]
    reduce_settings = "[reduce]\n" + "\n".join(settings) + "\n" if settings else ""
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_f2_tutorial_")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    try:
        playdata, playground, env = prepare(root, args.small, args.seed,
                                             reduce_settings)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(SCRIPT)], cwd=playground, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        sampler = MemorySampler(proc.pid)
        sampler.start()
        _, stderr = proc.communicate()
        sampler.stop()
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"the tutorial failed (exit {proc.returncode}):\n" + "\n".join(
                stderr.strip().splitlines()[-10:]), file=sys.stderr)
            return 1
        processed, raw = stack_input_bytes(playdata, playground / "S20131121S0075_image.fits")
        print(f"F2 tutorial ({'small' if args.small else 'full size'}): {wall:.1f} s wall")
        for name, seconds in recipe_times(playground / "f2_data_reduction.log"):
            print(f"  {name:<22} {seconds:8.1f} s")
        peak_mb = sampler.peak / 1e6
        print(f"peak RSS (process + children): {peak_mb:.0f} MB; main process alone: "
              f"{sampler.parent_peak / 1e6:.0f} MB ({sampler.samples} samples)")
        print(f"peak PSS (process + children, shared pages once): "
              f"{sampler.pss_peak / 1e6:.0f} MB = {sampler.pss_peak / processed:.2f} x stack input")
        print(f"science stack input: {processed / 1e6:.0f} MB (SCI+VAR+DQ of the resampled "
              f"frames handed to stackFrames), {raw / 1e6:.0f} MB raw")
        peaks = peak_by_primitive(playground / "f2_data_reduction.log", sampler.series)
        parent_peaks = peak_by_primitive(playground / "f2_data_reduction.log",
                                         sampler.parent_series)
        science = max((rss for recipe, _, rss in peaks if recipe == "reduce"), default=0)
        science_parent = max((rss for recipe, _, rss in parent_peaks if recipe == "reduce"),
                             default=0)
        print(f"peak RSS during the science reduction: {science / 1e6:.0f} MB "
              f"= {science / processed:.2f} x stack input (main process alone: "
              f"{science_parent / 1e6:.0f} MB = {science_parent / processed:.2f} x)")
        factor = sampler.peak / processed
        if args.small:
            # the interpreter and its libraries (~300 MB) dwarf 256x256 frames
            print(f"peak / stack input = {factor:.1f} (the target applies to full size)")
        else:
            verdict = "OK" if factor < MEMORY_FACTOR_TARGET else "ABOVE TARGET"
            print(f"peak / stack input = {factor:.2f} (target < {MEMORY_FACTOR_TARGET:.0f}): "
                  f"{verdict}")
        print("largest peaks (recipe, primitive, MB process tree, MB main process):")
        parent_of = {(i, name): rss for i, (_, name, rss) in enumerate(parent_peaks)}
        ranked = sorted(enumerate(peaks), key=lambda item: -item[1][2])[:args.top]
        for i, (recipe, name, rss) in ranked:
            print(f"  {recipe:<20} {name:<24} {rss / 1e6:8.0f} "
                  f"{parent_of.get((i, name), 0) / 1e6:8.0f}")
        cache = playground / ".reducecache"
        if cache.exists():
            size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
            print(f"step cache written: {size / 1e9:.2f} GB in {cache}")
        if args.rerun:
            start = time.perf_counter()
            again = subprocess.run([sys.executable, str(SCRIPT)], cwd=playground, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            second = time.perf_counter() - start
            if again.returncode != 0:
                print(f"the second run failed (exit {again.returncode}):\n" + "\n".join(
                    again.stderr.strip().splitlines()[-10:]), file=sys.stderr)
                return 1
            print(f"second run of the unchanged tutorial: {second:.1f} s = "
                  f"{100 * second / wall:.1f}% of the first ({wall:.1f} s); target < 10%")
        return 0
    finally:
        if args.keep or args.dir:
            print(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
