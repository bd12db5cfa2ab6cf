"""Benchmark: the whole F2 imaging tutorial (API chapter) on simulated data, time and memory.

The tutorial's Python (seed 001, lines 1-62; the same file the integration
test runs, ``tests/integration/scripts/f2_api_tutorial.py``) is run in a
fresh process from a ``playground`` next to ``playdata``, with a private
``HOME`` whose ``~/.geminidr/rsys.cfg`` names the calibration database. While
it runs, the resident memory of that process and all its children (worker
processes included) is sampled from ``/proc`` every 50 ms; the peak of the
sum is reported with the wall time of each reduction (from the log).

The memory target: the peak stays below 3x the data going into the science
stack (9 frames of 2048x2048 with SCI float32, VAR float32 and DQ uint16,
377 MB at full size).

Usage::

    python benchmarks/bench_f2_tutorial.py            # full size (2048x2048), ~620 MB of raw data
    python benchmarks/bench_f2_tutorial.py --small    # 256x256 arrays
    python benchmarks/bench_f2_tutorial.py --keep -d /tmp/f2bench   # keep the products

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
import threading
import time
from pathlib import Path

from gempy.sim import load_truth, make_dataset

SCRIPT = Path(__file__).resolve().parent.parent / "tests" / "integration" / "scripts" / \
    "f2_api_tutorial.py"
MEMORY_FACTOR_TARGET = 3.0
# bytes per pixel of a processed frame: SCI float32 + VAR float32 + DQ uint16
PROCESSED_BYTES_PER_PIXEL = 4 + 4 + 2
_PAGE = os.sysconf("SC_PAGE_SIZE")
_RECIPE = re.compile(r"^(\S+ \S+) STATUS\s+- RECIPE: (\S+)")
# top-level primitives only: nested calls are indented in the log
_PRIMITIVE = re.compile(r"^(\S+ \S+) STATUS\s+- PRIMITIVE: (\S+)")
_DONE = re.compile(r"^(\S+ \S+) \S+\s+- reduce completed successfully")


def _children_map() -> dict[int, list[int]]:
    """``{parent pid: [child pids]}`` of every process visible in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants."""
    children = _children_map()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_bytes(pid)
        todo.extend(children.get(pid, ()))
    return total


class MemorySampler(threading.Thread):
    """Samples the RSS of a process tree until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.series: list[tuple[datetime.datetime, int]] = []
        self._stop_event = threading.Event()

    @property
    def samples(self) -> int:
        return len(self.series)

    def run(self) -> None:
        while not self._stop_event.is_set():
            rss = tree_rss(self.pid)
            self.peak = max(self.peak, rss)
            self.series.append((datetime.datetime.now(), rss))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


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


def prepare(root: Path, small: bool, seed: int) -> tuple[Path, Path, dict]:
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
        f"[calibs]\nstandalone = True\ndatabase_dir = {playground}\n")
    env = {k: v for k, v in os.environ.items() if k != "DRAGONSRC"}
    env["HOME"] = str(home)
    return playdata, playground, env


def stack_input_bytes(playdata: Path) -> tuple[int, int]:
    """(processed bytes, raw bytes) of the frames that go into the science stack."""
    truth = load_truth(playdata)
    names = truth["roles"]["science"]
    ny, nx = truth["arrays"][0]["shape"]
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
    args = parser.parse_args(argv)
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_f2_tutorial_")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    try:
        playdata, playground, env = prepare(root, args.small, args.seed)
        processed, raw = stack_input_bytes(playdata)
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
        print(f"F2 tutorial ({'small' if args.small else 'full size'}): {wall:.1f} s wall")
        for name, seconds in recipe_times(playground / "f2_data_reduction.log"):
            print(f"  {name:<22} {seconds:8.1f} s")
        peak_mb = sampler.peak / 1e6
        print(f"peak RSS (process + children): {peak_mb:.0f} MB "
              f"({sampler.samples} samples)")
        print(f"science stack input: {processed / 1e6:.0f} MB processed "
              f"(SCI+VAR+DQ), {raw / 1e6:.0f} MB raw")
        factor = sampler.peak / processed
        if args.small:
            # the interpreter and its libraries (~300 MB) dwarf 256x256 frames
            print(f"peak / stack input = {factor:.1f} (the target applies to full size)")
        else:
            verdict = "OK" if factor < MEMORY_FACTOR_TARGET else "ABOVE TARGET"
            print(f"peak / stack input = {factor:.2f} (target < {MEMORY_FACTOR_TARGET:.0f}): "
                  f"{verdict}")
        print("largest peaks (recipe, primitive, MB):")
        peaks = peak_by_primitive(playground / "f2_data_reduction.log", sampler.series)
        for recipe, name, rss in sorted(peaks, key=lambda item: -item[2])[:args.top]:
            print(f"  {recipe:<20} {name:<24} {rss / 1e6:8.0f}")
        cache = playground / ".reducecache"
        if cache.exists():
            size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
            print(f"step cache written: {size / 1e9:.2f} GB in {cache}")
        return 0
    finally:
        if args.keep or args.dir:
            print(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
