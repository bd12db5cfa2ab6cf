"""Shared helpers of the GMOS primitive tests (test_ccd, test_visualize, test_gmos_image).

Simulated GMOS datasets (``gempy.sim``, small) are made once per session in
a temporary directory; calibrations are built with the GMOS primitives
themselves (prepare, addDQ, addVAR, overscanCorrect, biasCorrect,
ADUToElectrons, stackBiases/stackFlats, normalizeFlat, flatCorrect), cached
per session, and copied before a test changes them. pytest runs with
``--import-mode=importlib``: the test modules put this directory on
``sys.path`` to import it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

import astrodata
from astrodata import Section
from gempy.sim import load_truth, make_dataset
from gempy.utils import logutils
from primitives.base import independent_copy
from primitives.gmos import GMOS, GMOSImage

_DATASETS: dict[str, tuple[str, dict]] = {}
_PRODUCTS: dict[tuple, Any] = {}


def quiet() -> None:
    """Keep the primitives' logging out of the test output."""
    logutils.config(mode="quiet")
    logging.getLogger("astrodata").setLevel(logging.ERROR)


def dataset(name: str, tmp_path_factory: Any) -> tuple[str, dict]:
    """(directory, truth) of a small simulated dataset, made once per session."""
    if name not in _DATASETS:
        directory = tmp_path_factory.mktemp(name.replace("-", "_"))
        make_dataset(name, directory, small=True, seed=3)
        _DATASETS[name] = (str(directory), load_truth(directory))
    return _DATASETS[name]


def files(name: str, tmp_path_factory: Any, role: str, band: str | None = None) -> list[str]:
    """Paths of a dataset's raw files of one role (and filter)."""
    directory, truth = dataset(name, tmp_path_factory)
    return [f"{directory}/{f}" for f in truth["roles"][role]
            if band is None or truth["files"][f]["filter"] == band]


def raw(paths: list[str]) -> list[Any]:
    return [astrodata.open(p) for p in paths]


def overscan_corrected(paths: list[str], cls: type = GMOS, **overscan: Any) -> list[Any]:
    """prepare -> addDQ -> addVAR(read) -> overscanCorrect, as the GMOS recipes do."""
    quiet()
    p = cls(raw(paths))
    p.prepare(require_wcs=False)
    p.addDQ(add_illum_mask=False)
    p.addVAR(read_noise=True)
    p.overscanCorrect(**overscan)
    return p.streams["main"]


def master_bias(name: str, tmp_path_factory: Any) -> Any:
    """The processed bias of a dataset (overscanCorrect + stackBiases), cached."""
    key = ("bias", name)
    if key not in _PRODUCTS:
        biases = overscan_corrected(files(name, tmp_path_factory, "bias"))
        p = GMOS(biases)
        p.stackBiases()
        _PRODUCTS[key] = p.streams["main"][0]
    return independent_copy(_PRODUCTS[key])


def electrons(paths: list[str], bias: Any) -> list[Any]:
    """Frames overscan- and bias-corrected, in electrons, with read and Poisson variance."""
    frames = overscan_corrected(paths, GMOSImage)
    p = GMOSImage(frames)
    p.biasCorrect(bias=bias)
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    return p.streams["main"]


def master_flat(name: str, band: str, tmp_path_factory: Any) -> Any:
    """The processed twilight flat of a dataset and filter (stackFlats + normalizeFlat)."""
    key = ("flat", name, band)
    if key not in _PRODUCTS:
        flats = electrons(files(name, tmp_path_factory, "twilight", band),
                          master_bias(name, tmp_path_factory))
        p = GMOSImage(flats)
        p.stackFlats()
        p.normalizeFlat()
        _PRODUCTS[key] = p.streams["main"][0]
    return independent_copy(_PRODUCTS[key])


def science(name: str, band: str, tmp_path_factory: Any) -> list[Any]:
    """Science frames bias- and flat-corrected (electrons), cached; copies are returned."""
    key = ("science", name, band)
    if key not in _PRODUCTS:
        frames = electrons(files(name, tmp_path_factory, "science", band),
                           master_bias(name, tmp_path_factory))
        p = GMOSImage(frames)
        p.flatCorrect(flat=master_flat(name, band, tmp_path_factory))
        _PRODUCTS[key] = p.streams["main"]
    return [independent_copy(ad) for ad in _PRODUCTS[key]]


def truth_extension(truth: dict, filename: str, index: int) -> dict:
    """The truth record of one raw extension of a file (by its original name)."""
    return truth["files"][filename]["extensions"][index]


def data_section(record: dict) -> Section:
    return Section.from_string(record["datasec"])


def static_bias_structure(truth: dict, record: dict, index: int) -> np.ndarray:
    """The truth bias of an amplifier's data section minus the mean of its overscan columns."""
    static = truth["bias"][index]
    section = data_section(record)
    overscan = np.ones(static.shape[1], dtype=bool)
    overscan[section.x1:section.x2] = False
    return static[section.asslice()] - static[:, overscan].mean(axis=1)[:, None]


def fringe_pattern(ad: Any) -> list[np.ndarray]:
    """A fringe-like pattern fixed on the detector (two crossed waves of 37 and 23 pixels).

    Evaluated at unbinned detector coordinates from ``DETSEC``, so it is the
    same for every dither; the values have an rms of about 0.86.
    """
    xbin, ybin = ad.detector_x_bin(), ad.detector_y_bin()
    planes = []
    for ext, det in zip(ad, ad.detector_section(), strict=True):
        ny, nx = ext.shape
        x = det.x1 + (np.arange(nx) + 0.5) * xbin
        y = det.y1 + (np.arange(ny) + 0.5) * ybin
        xx, yy = np.meshgrid(x, y)
        planes.append((np.sin(2 * np.pi * (0.8 * xx + 0.6 * yy) / 37.0)
                       + 0.7 * np.sin(2 * np.pi * (-0.3 * xx + 0.95 * yy) / 23.0 + 1.0))
                      .astype(np.float32))
    return planes


def deep(ads: list[Any]) -> list[Any]:
    return [copy.deepcopy(ad) for ad in ads]
