"""Benchmark: a full-size GMOS imaging reduction (biases, flats, 5 science frames), time and memory.

The ``gmos-imaging`` dataset (GMOS-S Hamamatsu, three CCDs of 1024x2112
binned pixels read by 12 amplifiers, plus overscan) is simulated at full
size and reduced as a user does, with the ``reduce`` command from a
``playground`` next to ``playdata`` and a private ``HOME`` whose
``~/.geminidr/rsys.cfg`` names the calibration database::

    reduce @biases.list                      (5 biases)
    reduce @flats.list                       (5 twilight flats of the band)
    reduce @science.list -r makeProcessedFringe    (z only)
    reduce @science.list                     (5 dithered frames -> mosaic, align, stack)

While each command runs, the resident memory of its process and all its
children (worker processes of ``--jobs``) is sampled from ``/proc`` every
50 ms. Reported: the wall time and peak memory of every command, the time
of each top-level primitive of the science reduction (from the log), and
the peak memory while each ran, and the peak relative to the processed
science data that go into the stack (5 frames of SCI float32 + VAR float32 +
DQ uint16).

Usage::

    python benchmarks/bench_gmos.py                 # full size, r band
    python benchmarks/bench_gmos.py --band z        # with a fringe frame
    python benchmarks/bench_gmos.py --small         # the 8x smaller test data
    python benchmarks/bench_gmos.py --jobs 1        # no worker processes
    python benchmarks/bench_gmos.py -d /tmp/gmosbench --keep   # keep (and reuse) the data

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

#: Bytes per pixel of a processed frame: SCI float32 + VAR float32 + DQ uint16.
PROCESSED_BYTES_PER_PIXEL = 4 + 4 + 2
# top-level primitives only (nested calls are indented further in the log)
_PRIMITIVE = re.compile(r"^\S+ \S+ STATUS\s+- PRIMITIVE: (\S+)")
_SUMMARY = re.compile(r"^\s+\d+\s+(\S+)\s+(ran|reused|always)\s+(\d+)\s+([\d.]+)")


def run_command(argv: list[str], cwd: Path, env: dict[str, str]
                ) -> tuple[float, int, str, list[tuple[datetime.datetime, int]]]:
    """Run a console command: wall seconds, peak RSS of its process tree, stdout, RSS series."""
    executable = Path(sys.executable).parent / argv[0]
    command = [str(executable) if executable.exists() else argv[0], *argv[1:]]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sampler = MemorySampler(proc.pid, pss=False)
    sampler.start()
    out, err = proc.communicate()
    sampler.stop()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((err or out).strip().splitlines()[-10:])
        raise SystemExit(f"`{' '.join(argv)}` failed ({proc.returncode}):\n{tail}")
    return seconds, sampler.peak, out, sampler.series


def step_times(stdout: str) -> list[tuple[str, float]]:
    """(primitive, seconds) from the summary table ``reduce`` prints at the end."""
    return [(m.group(1), float(m.group(4))) for m in map(_SUMMARY.match, stdout.splitlines())
            if m]


def step_peaks(log: Path, since: datetime.datetime,
               series: list[tuple[datetime.datetime, int]]) -> list[tuple[str, int]]:
    """(top-level primitive, peak RSS while it ran) of the reduction started after ``since``."""
    starts = []
    for line in log.read_text(errors="replace").splitlines():
        match = _PRIMITIVE.match(line)
        if match:
            when = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            if when >= since:
                starts.append((match.group(1), when))
    peaks = []
    for i, (name, start) in enumerate(starts):
        stop = starts[i + 1][1] if i + 1 < len(starts) else datetime.datetime.max
        inside = [rss for when, rss in series if start <= when < stop]
        if inside:
            peaks.append((name, max(inside)))
    return peaks


def prepare(root: Path, small: bool, seed: int) -> tuple[Path, Path, dict[str, str]]:
    """Simulate the data (unless present) and set up playground and HOME."""
    playdata, playground, home = root / "playdata", root / "playground", root / "home"
    if not (playdata / "truth" / "truth.json").is_file():
        start = time.perf_counter()
        make_dataset("gmos-imaging", playdata, small=small, seed=seed)
        print(f"simulated gmos-imaging ({'small' if small else 'full size'}) in "
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


def write_lists(playdata: Path, playground: Path, band: str) -> dict[str, int]:
    """biases.list, flats.list and science.list from the truth roles; their lengths."""
    truth = load_truth(playdata)
    files = truth["files"]
    lists = {
        "biases.list": truth["roles"]["bias"],
        "flats.list": [n for n in truth["roles"]["twilight"] if files[n]["filter"] == band],
        "science.list": [n for n in truth["roles"]["science"] if files[n]["filter"] == band],
    }
    for name, members in lists.items():
        if not members:
            raise SystemExit(f"gmos-imaging has no {band}-band frame for {name}")
        (playground / name).write_text("".join(f"../playdata/{m}\n" for m in members))
    return {name: len(members) for name, members in lists.items()}


def science_bytes(playdata: Path, band: str) -> tuple[int, int]:
    """(processed bytes, raw bytes) of the science frames that go into the stack."""
    truth = load_truth(playdata)
    names = [n for n in truth["roles"]["science"] if truth["files"][n]["filter"] == band]
    xbin, ybin = truth["binning"]
    pixels = sum(a["shape"][0] * a["shape"][1] for a in truth["arrays"]) // (xbin * ybin)
    raw = sum((playdata / n).stat().st_size for n in names)
    return len(names) * pixels * PROCESSED_BYTES_PER_PIXEL, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the 8x smaller test dataset")
    parser.add_argument("--band", default="r", choices=("r", "i", "z"),
                        help="filter of the flats and science (z: with a fringe frame)")
    parser.add_argument("-d", "--dir", help="work directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, help="passed to reduce (default: its own, the "
                        "number of cores)")
    args = parser.parse_args(argv)
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_gmos_")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    try:
        playdata, playground, env = prepare(root, args.small, args.seed)
        counts = write_lists(playdata, playground, args.band)
        commands = [["caldb", "init"], ["reduce", "@biases.list"], ["reduce", "@flats.list"]]
        if args.band == "z":
            commands.append(["reduce", "@science.list", "-r", "makeProcessedFringe"])
        commands.append(["reduce", "@science.list"])
        if args.jobs is not None:
            commands = [c + ["--jobs", str(args.jobs)] if c[0] == "reduce" else c
                        for c in commands]
        print(f"gmos-imaging {'small' if args.small else 'full size'}, {args.band} band: "
              f"{counts['biases.list']} biases, {counts['flats.list']} flats, "
              f"{counts['science.list']} science frames; {os.cpu_count()} CPU(s)")
        total, peak, science_out, series, started = 0.0, 0, "", [], datetime.datetime.now()
        for command in commands:
            started = datetime.datetime.now()
            seconds, rss, out, series = run_command(command, playground, env)
            total += seconds
            peak = max(peak, rss)
            print(f"  {' '.join(command):45s} {seconds:8.1f} s   peak {rss / 2**20:8.0f} MiB",
                  flush=True)
            science_out = out
        processed, raw = science_bytes(playdata, args.band)
        print(f"total wall time {total:.1f} s; peak memory {peak / 2**20:.0f} MiB = "
              f"{peak / processed:.2f} x the processed science data "
              f"({processed / 2**20:.0f} MiB; raw {raw / 2**20:.0f} MiB)")
        peaks = dict(step_peaks(playground / "reduce.log", started, series))
        print("science reduction: time (s) and peak memory (MiB) per primitive:")
        for name, seconds in step_times(science_out):
            memory = peaks.get(name)
            print(f"  {name:28s} {seconds:8.2f}"
                  + (f" {memory / 2**20:9.0f}" if memory is not None else ""))
        if args.keep:
            print(f"products kept in {root}")
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
