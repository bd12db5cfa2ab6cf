"""Command line ``astroreduce-sim`` / ``python -m gempy.sim NAME -o DIR [--small] [--seed N]``."""

from __future__ import annotations

import argparse
import sys
import time

from .datasets import DATASETS
from .generate import make_dataset

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astroreduce-sim",
        description="Write a simulated raw Gemini dataset and its truth (no network needed).")
    parser.add_argument("name", nargs="?", help="dataset name (see --list)")
    parser.add_argument("-o", "--outdir", help="directory to write into")
    parser.add_argument("--small", action="store_true",
                        help="shrink the detectors 8x per axis for fast tests")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--list", action="store_true", help="list the datasets and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the simulator CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.list:
        width = max(len(name) for name in DATASETS)
        for name, info in DATASETS.items():
            print(f"{name:<{width}}  {info.instrument:<6}  {info.description}")
        return 0
    if not args.name or not args.outdir:
        print("astroreduce-sim: give a dataset NAME and -o DIR (or --list)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        path = make_dataset(args.name, args.outdir, small=args.small, seed=args.seed)
    except Exception as exc:  # one line for users, the traceback only on request
        if args.debug:
            raise
        print(f"astroreduce-sim: {args.outdir}: {exc}", file=sys.stderr)
        return 1
    n_files = len(list(path.glob("[NS]*.fits")))
    print(f"{args.name}: {n_files} raw files and truth written to {path} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0
