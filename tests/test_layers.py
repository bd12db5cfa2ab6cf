"""The package layering of docs/developer/contracts.md, checked on the source (ast) of every module.

Imports point down only::

    recipe_system  ->  (registry only) primitives, recipes  ->  gempy  ->  astrodata

* ``astrodata`` imports nothing of ours but itself.
* ``gempy`` imports ``astrodata`` (and itself). Exception: the helper CLIs
  ``gempy/scripts/showrecipes.py`` and ``showpars.py`` list recipes and
  parameters, so they may import ``recipe_system`` and the parameter
  declarations (``primitives.params``); they are top-level commands living
  where DRAGONS users expect them.
* ``primitives`` import ``astrodata``, ``gempy`` and themselves.
* ``recipes`` import only other recipe modules (a ql library re-exporting sq
  recipes); recipe functions only call methods of their argument.
* ``recipe_system`` imports ``astrodata``, ``gempy`` and itself; of
  ``primitives`` only ``primitives.errors`` and ``primitives.base`` (to convert
  exceptions and check types), never ``recipes``: primitive classes and
  recipe libraries are reached through ``recipe_system.registry`` (entry points).

Imports inside functions count as well as module-level ones.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("astrodata", "gempy", "primitives", "recipes", "recipe_system")

ALLOWED = {
    "astrodata": {"astrodata"},
    "gempy": {"astrodata", "gempy"},
    "primitives": {"astrodata", "gempy", "primitives"},
    "recipes": {"recipes"},
    "recipe_system": {"astrodata", "gempy", "recipe_system", "primitives.errors",
                      "primitives.base"},
}

EXCEPTIONS = {
    "gempy/scripts/showrecipes.py": {"recipe_system", "primitives.errors", "primitives.base",
                                     "primitives.params"},
    "gempy/scripts/showpars.py": {"recipe_system", "primitives.errors", "primitives.base",
                                  "primitives.params"},
}


def _modules():
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


def _imported_names(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    relative_base = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = relative_base.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module in OURS or module in ("primitives",):
                # "from primitives import base" imports the submodules
                names.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
            else:
                names.append((node.lineno, module))
    return names


def _allowed(name: str, rules: set[str]) -> bool:
    return any(name == rule or name.startswith(rule + ".") for rule in rules)


def _violations():
    found = []
    for package, path in _modules():
        relative = path.relative_to(ROOT).as_posix()
        rules = ALLOWED[package] | EXCEPTIONS.get(relative, set())
        for line, name in _imported_names(path):
            if name.split(".")[0] in OURS and not _allowed(name, rules):
                found.append(f"{relative}:{line} imports {name}")
    return found


def test_every_package_is_scanned():
    scanned = {package for package, _ in _modules()}
    assert scanned == set(OURS)
    assert sum(1 for _ in _modules()) > 40


def test_layer_rules():
    violations = _violations()
    assert not violations, "layer violations:\n" + "\n".join(violations)


@pytest.mark.parametrize("source,package,expected_ok", [
    ("from ..base import PrimitivesBASE\n", "primitives", True),
    ("from .. import params\n", "primitives", True),
    ("import astrodata\n", "gempy", True),
    ("from recipe_system import registry\n", "primitives", False),
    ("from primitives.f2 import F2\n", "recipe_system", False),
    ("from primitives.base import PrimitivesBASE\n", "recipe_system", True),
    ("import recipes.f2.sq.recipes_DARK\n", "recipe_system", False),
    ("def f():\n    import primitives.core.stack\n", "recipes", False),
    ("from gempy.library import stacking\n", "astrodata", False),
])
def test_checker_catches_violations(tmp_path, source, package, expected_ok):
    module = tmp_path / package / "sub" / "probe.py"
    module.parent.mkdir(parents=True)
    module.write_text(source)
    names = _imported_names(module, root=tmp_path)
    ok = all(_allowed(name, ALLOWED[package]) for _, name in names
             if name.split(".")[0] in OURS)
    assert ok is expected_ok
