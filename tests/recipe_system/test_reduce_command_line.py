"""The reduce argument parser: options, @files, stray positional rescue, repeated options."""

import pytest

from recipe_system.errors import ReduceError
from recipe_system.reduction.command_line import (
    build_parser,
    normalize_ucals,
    normalize_uparms,
    parse_arguments,
)


def test_defaults_match_dragons():
    args = parse_arguments([])
    assert args.files == [] and args.mode == "sq" and args.recipename is None
    assert args.logfile == "reduce.log" and args.logmode == "standard"
    assert args.userparam is None and args.user_cal is None and args.suffix is None
    assert args.config is None and args.adpkg is None and args.drpkg is None
    assert not args.displayflags and not args.debug


def test_every_option(tmp_path):
    args = parse_arguments(["a.fits", "--ql", "-r", "makeProcessedBPM", "--suffix", "_x",
                            "-p", "addDQ:user_bpm=bpm.fits", "hsigma=4",
                            "--user_cal", "processed_dark:d.fits", "-c", "rc.cfg",
                            "--logfile", "my.log", "--logmode", "quiet", "--adpkg", "ad_x",
                            "--drpkg", "dr_x", "--upload", "metrics", "-d", "--debug"])
    assert args.files == ["a.fits"] and args.mode == "ql"
    assert args.recipename == "makeProcessedBPM" and args.suffix == "_x"
    assert args.userparam == ["addDQ:user_bpm=bpm.fits", "hsigma=4"]
    assert args.user_cal == ["processed_dark:d.fits"] and args.config == "rc.cfg"
    assert (args.logfile, args.logmode, args.adpkg, args.drpkg) == ("my.log", "quiet",
                                                                   "ad_x", "dr_x")
    assert args.upload == ["metrics"] and args.displayflags and args.debug
    assert parse_arguments(["--qa"]).mode == "qa"


def test_stray_positionals_are_given_back_to_the_files():
    args = parse_arguments(["-p", "a=1", "b=2", "x1.fits", "x2.fits",
                            "--user_cal", "processed_bias:b.fits", "x3.fits",
                            "--upload", "calibs", "x4.fits", "-r", "x5.fits"])
    assert args.userparam == ["a=1", "b=2"]
    assert args.user_cal == ["processed_bias:b.fits"]
    assert args.upload == ["calibs"]
    assert args.recipename is None
    assert args.files == ["x1.fits", "x2.fits", "x3.fits", "x4.fits", "x5.fits"]


def test_files_before_and_after_options_keep_their_order():
    args = parse_arguments(["f1.fits", "-r", "reduce", "f2.fits", "--ql", "f3.fits"])
    assert args.files == ["f1.fits", "f2.fits", "f3.fits"] and args.recipename == "reduce"


def test_repeated_options_override_and_accumulate():
    args = parse_arguments(["-p", "stackFrames:hsigma=4", "nlow=1", "-p",
                            "stackFrames:hsigma=5", "nhigh=2",
                            "--user_cal", "processed_dark:a.fits", "--user_cal",
                            "processed_dark:b.fits", "processed_flat:f.fits"])
    assert args.userparam == ["nlow=1", "stackFrames:hsigma=5", "nhigh=2"]
    assert args.user_cal == ["processed_dark:b.fits", "processed_flat:f.fits"]
    assert args.overridden == 2


def test_at_files_nested_comments_blank_lines_quotes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "darks.lis").write_text(
        "# darks for the BPM\n"
        "\n"
        "d1.fits d2.fits   # two short darks\n"
        "   d3.fits\n")
    (tmp_path / "flats.lis").write_text(
        "# flats first!\n"
        "f1.fits\n"
        "#f_bad.fits\n"
        "'my flat.fits'\n"
        "-p 'addDQ:user_bpm=a bpm.fits'   # quoted value with a space\n"
        "@darks.lis\n")
    args = parse_arguments(["@flats.lis", "-r", "makeProcessedBPM"])
    assert args.files == ["f1.fits", "my flat.fits", "d1.fits", "d2.fits", "d3.fits"]
    assert args.userparam == ["addDQ:user_bpm=a bpm.fits"]
    assert args.recipename == "makeProcessedBPM"


def test_at_file_errors_are_usage_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        parse_arguments(["@missing.lis"])
    assert info.value.code == 2
    assert "missing.lis" in capsys.readouterr().err
    (tmp_path / "bad.lis").write_text("f1.fits 'unterminated\n")
    with pytest.raises(SystemExit) as info:
        parse_arguments(["@bad.lis"])
    assert info.value.code == 2


def test_bad_option_values_are_usage_errors(capsys):
    for argv in (["--logmode", "loud"], ["--nonsense"], ["-r"]):
        with pytest.raises(SystemExit) as info:
            parse_arguments(argv)
        assert info.value.code == 2


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        parse_arguments(["--version"])
    assert info.value.code == 0 and "reduce (astroreduce)" in capsys.readouterr().out
    help_text = build_parser().format_help()
    for option in ("--user_cal", "--logmode", "--suffix", "--drpkg", "-d, --displayflags"):
        assert option in help_text


def test_normalize_uparms_and_ucals(tmp_path):
    assert normalize_uparms(None) == []
    assert normalize_uparms({"a:b": 1}) == [("a:b", 1)]
    assert normalize_uparms(["a:b=1", ("c", False)]) == [("a:b", "1"), ("c", False)]
    with pytest.raises(ReduceError, match="form"):
        normalize_uparms(["nope"])
    dark = tmp_path / "dark.fits"
    dark.write_bytes(b"")
    assert normalize_ucals([f"processed_dark:{dark}"]) == {"processed_dark": str(dark)}
    assert normalize_ucals({"dark": str(dark)}) == {"processed_dark": str(dark)}
    with pytest.raises(ReduceError, match="no such file"):
        normalize_ucals(["processed_flat:/nowhere/flat.fits"])
    with pytest.raises(ReduceError, match="caltype:path"):
        normalize_ucals(["flat.fits"])
