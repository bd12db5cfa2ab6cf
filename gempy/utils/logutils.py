"""Logging set-up for astroreduce: custom levels, console/file handlers, primitive indentation.

Levels (next to the standard ones)::

    DEBUG 10 < FULLINFO 15 < INFO 20 < STDINFO 21 < STATUS 25 < WARNING 30

Every logger obtained with :func:`get_logger` (or :func:`logging.getLogger`,
since the level methods are installed on :class:`logging.Logger`) has
``.status()``, ``.stdinfo()`` and ``.fullinfo()``. Messages propagate to the
root logger, where :func:`config` puts the handlers.

Console messages are bare, except for DEBUG and WARNING and above, which get a
``LEVEL - `` prefix. File messages carry a time stamp and the level name.
Every line of a message is indented by three spaces per primitive nesting
level (:func:`update_indent`).

Unlike DRAGONS, using the API without calling :func:`config` prints each
message exactly once (a default console handler is installed on the root
logger the first time a logger is requested, and only if the root logger has
no handler yet); calling :func:`config` any number of times replaces the
handlers it installed before instead of adding new ones.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Iterable
from typing import Any

STATUS = 25
STDINFO = 21
FULLINFO = 15

INDENT = "   "

MODES = ("standard", "quiet", "verbose", "debug", "rotating")

_FILE_FORMAT = "%(asctime)s %(levelname)-8s - %(message)s"
_DEBUG_FILE_FORMAT = "%(asctime)s %(name)-40s %(levelname)-8s - %(message)s"

# Levels shown on the console without a "LEVEL - " prefix.
_BARE_LEVELS = {STATUS, STDINFO, logging.INFO, FULLINFO}

# Attribute marking the handlers this module installed (so that config() can
# replace them without touching handlers installed by anybody else, e.g. pytest).
_OWNER_FLAG = "_astroreduce_handler"

_state: dict[str, Any] = {"indent": 0, "configured": False, "mode": None}


def _install_levels() -> None:
    """Register the custom level names and the matching Logger methods (once)."""
    if getattr(logging.Logger, "status", None) is not None:
        return
    for level, name in ((STATUS, "STATUS"), (STDINFO, "STDINFO"), (FULLINFO, "FULLINFO")):
        logging.addLevelName(level, name)

    def _make(level: int):
        def log_at_level(self: logging.Logger, msg: object, *args: Any, **kwargs: Any) -> None:
            if self.isEnabledFor(level):
                kwargs.setdefault("stacklevel", 2)
                self._log(level, msg, args, **kwargs)

        return log_at_level

    logging.Logger.status = _make(STATUS)
    logging.Logger.stdinfo = _make(STDINFO)
    logging.Logger.fullinfo = _make(FULLINFO)


_install_levels()


class _DynamicStdout(logging.StreamHandler):
    """A stream handler writing to whatever ``sys.stdout`` is at emit time.

    Test harnesses and notebooks swap ``sys.stdout``; holding on to the object
    seen at creation would write to a closed or stale stream.
    """

    def __init__(self) -> None:
        super().__init__(stream=sys.stdout)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it; ignore
        pass


class _IndentingFormatter(logging.Formatter):
    """Format a record line by line, each line indented to the current nesting level."""

    def __init__(self, fmt: str | None, bare_levels: set[int] | None = None) -> None:
        super().__init__(fmt)
        self._bare_levels = bare_levels

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        indent = INDENT * _state["indent"]
        lines = message.splitlines() or [""]
        out = []
        for line in lines:
            text = indent + line
            if self._bare_levels is not None:
                if record.levelno not in self._bare_levels:
                    text = f"{indent}{record.levelname} - {line}"
                out.append(text)
            else:
                line_record = logging.makeLogRecord(record.__dict__)
                line_record.msg, line_record.args = text, None
                line_record.exc_info = line_record.exc_text = None
                out.append(super().format(line_record))
        return "\n".join(out)


class DuplicateWarningFilter(logging.Filter):
    """Drop a warning identical to the warning just emitted (repeated per-file warnings)."""

    def __init__(self) -> None:
        super().__init__()
        self._last: tuple[str, int, str] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        key = (record.name, record.levelno, record.getMessage())
        if key == self._last:
            return False
        self._last = key
        return True


def _console_handler(level: int) -> logging.Handler:
    handler = _DynamicStdout()
    handler.setLevel(level)
    handler.setFormatter(_IndentingFormatter(None, bare_levels=_BARE_LEVELS))
    handler.addFilter(DuplicateWarningFilter())
    setattr(handler, _OWNER_FLAG, True)
    return handler


def _file_handler(file_name: str, level: int, stomp: bool, debug: bool,
                  rotating: bool) -> logging.Handler:
    handler: logging.Handler
    if rotating:
        handler = logging.handlers.TimedRotatingFileHandler(file_name, when="midnight")
    else:
        handler = logging.FileHandler(file_name, mode="w" if stomp else "a")
    handler.setLevel(level)
    handler.setFormatter(_IndentingFormatter(_DEBUG_FILE_FORMAT if debug else _FILE_FORMAT))
    setattr(handler, _OWNER_FLAG, True)
    return handler


def _remove_own_handlers(root: logging.Logger) -> None:
    for handler in list(root.handlers):
        if getattr(handler, _OWNER_FLAG, False):
            root.removeHandler(handler)
            handler.close()


def config(mode: str = "standard", file_name: str | None = None, file_lvl: int = FULLINFO,
           stomp: bool = False,
           additional_handlers: Iterable[logging.Handler] | None = None) -> None:
    """Configure the root logger for a reduction.

    Parameters
    ----------
    mode : {'standard', 'quiet', 'verbose', 'debug', 'rotating'}
        ``standard``: console at STDINFO (21) and above, file at `file_lvl`.
        ``quiet``: file only. ``verbose``: console at FULLINFO (15).
        ``debug``: console and file at DEBUG, file lines also name the logger.
        ``rotating``: like standard, the file rotated at midnight.
    file_name : str, optional
        Log file; no file handler when not given.
    file_lvl : int
        Lowest level written to the file (DEBUG in debug mode).
    stomp : bool
        Overwrite the log file instead of appending to it.
    additional_handlers : iterable of logging.Handler, optional
        Extra handlers attached to the root logger (kept until the next call).

    Raises
    ------
    ValueError
        If `mode` is not one of the modes above.

    Notes
    -----
    Calling ``config`` again replaces the handlers installed by the previous
    call (no duplicated messages); handlers installed by other code are kept.
    """
    if mode not in MODES:
        raise ValueError(f"logutils.config: unknown mode {mode!r}; expected one of "
                         f"{', '.join(MODES)}")
    root = logging.getLogger()
    _remove_own_handlers(root)

    debug = mode == "debug"
    console_level = {"standard": STDINFO, "rotating": STDINFO, "verbose": FULLINFO,
                     "debug": logging.DEBUG}.get(mode)
    if debug:
        file_lvl = logging.DEBUG
    if console_level is not None:
        root.addHandler(_console_handler(console_level))
    if file_name:
        root.addHandler(_file_handler(file_name, file_lvl, stomp, debug, mode == "rotating"))
    for handler in additional_handlers or ():
        setattr(handler, _OWNER_FLAG, True)
        root.addHandler(handler)

    levels = [file_lvl if file_name else logging.CRITICAL]
    if console_level is not None:
        levels.append(console_level)
    levels.extend(h.level for h in additional_handlers or () if h.level)
    root.setLevel(min(levels))
    _state["configured"] = True
    _state["mode"] = mode


def _ensure_default_console() -> None:
    """Give the API a console (once) when nobody configured logging."""
    if _state["configured"]:
        return
    root = logging.getLogger()
    if root.handlers:
        # Someone (the application, a notebook, a test harness) already
        # handles records; adding ours would print everything twice.
        _state["configured"] = True
        if root.level > FULLINFO or root.level == logging.NOTSET:
            root.setLevel(FULLINFO)
        return
    root.addHandler(_console_handler(STDINFO))
    root.setLevel(FULLINFO)
    _state["configured"] = True
    _state["mode"] = "default"


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the named logger (with ``status``/``stdinfo``/``fullinfo`` methods).

    The first call installs a console handler if logging was not configured
    (neither by :func:`config` nor by the application).
    """
    _ensure_default_console()
    return logging.getLogger(name)


def update_indent(level: int) -> int:
    """Set the nesting level used to indent every log line; return the previous one."""
    previous = _state["indent"]
    _state["indent"] = max(int(level), 0)
    return previous


def current_indent() -> int:
    """The current nesting level (0 outside any primitive)."""
    return _state["indent"]


def console_mode() -> str | None:
    """The mode of the last configuration (``'default'`` when set up implicitly)."""
    return _state["mode"]


def reset() -> None:
    """Remove the handlers installed by this module and forget the configuration."""
    _remove_own_handlers(logging.getLogger())
    _state.update(indent=0, configured=False, mode=None)
