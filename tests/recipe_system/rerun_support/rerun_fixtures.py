"""Fixtures shared by the re-run, parallel, Dask and provenance tests (imported by them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import astrodata
from recipe_system.cal_service import LocalDB
from recipe_system.reduction.coreReduce import Reduce

SUPPORT = Path(__file__).resolve().parent
USER_RECIPES = SUPPORT / "recipes_user.py"


def user_recipe(name: str) -> str:
    """``path/module.function`` of a recipe in recipes_user.py."""
    return f"{USER_RECIPES.with_suffix('')}.{name}"


@pytest.fixture
def rerun_plugin(monkeypatch):
    """RerunF2 and rerun_recipes are the f2 primitives/recipes during the test."""
    import rerun_prims

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(SUPPORT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    rerun_prims.register()
    yield rerun_prims
    rerun_prims.unregister()


@pytest.fixture(scope="module")
def f2_raw(tmp_path_factory):
    """The small simulated F2 tutorial data: ``{role: [paths]}`` (never modified by tests)."""
    from gempy.sim import load_truth, make_dataset

    directory = make_dataset("f2-tutorial", tmp_path_factory.mktemp("f2raw"), small=True)
    roles = load_truth(directory)["roles"]
    return {role: [str(directory / name) for name in sorted(names)]
            for role, names in roles.items()}


@pytest.fixture
def caldb_path(workdir):
    """An initialised calibration database in the working directory (its path)."""
    db = LocalDB(workdir / "calibrations")
    db.init()
    return str(workdir / "calibrations" / "cal_manager.db")


def make_reduce(files, recipe=None, caldb=None, **attributes) -> Reduce:
    """A Reduce on `files` with `recipe` (name or user recipe) and attributes set."""
    r = Reduce()
    r.files = [str(f) for f in files]
    if recipe is not None:
        r.recipename = user_recipe(recipe) if "." not in recipe and "/" not in recipe \
            and recipe in _user_recipe_names() else recipe
    if caldb is not None:
        r.calibration_databases = [caldb]
    r.jobs = attributes.pop("jobs", 1)
    # the semantics tests: every step saved, so that no completed step is redone
    r.checkpoint_min_seconds = attributes.pop("checkpoint_min_seconds", 0.0)
    for name, value in attributes.items():
        setattr(r, name, value)
    return r


def _user_recipe_names() -> set[str]:
    import ast

    tree = ast.parse(USER_RECIPES.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def pixels(path) -> list[tuple[bytes, bytes | None, bytes | None]]:
    """(data, variance, mask) bytes of every extension, native byte order."""
    ad = astrodata.open(str(path))
    out = []
    for ext in ad:
        data = np.ascontiguousarray(ext.data, dtype=np.asarray(ext.data).dtype.newbyteorder("="))
        var = None if ext.variance is None else np.ascontiguousarray(
            ext.variance, dtype=np.float32).tobytes()
        mask = None if ext.mask is None else np.ascontiguousarray(
            ext.mask, dtype=np.uint16).tobytes()
        out.append((data.tobytes(), var, mask))
    return out
