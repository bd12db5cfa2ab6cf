"""The descriptor expression language of ``dataselect --expr``: a safe parser and interpreter.

An expression such as ``observation_class=="science" and exposure_time==60.``
is parsed with :func:`ast.parse` (``mode='eval'``; parsing never runs code),
checked against a whitelist of node types, turned into a small tree of our
own node classes and evaluated by :func:`evaluate_tree`. It never reaches
``eval``, ``exec`` or ``compile``.

Grammar (everything else is rejected with an error naming the offending piece):

- conditions joined with ``and`` / ``or``, negated with ``not``, grouped with
  parentheses;
- a condition is a comparison ``==  !=  <  <=  >  >=`` (chains such as
  ``1 < airmass <= 1.5`` are allowed) between descriptor names and literals,
  or the literal ``True`` / ``False``;
- a descriptor name stands for the descriptor's value on the file
  (``exposure_time`` means ``ad.exposure_time()``); descriptor names are not
  conditions on their own (write ``is_ao==True``, not ``is_ao``);
- literals: strings in single or double quotes, integers, floats (``60.``,
  ``-30.5``), ``True``, ``False``, ``None``.

Semantics (those of DRAGONS' dataselect, minus ``eval``):

- ``exposure_time==X`` is true within a relative tolerance of 1e-2 and
  ``central_wavelength==X`` within 1e-5 (``!=`` is the negation), unless
  ``strict``;
- ``filter_name``, ``detector_name`` and ``disperser`` are compared in their
  pretty form (``'Kshort'`` matches ``Kshort_G1105&Clear``) unless ``strict``;
- ``ut_date`` compares as a date (``'2013-11-21'``), ``ut_time`` and
  ``local_time`` as times (``'%H:%M:%S'``), ``ut_datetime`` as a date and time
  (``'2013-11-21 12:00:00'`` or ISO ``T`` form);
- a descriptor that returns None (missing or bad keyword, or a descriptor the
  file's class does not have) makes every comparison false, except
  ``== None`` (true) and ``!= None`` (false);
- a number compared with a string that reads as a number compares
  numerically (``object==9132`` works for ``OBJECT='9132'``); other
  mismatched types compare unequal and unordered;
- a per-extension descriptor whose extensions disagree satisfies a
  comparison only if every extension does.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import numbers
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gempy.adlibrary.descriptor_access import unknown_descriptor_message

__all__ = [
    "ExpressionError",
    "Literal",
    "DescriptorRef",
    "Comparison",
    "AllOf",
    "AnyOf",
    "Negation",
    "parse_expression",
    "evaluate_tree",
    "tree_descriptor_names",
    "PRETTY_DESCRIPTORS",
    "APPROXIMATE_DESCRIPTORS",
    "TEMPORAL_DESCRIPTORS",
]

MAX_EXPRESSION_LENGTH = 4000
MAX_NESTING = 60

#: Descriptors compared in their ``pretty=True`` form unless strict.
PRETTY_DESCRIPTORS = frozenset({"filter_name", "detector_name", "disperser"})
#: Descriptors whose ``==`` / ``!=`` use a relative tolerance unless strict.
APPROXIMATE_DESCRIPTORS = {"exposure_time": 1e-2, "central_wavelength": 1e-5}
#: Descriptors compared as dates, times or date-times; literals are converted.
TEMPORAL_DESCRIPTORS = {
    "ut_date": "date",
    "ut_time": "time",
    "local_time": "time",
    "ut_datetime": "datetime",
}


class ExpressionError(ValueError):
    """A selection expression that cannot be parsed or is not allowed."""


# --------------------------------------------------------------------------
# Tree
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    """A constant: str, int, float, bool, None, or a converted date/time."""

    value: Any
    source: str


@dataclass(frozen=True)
class DescriptorRef:
    """The value of a descriptor on the file being tested."""

    name: str
    source: str


@dataclass(frozen=True)
class Comparison:
    """A comparison chain: ``operands[0] ops[0] operands[1] ops[1] ...``."""

    operands: tuple[Literal | DescriptorRef, ...]
    ops: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class AllOf:
    """Conjunction (``and``)."""

    terms: tuple[Any, ...]
    source: str


@dataclass(frozen=True)
class AnyOf:
    """Disjunction (``or``)."""

    terms: tuple[Any, ...]
    source: str


@dataclass(frozen=True)
class Negation:
    """Negation (``not``)."""

    term: Any
    source: str


Condition = Literal | Comparison | AllOf | AnyOf | Negation

# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------
_COMPARISON_SYMBOLS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}

# What to call the constructs we refuse, for the error message.
_FORBIDDEN_NAMES = {
    ast.Call: "calls are not allowed",
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Slice: "slices are not allowed",
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.BinOp: "arithmetic and bitwise operators are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.NamedExpr: "assignment expressions are not allowed",
    ast.Starred: "starred expressions are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dictionaries are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}

_DATE_OR_TIME = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}:\d{2}")


class _Parser:
    """Turn the (whitelisted) Python AST of an expression into our tree."""

    def __init__(self, text: str, known_descriptors: Iterable[str] | None):
        self.text = text
        self.known = frozenset(known_descriptors) if known_descriptors is not None else None

    # -- helpers ----------------------------------------------------------
    def segment(self, node: ast.AST) -> str:
        piece = ast.get_source_segment(self.text, node)
        return piece if piece is not None else ast.unparse(node)

    def refuse(self, node: ast.AST, reason: str | None = None) -> ExpressionError:
        """Build the error for a node we do not accept, naming the source piece."""
        node = _root_of_chain(node)
        if reason is None:
            reason = _FORBIDDEN_NAMES.get(type(node), f"{type(node).__name__} is not allowed")
        piece = self.segment(node)
        hint = ""
        if isinstance(node, ast.BinOp) and _DATE_OR_TIME.search(piece):
            hint = " (quote dates and times, e.g. ut_date>='2013-11-21')"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if self.known is not None and node.func.id in self.known:
                hint = " (write descriptor names without parentheses)"
        return ExpressionError(f"{reason}: {piece}{hint}")

    # -- conditions ---------------------------------------------------------
    def condition(self, node: ast.AST, depth: int) -> Condition:
        if depth > MAX_NESTING:
            raise ExpressionError("expression is nested too deeply")
        source = self.segment(node)
        if isinstance(node, ast.BoolOp):
            terms = tuple(self.condition(value, depth + 1) for value in node.values)
            return AllOf(terms, source) if isinstance(node.op, ast.And) else AnyOf(terms, source)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return Negation(self.condition(node.operand, depth + 1), source)
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return Literal(node.value, source)
        if isinstance(node, ast.Name):
            self.descriptor(node, source, operand=False)  # unknown names are reported first
            raise ExpressionError(
                f"'{node.id}' is not a condition: compare it with a value,"
                f" e.g. {node.id}==... (descriptors cannot be used bare as booleans)"
            )
        if isinstance(node, ast.Constant) or _is_signed_number(node):
            raise ExpressionError(f"a literal is not a condition: {source}")
        raise self.refuse(node)

    def comparison(self, node: ast.Compare) -> Comparison:
        ops = []
        for op in node.ops:
            symbol = _COMPARISON_SYMBOLS.get(type(op))
            if symbol is None:
                word = {ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
                raise ExpressionError(
                    f"operator '{word.get(type(op), type(op).__name__)}' is not allowed"
                    f" (use == != < <= > >=): {self.segment(node)}"
                )
            ops.append(symbol)
        operands = [self.operand(child) for child in [node.left, *node.comparators]]
        for left, symbol, right in zip(operands, ops, operands[1:], strict=False):
            if symbol not in ("==", "!=") and (_is_none(left) or _is_none(right)):
                raise ExpressionError(
                    f"None can only be compared with == or !=: {self.segment(node)}"
                )
        operands = self.convert_temporal_literals(operands, node)
        return Comparison(tuple(operands), tuple(ops), self.segment(node))

    def operand(self, node: ast.AST) -> Literal | DescriptorRef:
        source = self.segment(node)
        if isinstance(node, ast.Name):
            return self.descriptor(node, source)
        if isinstance(node, ast.Constant):
            if node.value is None or isinstance(node.value, (str, bool, int, float)):
                return Literal(node.value, source)
            raise ExpressionError(f"literals of type {type(node.value).__name__} are not"
                                  f" allowed: {source}")
        if _is_signed_number(node):
            value = node.operand.value
            return Literal(-value if isinstance(node.op, ast.USub) else value, source)
        if isinstance(node, (ast.Compare, ast.BoolOp)) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            raise ExpressionError(f"conditions cannot be compared with values: {source}")
        if isinstance(node, ast.UnaryOp):
            raise self.refuse(node, "unary operators are only allowed on numbers")
        raise self.refuse(node)

    def descriptor(self, node: ast.Name, source: str, operand: bool = True) -> DescriptorRef:
        name = node.id
        if self.known is not None and name not in self.known:
            message = unknown_descriptor_message(name, self.known)
            if operand and "did you mean" not in message:
                message += f"; to compare with text, quote it: '{name}'"
            raise ExpressionError(message)
        return DescriptorRef(name, source)

    def convert_temporal_literals(self, operands: list, node: ast.Compare) -> list:
        """Turn string literals compared with ut_date & co. into dates/times."""
        kinds = {
            TEMPORAL_DESCRIPTORS[operand.name]
            for operand in operands
            if isinstance(operand, DescriptorRef) and operand.name in TEMPORAL_DESCRIPTORS
        }
        if not kinds:
            return operands
        if len(kinds) > 1:
            raise ExpressionError(
                f"dates, times and date-times cannot be compared together: {self.segment(node)}"
            )
        kind = kinds.pop()
        converted = []
        for operand in operands:
            if isinstance(operand, Literal) and isinstance(operand.value, str):
                try:
                    value = parse_temporal(operand.value, kind)
                except ValueError:
                    raise ExpressionError(
                        f"{operand.source} is not a {_TEMPORAL_FORMS[kind]}"
                        f" in: {self.segment(node)}"
                    ) from None
                operand = Literal(value, operand.source)
            converted.append(operand)
        return converted


def _is_signed_number(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    )


def _is_none(operand: Literal | DescriptorRef) -> bool:
    return isinstance(operand, Literal) and operand.value is None


def _root_of_chain(node: ast.AST) -> ast.AST:
    """For ``a(...).b(...)`` chains, the innermost call or attribute: where it starts."""
    while True:
        inner = None
        if isinstance(node, ast.Call):
            inner = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            inner = node.value
        if isinstance(inner, ast.Attribute) and isinstance(node, ast.Call):
            inner = inner.value  # `x.method(...)`: look at what `x` is
        if isinstance(inner, (ast.Call, ast.Attribute, ast.Subscript)):
            node = inner
            continue
        return node


_TEMPORAL_FORMS = {
    "date": "date (YYYY-MM-DD)",
    "time": "time (HH:MM:SS)",
    "datetime": "date and time (YYYY-MM-DD HH:MM:SS)",
}


def parse_temporal(text: str, kind: str) -> dt.date | dt.time | dt.datetime:
    """Read a date (``%Y-%m-%d``), a time (``%H:%M:%S``) or an ISO date-time.

    Raises
    ------
    ValueError
        if the text is not of that form.
    """
    text = text.strip()
    if kind == "date":
        return dt.datetime.strptime(text, "%Y-%m-%d").date()
    if kind == "time":
        for form in ("%H:%M:%S", "%H:%M:%S.%f", "%H:%M"):
            try:
                return dt.datetime.strptime(text, form).time()
            except ValueError:
                continue
        raise ValueError(text)
    return dt.datetime.fromisoformat(text)


def parse_expression(text: str, known_descriptors: Iterable[str] | None = None) -> Condition:
    """Parse an expression into a tree of conditions.

    Parameters
    ----------
    text : str
        The expression, in the grammar of this module's docstring.
    known_descriptors : iterable of str, optional
        Descriptor names accepted; any other name is an error suggesting the
        close ones. None accepts any name.

    Returns
    -------
    Literal | Comparison | AllOf | AnyOf | Negation

    Raises
    ------
    ExpressionError
        naming the offending piece of the expression.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"the expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    # A user may type the expression over several lines; Python's "eval" mode
    # would refuse a line break or leading blanks.
    text = " ".join(text.split("\n")).strip()
    if not text:
        raise ExpressionError("empty expression")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ExpressionError(_syntax_message(text, err)) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("expression is nested too deeply or malformed") from None
    try:
        return _Parser(text, known_descriptors).condition(tree.body, 0)
    except RecursionError:
        raise ExpressionError("expression is nested too deeply") from None


def _syntax_message(text: str, err: SyntaxError) -> str:
    column = err.offset or 0
    reason = (err.msg or "invalid syntax").split(".")[0]
    message = f"{reason} at column {column}: {text}"
    stripped = re.sub(r"(['\"]).*?\1", "", text)  # ignore '=' inside string literals
    if re.search(r"(?<![=!<>])=(?!=)", stripped):
        message += " (use == to test equality)"
    elif re.search(r"&&|\|\|", stripped):
        message += " (use 'and' / 'or')"
    return message


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------
_ORDERING = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def tree_descriptor_names(node: Any) -> set[str]:
    """Names of all the descriptors a tree uses."""
    if isinstance(node, DescriptorRef):
        return {node.name}
    if isinstance(node, Comparison):
        return set().union(*(tree_descriptor_names(o) for o in node.operands))
    if isinstance(node, (AllOf, AnyOf)):
        return set().union(*(tree_descriptor_names(t) for t in node.terms))
    if isinstance(node, Negation):
        return tree_descriptor_names(node.term)
    return set()


def evaluate_tree(node: Condition, lookup: Callable[[str], Any], strict: bool = False) -> bool:
    """Evaluate a parsed condition.

    Parameters
    ----------
    node : Condition
        Root of a tree from :func:`parse_expression`.
    lookup : callable
        ``lookup(name)`` returns the value of descriptor ``name`` on the file
        (already in its pretty form where that applies), or None.
    strict : bool
        Exact equality for ``exposure_time`` and ``central_wavelength``.

    Returns
    -------
    bool
    """
    if isinstance(node, Literal):
        return bool(node.value)
    if isinstance(node, AllOf):
        return all(evaluate_tree(term, lookup, strict) for term in node.terms)
    if isinstance(node, AnyOf):
        return any(evaluate_tree(term, lookup, strict) for term in node.terms)
    if isinstance(node, Negation):
        return not evaluate_tree(node.term, lookup, strict)
    if isinstance(node, Comparison):
        return _evaluate_comparison(node, lookup, strict)
    raise ExpressionError(f"not a condition: {node!r}")


def _evaluate_comparison(node: Comparison, lookup: Callable[[str], Any], strict: bool) -> bool:
    values = []
    for operand in node.operands:
        if isinstance(operand, DescriptorRef):
            value = lookup(operand.name)
            kind = TEMPORAL_DESCRIPTORS.get(operand.name)
            if kind is not None:
                value = _as_temporal(value, kind)
            values.append(value)
        else:
            values.append(operand.value)
    for index, symbol in enumerate(node.ops):
        left, right = node.operands[index], node.operands[index + 1]
        tolerance = None
        if not strict and symbol in ("==", "!="):
            for operand in (left, right):
                if isinstance(operand, DescriptorRef) and operand.name in APPROXIMATE_DESCRIPTORS:
                    tolerance = APPROXIMATE_DESCRIPTORS[operand.name]
        explicit_none = _is_none(left) or _is_none(right)
        if not _compare_values(symbol, values[index], values[index + 1], tolerance,
                               explicit_none):
            return False
    return True


def _as_temporal(value: Any, kind: str) -> Any:
    """Bring a descriptor's date/time value to the kind the literals were converted to."""
    if value is None or isinstance(value, list):
        return value
    if kind == "date" and isinstance(value, dt.datetime):
        return value.date()
    if kind == "time" and isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, str):
        try:
            return parse_temporal(value, kind)
        except ValueError:
            return None
    return value


def _compare_values(symbol: str, left: Any, right: Any, tolerance: float | None,
                    explicit_none: bool) -> bool:
    if explicit_none:
        both_none = left is None and right is None
        if symbol == "==":
            return both_none
        return not both_none and (left is None or right is None)
    if left is None or right is None:
        return False
    if isinstance(left, list) or isinstance(right, list):
        lefts = left if isinstance(left, list) else [left]
        rights = right if isinstance(right, list) else [right]
        if not lefts or not rights:
            return False
        return all(
            _compare_values(symbol, a, b, tolerance, False) for a in lefts for b in rights
        )
    left, right = _common_type(left, right)
    if symbol in ("==", "!="):
        if tolerance is not None and _is_number(left) and _is_number(right):
            equal = math.isclose(left, right, rel_tol=tolerance)
        else:
            equal = _safe_equal(left, right)
        return equal if symbol == "==" else not equal
    try:
        return bool(_ORDERING[symbol](left, right))
    except TypeError:
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _common_type(left: Any, right: Any) -> tuple[Any, Any]:
    """Make a number and a numeric string comparable; otherwise leave them alone."""
    if _is_number(left) and isinstance(right, str):
        number = _as_number(right)
        return (left, number) if number is not None else (left, right)
    if isinstance(left, str) and _is_number(right):
        number = _as_number(left)
        return (number, right) if number is not None else (left, right)
    return left, right


def _as_number(text: str) -> float | None:
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _safe_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) != isinstance(right, bool) and not (
        _is_number(left) or _is_number(right)
    ):
        return False
    try:
        return bool(left == right)
    except (TypeError, ValueError):
        return False
