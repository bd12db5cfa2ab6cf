"""The ``typewalk`` command: walk a directory tree and list the tags of every FITS file."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TextIO

import astrodata
from astrodata.factory import select_class
from astrodata.fits import read_source
from gempy.adlibrary import dataselect
from gempy.scripts.cli_support import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    HelperArgumentParser,
    package_version,
    parse_or_exit_code,
    quiet_on_broken_pipe,
    report_error,
    use_colour,
)

PROG = "typewalk"

#: DRAGONS' default file mask: names ending in .fits, .FITS or .fz. Compressed
#: ``.fits.gz`` files are not matched unless asked for with -f.
DEFAULT_FILEMASK = r".*?\.(fits|FITS|fz)$"

# Layout of a listing line, as DRAGONS prints it: a 5-space indent, the file
# name, then dots up to the next multiple of 40 columns, then the tags.
_INDENT = " " * 5
_COLUMN = 40

_CYAN, _BLUE, _RED, _END = "\033[96m", "\033[94m", "\033[91m", "\033[0m"

DESCRIPTION = """\
Walk a directory tree (recursively unless -n) and print, for every file whose
name matches the -f regular expression, its sorted tags. Only headers are read.
Files that cannot be read are listed with the reason and the walk goes on.
FITS files that no instrument class recognises (they have no tags: catalogues,
the simulator's truth images...) are not listed: no recipe can reduce them.

With --tags only files carrying ALL those tags are listed (ANY of them with
--or); --xtags drops files carrying any of the given tags. -o writes the
listed files, one absolute path a line after '#' header lines, ready for
'reduce @FILE'. Colour is used only on a terminal.

The default mask, .*?\\.(fits|FITS|fz)$ (DRAGONS' own), does not match
.fits.gz files: use -f '.*\\.fits(\\.gz)?$' for them.

Exit status: 0 when files were listed, 1 when none matched, 2 for a usage
error (bad directory or regular expression)."""

EXAMPLES = """\
examples:
  typewalk -d ../playdata/
  typewalk -n --tags SOUTH GSAOI IMAGE -o gsaoi_images.list
  typewalk --tags FLAT DARK --or --xtags PROCESSED -d raw/
  typewalk -f 'S2017.*\\.fits$' -d ../playdata
  reduce @gsaoi_images.list"""


def build_parser() -> HelperArgumentParser:
    """The argument parser of ``typewalk``."""
    parser = HelperArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EXAMPLES)
    parser.add_argument("-d", "--dir", dest="directory", default=os.curdir,
                        help="directory to walk (default: the current directory)")
    parser.add_argument("-n", "--norecurse", action="store_true",
                        help="do not descend into subdirectories")
    parser.add_argument("-f", "--filemask", default=DEFAULT_FILEMASK, metavar="REGEX",
                        help=f"list files whose name matches REGEX (default {DEFAULT_FILEMASK!r})")
    parser.add_argument("--tags", nargs="+", default=None, metavar="TAG",
                        help="list only files with ALL these tags (space or comma separated)")
    parser.add_argument("--xtags", nargs="+", default=None, metavar="TAG",
                        help="do not list files with ANY of these tags")
    parser.add_argument("--or", dest="or_logic", action="store_true",
                        help="with --tags, list files with ANY of the tags")
    parser.add_argument("-o", "--out", dest="outfile", default=None, metavar="FILE",
                        help="write the listed files to FILE for 'reduce @FILE'")
    parser.add_argument("-b", "--batch", default=None, metavar="N",
                        help="accepted for DRAGONS compatibility and ignored")
    parser.add_argument("--adpkg", default=None, metavar="MODULE",
                        help="import MODULE first; it may register more AstroData classes")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def _split_tags(values: Sequence[str] | None) -> list[str]:
    tags: list[str] = []
    for value in values or ():
        tags.extend(tag.strip() for tag in value.split(",") if tag.strip())
    return tags


def _walk(top: str, recurse: bool) -> Iterator[tuple[str, list[str]]]:
    """Yield (directory, sorted file names), directories in sorted depth-first order."""
    if not recurse:
        with os.scandir(top) as entries:
            files = sorted(entry.name for entry in entries if not entry.is_dir())
        yield top, files
        return
    for root, dirs, files in os.walk(top):
        dirs.sort()
        yield root, sorted(files)


def frame_tags(path: str) -> frozenset[str]:
    """Tags of the file at ``path``; empty when no instrument class recognises it.

    Such a file is matched only by the generic AstroData class, which has no
    tags, so it is judged from its primary header alone: its HDUs are not
    mapped (their layout warnings would say nothing about tags).
    """
    source = read_source(path)
    cls = select_class(source)
    if cls is astrodata.AstroData:
        return frozenset()
    return cls.read(source).tags


def listing_line(name: str, tags: Sequence[str] | None, reason: str | None = None,
                 colour: bool = False) -> str:
    """One file's line(s): ``     NAME ....... (TAG) (TAG)``, dot-padded as DRAGONS does.

    A name too long for the 40-column field goes on a line of its own and the
    dots start on the next line.
    """
    blue, red, end = (_BLUE, _RED, _END) if colour else ("", "", "")
    lines = []
    field = _COLUMN - len(_INDENT)
    if len(name) >= field - 1:
        lines.append(f"{_INDENT}{blue}{name}{end}")
        prefix, shown = _INDENT, _INDENT
    else:
        prefix, shown = f"{_INDENT}{name} ", f"{_INDENT}{blue}{name}{end} "
    dots = "." * (_COLUMN - len(prefix) % _COLUMN)
    if reason is not None:
        detail = f"[unreadable: {reason}]"
    else:
        detail = " ".join(f"({tag})" for tag in sorted(tags or ()))
    lines.append(f"{shown}{dots} {red}{detail}{end}")
    return "\n".join(lines)


def _outfile_header(tags: list[str], xtags: list[str], or_logic: bool) -> list[str]:
    header = [
        f"# Auto-generated by typewalk, v{package_version()}",
        f"# Written: {time.ctime()}",
        f"# Qualifying types: {'  '.join(tags) if tags else 'all'}",
        f"# Qualifying logic: {'OR' if or_logic else 'AND'}",
    ]
    if xtags:
        header.append(f"# Excluded types:   {' '.join(xtags)}")
    header.append("# -----------------------")
    return header


def typewalk(directory: str, out: TextIO, *, tags: Sequence[str] = (),
             xtags: Sequence[str] = (), or_logic: bool = False,
             filemask: str = DEFAULT_FILEMASK, recurse: bool = True,
             colour: bool = False) -> list[str]:
    """Walk ``directory``, print the listing to ``out``, return the listed files' absolute paths.

    Files without tags (see :func:`frame_tags`) are not listed.

    Raises
    ------
    re.error
        for an invalid ``filemask``.
    OSError
        if ``directory`` cannot be read.
    """
    mask = re.compile(filemask)
    required, excluded = set(tags), set(xtags)
    top = os.path.abspath(directory)
    listed: list[str] = []
    cyan, end = (_CYAN, _END) if colour else ("", "")
    for root, files in _walk(top, recurse):
        header_printed = False
        for name in files:
            if not mask.match(name):
                continue
            path = os.path.join(root, name)
            reason = None
            file_tags: frozenset[str] = frozenset()
            try:
                file_tags = frame_tags(path)
            except (astrodata.AstroDataError, OSError) as err:
                reason = dataselect.open_error_reason(err, path)
            if reason is None:
                if not file_tags:
                    continue  # not an instrument's frame
                if excluded & file_tags:
                    continue
                if required:
                    wanted = (required & file_tags) if or_logic else (required <= file_tags)
                    if not wanted:
                        continue
                listed.append(path)
            if not header_printed:
                print(f"\n{cyan}directory: {end} {root}", file=out)
                header_printed = True
            print(listing_line(name, sorted(file_tags), reason, colour), file=out)
    return listed


@quiet_on_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``typewalk``; return the exit status (0 listed, 1 none, 2 usage error)."""
    parser = build_parser()
    args, status = parse_or_exit_code(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    try:
        dataselect.load_adpkg(args.adpkg)
    except ValueError as err:
        report_error(PROG, f"--adpkg: {err}", args.debug)
        return EXIT_USAGE
    try:
        re.compile(args.filemask)
    except re.error as err:
        report_error(PROG, f"-f: invalid regular expression {args.filemask!r}: {err}",
                     args.debug)
        return EXIT_USAGE
    if not os.path.isdir(args.directory):
        report_error(PROG, f"-d: {args.directory}: not a directory", args.debug)
        return EXIT_USAGE

    tags, xtags = _split_tags(args.tags), _split_tags(args.xtags)
    try:
        listed = typewalk(args.directory, sys.stdout, tags=tags, xtags=xtags,
                          or_logic=args.or_logic, filemask=args.filemask,
                          recurse=not args.norecurse, colour=use_colour(sys.stdout))
    except BrokenPipeError:
        raise
    except OSError as err:
        report_error(PROG, f"{args.directory}: {err.strerror or err}", args.debug)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("Interrupted by Control-C", file=sys.stderr)
        return 130
    print("Done DataSpider.typewalk(..)")

    if args.outfile is not None:
        try:
            dataselect.write_list(args.outfile, listed,
                                  _outfile_header(tags, xtags, args.or_logic))
        except OSError as err:
            report_error(PROG, f"cannot write {args.outfile}: {err.strerror or err}",
                         args.debug)
            return EXIT_FAILURE
    return EXIT_OK if listed else EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
