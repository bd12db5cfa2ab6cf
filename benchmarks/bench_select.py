"""Benchmark: dataselect (with an expression) and typewalk over 1,000 files vs a plain astropy loop.

The headers are simulated: the GSAOI tutorial data set is made once with
``gempy.sim`` (small), and its 50 raw headers (PHU + 4 extensions) are
reused round-robin to write N files with tiny 8x8 pixel arrays and unique
names, so that only header reading is measured.

Timed, median of ``--repeat`` runs, each row both ways side by side:

- as a *command*: a new interpreter, start-up and imports included. The
  installed console scripts ``dataselect --expr '(observation_class=="science"
  and exposure_time==60.)' DIR/*.fits`` and ``typewalk -d DIR`` (the wrapper
  next to ``sys.executable``, else ``python -m``), and a plain-astropy script
  that opens each file with ``fits.open``, reads every header and tests the
  same condition on the PHU keywords;
- *in-process*: the same work with the imports already done: ``select_data``,
  the ``typewalk`` walk, and the astropy loop.

The ratio columns are (plain astropy time) / (our time): above 1 is faster
than astropy. Commands also show their CPU time (user + system), which stays
meaningful when other work slows the wall clock down. A last row gives the
start-up cost alone (``python -c "import astrodata, gempy.scripts.dataselect"``
+ loading the instrument classes), and the heavy modules such a start-up
imports (there should be none).

Usage::

    python benchmarks/bench_select.py [--n 1000] [--repeat 3] [--keep DIR]
    python benchmarks/bench_select.py --quick      # 200 files, 2 runs: a smoke test
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from astropy.io import fits

HEAVY_MODULES = ("astropy.nddata", "astropy.wcs", "astropy.table", "astropy.coordinates",
                 "gwcs", "scipy", "numba", "sqlalchemy", "photutils", "dask")

EXPRESSION = '(observation_class=="science" and exposure_time==60.)'

ASTROPY_LOOP = """
import glob, sys, time
from astropy.io import fits
selected = []
for path in sorted(glob.glob(sys.argv[1] + '/*.fits')):
    with fits.open(path) as hdul:
        headers = [hdu.header for hdu in hdul]
        phu = headers[0]
        if phu.get('OBSCLASS') == 'science' and abs(phu.get('EXPTIME', -1) - 60.) <= 0.6:
            selected.append(path)
print(len(selected))
"""


def make_files(directory: str, n: int) -> int:
    """Write ``n`` files with the GSAOI tutorial's simulated headers; return the science count."""
    from gempy.sim import load_truth, make_dataset

    template_dir = os.path.join(directory, "_template")
    make_dataset("gsaoi-tutorial", template_dir, small=True, seed=0)
    templates = []
    for name in sorted(load_truth(template_dir)["files"]):
        with fits.open(os.path.join(template_dir, name)) as hdul:
            templates.append([hdu.header.copy() for hdu in hdul])
    shutil.rmtree(template_dir)
    data_dir = os.path.join(directory, "data")
    os.makedirs(data_dir)
    pixels = np.zeros((8, 8), dtype=np.float32)
    science = 0
    for index in range(n):
        headers = templates[index % len(templates)]
        name = f"S20170505S{index:04d}.fits"
        phu = headers[0].copy()
        phu["ORIGNAME"] = name
        phu["DATALAB"] = f"{phu.get('OBSID', 'GS-SIM')}-{index:03d}"
        hdus = [fits.PrimaryHDU(header=phu)]
        for header in headers[1:]:
            ext = header.copy()
            for key in ("NAXIS1", "NAXIS2"):
                ext.remove(key, ignore_missing=True)
            hdus.append(fits.ImageHDU(data=pixels, header=ext))
        fits.HDUList(hdus).writeto(os.path.join(data_dir, name))
        science += _is_selected(phu)
    return int(science)


def run_command(argv: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its stdout) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:3]} failed: {process.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, process.stdout


def median_time(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def command(name: str) -> list[str]:
    """The installed console script ``name`` (as a user runs it), else ``python -m``."""
    script = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", f"gempy.scripts.{name}"]


def median_command(argv: list[str], repeat: int) -> tuple[float, float, str]:
    """Median wall and CPU seconds of ``repeat`` runs, and the output of the last."""
    walls, cpus, out = [], [], ""
    for _ in range(repeat):
        elapsed, cpu, out = run_command(argv)
        walls.append(elapsed)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of files (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--keep", default=None, help="make the files in this directory, kept")
    parser.add_argument("--quick", action="store_true", help="200 files, 2 runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeat = 200, 2

    workdir = args.keep or tempfile.mkdtemp(prefix="bench_select_")
    try:
        data_dir = os.path.join(workdir, "data")
        if os.path.isdir(data_dir) and len(os.listdir(data_dir)) == args.n:
            expected = sum(1 for path in sorted(os.listdir(data_dir))
                           if _is_selected(fits.getheader(os.path.join(data_dir, path))))
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
            expected = make_files(workdir, args.n)
        python = sys.executable
        print(f"{args.n} files with simulated GSAOI headers (PHU + 4 extensions) in {data_dir}")
        print(f"expression: {EXPRESSION}  ->  {expected} files expected")
        print(f"median of {args.repeat} runs; machine load average {os.getloadavg()[0]:.2f}\n")

        # -- commands, new interpreter each time ------------------------------
        dataselect_cmd = [*command("dataselect"), "--expr", EXPRESSION, f"{data_dir}/*.fits"]
        typewalk_cmd = [*command("typewalk"), "-d", data_dir]
        cmd_select, cpu_select, out_select = median_command(dataselect_cmd, args.repeat)
        cmd_walk, cpu_walk, out_walk = median_command(typewalk_cmd, args.repeat)
        cmd_astropy, cpu_astropy, out_astropy = median_command(
            [python, "-c", ASTROPY_LOOP, data_dir], args.repeat)
        startup_code = ("import sys, astrodata, gempy.scripts.dataselect, gempy.scripts.typewalk;"
                        " astrodata.registered_classes();"
                        f" print(*[m for m in {HEAVY_MODULES!r} if m in sys.modules])")
        cmd_startup, cpu_startup, out_startup = median_command([python, "-c", startup_code],
                                                               args.repeat)
        cmd_bare, cpu_bare, _ = median_command([python, "-c", "import astropy.io.fits"],
                                               args.repeat)
        assert len(out_select.splitlines()) == expected, (out_select[:200], expected)
        assert sum(line.startswith("     ") for line in out_walk.splitlines()) == args.n
        assert int(out_astropy) == expected

        # -- in-process, imports excluded -----------------------------------
        import astrodata
        from gempy.adlibrary import dataselect
        from gempy.scripts import typewalk

        astrodata.registered_classes()
        files = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir))
        expression = dataselect.expr_parser(EXPRESSION)

        def astropy_loop():
            chosen = []
            for path in files:
                with fits.open(path) as hdul:
                    headers = [hdu.header for hdu in hdul]
                    if _is_selected(headers[0]):
                        chosen.append(path)
            return chosen

        run_select, selected = median_time(
            lambda: dataselect.select_data(files, [], [], expression), args.repeat)
        run_walk, _ = median_time(lambda: typewalk.typewalk(data_dir, io.StringIO()),
                                  args.repeat)
        run_astropy, chosen = median_time(astropy_loop, args.repeat)
        assert len(selected) == len(chosen) == expected

        rows = [
            ("dataselect --expr", cmd_select, cpu_select, run_select),
            ("typewalk -d", cmd_walk, cpu_walk, run_walk),
            ("plain astropy header loop", cmd_astropy, cpu_astropy, run_astropy),
        ]
        print(f"{'':26s} {'command s':>9s} {'(cpu s)':>8s} {'files/s':>8s} {'x astropy':>9s}   "
              f"{'in-process s':>12s} {'files/s':>8s} {'x astropy':>9s}")
        for label, cmd_s, cpu_s, run_s in rows:
            print(f"{label:26s} {cmd_s:9.3f} {cpu_s:8.3f} {args.n / cmd_s:8.0f} "
                  f"{cmd_astropy / cmd_s:9.2f}   {run_s:12.3f} {args.n / run_s:8.0f} "
                  f"{run_astropy / run_s:9.2f}")
        print(f"\nstart-up only: python + import astrodata + commands + instrument classes "
              f"{cmd_startup:.3f} s (cpu {cpu_startup:.3f} s); python + import astropy.io.fits "
              f"alone {cmd_bare:.3f} s (cpu {cpu_bare:.3f} s)")
        print("(cpu s: user + system time of the command; on a busy machine it is close to the "
              "wall time the command takes on an idle one)")
        print(f"heavy modules imported at start-up: {out_startup.strip() or 'none'}")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _is_selected(phu: fits.Header) -> bool:
    """The benchmark's expression, read straight from the PHU keywords."""
    return phu.get("OBSCLASS") == "science" and abs(phu.get("EXPTIME", -1) - 60.0) <= 0.6


if __name__ == "__main__":
    sys.exit(main())
