"""Benchmark: header-only opening of many raw files (astrodata.open + tags + descriptors).

Makes N F2-like files (PHU of ~120 cards + one 3-D int32 extension) and N
GSAOI-like files (PHU + 4 float32 extensions) in a temporary directory, then
times, per file, ``astrodata.open`` + ``ad.tags`` + 5 descriptors against a
plain ``astropy.io.fits.getheader`` loop (PHU only). Each pixel size runs in
a fresh process so that its peak RSS (``resource.getrusage``) is its own:
equal figures for 256x256 and 2048x2048 pixels show that no pixel is read.

The files are written sparse (the data blocks are holes), so 2048x2048
files cost little disk space; the header bytes are exactly those of a real
file of that shape.

Usage::

    python benchmarks/bench_headers.py [--n 1000] [--sizes 256 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from astropy.io import fits

DESCRIPTORS = ("instrument", "object", "exposure_time", "observation_type", "data_label")
BLOCK = 2880


def _padded(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def _phu_f2(i: int) -> fits.Header:
    cards = [
        ("SIMPLE", True), ("BITPIX", 16), ("NAXIS", 0), ("EXTEND", True),
        ("INSTRUME", "F2"), ("OBJECT", "Dark" if i % 3 == 0 else "NGC 253"),
        ("OBSTYPE", "DARK" if i % 3 == 0 else "OBJECT"), ("OBSCLASS", "dayCal"),
        ("GEMPRGID", "GS-CAL20170102"), ("OBSID", "GS-CAL20170102-1"),
        ("DATALAB", f"GS-CAL20170102-1-{i % 1000:03d}"), ("OBSERVAT", "Gemini-South"),
        ("TELESCOP", "Gemini-South"), ("EPOCH", 2000.0), ("RA", 10.5), ("DEC", -25.3),
        ("ELEVATIO", 60.1), ("AZIMUTH", 120.3), ("CRPA", 12.2), ("HA", "-01:00:00"),
        ("LT", "16:47:31.1"), ("TRKFRAME", "FK5"), ("DECTRACK", 0.0), ("TRKEPOCH", 0.0),
        ("RATRACK", 0.0), ("FRAME", "FK5"), ("PMDEC", 0.0), ("PMRA", 0.0),
        ("WAVELENG", 12500.0), ("RAWIQ", "Any"), ("RAWCC", "Any"), ("RAWWV", "Any"),
        ("RAWBG", "Any"), ("RAWPIREQ", "YES"), ("RAWGEMQA", "USABLE"), ("UT", "19:47:32.1"),
        ("DATE", "2017-01-01"), ("XOFFSET", 0.0), ("YOFFSET", 0.0), ("POFFSET", 0.0),
        ("QOFFSET", 0.0), ("RAOFFSET", 0.0), ("DECOFFSE", 0.0), ("PA", 90.0), ("IAA", 0.0),
        ("AOFOLD", "park-pos."), ("PWFS1_ST", "parked"), ("PWFS2_ST", "guiding"),
        ("OIWFS_ST", "parked"), ("AOWFS_ST", "parked"), ("REQIQ", "Any"), ("REQCC", "Any"),
        ("REQBG", "Any"), ("REQWV", "Any"), ("DATE-OBS", "2017-01-01"),
        ("TIME-OBS", "19:47:32.1"), ("READMODE", "Bright"), ("NREADS", 1),
        ("AIRMASS", 1.2), ("RELEASE", "2017-07-01"), ("COADDS", 1), ("INPORT", 5),
        ("LNRS", 1), ("EXPTIME", 3.0 + i % 5), ("GAIN", 4.44), ("MJD-OBS", 57754.82),
        ("PIXSCALE", 0.18124), ("RDNOISE", 0.0), ("DECKER", "Open"), ("DETID", "109"),
        ("DETTYPE", "Hawaii-2 2048"), ("DHSLABEL", f"S20170102S{i % 10000:04d}"),
        ("FILTER1", "J_G0802"), ("FILTER2", "Open"), ("FILTER", "J_G0802"),
        ("FOCUS", "f/16"), ("GRISM", "Open"), ("LYOT", "f/16_G5830"),
        ("MASKNAME", "imaging"), ("MASKTYPE", "0"), ("MOSPOS", "imaging"),
        ("TIMESYS", "UTC"), ("UTSTART", "19:47:32.1"), ("UTEND", "19:47:35.1"),
        ("WINDOW", "Open"), ("SSA", "Observer"),
    ]
    header = fits.Header(cards)
    n = 0
    while len(header) < 120:
        header[f"ENGKEY{n:02d}"] = (float(n), "engineering value")
        n += 1
    return header


def _phu_gsaoi(i: int) -> fits.Header:
    header = _phu_f2(i)
    for key, value in (("INSTRUME", "GSAOI"), ("DETECTOR", "GSAOI"), ("READMODE", "FOWLER"),
                       ("AOFOLD", "IN"), ("GWFS1CFG", "on"), ("OBSTYPE", "OBJECT"),
                       ("FILTER1", "Kshort_G1105"), ("FILTER2", "Open"),
                       ("UTLWHEEL", "Open")):
        header[key] = value
    return header


def _ext_header(shape: tuple[int, ...], bitpix: int, extver: int, extra: dict) -> fits.Header:
    cards = [("XTENSION", "IMAGE"), ("BITPIX", bitpix), ("NAXIS", len(shape))]
    cards += [(f"NAXIS{k + 1}", n) for k, n in enumerate(reversed(shape))]
    cards += [("PCOUNT", 0), ("GCOUNT", 1), ("EXTVER", extver),
              ("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN"), ("CRPIX1", 1023.9),
              ("CRPIX2", 1024.0), ("CRVAL1", 10.5), ("CRVAL2", -25.3), ("CD1_1", -2.1e-5),
              ("CD1_2", 4.5e-5), ("CD2_1", 4.5e-5), ("CD2_2", 2.1e-5), ("RADECSYS", "FK5")]
    header = fits.Header(cards)
    for key, value in extra.items():
        header[key] = value
    return header


def _write_sparse(path: str, phu: fits.Header, extensions: list[fits.Header]) -> None:
    """Write headers at their true offsets and leave the data blocks as holes."""
    with open(path, "wb") as fh:
        fh.write(phu.tostring().encode("ascii"))
        for header in extensions:
            fh.write(header.tostring().encode("ascii"))
            n_items = int(np.prod([header[f"NAXIS{k}"] for k in range(1, header["NAXIS"] + 1)]))
            size = _padded(n_items * abs(header["BITPIX"]) // 8)
            fh.seek(size, os.SEEK_CUR)
        fh.truncate(fh.tell())


def make_files(directory: str, n: int, size: int) -> tuple[list[str], list[str]]:
    f2_files, gsaoi_files = [], []
    gsaoi_arrays = ("H2RG-032-074", "H2RG-032-064", "H2RG-032-071", "H2RG-032-061")
    for i in range(n):
        path = os.path.join(directory, f"S20170102S{i:04d}.fits")
        _write_sparse(path, _phu_f2(i), [_ext_header((1, size, size), 32, 1, {
            "AXISLAB1": "Xaxis", "AXISLAB2": "Yaxis", "AXISLAB3": "Extensions", "CD3_3": 1.0})])
        f2_files.append(path)
        path = os.path.join(directory, f"S20150110S{i:04d}.fits")
        exts = [
            _ext_header((size, size), -32, k + 1, {
                "EXTNAME": "SCI", "ARRAYID": arr, "CCDSEC": f"[1:{size},1:{size}]",
                "DATASEC": f"[1:{size},1:{size}]"})
            for k, arr in enumerate(gsaoi_arrays)
        ]
        _write_sparse(path, _phu_gsaoi(i), exts)
        gsaoi_files.append(path)
    return f2_files, gsaoi_files


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_astrodata(files: list[str]) -> tuple[float, dict]:
    import astrodata

    astrodata.registered_classes()  # load the entry points outside the timing
    found: dict[str, int] = {}
    cpu_start = time.process_time()
    start = time.perf_counter()
    for path in files:
        ad = astrodata.open(path)
        tags = ad.tags
        values = []
        for name in DESCRIPTORS:
            method = getattr(ad, name, None)
            values.append(method() if method is not None else None)
        found[type(ad).__name__] = found.get(type(ad).__name__, 0) + 1
        del ad, tags, values
    elapsed = time.perf_counter() - start
    found["cpu_s"] = time.process_time() - cpu_start
    return elapsed, found


def time_getheader(files: list[str]) -> tuple[float, float]:
    cpu_start = time.process_time()
    start = time.perf_counter()
    for path in files:
        fits.getheader(path)
    return time.perf_counter() - start, time.process_time() - cpu_start


def child(directory: str, n: int, size: int) -> None:
    f2_files, gsaoi_files = make_files(directory, n, size)
    result = {"size": size, "n": n}
    rss_before = _peak_rss_mb()
    for label, files in (("F2", f2_files), ("GSAOI", gsaoi_files)):
        t_ad, classes = time_astrodata(files)
        cpu_ad = classes.pop("cpu_s")
        t_fits, cpu_fits = time_getheader(files)
        result[label] = {"astrodata_s": t_ad, "getheader_s": t_fits, "astrodata_cpu_s": cpu_ad,
                         "getheader_cpu_s": cpu_fits, "classes": classes}
    result["peak_rss_mb"] = _peak_rss_mb()
    result["rss_before_mb"] = rss_before
    result["bytes_on_disk"] = sum(os.stat(p).st_blocks * 512 for p in f2_files + gsaoi_files)
    result["apparent_bytes"] = sum(os.path.getsize(p) for p in f2_files + gsaoi_files)
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="files of each kind (default 1000)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 2048],
                        help="image sizes in pixels (default 256 2048)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.dir, args.n, args.child)
        return 0
    print("files/s: wall clock (CPU time in brackets; the machine may be shared)")
    print(f"{'kind':<6} {'pixels':>11} {'astrodata files/s':>22} {'getheader files/s':>22} "
          f"{'ratio':>6} {'peak RSS MB':>12}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench_headers_") as tmp:
            out = subprocess.run(
                [sys.executable, __file__, "--n", str(args.n), "--child", str(size), "--dir", tmp],
                check=True, capture_output=True, text=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
        for kind in ("F2", "GSAOI"):
            r = result[kind]
            ad_rate = args.n / r["astrodata_s"]
            fits_rate = args.n / r["getheader_s"]
            ad_cpu = f"{ad_rate:.0f} ({args.n / r['astrodata_cpu_s']:.0f})"
            fits_cpu = f"{fits_rate:.0f} ({args.n / r['getheader_cpu_s']:.0f})"
            print(f"{kind:<6} {size:>5}x{size:<5} {ad_cpu:>22} {fits_cpu:>22} "
                  f"{ad_rate / fits_rate:>6.2f} {result['peak_rss_mb']:>12.1f}   "
                  f"classes: {r['classes']}")
        print(f"       ({result['apparent_bytes'] / 1e9:.2f} GB of files, "
              f"{result['bytes_on_disk'] / 1e6:.1f} MB on disk)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
