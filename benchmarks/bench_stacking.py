"""Benchmark: gempy.library.stacking against ccdproc, astropy and numpy, and its peak memory.

In one run, on N frames of S x S float32 with variance and DQ made in memory
(default 20 frames of 2048 x 2048):

- sigma-clipped mean: ``stack(operation='mean', reject_method='sigclip')``
  against ``ccdproc.Combiner(...).sigma_clipping()`` + ``average_combine()``
  and ``astropy.stats.sigma_clip(cube, axis=0).mean(axis=0)``;
- median: ``stack(operation='median', reject_method='none')`` against
  ``numpy.median(cube, axis=0)``;
- ``numpy.mean(cube, axis=0)`` as the memory-bandwidth reference.

Every timing is the best of a few repeats after a warm-up, so JIT
compilation is excluded; the compile time (empty cache) and the cache load
time are measured in fresh processes and reported apart.

Before that, the peak RSS of a fresh process (its ``VmHWM``, and its
``ru_maxrss`` from ``os.wait4``) that stacks M memory-mapped FITS files
(default 80 of 2048 x 2048: SCI and VAR float32, DQ int16) with
``memory='256MB'``; the target is below 600 MB, where the files alone are
3.4 GB. It runs first, while this process is small: Linux carries the
parent's RSS over into a child's ``ru_maxrss`` (fork/vfork before exec).

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_stacking.py [--quick]

(the OpenBLAS variables, set on some machines for old OpenBLAS builds, slow
numpy down: unset them for this command only.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

MEMORY_TARGET_MB = 600


def make_frames(nframes: int, size: int, seed: int = 0):
    """Sky-like frames with noise, cosmic rays, variance and a few DQ flags."""
    rng = np.random.default_rng(seed)
    data, variance, mask = [], [], []
    for _ in range(nframes):
        frame = rng.normal(1000.0, 30.0, (size, size)).astype(np.float32)
        hits = rng.random((size, size)) < 0.002
        frame[hits] += rng.uniform(500.0, 5000.0, hits.sum()).astype(np.float32)
        dq = np.zeros((size, size), np.uint16)
        dq[rng.random((size, size)) < 0.001] = 1
        dq[hits] |= 8
        data.append(frame)
        variance.append(np.full((size, size), 900.0, np.float32))
        mask.append(dq)
    return data, variance, mask


def best_time(func, repeats: int) -> tuple[float, float, object]:
    """Best wall-clock and best CPU (all threads) seconds of a few calls, and the result."""
    best, best_cpu, result = np.inf, np.inf, None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = func()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, result


JIT_SCRIPT = textwrap.dedent("""
    import time
    start = time.perf_counter()
    import numpy as np
    from gempy.library.stacking import stack
    imported = time.perf_counter()
    stack([np.ones((4, 4), np.float32)] * 3)
    print(imported - start, time.perf_counter() - imported)
""")


def jit_times() -> tuple[float, float]:
    """Seconds for the first stack() call with an empty numba cache, then with the cache."""
    with tempfile.TemporaryDirectory(prefix="bench_stacking_cache_") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        times = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", JIT_SCRIPT], env=env, check=True,
                                 capture_output=True, text=True)
            times.append(float(out.stdout.split()[1]))
    return times[0], times[1]


RSS_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from astropy.io import fits
    from gempy.library.stacking import stack

    def hwm_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024

    memory, paths = sys.argv[1], sys.argv[2:]
    stack([np.ones((4, 4), np.float32)] * 3)  # load the kernel
    hdulists = [fits.open(p, memmap=True) for p in paths]
    sci = [h["SCI"].data for h in hdulists]
    var = [h["VAR"].data for h in hdulists]
    dq = [h["DQ"].data for h in hdulists]
    before = hwm_mb()
    start = time.perf_counter()
    result = stack(sci, var, dq, operation="mean", reject_method="sigclip", memory=memory)
    elapsed = time.perf_counter() - start
    print(before, hwm_mb(), elapsed, float(np.median(result.data)))
""")


def write_fits_frames(directory: str, nframes: int, size: int) -> list[str]:
    from astropy.io import fits

    rng = np.random.default_rng(1)
    paths = []
    variance = np.full((size, size), 900.0, np.float32)
    for index in range(nframes):
        data = rng.normal(1000.0, 30.0, (size, size)).astype(np.float32)
        dq = np.zeros((size, size), np.int16)  # uint16 needs BZERO: no memmap
        dq[rng.random((size, size)) < 0.001] = 1
        path = os.path.join(directory, f"frame{index:03d}.fits")
        fits.HDUList([
            fits.PrimaryHDU(),
            fits.ImageHDU(data, name="SCI"),
            fits.ImageHDU(variance, name="VAR"),
            fits.ImageHDU(dq, name="DQ"),
        ]).writeto(path)
        paths.append(path)
    return paths


def memory_test(nframes: int, size: int, memory: str) -> dict:
    directory = tempfile.mkdtemp(prefix="bench_stacking_fits_")
    try:
        start = time.perf_counter()
        paths = write_fits_frames(directory, nframes, size)
        written = time.perf_counter() - start
        files_mb = sum(os.path.getsize(p) for p in paths) / 2**20
        child = subprocess.Popen([sys.executable, "-c", RSS_SCRIPT, memory, *paths],
                                 stdout=subprocess.PIPE, text=True)
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise RuntimeError(f"the RSS measurement failed (exit {child.returncode})")
        before, peak, elapsed, median = (float(v) for v in output.split())
        child_peak = usage.ru_maxrss / 1024
        return dict(files_mb=files_mb, write_s=written, before_mb=before, peak_mb=peak,
                    child_maxrss_mb=child_peak, stack_s=elapsed, median=median)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def compare_in_memory(nframes: int, size: int, repeats: int) -> None:
    """Time ours against ccdproc, astropy and numpy on frames in memory; print the ratios."""
    import ccdproc
    from astropy.nddata import CCDData
    from astropy.stats import sigma_clip

    from gempy.library.stacking import stack

    data, variance, mask = make_frames(nframes, size)
    cube = np.stack(data)
    print(f"\n{nframes} frames of {size}x{size} float32 with variance and DQ "
          f"({cube.nbytes / 2**20:.0f} MB of data); best of {repeats}")
    stack(data[:3], variance[:3], mask[:3])  # warm-up

    cpu = {}

    def run(name, func, repeats=repeats):
        seconds, cpu[name], result = best_time(func, repeats)
        print(f"  {name:<58s} {seconds:8.3f} s  (cpu {cpu[name]:6.3f} s)", flush=True)
        return seconds, result

    t_np_mean, _ = run("numpy.mean(cube, axis=0)  [bandwidth]", lambda: np.mean(cube, axis=0))
    t_ours_sc, ours_sc = run("ours  sigclip mean (data + variance + DQ)",
                             lambda: stack(data, variance, mask, operation="mean",
                                           reject_method="sigclip"))
    t_ours_sc_data, ours_plain = run(
        "ours  sigclip mean (data only, max_iters=5)",
        lambda: stack(data, operation="mean", reject_method="sigclip", max_iters=5))
    t_astropy, astropy_result = run(
        "astropy sigma_clip(cube, axis=0).mean(axis=0)",
        lambda: sigma_clip(cube, axis=0).mean(axis=0), repeats=2)

    def ccdproc_combine():
        combiner = ccdproc.Combiner([CCDData(d, unit="adu", mask=m > 0)
                                     for d, m in zip(data, mask, strict=True)])
        combiner.sigma_clipping()
        return combiner.average_combine()

    t_ccdproc, _ = run("ccdproc Combiner.sigma_clipping + average_combine", ccdproc_combine,
                       repeats=2)
    t_ours_med, ours_med = run("ours  median (data + variance + DQ)",
                               lambda: stack(data, variance, mask, operation="median",
                                             reject_method="none"))
    t_ours_med_data, ours_med_plain = run(
        "ours  median (data only)",
        lambda: stack(data, operation="median", reject_method="none"))
    t_np_median, np_median = run("numpy.median(cube, axis=0)", lambda: np.median(cube, axis=0),
                                 repeats=2)
    t_ours_sc_1, _ = run("ours  sigclip mean (data + variance + DQ), 1 thread",
                         lambda: stack(data, variance, mask, operation="mean",
                                       reject_method="sigclip", nthreads=1))
    t_ours_med_1, _ = run("ours  median (data + variance + DQ), 1 thread",
                          lambda: stack(data, variance, mask, operation="median",
                                        reject_method="none", nthreads=1))

    agree = np.isclose(ours_plain.data, np.ma.filled(astropy_result, np.nan), rtol=1e-5)
    print(f"\n  ours (max_iters=5) vs astropy sigma_clip: {agree.mean() * 100:.3f}% of pixels "
          f"equal to 1e-5")
    print(f"  ours median vs numpy.median: max |difference| "
          f"{np.abs(ours_med_plain.data - np_median).max():.3g}")
    print("\nRatios (time of the other / time of ours; target >= 10 for sigclip, >= 5 for median)")
    print(f"  ccdproc / ours sigclip-mean (with var+DQ)     {t_ccdproc / t_ours_sc:7.1f}x")
    print(f"  astropy / ours sigclip-mean (with var+DQ)     {t_astropy / t_ours_sc:7.1f}x")
    print(f"  astropy / ours sigclip-mean (data only)       {t_astropy / t_ours_sc_data:7.1f}x")
    print(f"  numpy.median / ours median (with var+DQ)      {t_np_median / t_ours_med:7.1f}x")
    print(f"  numpy.median / ours median (data only)        {t_np_median / t_ours_med_data:7.1f}x")
    print(f"  astropy / ours sigclip-mean, 1 thread         {t_astropy / t_ours_sc_1:7.1f}x")
    print(f"  numpy.median / ours median, 1 thread          {t_np_median / t_ours_med_1:7.1f}x")
    print(f"  ours sigclip-mean / numpy.mean (bandwidth)    {t_ours_sc / t_np_mean:7.1f}x")
    print("CPU-time ratios, ours on 1 thread (all single-threaded; less sensitive to a busy "
          "machine)")
    sc1 = cpu["ours  sigclip mean (data + variance + DQ), 1 thread"]
    med1 = cpu["ours  median (data + variance + DQ), 1 thread"]
    print(f"  ccdproc / ours sigclip-mean                   "
          f"{cpu['ccdproc Combiner.sigma_clipping + average_combine'] / sc1:7.1f}x")
    print(f"  astropy / ours sigclip-mean                   "
          f"{cpu['astropy sigma_clip(cube, axis=0).mean(axis=0)'] / sc1:7.1f}x")
    print(f"  numpy.median / ours median                    "
          f"{cpu['numpy.median(cube, axis=0)'] / med1:7.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small run: 10 frames of 1024^2, memory test 24 frames of 1024^2")
    parser.add_argument("--frames", type=int, help="frames in memory (default 20)")
    parser.add_argument("--size", type=int, help="frame side in pixels (default 2048)")
    parser.add_argument("--memory-frames", type=int, help="FITS frames for the RSS test (80)")
    parser.add_argument("--memory", default="256MB", help="stack() budget in the RSS test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true", help="no peak RSS test")
    parser.add_argument("--memory-only", action="store_true", help="only the peak RSS test")
    args = parser.parse_args(argv)
    nframes = args.frames or (10 if args.quick else 20)
    size = args.size or (1024 if args.quick else 2048)
    memory_frames = args.memory_frames or (24 if args.quick else 80)

    import astropy
    import ccdproc
    import numba

    print(f"numpy {np.__version__}, numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS}"
          f" threads), astropy {astropy.__version__}, ccdproc {ccdproc.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    cold, warm = jit_times()
    print(f"JIT: first stack() call {cold:.1f} s with an empty cache (compile), "
          f"{warm:.2f} s from the cache")

    if not args.skip_memory:
        print(f"\nPeak RSS: {memory_frames} memory-mapped FITS frames of {size}x{size} "
              f"(SCI, VAR float32, DQ int16), sigclip mean, memory={args.memory!r}")
        result = memory_test(memory_frames, size, args.memory)
        peak = max(result["peak_mb"], result["child_maxrss_mb"])
        verdict = "OK" if peak < MEMORY_TARGET_MB else "OVER TARGET"
        print(f"  files {result['files_mb']:.0f} MB written in {result['write_s']:.1f} s; "
              f"stacked in {result['stack_s']:.2f} s")
        print(f"  VmHWM before stacking {result['before_mb']:.0f} MB, peak {result['peak_mb']:.0f}"
              f" MB (ru_maxrss {result['child_maxrss_mb']:.0f} MB); target < "
              f"{MEMORY_TARGET_MB} MB: {verdict}")

    if not args.memory_only:
        compare_in_memory(nframes, size, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
