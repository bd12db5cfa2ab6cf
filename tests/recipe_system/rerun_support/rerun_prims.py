"""Test plug-in (``--drpkg rerun_prims``): F2 primitives plus small primitives for the re-run tests.

Each extra primitive appends ``<primitive> <file> <pid>`` to ``counter.txt`` in
the working directory when it runs, so a test can tell what ran, how often
and in which process. :func:`register` makes ``RerunF2`` and the
``rerun_recipes`` package the ``f2`` primitives and recipes (tests call it and
:func:`unregister` around themselves; ``--drpkg rerun_drpkg`` calls it in
another process).
"""

from __future__ import annotations

import os
import time

import numpy as np

from primitives.base import independent_copy
from primitives.errors import PrimitiveError
from primitives.f2 import F2
from primitives.params import Param, primitive
from recipe_system import registry

COUNTER = "counter.txt"


def count(name: str, ad) -> None:
    """Note in ./counter.txt that primitive `name` ran on `ad` (one write, O_APPEND)."""
    line = f"{name} {ad.orig_filename} {os.getpid()}\n".encode()
    fd = os.open(os.path.join(os.getcwd(), COUNTER), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def counted(workdir) -> list[tuple[str, str, int]]:
    """The (primitive, original file name, pid) lines of ``workdir/counter.txt``."""
    path = os.path.join(str(workdir), COUNTER)
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [(a, b, int(c)) for a, b, c in (line.split() for line in handle if line.strip())]


class RerunF2(F2):
    """F2 primitives and the test primitives."""

    tagset = frozenset({"GEMINI", "F2"})

    @primitive(per_file=True, factor=Param(float, 2.0, "Multiplicative factor"),
               suffix=Param(str, "_scaled", "Filename suffix"))
    def scaleData(self, adinputs=None, **params):
        """Multiply the pixels by `factor` (float32)."""
        for ad in adinputs:
            count("scaleData", ad)
            for ext in ad:
                ext.data = np.asarray(ext.data, dtype=np.float32) * np.float32(params["factor"])
            ad.update_filename(suffix=params["suffix"], strip=True)
            self.mark(ad, keyword="RRSCALE")
        return adinputs

    @primitive(per_file=True, read_noise=Param(float, 5.0, "Read noise (data units)", min=0.0),
               saturation=Param(float, 60000.0, "Pixels above are flagged"))
    def addNoiseModel(self, adinputs=None, **params):
        """Variance = max(data, 0) + read_noise**2; DQ 4 where data > saturation."""
        for ad in adinputs:
            count("addNoiseModel", ad)
            for ext in ad:
                data = np.asarray(ext.data, dtype=np.float32)
                ext.variance = (np.maximum(data, 0) + np.float32(params["read_noise"]) ** 2
                                ).astype(np.float32)
                ext.mask = np.where(data > params["saturation"], 4, 0).astype(np.uint16)
            self.mark(ad, keyword="RRNOISE")
        return adinputs

    @primitive(per_file=True, release=Param(str, "release.txt", "File to wait for"),
               timeout=Param(float, 120.0, "Give up after this many seconds"))
    def waitForRelease(self, adinputs=None, **params):
        """Wait until ./release exists (a step that can be interrupted)."""
        for ad in adinputs:
            count("waitForRelease", ad)
        deadline = time.monotonic() + params["timeout"]
        while not os.path.exists(params["release"]):
            if time.monotonic() > deadline:
                raise PrimitiveError(f"waitForRelease: {params['release']} never appeared")
            time.sleep(0.05)
        return adinputs

    @primitive(suffix=Param(str, "_combined", "Filename suffix"),
               operation=Param(str, "mean", "Combining operation", choices=("mean", "median")))
    def combineFrames(self, adinputs=None, **params):
        """Average (or median) the inputs into one frame named after the first."""
        for ad in adinputs:
            count("combineFrames", ad)
        out = independent_copy(adinputs[0])
        stack = np.array([np.asarray(ad[0].data, dtype=np.float32) for ad in adinputs])
        function = np.mean if params["operation"] == "mean" else np.median
        out[0].data = function(stack, axis=0).astype(np.float32)
        if all(ad[0].variance is not None for ad in adinputs):
            variance = np.array([np.asarray(ad[0].variance) for ad in adinputs])
            out[0].variance = (variance.sum(axis=0) / len(adinputs) ** 2).astype(np.float32)
        out.update_filename(suffix=params["suffix"], strip=True)
        self.mark(out, keyword="RRCOMB")
        return [out]

    @primitive(per_file=True, suffix=Param(str, "_darkSubtracted", "Filename suffix"))
    def subtractDark(self, adinputs=None, **params):
        """Subtract the processed dark the calibration provider gives each frame."""
        darks = self._get_cal(adinputs, "processed_dark")
        import astrodata

        for ad, dark in zip(adinputs, darks, strict=True):
            count("subtractDark", ad)
            if dark is None:
                continue
            dark_ad = astrodata.open(dark) if isinstance(dark, str) else dark
            for ext, dext in zip(ad, dark_ad, strict=True):
                ext.data = (np.asarray(ext.data, dtype=np.float32)
                            - np.asarray(dext.data, dtype=np.float32))
            ad.update_filename(suffix=params["suffix"], strip=True)
            self.mark(ad, keyword="RRDARK")
        return adinputs

    @primitive(per_file=True, bad_file=Param(str, None, "Original name of a file to fail on"))
    def failOn(self, adinputs=None, **params):
        """Fail on the file named `bad_file` (error propagation from workers)."""
        for ad in adinputs:
            count("failOn", ad)
            self.log.stdinfo(f"failOn looked at {ad.orig_filename}")
            if ad.orig_filename == params["bad_file"]:
                raise PrimitiveError(f"{ad.filename}: failOn was told to fail here")
        return adinputs

    @primitive(inner_factor=Param(float, 1.0, "Factor of the nested scaleData call"))
    def scaleViaNested(self, adinputs=None, **params):
        """Call scaleData (nested) with no explicit factor: its user value applies."""
        for ad in adinputs:
            count("scaleViaNested", ad)
        return self.scaleData(adinputs, suffix="_nested")

    @primitive(per_file=True, strength=Param(float, 1e-4, "Quadratic distortion (1/pixel)"))
    def distortWCS(self, adinputs=None, **params):
        """Give each extension's WCS a quadratic distortion (no exact FITS form)."""
        from astropy.modeling import models

        from gempy.library.resample import prepend_pixel_transform

        def quadratic(k):
            return (models.Mapping((0, 1, 0, 1))
                    | (models.Polynomial2D(2, c0_0=0, c1_0=1, c0_1=0, c2_0=k)
                       & models.Polynomial2D(2, c0_0=0, c1_0=0, c0_1=1, c0_2=k)))

        distortion = quadratic(params["strength"])
        distortion.inverse = quadratic(-params["strength"])    # first order is enough
        for ad in adinputs:
            count("distortWCS", ad)
            for ext in ad:
                ext.wcs = prepend_pixel_transform(ext.wcs, distortion)
        return adinputs

    def _row_means(self, ad):
        count("rowMeans", ad)
        return np.asarray(ad[0].data, dtype=np.float32).mean(axis=1)

    @primitive(suffix=Param(str, "_rows", "Filename suffix"))
    def subtractRowMeans(self, adinputs=None, **params):
        """Subtract each row's mean, the means computed with parallel_map."""
        means = self.parallel_map(self._row_means, adinputs)
        for ad, row in zip(adinputs, means, strict=True):
            ad[0].data = (np.asarray(ad[0].data, dtype=np.float32) - row[:, None]
                          ).astype(np.float32)
            ad.update_filename(suffix=params["suffix"], strip=True)
        return adinputs


__all__ = ["RerunF2"]

_SAVED: dict[str, str] = {}


def register() -> None:
    """Make RerunF2 and rerun_recipes the f2 primitives and recipes."""
    primitives = registry.primitive_modules()
    recipes = registry.recipe_packages()
    if "primitives" not in _SAVED:
        _SAVED["primitives"] = primitives.get("f2", "primitives.f2")
        _SAVED["recipes"] = recipes.get("f2", "recipes.f2")
    registry.register_primitives("f2", __name__)
    registry.register_recipes("f2", "rerun_recipes")


def unregister() -> None:
    """Put the built-in f2 primitives and recipes back."""
    if _SAVED:
        registry.register_primitives("f2", _SAVED.pop("primitives"))
        registry.register_recipes("f2", _SAVED.pop("recipes"))
