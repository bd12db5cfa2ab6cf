"""The showd command: the GSAOI tutorial's tables, piping from dataselect, errors."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from gempy.scripts import dataselect, showd
from gempy.sim import load_truth

# The tables of the GSAOI tutorial (seed 003), verbatim (rows it elided are checked by pattern).
FILTER_TABLE_HEAD = [
    "----------------------------------------------------",
    "filename                                 filter_name",
    "----------------------------------------------------",
    "../playdata/S20170504S0114.fits   Kshort_G1105&Clear",
]

OBJECT_TABLE = [
    "----------------------------------------",
    "filename                          object",
    "----------------------------------------",
    "../playdata/S20170504S0114.fits     9132",
    "../playdata/S20170504S0115.fits     9132",
    "../playdata/S20170504S0116.fits     9132",
    "../playdata/S20170504S0117.fits     9132",
]

SCIENCE_TABLE_HEAD = [
    "---------------------------------------------------------",
    "filename                           object   exposure_time",
    "---------------------------------------------------------",
    "../playdata/S20170505S0095.fits   NGC5128            60.0",
    "../playdata/S20170505S0096.fits   NGC5128            60.0",
]
SCIENCE_TABLE_TAIL = [
    "../playdata/S20170505S0109.fits   NGC5128            60.0",
    "../playdata/S20170505S0110.fits   NGC5128            60.0",
]


def test_tutorial_filter_name_table(gsaoi_playground, gsaoi_playdata, run_cli):
    result = run_cli(showd.main, "../playdata/*.fits", "-d", "filter_name")
    assert result.status == 0
    lines = result.out_lines
    assert lines[:4] == FILTER_TABLE_HEAD
    raw = sorted(load_truth(gsaoi_playdata.parent / "sim")["files"])
    assert lines[3:] == [f"../playdata/{name}   Kshort_G1105&Clear" for name in raw]


def test_tutorial_pipe_from_dataselect_object(gsaoi_playground, run_cli):
    selected = run_cli(dataselect.main, "--expr", 'observation_class=="partnerCal"',
                       "../playdata/*.fits")
    table = run_cli(showd.main, "-d", "object", stdin=selected.out)
    assert table.status == 0
    assert table.out_lines == OBJECT_TABLE


def test_tutorial_pipe_from_dataselect_object_exposure_time(gsaoi_playground, run_cli):
    selected = run_cli(dataselect.main, "--expr", 'observation_class=="science"',
                       "../playdata/*.fits")
    table = run_cli(showd.main, "-d", "object,exposure_time", stdin=selected.out)
    assert table.status == 0
    lines = table.out_lines
    assert lines[:5] == SCIENCE_TABLE_HEAD
    assert lines[-2:] == SCIENCE_TABLE_TAIL
    assert len(lines) == 3 + 16


def test_real_shell_pipe(gsaoi_playground):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    python = sys.executable
    command = (f"{python} -m gempy.scripts.dataselect --expr 'observation_class==\"partnerCal\"'"
               f" ../playdata/*.fits | {python} -m gempy.scripts.showd -d object")
    process = subprocess.run(command, shell=True, capture_output=True, text=True,
                             timeout=120, env=env)
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines() == OBJECT_TABLE


def test_list_file_on_stdin_and_arguments_after_it(gsaoi_playground, gsaoi_playdata, run_cli):
    run_cli(dataselect.main, "--expr", 'object=="9132"', "../playdata/*.fits", "-o", "std.list")
    extra = "../playdata/S20170505S0095.fits"
    result = run_cli(showd.main, "-d", "object", extra,
                     stdin=Path("std.list").read_text())  # '#' header lines are skipped
    assert result.status == 0
    # 'NGC5128' widens the object column by one compared with the tutorial's table
    assert result.out_lines[3:] == [
        *(f"../playdata/S20170504S011{n}.fits      9132" for n in range(4, 8)),
        "../playdata/S20170505S0095.fits   NGC5128"]


def test_csv_long_and_pretty(gsaoi_playground, run_cli):
    files = ["../playdata/S20170504S0114.fits", "../playdata/S20170505S0030.fits"]
    plain = run_cli(showd.main, "-d", "filter_name,observation_class", "--csv", *files)
    assert plain.out_lines == ["filename,filter_name,observation_class",
                               f"{files[0]},Kshort_G1105&Clear,partnerCal",
                               f"{files[1]},Kshort_G1105&Clear,dayCal"]
    pretty = run_cli(showd.main, "-d", "filter_name", "--pretty", files[0])
    assert pretty.out_lines[1:4] == [f"{'filename':31s}   filter_name",
                                     "-" * 45, f"{files[0]}        Kshort"]
    long = run_cli(showd.main, "-d", "filter_name", "--long", files[0])
    assert long.out_lines[3] == f"{files[0]}   Kshort_G1105&Clear"
    # per-extension descriptors: a list a cell, quoted in CSV because it has commas
    gains = run_cli(showd.main, "-d", "array_name", "--csv", files[0])
    row = next(csv.reader(io.StringIO(gains.out_lines[1])))
    assert row[0] == files[0] and row[1].startswith("[") and row[1].count(",") == 3


def test_failures_show_in_cells_not_crashes(gsaoi_playground, gsaoi_playdata, run_cli, tmp_path):
    source = gsaoi_playdata / "S20170505S0095.fits"
    broken = tmp_path / "no_exptime.fits"
    from astropy.io import fits

    with fits.open(source) as hdul:
        del hdul[0].header["EXPTIME"]
        hdul.writeto(broken)
    result = run_cli(showd.main, "-d", "object,exposure_time", str(broken))
    assert result.status == 0
    assert result.out_lines[3].split()[1:] == ["NGC5128", "None"]

    Path("junk.fits").write_text("not a FITS file")
    mixed = run_cli(showd.main, "-d", "object", "junk.fits", str(source))
    assert mixed.status == 1
    assert mixed.out_lines[3].endswith("NGC5128")
    assert len(mixed.err_lines) == 1 and mixed.err.startswith("showd: warning: skipping junk.fits")


def test_usage_errors(gsaoi_playground, run_cli):
    unknown = run_cli(showd.main, "-d", "object,filtername", "../playdata/*.fits")
    assert unknown.status == 2
    assert len(unknown.err_lines) == 1
    assert unknown.err.startswith(
        "showd: error: -d: unknown descriptor 'filtername' (did you mean: filter_name")
    assert unknown.out == ""
    missing = run_cli(showd.main, "../playdata/*.fits")
    assert missing.status == 2 and len(missing.err_lines) == 1
    nothing = run_cli(showd.main, "-d", "object", stdin="")
    assert nothing.status == 1 and nothing.err_lines == ["showd: warning: no input files"]
    help_text = run_cli(showd.main, "--help")
    assert help_text.status == 0 and "examples:" in help_text.out and "--csv" in help_text.out


def test_table_layout():
    rows = [["filename", "a", "long_name"], ["x.fits", "123", "v"], ["longer.fits", "1", "vv"]]
    assert showd.format_table(rows).splitlines() == [
        "-----------------------------",
        "filename        a   long_name",
        "-----------------------------",
        "x.fits        123           v",
        "longer.fits     1          vv",
    ]


def test_adpkg_adds_classes_and_descriptors(tmp_path, monkeypatch, run_cli):
    import sys
    import textwrap

    from astropy.io import fits

    from astrodata.factory import remove_class

    (tmp_path / "focuscam_adpkg.py").write_text(textwrap.dedent('''
        import astrodata
        from astrodata import AstroData, astro_data_descriptor

        class AstroDataFocusCam(AstroData):
            @staticmethod
            def _matches_data(source):
                return source.phu.get("INSTRUME") == "FOCUSCAM"

            @astro_data_descriptor
            def focus_position(self):
                return self.phu.get("FOCUSPOS")

            @astro_data_descriptor
            def focus_offset(self):
                raise ValueError("FOCUSOFF is malformed")

        astrodata.add_class(AstroDataFocusCam)
    '''))
    image = tmp_path / "focus.fits"
    fits.PrimaryHDU(header=fits.Header([("INSTRUME", "FOCUSCAM"), ("FOCUSPOS", 12.5)])
                    ).writeto(image)
    monkeypatch.syspath_prepend(str(tmp_path))
    without = run_cli(showd.main, "-d", "focus_position", str(image))
    assert without.status == 2 and "unknown descriptor 'focus_position'" in without.err
    try:
        result = run_cli(showd.main, "-d", "focus_position,instrument", "--adpkg",
                         "focuscam_adpkg", str(image))
        assert result.status == 0
        assert result.out_lines[3].split() == [str(image), "12.5", "FOCUSCAM"]
        # a descriptor that raises shows ERROR in its cell; the table is still printed
        failing = run_cli(showd.main, "-d", "focus_offset,focus_position", "--adpkg",
                          "focuscam_adpkg", str(image))
        assert failing.status == 0
        assert failing.out_lines[3].split() == [str(image), "ERROR", "12.5"]
        assert failing.err_lines == [
            "showd: warning: focus.fits: focus_offset: FOCUSOFF is malformed"]
    finally:
        module = sys.modules.pop("focuscam_adpkg", None)
        if module is not None:
            remove_class(module.AstroDataFocusCam)
