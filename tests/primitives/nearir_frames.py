"""Shared helpers of the P2 primitive tests: simulated near-IR data taken to the usual stages.

Imported by test_preprocess.py, test_stack.py and test_nearir.py (pytest runs
with ``--import-mode=importlib``, so they put this directory on ``sys.path``).
The frames go through the real detector primitives (prepare, addDQ,
ADUToElectrons, addVAR, nonlinearityCorrect) in each instrument's recipe order.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import astrodata
from gempy.sim import load_truth, make_dataset

#: One dataset directory per name for the whole session (generation takes seconds).
_CACHE: dict[str, tuple[str, dict]] = {}


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    """``sim(name)`` -> (directory, truth) of a small simulated dataset (seed 0)."""

    def get(name: str) -> tuple[str, dict]:
        if name not in _CACHE:
            path = make_dataset(name, tmp_path_factory.mktemp(name), small=True, seed=0)
            _CACHE[name] = (str(path), load_truth(path))
        return _CACHE[name]

    return get


def raw(directory: str, names: list[str]) -> list:
    return [astrodata.open(os.path.join(directory, name)) for name in names]


def detector_stages(p: Any, dark: bool = False) -> list:
    """Run the recipe's detector-level primitives on ``p.streams['main']``."""
    instrument = p.streams["main"][0].instrument()
    p.prepare()
    p.addDQ(add_illum_mask=False) if dark else p.addDQ()
    if instrument == "F2":
        p.ADUToElectrons()
        p.addVAR(read_noise=True, poisson_noise=True)
        p.nonlinearityCorrect()
    else:
        p.nonlinearityCorrect()
        p.ADUToElectrons()
        p.addVAR(read_noise=True, poisson_noise=True)
    return p.streams["main"]
