"""Benchmark of calibration look-ups in a database holding 10,000 processed calibrations.

Run ``python benchmarks/bench_caldb.py [--count 10000] [--lookups 300] [--url URL]``.
It builds, in a temporary directory, one real processed calibration file per
(instrument, type) with the header layouts of the tests, adds them with
``LocalDB.add_cal`` (timed), then fills the database to ``--count`` rows with
variations of those records (other times over five years, exposure times,
filters, read modes, binnings; every row points at a real file, so the on-disk
check of the chosen file is part of each look-up), and times
``LocalDB.lookup`` for science frames of each instrument at random dates
(median, 95th percentile, max) and ``explain``. Target: < 20 ms a look-up.
With ``--url`` (or ``$ASTROREDUCE_TEST_PG_URL`` and ``--postgres``) the same
runs against PostgreSQL; that database is emptied first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "recipe_system"
                       / "cal_service"))

from calframes import build_frame, write_frame  # noqa: E402

from recipe_system.cal_service import LocalDB  # noqa: E402
from recipe_system.cal_service.models import Base, ProcessedCalibration  # noqa: E402

T_START = dt.datetime(2019, 1, 1)
SPAN_DAYS = 5 * 365

#: (instrument, caltype, builder keywords, {column: alternative values}).
TEMPLATES = [
    ("F2", "processed_dark", {"obstype": "DARK"},
     {"exposure_time": [2.0, 8.0, 20.0, 60.0, 120.0], "read_mode": ["1", "4", "8"]}),
    ("F2", "processed_flat", {"obstype": "FLAT", "obsclass": "dayCal"},
     {"filter_name": ["Open&Y_G0811", "Open&J_G0802", "Open&H_G0803", "Open&Ks_G0804"]}),
    ("F2", "processed_bpm", {"obstype": "BPM"}, {}),
    ("GSAOI", "processed_flat", {"obj": "Domeflat", "obsclass": "dayCal"},
     {"filter_name": ["Kshort_G1105&Clear", "J_G1102&Clear", "H_G1103&Clear"]}),
    ("GMOS", "processed_bias", {"obstype": "BIAS", "obj": "Bias", "obsclass": "dayCal"},
     {"read_speed_setting": ["slow", "fast"]}),
    ("GMOS", "processed_flat", {"obj": "Twilight", "obsclass": "dayCal"},
     {"filter_name": ["open1-6&g_G0325", "open1-6&r_G0326", "open1-6&i_G0327"]}),
    ("NIRI", "processed_dark", {"obstype": "DARK", "obj": "Dark", "obsclass": "dayCal"},
     {"exposure_time": [1.0, 5.0, 20.0, 60.0], "coadds": [1, 2, 5]}),
    ("NIRI", "processed_flat", {"obstype": "FLAT", "obj": "GCALflat", "obsclass": "dayCal"},
     {"filter_name": ["J_G0202", "H_G0203", "Kprime_G0206"]}),
]

QUERIES = [("F2", "processed_dark"), ("F2", "processed_flat"), ("F2", "processed_bpm"),
           ("GSAOI", "processed_flat"), ("GMOS", "processed_bias"), ("GMOS", "processed_flat"),
           ("NIRI", "processed_dark"), ("NIRI", "processed_flat")]


def _fill(db: LocalDB, directory: Path, count: int, rng: random.Random) -> float:
    records = []
    start = time.perf_counter()
    for i, (instrument, caltype, kwargs, _variants) in enumerate(TEMPLATES):
        path = write_frame(directory, f"template{i}.fits", instrument, T_START,
                           processed=caltype, **kwargs)
        db.add_cal(path)
        records.append(db._describe_file(path, caltype))
    add_time = (time.perf_counter() - start) / len(TEMPLATES)
    rows = []
    for n in range(count - len(TEMPLATES)):
        index = n % len(TEMPLATES)
        row = dict(records[index])
        row["filename"] = f"cal{n:06d}_{TEMPLATES[index][1][10:]}.fits"
        row["ut_datetime"] = T_START + dt.timedelta(days=rng.uniform(0, SPAN_DAYS))
        row["processing"] = rng.choice(["sq", "sq", "sq", "ql"])
        for column, values in TEMPLATES[index][3].items():
            row[column] = rng.choice(values)
        rows.append(row)
    with db.database.write_session() as session:
        session.execute(ProcessedCalibration.__table__.insert(), rows)
    return add_time


def _science(instrument: str, when: dt.datetime, rng: random.Random):
    kwargs = {
        "F2": {"exptime": rng.choice([8.0, 20.0, 60.0, 120.0]),
               "filter2": rng.choice(["Y_G0811", "J_G0802", "H_G0803"])},
        "GSAOI": {"filter1": rng.choice(["Kshort_G1105", "J_G1102"])},
        "GMOS": {"filter2": rng.choice(["g_G0325", "r_G0326"])},
        "NIRI": {"exptime": rng.choice([5.0, 20.0]), "filter2": "H_G0203"},
    }[instrument]
    return build_frame(instrument, when, filename="science.fits", **kwargs)


def run(location: str, count: int, lookups: int, label: str) -> dict[str, float]:
    rng = random.Random(12345)
    with tempfile.TemporaryDirectory(prefix="bench_caldb_") as tmp:
        directory = Path(tmp)
        db = LocalDB(location if "://" in location else directory / "cal_manager.db")
        if "://" in location:
            with db.database.write_connection() as conn:
                Base.metadata.drop_all(conn)
        db.init()
        add_time = _fill(db, directory, count, rng)
        assert db.count() == count
        frames = []
        for _ in range(lookups):
            instrument, caltype = rng.choice(QUERIES)
            when = T_START + dt.timedelta(days=rng.uniform(30, SPAN_DAYS - 30))
            frames.append((_science(instrument, when, rng), caltype))
        db.lookup(frames[0][0], frames[0][1], "sq")  # connect, warm caches
        times, found = [], 0
        for ad, caltype in frames:
            t0 = time.perf_counter()
            result = db.lookup(ad, caltype, "sq")
            times.append(time.perf_counter() - t0)
            found += result.path is not None
        explain_times = []
        for ad, caltype in frames[:30]:
            t0 = time.perf_counter()
            db.explain(ad, caltype, "sq")
            explain_times.append(time.perf_counter() - t0)
        if "://" in location:
            with db.database.write_connection() as conn:
                Base.metadata.drop_all(conn)
        db.database.dispose()
    ms = sorted(t * 1000 for t in times)
    figures = {
        "rows": count,
        "add_cal_ms": add_time * 1000,
        "lookup_median_ms": statistics.median(ms),
        "lookup_p95_ms": ms[int(0.95 * (len(ms) - 1))],
        "lookup_max_ms": ms[-1],
        "found_fraction": found / len(frames),
        "explain_median_ms": statistics.median(explain_times) * 1000,
    }
    print(f"{label}: {count} calibrations; add_cal {figures['add_cal_ms']:.1f} ms/file; "
          f"lookup median {figures['lookup_median_ms']:.2f} ms, p95 "
          f"{figures['lookup_p95_ms']:.2f} ms, max {figures['lookup_max_ms']:.2f} ms "
          f"({lookups} look-ups, {100 * figures['found_fraction']:.0f}% found); "
          f"explain median {figures['explain_median_ms']:.1f} ms")
    status = "OK" if figures["lookup_p95_ms"] < 20 else "ABOVE TARGET"
    print(f"{label}: target < 20 ms a look-up (95th percentile): {status}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--url", help="also run against this SQLAlchemy URL (emptied!)")
    parser.add_argument("--postgres", action="store_true",
                        help="also run against $ASTROREDUCE_TEST_PG_URL (emptied!)")
    args = parser.parse_args(argv)
    run("sqlite", args.count, args.lookups, "SQLite")
    url = args.url or (os.environ.get("ASTROREDUCE_TEST_PG_URL") if args.postgres else None)
    if url:
        run(url, args.count, args.lookups, "PostgreSQL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
