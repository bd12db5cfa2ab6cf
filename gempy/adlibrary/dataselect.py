"""Select files by tags and descriptor expressions: the library behind the ``dataselect`` command.

The calls of the DRAGONS tutorials work unchanged::

    from gempy.adlibrary import dataselect
    darks = dataselect.select_data(all_files, ['F2', 'DARK', 'RAW'], [],
                                   dataselect.expr_parser('exposure_time==120'))

Unlike DRAGONS, the expression is parsed into a tree and interpreted (see
:mod:`gempy.adlibrary.selection_expression` for the grammar and the
semantics); it is never handed to ``eval``. Only headers are read.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from importlib import import_module
from typing import Any

import astrodata
from gempy.adlibrary.descriptor_access import (
    call_descriptor,
    class_descriptor_names,
    known_descriptor_names,
    plain_value,
)
from gempy.adlibrary.selection_expression import (
    PRETTY_DESCRIPTORS,
    ExpressionError,
    Literal,
    evaluate_tree,
    parse_expression,
    tree_descriptor_names,
)

__all__ = [
    "ExpressionError",
    "SelectionExpression",
    "expr_parser",
    "evaluate",
    "select_data",
    "load_adpkg",
    "open_error_reason",
    "list_header",
    "write_list",
]

log = logging.getLogger(__name__)


class SelectionExpression:
    """A parsed, validated selection expression, ready to test files.

    Build it with :func:`expr_parser`. ``str(expression)`` gives back the
    text as typed; calling it on an AstroData object returns a bool.

    Attributes
    ----------
    text : str
        The expression as typed.
    strict : bool
        Exact matching (no tolerance on exposure_time/central_wavelength, raw
        filter_name/detector_name/disperser values).
    tree : Literal | Comparison | AllOf | AnyOf | Negation
        The parsed condition.
    """

    def __init__(self, text: str, strict: bool, tree: Any):
        self.text = text
        self.strict = strict
        self.tree = tree

    @property
    def descriptors(self) -> frozenset[str]:
        """Descriptor names used by the expression."""
        return frozenset(tree_descriptor_names(self.tree))

    @property
    def always_true(self) -> bool:
        """True for the expression ``True`` (selects on tags only)."""
        return isinstance(self.tree, Literal) and self.tree.value is True

    def __call__(self, ad: Any) -> bool:
        return evaluate(ad, self)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"expr_parser({self.text!r}, strict={self.strict})"


def expr_parser(expr: str, strict: bool = False) -> SelectionExpression:
    """Parse a descriptor expression such as ``'exposure_time==120'``.

    Parameters
    ----------
    expr : str
        Conditions on descriptors: comparisons (``== != < <= > >=``) of
        descriptor names with quoted strings, numbers, True/False/None,
        joined with ``and`` / ``or`` / ``not`` and parentheses. Descriptor
        names cannot be used bare as booleans.
    strict : bool
        If True, ``exposure_time`` and ``central_wavelength`` must be equal
        exactly, and ``filter_name``, ``detector_name`` and ``disperser`` are
        compared with their full values (component IDs included).

    Returns
    -------
    SelectionExpression

    Raises
    ------
    ExpressionError
        (a ValueError) naming the offending piece: a syntax error, a
        construct that is not allowed (calls, attributes, subscripts,
        arithmetic, comprehensions, lambdas, f-strings...), an unknown
        descriptor name (with close names suggested) or a malformed date.

    Examples
    --------
    >>> expr_parser('observation_class=="science" and exposure_time==60.')
    >>> expr_parser("ut_date>='2013-11-21' and filter_name=='Y'")
    """
    if isinstance(expr, SelectionExpression):
        return expr if expr.strict == strict else SelectionExpression(expr.text, strict, expr.tree)
    tree = parse_expression(expr, _known_names_or_none())
    return SelectionExpression(expr, strict, tree)


def _known_names_or_none() -> frozenset[str] | None:
    """Descriptor names to validate against; None (accept any) if none are known."""
    known = known_descriptor_names()
    return known or None


def _as_expression(expression: Any) -> SelectionExpression:
    if isinstance(expression, SelectionExpression):
        return expression
    if expression is None or expression is True:
        return expr_parser("True")
    if isinstance(expression, str):
        return expr_parser(expression)
    raise ExpressionError(
        f"expression must be a string or an expr_parser() result, not {type(expression).__name__}"
    )


def _descriptor_lookup(ad: Any, strict: bool):
    """A cached ``lookup(name)`` giving descriptor values of ``ad`` as the expression sees them."""
    names = class_descriptor_names(type(ad))
    cache: dict[str, Any] = {}

    def lookup(name: str) -> Any:
        if name in cache:
            return cache[name]
        value = None
        if name in names:
            kwargs = {"pretty": True} if (name in PRETTY_DESCRIPTORS and not strict) else {}
            try:
                value = plain_value(call_descriptor(ad, name, **kwargs))
            except Exception as err:  # a descriptor must not stop a selection
                log.debug("%s: descriptor %s failed: %s", _name_of(ad), name, err)
                value = None
        if isinstance(value, list):
            if not value:
                value = None
            elif all(item == value[0] for item in value[1:]):
                value = value[0]
        cache[name] = value
        return value

    return lookup


def evaluate(ad: Any, expr: SelectionExpression | str) -> bool:
    """Evaluate an expression on one AstroData object.

    Parameters
    ----------
    ad : AstroData
    expr : SelectionExpression or str
        A result of :func:`expr_parser`, or a string that is parsed first
        (non-strict).

    Returns
    -------
    bool
    """
    expression = _as_expression(expr)
    return evaluate_tree(expression.tree, _descriptor_lookup(ad, expression.strict),
                         strict=expression.strict)


def load_adpkg(name: str | None) -> None:
    """Import an extra astrodata package, whose import registers more classes.

    Raises
    ------
    ValueError
        if the module cannot be imported.
    """
    if not name:
        return
    try:
        import_module(name)
    except Exception as err:  # ImportError or an error inside the package
        raise ValueError(f"cannot import astrodata package '{name}': {err}") from err


def _tag_list(tags: Iterable[str] | str | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    return [tag.strip() for tag in tags if tag and tag.strip()]


def _name_of(ad: Any) -> str:
    return getattr(ad, "filename", None) or repr(ad)


def select_data(
    inputs: Sequence[str | os.PathLike],
    tags: Iterable[str] | str = (),
    xtags: Iterable[str] | str = (),
    expression: SelectionExpression | str = "True",
    adpkg: str | None = None,
    *,
    on_error: str | Callable[[Any, BaseException], None] = "warn",
) -> list:
    """Keep the files that have all ``tags``, none of ``xtags``, and satisfy ``expression``.

    Parameters
    ----------
    inputs : sequence of str or path-like
        Files to test, in the order wanted for the output.
    tags : iterable of str (or a comma-separated str)
        Tags that must all be present.
    xtags : iterable of str (or a comma-separated str)
        Tags of which none may be present.
    expression : SelectionExpression or str
        Result of :func:`expr_parser`, or an expression string (non-strict).
    adpkg : str, optional
        Module to import first; it may register more AstroData classes.
    on_error : {'warn', 'raise'} or callable
        What to do with a file that cannot be opened: log a warning and skip
        it (default), raise, or call ``on_error(item, exception)`` and skip it.

    Returns
    -------
    list
        The selected items of ``inputs``, unchanged and in input order.

    Raises
    ------
    ExpressionError
        for a bad expression (before any file is read).
    astrodata.AstroDataError or OSError
        for an unreadable file when ``on_error='raise'``.
    """
    if not callable(on_error) and on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', not {on_error!r}")
    load_adpkg(adpkg)
    expression = _as_expression(expression)
    required = set(_tag_list(tags))
    excluded = set(_tag_list(xtags))
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]

    # Tags cost as much as opening the file: compute them only when asked to.
    check_tags = bool(required or excluded)
    selected = []
    for item in inputs:
        try:
            ad = astrodata.open(os.fspath(item))
            file_tags = ad.tags if check_tags else frozenset()
        except (astrodata.AstroDataError, OSError) as err:
            if on_error == "raise":
                raise
            if callable(on_error):
                on_error(item, err)
            else:
                log.warning("skipping %s: %s", os.fspath(item), open_error_reason(err, item))
            continue
        if check_tags and (not required <= file_tags or excluded & file_tags):
            continue
        if expression.always_true or evaluate(ad, expression):
            selected.append(item)
    return selected


def open_error_reason(err: BaseException, path: str | os.PathLike | None = None) -> str:
    """A short reason for a failure to open ``path``, without repeating the path."""
    if isinstance(err, FileNotFoundError):
        return "no such file"
    if isinstance(err, IsADirectoryError):
        return "is a directory"
    if isinstance(err, PermissionError):
        return "permission denied"
    message = " ".join(str(err).split()) or type(err).__name__
    if path is not None:
        name = os.fspath(path)
        for prefix in (name, os.path.abspath(name), os.path.basename(name)):
            if prefix and message.startswith(prefix + ": "):
                return message[len(prefix) + 2:]
    return message


def list_header(tags: Iterable[str] | str | None, xtags: Iterable[str] | str | None,
                expression: SelectionExpression | str | None) -> list[str]:
    """The three comment lines that start a dataselect list file.

    ``# Includes tags: [...]``, ``# Excludes tags: [...]`` and
    ``# Descriptor expression: ...`` (``None`` without an expression), as
    DRAGONS writes them; ``reduce @file`` skips them.
    """
    text = "None" if expression is None else str(expression)
    return [
        f"# Includes tags: {_tag_list(tags)}",
        f"# Excludes tags: {_tag_list(xtags)}",
        f"# Descriptor expression: {' '.join(text.split())}",
    ]


def write_list(path: str | os.PathLike, files: Iterable[str | os.PathLike],
               header: Iterable[str] = ()) -> None:
    """Write comment lines then one file name per line, atomically.

    The text goes to a temporary file in the target directory, which then
    replaces ``path`` (os.replace), so a reader never sees a partial list.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    lines = [*header, *(os.fspath(name) for name in files)]
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".list", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write("".join(line + "\n" for line in lines))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
