"""Registries of instrument classes, primitive modules and recipe packages.

The built-in instruments and any installed plug-in are declared through three
entry-point groups (see ``pyproject.toml``)::

    astroreduce.instruments   name -> "package.module:AstroDataClass"
    astroreduce.primitives    name -> "package.module"   (primitive classes)
    astroreduce.recipes       name -> "package"          (with sq/, ql/, qa/ sub-packages)

The name is the instrument key: ``ad.instrument(generic=True).lower()``
(``f2``, ``gsaoi``, ``gmos``, ``niri``). Entry points are read once. A module
named with ``reduce --drpkg MODULE`` (or ``--adpkg MODULE``) is imported; it
may call :func:`register_primitives` / :func:`register_recipes` (or
``astrodata.factory.add_class``) to add or replace instruments at run time.

This module is the only way the recipe system reaches ``primitives`` and
``recipes`` (``tests/test_layers.py`` checks it).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType

from recipe_system.errors import ModeError, PrimitivesNotFound, RecipeNotFound, ReduceError

__all__ = [
    "ENTRY_POINT_GROUPS",
    "MODES",
    "import_primitive_module",
    "instrument_entry_points",
    "load_plugin",
    "primitive_classes",
    "primitive_modules",
    "recipe_modules",
    "recipe_packages",
    "register_primitives",
    "register_recipes",
]

ENTRY_POINT_GROUPS = {
    "instruments": "astroreduce.instruments",
    "primitives": "astroreduce.primitives",
    "recipes": "astroreduce.recipes",
}

#: Processing modes, i.e. the names of the sub-packages of a recipe package.
MODES = ("sq", "ql", "qa")

_registry: dict[str, dict[str, str]] = {kind: {} for kind in ENTRY_POINT_GROUPS}
_state = {"loaded": False}


def _load() -> None:
    if _state["loaded"]:
        return
    for kind, group in ENTRY_POINT_GROUPS.items():
        for entry in entry_points(group=group):
            _registry[kind].setdefault(entry.name.lower(), entry.value)
    _state["loaded"] = True


def _module_name(module: str | ModuleType) -> str:
    return module.__name__ if isinstance(module, ModuleType) else str(module)


def register_primitives(name: str, module: str | ModuleType) -> None:
    """Register (or replace) the primitive module of instrument `name`."""
    _load()
    _registry["primitives"][name.lower()] = _module_name(module)


def register_recipes(name: str, package: str | ModuleType) -> None:
    """Register (or replace) the recipe package of instrument `name`."""
    _load()
    _registry["recipes"][name.lower()] = _module_name(package)


def primitive_modules() -> dict[str, str]:
    """``{instrument key: primitive module name}``."""
    _load()
    return dict(_registry["primitives"])


def recipe_packages() -> dict[str, str]:
    """``{instrument key: recipe package name}``."""
    _load()
    return dict(_registry["recipes"])


def instrument_entry_points() -> dict[str, str]:
    """``{instrument key: "module:Class"}`` of the astrodata classes."""
    _load()
    return dict(_registry["instruments"])


def load_plugin(module_name: str) -> ModuleType:
    """Import a plug-in module (``--drpkg``/``--adpkg``), which registers what it provides.

    Raises
    ------
    ReduceError
        If the module cannot be imported.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ReduceError(f"cannot import plug-in module {module_name!r}: {exc}") from None


def import_primitive_module(name: str) -> ModuleType:
    """Import the primitive module registered for instrument `name`.

    Raises
    ------
    PrimitivesNotFound
        If nothing is registered for `name`.
    """
    modules = primitive_modules()
    if name not in modules:
        raise PrimitivesNotFound(f"no primitives registered for instrument {name!r} "
                                 f"(registered: {', '.join(sorted(modules)) or 'none'})")
    return importlib.import_module(modules[name])


def primitive_classes(name: str) -> list[type]:
    """Public classes of the instrument's primitive module that have a tagset."""
    module = import_primitive_module(name)
    public = getattr(module, "__all__", None)
    names = public if public is not None else [n for n in vars(module) if not n.startswith("_")]
    classes = []
    for attr in names:
        value = getattr(module, attr, None)
        if inspect.isclass(value) and getattr(value, "tagset", None) is not None:
            classes.append(value)
    return classes


def recipe_modules(name: str, mode: str = "sq") -> list[ModuleType]:
    """Every recipe library of instrument `name` in processing `mode` (sorted by name).

    The mode must be the exact name of a sub-package (``sq``, ``ql``, ``qa``).

    Raises
    ------
    RecipeNotFound
        If no recipe package is registered for `name`.
    ModeError
        If the package has no sub-package for `mode`.
    """
    packages = recipe_packages()
    if name not in packages:
        raise RecipeNotFound(f"no recipes registered for instrument {name!r} "
                             f"(registered: {', '.join(sorted(packages)) or 'none'})")
    package_name = packages[name]
    mode_package = f"{package_name}.{mode}"
    try:
        spec = importlib.util.find_spec(mode_package)
    except ModuleNotFoundError:
        spec = None
    if spec is None or spec.submodule_search_locations is None:
        raise ModeError(f"instrument {name!r} has no recipes for mode {mode!r} "
                        f"(package {mode_package} not found)")
    package = importlib.import_module(mode_package)
    modules = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg and not info.name.startswith("_"):
            modules.append(importlib.import_module(f"{mode_package}.{info.name}"))
    return modules
