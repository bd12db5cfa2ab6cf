"""Shared CLI behaviour: @lists, globs, colour only on terminals, quiet exit on a closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gempy.scripts import dataselect
from gempy.scripts.cli_support import UsageError, expand_inputs, read_list_file, use_colour


def test_lists_nest_skip_comments_and_keep_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a.fits", "b.fits", "c.fits"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "inner.list").write_text("c.fits   # the last one\n\n")
    (tmp_path / "outer.list").write_text("# header line\nb.fits a.fits\n@inner.list\n")
    assert read_list_file("outer.list") == ["b.fits", "a.fits", "c.fits"]
    warnings = []
    assert expand_inputs(["@outer.list", "*.fits", "none*.fits"], warn=warnings.append) == [
        "b.fits", "a.fits", "c.fits", "a.fits", "b.fits", "c.fits"]
    assert warnings == ["no file matches 'none*.fits'"]


def test_list_errors_are_usage_errors(tmp_path, monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop.list").write_text("@loop.list\n")
    with pytest.raises(UsageError, match="loop"):
        read_list_file("loop.list")
    result = run_cli(dataselect.main, "@missing.list")
    assert result.status == 2
    assert result.err_lines == ["dataselect: error: @missing.list: cannot read list file:"
                                " No such file or directory"]


class _Terminal:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


def test_colour_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour(_Terminal(True))
    assert not use_colour(_Terminal(False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(_Terminal(True))


def test_closed_pipe_stops_quietly(f2_playdata):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # `true` exits without reading, long before typewalk has imported anything and writes
    command = (f"{sys.executable} -m gempy.scripts.typewalk -d {f2_playdata} | true;"
               " echo status=${PIPESTATUS[0]}")
    process = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                             timeout=120, env=env)
    assert process.stdout.splitlines()[-1] == "status=141"
    assert "Traceback" not in process.stderr and "BrokenPipe" not in process.stderr
