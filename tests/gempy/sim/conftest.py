"""Fixtures: small simulated datasets, generated once per test session."""

from __future__ import annotations

import pytest

from gempy.sim import load_truth, make_dataset


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """Factory: ``small_dataset(name)`` -> (path, truth) of a --small dataset with seed 0."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            path = make_dataset(name, tmp_path_factory.mktemp(name), small=True, seed=0)
            cache[name] = (path, load_truth(path))
        return cache[name]

    return get
