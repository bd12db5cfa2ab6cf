"""``astroreduce-demo``: simulate the F2 imaging tutorial dataset and reduce it end to end.

The reduction follows the DRAGONS F2 API tutorial step by step (master dark,
bad pixel mask from flats and short darks, master flat with that mask,
science frames: dark, flat, two-pass sky subtraction, alignment and
stacking) with a calibration database local to the demo directory::

    astroreduce-demo                      # full-size frames in ./astroreduce-demo
    astroreduce-demo --small -d /tmp/demo # 256x256 frames, a few seconds

It prints where the stacked image is. Nothing outside the demo directory is
read or written (the calibration configuration is the demo's own).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path

__all__ = ["main", "run_f2_tutorial"]


def _write_config(playground: Path) -> Path:
    config = playground / "dragonsrc"
    config.write_text(f"[calibs]\ndatabases = {playground / 'cal_manager.db'} get store\n")
    return config


def run_f2_tutorial(playdata: Path, playground: Path, config_file: Path) -> dict[str, object]:
    """Reduce the F2 tutorial files in ``playdata`` inside ``playground`` as the tutorial does.

    Parameters
    ----------
    playdata : Path
        Directory with the raw files (``S2013*.fits``).
    playground : Path
        Working directory; products and ``calibrations/`` are written there.
    config_file : Path
        Calibration configuration (a ``dragonsrc`` naming the demo database).

    Returns
    -------
    dict
        ``dark``, ``bpm``, ``flat`` (file names) and ``science`` (list of final products).
    """
    from gempy.adlibrary import dataselect
    from recipe_system import cal_service
    from recipe_system.reduction.coreReduce import Reduce

    os.chdir(playground)
    caldb = cal_service.CalibrationService()
    caldb.config(config_file=str(config_file))
    caldb.init()
    cal_service.set_calservice()

    all_files = sorted(glob.glob(str(playdata / "S2013*.fits")))
    dark_files_120s = dataselect.select_data(
        all_files, ["F2", "DARK", "RAW"], [], dataselect.expr_parser("exposure_time==120"))
    dark_files_2s = dataselect.select_data(
        all_files, ["F2", "DARK", "RAW"], [], dataselect.expr_parser("exposure_time==2"))
    list_of_flats_y = dataselect.select_data(
        all_files, ["FLAT"], [], dataselect.expr_parser('filter_name=="Y"'))
    list_of_science = dataselect.select_data(
        all_files, ["F2"], [],
        dataselect.expr_parser('(observation_class=="science" and filter_name=="Y")'))

    reduce_darks = Reduce()
    reduce_darks.files.extend(dark_files_120s)
    reduce_darks.config_file = str(config_file)
    reduce_darks.runr()
    caldb.add_cal(reduce_darks.output_filenames[0])

    reduce_bpm = Reduce()
    reduce_bpm.files.extend(list_of_flats_y)
    reduce_bpm.files.extend(dark_files_2s)
    reduce_bpm.recipename = "makeProcessedBPM"
    reduce_bpm.config_file = str(config_file)
    reduce_bpm.runr()
    bpm_filename = reduce_bpm.output_filenames[0]

    reduce_flats = Reduce()
    reduce_flats.files.extend(list_of_flats_y)
    reduce_flats.uparms = [("addDQ:user_bpm", bpm_filename)]
    reduce_flats.config_file = str(config_file)
    reduce_flats.runr()
    caldb.add_cal(reduce_flats.output_filenames[0])

    reduce_target = Reduce()
    reduce_target.files.extend(list_of_science)
    reduce_target.uparms = [("addDQ:user_bpm", bpm_filename)]
    reduce_target.config_file = str(config_file)
    reduce_target.runr()
    return {
        "dark": reduce_darks.output_filenames[0],
        "bpm": bpm_filename,
        "flat": reduce_flats.output_filenames[0],
        "science": list(reduce_target.output_filenames),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="astroreduce-demo",
        description="Simulate the Flamingos-2 imaging tutorial data and reduce them end to end.",
        epilog="example: astroreduce-demo --small -d /tmp/f2demo",
    )
    parser.add_argument("-d", "--dir", default="astroreduce-demo",
                        help="demo directory (created; default ./astroreduce-demo)")
    parser.add_argument("--small", action="store_true",
                        help="256x256 detector instead of 2048x2048 (fast)")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)

    from astrodata.errors import AstroDataError
    from gempy.sim import make_dataset
    from gempy.utils import logutils
    from recipe_system.errors import ReduceError

    top = Path(args.dir).resolve()
    playdata, playground = top / "playdata", top / "playground"
    try:
        playground.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        if not sorted(playdata.glob("S2013*.fits")):
            print(f"Simulating the F2 tutorial dataset in {playdata} ...", flush=True)
            make_dataset("f2-tutorial", playdata, small=args.small, seed=args.seed)
        logutils.config(mode="standard", file_name=str(playground / "f2_data_reduction.log"))
        config = _write_config(playground)
        products = run_f2_tutorial(playdata, playground, config)
    except (AstroDataError, ReduceError, OSError, ValueError) as err:
        if args.debug:
            raise
        print(f"astroreduce-demo: error: {err}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    print()
    print(f"Master dark:     {playground / products['dark']}")
    print(f"Bad pixel mask:  {playground / products['bpm']}")
    print(f"Master flat:     {playground / products['flat']}")
    for name in products["science"]:
        print(f"Stacked image:   {playground / name}")
    print(f"Log:             {playground / 'f2_data_reduction.log'}")
    print(f"Done in {elapsed:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
