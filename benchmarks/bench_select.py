"""Benchmark: dataselect (with an expression) and typewalk over 1,000 files vs a plain astropy loop.

The headers are simulated: the GSAOI tutorial data set is made once with
``gempy.sim`` (small), and its 50 raw headers (PHU + 4 extensions) are
reused round-robin to write N files with tiny 8x8 pixel arrays and unique
names, so that only header reading is measured.

Timed, median of ``--repeat`` runs:

- ``dataselect --expr '(observation_class=="science" and exposure_time==60.)'``
  and ``typewalk -d DIR`` as real commands (new interpreter, imports included),
  next to a plain-astropy script (new interpreter too) that opens each file,
  reads every header and tests the same condition on the PHU keywords;
- the same work in-process (imports excluded): ``select_data`` and the
  ``typewalk`` walk vs the astropy loop.

Usage::

    python benchmarks/bench_select.py [--n 1000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from astropy.io import fits

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
        science += phu.get("OBSCLASS") == "science" and abs(phu.get("EXPTIME") - 60.0) <= 0.6
    return int(science)


def run_command(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    process = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:3]} failed: {process.stderr.strip()}")
    return elapsed, process.stdout


def median_time(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of files (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--keep", default=None, help="make the files in this directory, kept")
    args = parser.parse_args(argv)

    workdir = args.keep or tempfile.mkdtemp(prefix="bench_select_")
    try:
        expected = make_files(workdir, args.n)
        data_dir = os.path.join(workdir, "data")
        python = sys.executable
        print(f"{args.n} files with simulated GSAOI headers (PHU + 4 extensions) in {data_dir}")
        print(f"expression: {EXPRESSION}  ->  {expected} files expected\n")

        # -- commands, new interpreter each time ------------------------------
        commands = {
            "dataselect --expr (command)": [python, "-m", "gempy.scripts.dataselect",
                                            "--expr", EXPRESSION, f"{data_dir}/*.fits"],
            "typewalk -d (command)": [python, "-m", "gempy.scripts.typewalk", "-d", data_dir],
            "astropy loop (script)": [python, "-c", ASTROPY_LOOP, data_dir],
            "python + import astrodata": [python, "-c", "import astrodata, gempy.adlibrary."
                                          "dataselect; astrodata.registered_classes()"],
        }
        print(f"{'command (wall time, imports included)':42s} {'median s':>9s} {'files/s':>9s}")
        outputs = {}
        for label, command in commands.items():
            times = []
            for _ in range(args.repeat):
                elapsed, out = run_command(command)
                times.append(elapsed)
            outputs[label] = out
            rate = args.n / statistics.median(times)
            print(f"{label:42s} {statistics.median(times):9.3f} {rate:9.0f}")
        selected = len(outputs["dataselect --expr (command)"].splitlines())
        assert selected == expected, (selected, expected)
        assert int(outputs["astropy loop (script)"]) == expected

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
                    phu = headers[0]
                    if (phu.get("OBSCLASS") == "science"
                            and abs(phu.get("EXPTIME", -1) - 60.0) <= 0.6):
                        chosen.append(path)
            return chosen

        timings = {
            "select_data(expression)": median_time(
                lambda: dataselect.select_data(files, [], [], expression), args.repeat),
            "typewalk walk (tags of every file)": median_time(
                lambda: typewalk.typewalk(data_dir, io.StringIO()), args.repeat),
            "astropy fits.open + all headers": median_time(astropy_loop, args.repeat),
        }
        print(f"\n{'in-process (imports excluded)':42s} {'median s':>9s} {'files/s':>9s}")
        for label, (seconds, _) in timings.items():
            print(f"{label:42s} {seconds:9.3f} {args.n / seconds:9.0f}")
        assert len(timings["select_data(expression)"][1]) == expected
        ratio = timings["astropy fits.open + all headers"][0] / timings[
            "select_data(expression)"][0]
        print(f"\nselect_data is {ratio:.2f}x the speed of the plain astropy loop")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
