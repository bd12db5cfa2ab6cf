"""Pieces shared by the helper command-line tools: argument parsing, input expansion, exit codes.

Every helper CLI follows the same rules: exit 0 when it did its job, 1 when
nothing matched or a file failed, 2 for a usage or expression error; errors
are ONE line on stderr (``prog: error: ...``), with a traceback only under
``--debug``.
"""

from __future__ import annotations

import argparse
import functools
import glob
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import NoReturn, TextIO

__all__ = [
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "HelperArgumentParser",
    "UsageError",
    "expand_inputs",
    "read_list_file",
    "report_error",
    "report_warning",
    "parse_or_exit_code",
    "use_colour",
    "package_version",
    "quiet_on_broken_pipe",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
#: What a shell reports for a command stopped by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141

_GLOB_CHARACTERS = set("*?[")


class UsageError(Exception):
    """A command-line mistake: reported on one line, exit status 2."""


class HelperArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit 2.

    The examples given as ``epilog`` are shown verbatim by ``--help``.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_or_exit_code(parser: argparse.ArgumentParser,
                       argv: Sequence[str]) -> tuple[argparse.Namespace | None, int]:
    """Parse ``argv``; return ``(namespace, 0)``, or ``(None, status)`` after --help or an error."""
    try:
        return parser.parse_args(list(argv)), EXIT_OK
    except SystemExit as stop:
        code = stop.code
        if code is None:
            return None, EXIT_OK
        return None, code if isinstance(code, int) else EXIT_USAGE


def report_error(prog: str, message: str, debug: bool = False,
                 stream: TextIO | None = None) -> None:
    """Print ``prog: error: message`` as one line on stderr (traceback first under --debug)."""
    stream = stream or sys.stderr
    if debug and sys.exc_info()[0] is not None:
        traceback.print_exc(file=stream)
    print(f"{prog}: error: {_one_line(message)}", file=stream)


def report_warning(prog: str, message: str, stream: TextIO | None = None) -> None:
    """Print ``prog: warning: message`` as one line on stderr."""
    print(f"{prog}: warning: {_one_line(message)}", file=stream or sys.stderr)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def read_list_file(path: str, seen: frozenset[str] = frozenset()) -> list[str]:
    """Read an @list file: whitespace-separated names, ``#`` comments, nested @lists.

    Raises
    ------
    UsageError
        if the file cannot be read or @lists include each other in a loop.
    """
    real = os.path.realpath(path)
    if real in seen:
        raise UsageError(f"@{path}: list files include each other in a loop")
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as err:
        raise UsageError(f"@{path}: cannot read list file: {err.strerror or err}") from None
    names: list[str] = []
    for line in text.splitlines():
        for token in line.split():
            if token.startswith("#"):
                break  # the rest of the line is a comment
            if token.startswith("@"):
                names.extend(read_list_file(os.path.expanduser(token[1:]), seen | {real}))
            else:
                names.append(token)
    return names


def expand_inputs(tokens: Iterable[str], warn=None) -> list[str]:
    """Expand @lists and glob patterns, keeping the order given.

    A pattern's matches are sorted (the shell would sort them too); a pattern
    that matches nothing is reported through ``warn(message)`` and dropped.
    Plain names are kept as typed, even if the file does not exist: opening
    it reports the problem.
    """
    names: list[str] = []
    for token in tokens:
        if token.startswith("@") and len(token) > 1:
            candidates = read_list_file(os.path.expanduser(token[1:]))
        else:
            candidates = [token]
        for name in candidates:
            if _GLOB_CHARACTERS & set(name) and not os.path.exists(name):
                matches = sorted(glob.glob(os.path.expanduser(name)))
                if not matches and warn is not None:
                    warn(f"no file matches '{name}'")
                names.extend(matches)
            else:
                names.append(name)
    return names


def use_colour(stream: TextIO) -> bool:
    """Colour only on an interactive terminal (and not when NO_COLOR is set)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):
        return False


def package_version() -> str:
    """Installed astroreduce version ("unknown" when not installed)."""
    try:
        return metadata.version("astroreduce")
    except metadata.PackageNotFoundError:
        return "unknown"


def quiet_on_broken_pipe(main):
    """Decorate a ``main``: stop quietly when the reader of stdout goes away (``| head``)."""

    @functools.wraps(main)
    def run(*args, **kwargs):
        try:
            status = main(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows up here rather than at exit
            return status
        except BrokenPipeError:
            # Point stdout at /dev/null so that the interpreter's final flush
            # does not raise again on exit.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            return EXIT_BROKEN_PIPE

    return run
