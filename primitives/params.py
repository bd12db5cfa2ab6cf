"""Primitive parameters: declaration (``Param``, ``@primitive``), defaults, typing and validation.

A primitive declares its parameters once, next to its code::

    class Stack(PrimitivesBASE):
        @primitive(
            suffix=Param(str, "_stack", "Filename suffix"),
            operation=Param(str, "mean", "Combining operation",
                            choices=("mean", "wtmean", "median", "lmedian")),
            hsigma=Param(float, 3.0, "High rejection threshold", min=0.0),
            memory=Param(float, 1.0, "Memory budget in GB", optional=True),
        )
        def stackFrames(self, adinputs=None, **params):
            ...

        @primitive(inherit="stackFrames", suffix=Param(str, "_sky", "Filename suffix"))
        def stackSkyFrames(self, adinputs=None, **params):
            ...

Rules
-----
* ``inherit`` (alias ``params_from``) names one primitive or a tuple of
  primitives whose *resolved* parameter sets (including the instrument
  defaults of the class being resolved) are copied first; the primitive's own
  ``Param`` entries then add to or replace them; ``exclude`` drops inherited
  names. Inheriting the primitive's own name takes the declaration of the
  next class in the MRO (an instrument override of the same primitive).
* A class changes defaults without copying declarations::

      class GSAOI(Gemini, NearIR):
          param_defaults = {"skyCorrect": {"scale_sky": False, "offset_sky": True}}

  ``param_defaults`` dicts are merged along the MRO, the most derived class
  winning. Overriding an inherited primitive (``stackSkyFrames``) reaches the
  primitives inheriting from it (``skyCorrect``) too.
* Universal parameters every primitive accepts without declaring them:
  ``skip_primitive`` and ``write_outputs`` (bool, default False). The stream
  keywords ``stream``, ``instream`` and ``outstream`` are read by the
  primitive wrapper (recipes only; they are not parameters).
* Values given as strings (``reduce -p``, @files) are typed by the declaration:
  ``"3"`` -> 3 for int, ``"True"``/``"false"``/``"yes"`` -> bool, ``"None"`` ->
  None, ``"a,b"`` -> a list for list parameters; surrounding quotes are
  removed. Wrong values raise :class:`primitives.errors.ParameterError` naming
  the primitive, the parameter and the value.
* Precedence (deliberately unlike DRAGONS): declared/instrument defaults <
  values passed in the recipe call < user values (``prim:par`` for that
  primitive, bare ``par`` for every primitive having it). In a *nested* call
  (a primitive calling another) the caller's explicit values beat user values.

Execution flags
---------------
Two keyword flags of ``@primitive`` tell the recipe system how a primitive may
be run; they are not parameters and are not inherited (an instrument override
declares them again)::

    @primitive(per_file=True, suffix=Param(str, "_varAdded", "Filename suffix"))
    def addVAR(self, adinputs=None, **params): ...

    @primitive(cacheable=False)
    def storeProcessedDark(self, adinputs=None, **params): ...

* ``per_file=True``: the primitive treats every input on its own: output
  ``i`` is made from input ``i`` only (same number, same order), using only
  the parameters, the calibrations and the file's own content; it keeps no
  state on ``self`` and reads no other stream. For a top-level call with
  several inputs, the wrapper may then run it on each input in a separate
  worker process (``reduce --jobs N``; ``PrimitivesBASE.parallel_map``); the
  pixels are identical to a serial run. A primitive that is per-file only for
  some parameter values gives a function of the resolved parameters instead
  (``per_file=lambda params: not params["latency"]``).
* ``cacheable=False``: the primitive acts outside its outputs (writes files,
  adds to a database, pins calibrations, reads lists from disk). The step
  cache (``recipe_system.cache``) never reuses a recorded result for it; it
  always runs. Default True: a top-level call whose inputs, parameters,
  calibrations and code are unchanged reuses the recorded outputs. As for
  ``per_file``, a function of the resolved parameters may be given.
"""

from __future__ import annotations

import difflib
import functools
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from primitives.errors import ParameterError

__all__ = [
    "Param",
    "primitive",
    "PrimitiveDeclaration",
    "UnknownParameterError",
    "UNIVERSAL_PARAMS",
    "STREAM_KEYWORDS",
    "is_primitive",
    "primitive_names",
    "resolve_params",
    "default_values",
    "check_declarations",
    "normalize_user_params",
    "split_user_key",
    "suggest",
]

_NOT_GIVEN = object()


class UnknownParameterError(ParameterError):
    """A user parameter names a primitive or a parameter that does not exist.

    Attributes
    ----------
    primitive : str or None
        The primitive named by the user (None for a bare parameter).
    parameter : str or None
        The unknown parameter (None when the primitive itself is unknown).
    suggestions : list of str
        Close names ("did you mean ...").
    """

    def __init__(self, message: str, primitive: str | None = None,
                 parameter: str | None = None, suggestions: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.primitive = primitive
        self.parameter = parameter
        self.suggestions = list(suggestions)


def _strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}


def _type_name(dtype: Any) -> str:
    if isinstance(dtype, tuple):
        return " or ".join(_type_name(t) for t in dtype)
    return "any" if dtype is object else getattr(dtype, "__name__", str(dtype))


class Param:
    """The declaration of one primitive parameter.

    Parameters
    ----------
    dtype : type or tuple of types
        ``str``, ``int``, ``float``, ``bool``, ``list``/``tuple`` (with `item`),
        ``object`` (anything: AstroData, file names...), or a tuple of these
        (the value may be any of them; strings are tried as bool, int, float
        before being kept as str).
    default : object
        The default value (checked against the declaration).
    doc : str
        One line saying what the parameter does.
    choices : sequence or mapping, optional
        Allowed values (a mapping gives a doc string per value).
    min, max : float, optional
        Inclusive bounds for numbers (each item of a list).
    optional : bool
        Whether None is an allowed value (always true when `default` is None).
    item : type, optional
        Type of the items of a list/tuple parameter (default str).

    Raises
    ------
    TypeError
        If the default does not satisfy the declaration.
    """

    __slots__ = ("dtype", "default", "doc", "choices", "min", "max", "optional", "item")

    def __init__(self, dtype: Any, default: Any, doc: str = "", choices: Any = None,
                 min: float | None = None, max: float | None = None,  # noqa: A002
                 optional: bool = False, item: Any = str) -> None:
        self.dtype = dtype
        self.doc = doc
        self.choices = tuple(choices) if choices is not None else None
        self.min = min
        self.max = max
        self.optional = bool(optional) or default is None
        self.item = item
        try:
            self.default = self.convert(default)
        except ParameterError as exc:
            raise TypeError(f"invalid default in parameter declaration: {exc}") from None

    # -- helpers ---------------------------------------------------------
    @property
    def is_list(self) -> bool:
        """Whether the parameter holds a list (or tuple) of items."""
        return self.dtype in (list, tuple)

    def replace(self, **changes: Any) -> Param:
        """Return a copy with some attributes changed (e.g. ``default``)."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        if "default" in changes and changes["default"] is None:
            values["optional"] = True
        return Param(values.pop("dtype"), values.pop("default"), **values)

    def describe(self) -> str:
        """One line: type, default, allowed values, bounds (for ``showpars``)."""
        dtype = _type_name(self.dtype)
        if self.is_list:
            dtype = f"{dtype} of {_type_name(self.item)}"
        parts = [dtype, f"default {self.default!r}"]
        if self.choices is not None:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        if self.min is not None:
            parts.append(f">= {self.min}")
        if self.max is not None:
            parts.append(f"<= {self.max}")
        if self.optional and self.default is not None:
            parts.append("or None")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"Param({_type_name(self.dtype)}, {self.default!r}, {self.doc!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Param):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    # -- typing and validation --------------------------------------------
    def convert(self, value: Any, primitive: str = "?", name: str = "?") -> Any:
        """Type `value` (possibly a user string) and validate it.

        Raises
        ------
        ParameterError
            Naming `primitive`, `name` and the value, if the value cannot be
            typed or is not allowed.
        """
        original = value
        if isinstance(value, str):
            value = _strip_quotes(value)
            if value == "None":
                value = None
        if value is None:
            if not self.optional:
                raise ParameterError(f"{primitive}: {name}=None is not allowed "
                                     f"(expected {_type_name(self.dtype)})")
            return None
        try:
            if self.is_list:
                if isinstance(value, str):
                    items = [v.strip() for v in value.split(",")]
                    items = [v for v in items if v != ""]
                elif isinstance(value, (list, tuple)):
                    items = list(value)
                else:
                    items = [value]
                typed = [self._check_bounds(_convert_scalar(self.item, v)) for v in items]
                return tuple(typed) if self.dtype is tuple else typed
            return self._check_bounds(_convert_scalar(self.dtype, value))
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{primitive}: {name}={original!r} is not valid: {exc}") from None

    def _check_bounds(self, value: Any) -> Any:
        if self.choices is not None and value not in self.choices:
            raise ValueError("expected one of " + ", ".join(repr(c) for c in self.choices))
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if self.min is not None and value < self.min:
                raise ValueError(f"must be >= {self.min}")
            if self.max is not None and value > self.max:
                raise ValueError(f"must be <= {self.max}")
        return value


def _convert_scalar(dtype: Any, value: Any) -> Any:
    """Convert one value to `dtype` (a type or a tuple of types)."""
    types = dtype if isinstance(dtype, tuple) else (dtype,)
    if object in types:
        return _from_string(value, [t for t in types if t in (bool, int, float)]) \
            if isinstance(value, str) else value
    if isinstance(value, str):
        typed = _from_string(value, [t for t in (bool, int, float) if t in types])
        if not isinstance(typed, str) or str in types:
            return typed
        raise ValueError(f"expected {_type_name(dtype)}")
    if isinstance(value, bool) or (hasattr(value, "dtype") and value.dtype.kind == "b"):
        if bool in types:
            return bool(value)
        raise ValueError(f"expected {_type_name(dtype)}, got a boolean")
    if isinstance(value, numbers.Integral):
        if int in types:
            return int(value)
        if float in types:
            return float(value)
    elif isinstance(value, numbers.Real):
        if float in types:
            return float(value)
        if int in types and float(value).is_integer():
            return int(value)
    for t in types:
        if t not in (bool, int, float, str, list, tuple) and isinstance(value, t):
            return value
    raise ValueError(f"expected {_type_name(dtype)}, got {type(value).__name__}")


def _from_string(text: str, numeric_types: list[type]) -> Any:
    """Type a string as the first matching of bool/int/float; else return it unchanged."""
    lower = text.lower()
    for t in (bool, int, float):
        if t not in numeric_types:
            continue
        if t is bool:
            if lower in _TRUE:
                return True
            if lower in _FALSE:
                return False
        elif t is int:
            try:
                return int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    continue
                if number.is_integer():
                    return int(number)
        else:
            try:
                return float(text)
            except ValueError:
                continue
    return text


UNIVERSAL_PARAMS: dict[str, Param] = {
    "skip_primitive": Param(bool, False, "Pass the inputs through without running the primitive"),
    "write_outputs": Param(bool, False, "Write the outputs to disk after the primitive "
                                        "(top-level calls only)"),
}
"""Parameters every primitive accepts without declaring them."""

STREAM_KEYWORDS = ("stream", "instream", "outstream")
"""Keywords read by the primitive wrapper to pick the input and output streams."""


class PrimitiveDeclaration:
    """What ``@primitive(...)`` records about a primitive (attached as ``_primitive``)."""

    __slots__ = ("name", "params", "inherit", "exclude", "function", "per_file", "cacheable")

    def __init__(self, name: str, params: dict[str, Param], inherit: tuple[str, ...],
                 exclude: tuple[str, ...], function: Callable,
                 per_file: bool | Callable[[dict[str, Any]], bool] = False,
                 cacheable: bool | Callable[[dict[str, Any]], bool] = True) -> None:
        self.name = name
        self.params = params
        self.inherit = inherit
        self.exclude = exclude
        self.function = function
        #: Each output depends on its own input only (may run in worker processes):
        #: a bool, or a function of the resolved parameters
        self.per_file = per_file if callable(per_file) else bool(per_file)
        #: A recorded result may be reused by the step cache (False: side effects):
        #: a bool, or a function of the resolved parameters
        self.cacheable = cacheable if callable(cacheable) else bool(cacheable)

    def runs_per_file(self, params: dict[str, Any]) -> bool:
        """Whether a call with the resolved `params` treats every input on its own."""
        if callable(self.per_file):
            return bool(self.per_file(params))
        return self.per_file

    def reusable(self, params: dict[str, Any]) -> bool:
        """Whether the step cache may reuse a recorded call with the resolved `params`."""
        if callable(self.cacheable):
            return bool(self.cacheable(params))
        return self.cacheable

    @property
    def doc(self) -> str:
        """First line of the primitive's docstring."""
        text = (self.function.__doc__ or "").strip()
        return text.splitlines()[0] if text else ""


def _as_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def primitive(func: Callable | None = None, *, inherit: str | Iterable[str] | None = None,
              params_from: str | Iterable[str] | None = None,
              exclude: str | Iterable[str] | None = None,
              per_file: bool | Callable[[dict[str, Any]], bool] = False,
              cacheable: bool | Callable[[dict[str, Any]], bool] = True,
              **params: Param) -> Callable:
    """Declare a method as a primitive with its parameters.

    Use as ``@primitive`` (no parameters) or ``@primitive(name=Param(...), ...)``.
    The method has the signature ``prim(self, adinputs=None, **params)``,
    receives the input list and the resolved parameters, and returns the
    output list; the wrapper (``PrimitivesBASE._call_primitive``) handles
    streams, logging, universal parameters and provenance.

    Parameters
    ----------
    inherit, params_from : str or sequence of str, optional
        Primitive(s) whose resolved parameters are copied first (synonyms).
    exclude : str or sequence of str, optional
        Inherited parameters to drop.
    per_file : bool or callable
        Each output is made from its own input only, so the wrapper may run
        the primitive on each input in a worker process (see "Execution
        flags" in the module docstring). A function of the resolved
        parameters when that holds only for some values.
    cacheable : bool or callable
        False for primitives with effects beyond their outputs: the step
        cache always runs them. A function of the resolved parameters when
        only some values have such effects (``subtractSky(save_sky=True)``).
    **params : Param
        The primitive's own parameters.
    """
    for name, value in params.items():
        if not isinstance(value, Param):
            raise TypeError(f"@primitive: parameter {name!r} must be declared with Param(...), "
                            f"got {value!r}")
        if name in UNIVERSAL_PARAMS or name in STREAM_KEYWORDS or name == "adinputs":
            raise TypeError(f"@primitive: {name!r} is reserved and cannot be declared")
    inherited = _as_names(inherit) + _as_names(params_from)
    excluded = _as_names(exclude)

    def decorate(function: Callable) -> Callable:
        declaration = PrimitiveDeclaration(function.__name__, dict(params), inherited,
                                           excluded, function, per_file=per_file,
                                           cacheable=cacheable)

        @functools.wraps(function)
        def run_primitive(self, *args: Any, **kwargs: Any) -> Any:
            return self._call_primitive(declaration, args, kwargs)

        run_primitive._primitive = declaration  # type: ignore[attr-defined]
        return run_primitive

    if func is not None:
        if params or inherited or excluded or per_file or not cacheable:
            raise TypeError("@primitive: give parameters as keywords, not with a function")
        return decorate(func)
    return decorate


def is_primitive(obj: Any) -> bool:
    """Whether `obj` is a function decorated with ``@primitive``."""
    return isinstance(getattr(obj, "_primitive", None), PrimitiveDeclaration)


def primitive_names(cls: type) -> list[str]:
    """Sorted names of every primitive available on the class `cls`."""
    names = set()
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if not name.startswith("_") and is_primitive(value):
                names.add(name)
    return sorted(names)


def _find_declaration(cls: type, name: str, after: type | None = None
                      ) -> tuple[PrimitiveDeclaration, type]:
    mro = cls.__mro__
    start = mro.index(after) + 1 if after is not None else 0
    for klass in mro[start:]:
        value = vars(klass).get(name)
        if value is not None:
            if is_primitive(value):
                return value._primitive, klass
            if after is None:
                raise KeyError(f"{cls.__name__}.{name} is not a primitive (no @primitive)")
    raise KeyError(f"{cls.__name__} has no primitive {name!r}"
                   + (f" above {after.__name__}" if after is not None else ""))


def _class_defaults(cls: type, name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        overrides = vars(klass).get("param_defaults") or {}
        merged.update(overrides.get(name, {}))
    return merged


@functools.cache
def _resolve(cls: type, name: str, after: type | None) -> tuple[tuple[str, Param], ...]:
    declaration, owner = _find_declaration(cls, name, after)
    resolved: dict[str, Param] = {}
    for parent in declaration.inherit:
        if parent == name:
            resolved.update(_resolve(cls, name, owner))
        else:
            resolved.update(_resolve(cls, parent, None))
    for excluded in declaration.exclude:
        resolved.pop(excluded, None)
    resolved.update(declaration.params)
    for par, value in _class_defaults(cls, name).items():
        if par not in resolved:
            raise TypeError(f"{cls.__name__}.param_defaults[{name!r}] names unknown parameter "
                            f"{par!r}; {name} has: {', '.join(sorted(resolved))}")
        try:
            resolved[par] = resolved[par].replace(default=resolved[par].convert(value, name, par))
        except ParameterError as exc:
            raise TypeError(f"{cls.__name__}.param_defaults: {exc}") from None
    return tuple(resolved.items())


def resolve_params(cls: type, name: str) -> dict[str, Param]:
    """The parameter declarations of primitive `name` on class `cls`, defaults applied.

    The universal parameters are not included (see :data:`UNIVERSAL_PARAMS`).

    Raises
    ------
    KeyError
        If `cls` has no primitive `name`.
    TypeError
        If a ``param_defaults`` entry names an unknown parameter or a bad value.
    """
    return dict(_resolve(cls, name, None))


def default_values(cls: type, name: str) -> dict[str, Any]:
    """``{parameter: default}`` for primitive `name` on class `cls`."""
    return {par: p.default for par, p in _resolve(cls, name, None)}


def check_declarations(cls: type) -> dict[str, dict[str, Param]]:
    """Resolve every primitive of `cls` (raising on any declaration error); return them all."""
    return {name: resolve_params(cls, name) for name in primitive_names(cls)}


def split_user_key(key: str) -> tuple[str | None, str]:
    """``'prim:par'`` -> ``('prim', 'par')``; ``'par'`` -> ``(None, 'par')``."""
    primitive_name, sep, par = key.strip().rpartition(":")
    return (primitive_name.strip() or None) if sep else None, par.strip()


def normalize_user_params(uparms: Any) -> dict[str, Any]:
    """Turn user parameters into ``{'prim:par' or 'par': value}``.

    Accepts None, a dict, a list of ``(key, value)`` tuples, a list of
    ``'prim:par=value'`` strings (or a mix), or a single such string. Values
    stay as given (strings are typed later against the declarations); quotes
    around string values are removed. Later entries replace earlier ones.

    Raises
    ------
    ParameterError
        For an entry that is neither a pair nor ``key=value``.
    """
    if uparms is None:
        return {}
    if isinstance(uparms, str):
        uparms = [uparms]
    items = uparms.items() if isinstance(uparms, Mapping) else uparms
    result: dict[str, Any] = {}
    for entry in items:
        if isinstance(entry, str):
            key, sep, value = entry.partition("=")
            if not sep or not key.strip():
                raise ParameterError(f"user parameter {entry!r} is not of the form "
                                     f"[primitive:]parameter=value")
        else:
            try:
                key, value = entry
            except (TypeError, ValueError):
                raise ParameterError(f"user parameter {entry!r} is not a (key, value) pair "
                                     f"or a 'primitive:parameter=value' string") from None
        if isinstance(value, str):
            value = _strip_quotes(value)
        result[str(key).strip()] = value
    return result


def suggest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close matches of `word` among `candidates`, ignoring case ("did you mean")."""
    candidates = list(candidates)
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)
    exact_case = [c for c in candidates if c.lower() == word.lower()]
    result = exact_case + [by_lower[m] for m in matches]
    return list(dict.fromkeys(result))[:n]


def _did_you_mean(suggestions: list[str]) -> str:
    if not suggestions:
        return ""
    return "; did you mean " + " or ".join(repr(s) for s in suggestions) + "?"


def validate_user_params(cls: type, user_params: Mapping[str, Any]) -> None:
    """Check that every user parameter names an existing primitive/parameter and types.

    Raises
    ------
    UnknownParameterError
        Unknown primitive or parameter (with "did you mean" suggestions).
    ParameterError
        A value that cannot be typed or is not allowed.
    """
    names = primitive_names(cls)
    for key, value in user_params.items():
        prim, par = split_user_key(key)
        if par in STREAM_KEYWORDS:
            raise ParameterError(f"user parameter {key!r}: stream keywords can only be "
                                 f"set in a recipe")
        if prim is not None:
            if prim not in names:
                hints = suggest(prim, names)
                raise UnknownParameterError(
                    f"{cls.__name__} has no primitive {prim!r} (in {key}={value!r})"
                    + _did_you_mean(hints), primitive=prim, suggestions=hints)
            declared = {**resolve_params(cls, prim), **UNIVERSAL_PARAMS}
            if par not in declared:
                hints = suggest(par, declared)
                raise UnknownParameterError(
                    f"primitive {prim} has no parameter {par!r} (in {key}={value!r})"
                    + _did_you_mean(hints), primitive=prim, parameter=par, suggestions=hints)
            declared[par].convert(value, prim, par)
            continue
        if par in UNIVERSAL_PARAMS:
            UNIVERSAL_PARAMS[par].convert(value, "all primitives", par)
            continue
        found = False
        all_pars: set[str] = set()
        for name in names:
            declared = resolve_params(cls, name)
            all_pars.update(declared)
            if par in declared:
                found = True
                declared[par].convert(value, name, par)
        if not found:
            hints = suggest(par, all_pars | set(UNIVERSAL_PARAMS))
            raise UnknownParameterError(
                f"no primitive of {cls.__name__} has a parameter {par!r} (in {key}={value!r})"
                + _did_you_mean(hints), parameter=par, suggestions=hints)
