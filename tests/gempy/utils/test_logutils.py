"""logutils: custom levels, modes, formats, indentation, no duplicated messages."""

import logging
import logging.handlers
import subprocess
import sys
import textwrap

import pytest

from gempy.utils import logutils


@pytest.fixture(autouse=True)
def clean_logging():
    root = logging.getLogger()
    level = root.level
    yield
    logutils.reset()
    root.setLevel(level)


def run_python(code, cwd):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, cwd=cwd, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_custom_levels_and_methods():
    assert (logutils.STATUS, logutils.STDINFO, logutils.FULLINFO) == (25, 21, 15)
    assert logging.getLevelName(25) == "STATUS" and logging.getLevelName(15) == "FULLINFO"
    log = logutils.get_logger("test.levels")
    assert callable(log.status) and callable(log.stdinfo) and callable(log.fullinfo)


def test_api_without_config_prints_each_message_once(tmp_path):
    out = run_python("""
        from gempy.utils import logutils
        log = logutils.get_logger("recipe_system")
        other = logutils.get_logger("primitives")
        log.status("RECIPE: x")
        other.stdinfo("hello")
        log.fullinfo("not on the console")
        log.warning("careful")
    """, tmp_path)
    assert out == "RECIPE: x\nhello\nWARNING - careful\n"


def test_seed_config_then_messages_once_on_console_and_in_file(tmp_path):
    out = run_python("""
        from gempy.utils import logutils
        logutils.config(file_name='f2_data_reduction.log')
        logutils.config(file_name='f2_data_reduction.log')   # idempotent
        log = logutils.get_logger("recipe_system")
        log.stdinfo("one message")
        log.fullinfo("file only")
    """, tmp_path)
    assert out == "one message\n"
    lines = (tmp_path / "f2_data_reduction.log").read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("STDINFO  - one message")
    assert lines[1].endswith("FULLINFO - file only")
    assert lines[0][:4].isdigit()                     # asctime first


def test_modes(tmp_path, capsys):
    log = logutils.get_logger("test.modes")
    logfile = tmp_path / "quiet.log"
    logutils.config(mode="quiet", file_name=str(logfile))
    log.status("quiet status")
    assert capsys.readouterr().out == ""
    assert "quiet status" in logfile.read_text()
    logutils.config(mode="verbose")
    log.fullinfo("verbose detail")
    log.debug("no debug")
    assert capsys.readouterr().out == "verbose detail\n"
    debug_file = tmp_path / "debug.log"
    logutils.config(mode="debug", file_name=str(debug_file))
    log.debug("debug detail")
    assert capsys.readouterr().out == "DEBUG - debug detail\n"
    assert "test.modes" in debug_file.read_text()      # debug file names the logger
    logutils.config(mode="rotating", file_name=str(tmp_path / "rot.log"))
    assert any(isinstance(h, logging.handlers.TimedRotatingFileHandler)
               for h in logging.getLogger().handlers)
    with pytest.raises(ValueError, match="unknown mode 'loud'"):
        logutils.config(mode="loud")


def test_console_format_indentation_and_multiline(capsys):
    logutils.config(mode="standard")
    log = logutils.get_logger("test.format")
    previous = logutils.update_indent(2)
    try:
        log.stdinfo("first\nsecond")
        log.error("broken")
    finally:
        logutils.update_indent(previous)
    log.status("back")
    assert capsys.readouterr().out == "      first\n      second\n      ERROR - broken\nback\n"


def test_stomp_and_append(tmp_path):
    logfile = tmp_path / "r.log"
    log = logutils.get_logger("test.stomp")
    logutils.config(mode="quiet", file_name=str(logfile))
    log.stdinfo("first run")
    logutils.config(mode="quiet", file_name=str(logfile))
    log.stdinfo("second run")
    assert "first run" in logfile.read_text() and "second run" in logfile.read_text()
    logutils.config(mode="quiet", file_name=str(logfile), stomp=True)
    log.stdinfo("third run")
    text = logfile.read_text()
    assert "first run" not in text and "third run" in text


def test_foreign_handlers_are_kept_and_extra_handlers_added(capsys):
    root = logging.getLogger()
    foreign = logging.handlers.MemoryHandler(capacity=100)
    root.addHandler(foreign)
    extra = logging.handlers.MemoryHandler(capacity=100)
    try:
        logutils.config(mode="standard", additional_handlers=[extra])
        logutils.config(mode="standard", additional_handlers=[extra])
        assert root.handlers.count(foreign) == 1 and root.handlers.count(extra) == 1
        logutils.get_logger("test.extra").stdinfo("to both")
        assert [r.getMessage() for r in extra.buffer] == ["to both"]
        assert capsys.readouterr().out == "to both\n"
    finally:
        root.removeHandler(foreign)


def test_repeated_warnings_are_shown_once(capsys):
    logutils.config(mode="standard")
    log = logutils.get_logger("test.dup")
    for _ in range(3):
        log.warning("keyword missing")
    log.warning("another")
    log.warning("keyword missing")
    assert capsys.readouterr().out == ("WARNING - keyword missing\nWARNING - another\n"
                                       "WARNING - keyword missing\n")
