"""Benchmark of gempy.sim: generation time and files per second, per dataset, full and --small.

Usage::

    python benchmarks/bench_sim.py                  # every dataset, small and full
    python benchmarks/bench_sim.py --small-only     # quick
    python benchmarks/bench_sim.py -d f2-tutorial -d gmos-imaging

Each dataset is written to a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from gempy.sim import DATASETS, make_dataset


def run(name: str, small: bool, seed: int) -> tuple[float, int, float]:
    """Seconds, number of raw files and megabytes written for one generation."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench_sim_{name}_"))
    try:
        start = time.perf_counter()
        make_dataset(name, workdir, small=small, seed=seed)
        elapsed = time.perf_counter() - start
        raw = list(workdir.glob("[NS]*.fits"))
        size = sum(p.stat().st_size for p in workdir.iterdir()) / 1e6
        return elapsed, len(raw), size
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dataset", action="append", choices=sorted(DATASETS),
                        help="dataset to time (repeatable; default all)")
    parser.add_argument("--small-only", action="store_true", help="skip the full-size runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = args.dataset or list(DATASETS)
    sizes = (True,) if args.small_only else (True, False)
    print(f"{'dataset':<20} {'size':<6} {'files':>5} {'MB':>8} {'seconds':>8} "
          f"{'files/s':>8} {'MB/s':>7}")
    for name in names:
        for small in sizes:
            seconds, files, megabytes = run(name, small, args.seed)
            print(f"{name:<20} {'small' if small else 'full':<6} {files:>5} {megabytes:>8.1f} "
                  f"{seconds:>8.2f} {files / seconds:>8.1f} {megabytes / seconds:>7.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
