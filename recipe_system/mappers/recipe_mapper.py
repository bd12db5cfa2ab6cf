"""RecipeMapper: choose the recipe library and the recipe for a dataset."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from types import ModuleType

from recipe_system import registry
from recipe_system.errors import RecipeNotFound


def _is_user_recipe(name: str) -> bool:
    return "." in name or os.sep in name or "/" in name


def load_user_recipe(spec: str) -> Callable:
    """Load a user recipe given as ``path/to/module.function`` or ``package.module.function``.

    ``path/to/module`` may name a ``.py`` file (with or without the
    extension); otherwise the part before the last dot is imported as a
    module.

    Raises
    ------
    RecipeNotFound
        If the module cannot be loaded or has no such function.
    """
    module_part, _, function_name = spec.rpartition(".")
    if module_part.endswith(".py"):
        module_part = module_part[:-3]
    if not module_part or not function_name:
        raise RecipeNotFound(f"user recipe {spec!r} is not of the form path/module.function")
    path = os.path.expanduser(module_part) + ".py"
    module: ModuleType
    if os.path.isfile(path):
        name = f"_astroreduce_user_recipe_{abs(hash(os.path.abspath(path)))}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise RecipeNotFound(f"cannot load user recipe file {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise RecipeNotFound(f"cannot load user recipe file {path}: "
                                 f"{type(exc).__name__}: {exc}") from None
    elif "/" in module_part or os.sep in module_part:
        raise RecipeNotFound(f"user recipe file {path} does not exist")
    else:
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise RecipeNotFound(f"cannot import user recipe module {module_part!r}: "
                                 f"{exc}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise RecipeNotFound(f"user recipe module {module_part!r} has no function "
                             f"{function_name!r}")
    return function


def recipe_names(module: ModuleType) -> list[str]:
    """Public recipe functions of a recipe library (``_default`` excluded)."""
    return sorted(name for name, value in vars(module).items()
                  if callable(value) and not name.startswith("_")
                  and getattr(value, "__module__", "").startswith(_root(module)))


def _root(module: ModuleType) -> str:
    # ql libraries re-export sq recipes: accept functions of the same recipe package
    return module.__name__.split(".")[0]


class RecipeMapper:
    """Find the recipe for a dataset.

    The recipe library is the module of the instrument's recipe package, in
    the mode sub-package named exactly `mode`, whose ``recipe_tags`` are a
    subset of the dataset's tags and which shares no tag with its optional
    ``blocked_tags``; the largest ``recipe_tags`` wins (on a tie, the first
    module by name).

    Parameters
    ----------
    dtags : iterable of str
        Tags of the dataset (of its first file).
    instrument : str
        Instrument key.
    mode : {'sq', 'ql', 'qa'}
        Processing mode.
    recipename : str or callable
        ``'_default'``, a recipe name, a primitive name (then
        :meth:`get_applicable_recipe` returns None), ``path/module.function``
        for a user recipe, or a function.
    """

    def __init__(self, dtags: Iterable[str], instrument: str | None, mode: str = "sq",
                 recipename: str | Callable = "_default") -> None:
        self.tags = frozenset(dtags)
        self.instrument = instrument
        self.mode = mode
        self.recipename = recipename

    @property
    def is_user_recipe(self) -> bool:
        """Whether the recipe is a function or a ``module.function`` outside the libraries."""
        return callable(self.recipename) or _is_user_recipe(self.recipename)

    def get_applicable_library(self) -> ModuleType:
        """The recipe library matching the dataset.

        Raises
        ------
        RecipeNotFound, ModeError
            If no library matches (or the mode does not exist).
        """
        if self.instrument is None:
            raise RecipeNotFound("the first input has no instrument; cannot choose a recipe")
        best: ModuleType | None = None
        for module in registry.recipe_modules(self.instrument, self.mode):
            wanted = frozenset(getattr(module, "recipe_tags", ()) or ())
            blocked = frozenset(getattr(module, "blocked_tags", ()) or ())
            if not wanted or not wanted <= self.tags or blocked & self.tags:
                continue
            if best is None or len(wanted) > len(best.recipe_tags):
                best = module
        if best is None:
            raise RecipeNotFound(f"no {self.mode} recipe library of {self.instrument!r} "
                                 f"matches the tags {', '.join(sorted(self.tags))}")
        return best

    def get_applicable_recipe(self) -> Callable | None:
        """The recipe function, or None when the name is not a recipe of the library.

        A None result lets the caller try the name as a primitive.

        Raises
        ------
        RecipeNotFound
            If a user recipe cannot be loaded or no library matches.
        """
        if callable(self.recipename):
            return self.recipename
        if _is_user_recipe(self.recipename):
            return load_user_recipe(self.recipename)
        library = self.get_applicable_library()
        recipe = getattr(library, self.recipename, None)
        return recipe if callable(recipe) else None
