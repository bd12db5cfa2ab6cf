"""Reduce: the reduction controller used by the ``reduce`` command and by Python scripts.

As in the DRAGONS tutorials::

    from recipe_system.reduction.coreReduce import Reduce

    reduce_flats = Reduce()
    reduce_flats.files.extend(list_of_flats)
    reduce_flats.uparms = [("addDQ:user_bpm", "S20131129S0320_bpm.fits")]
    reduce_flats.runr()
    reduce_flats.output_filenames        # ['S20131129S0320_flat.fits']

``runr()`` opens the inputs, maps the recipe and the primitive class from the
tags of the first input, builds the calibration provider
(``recipe_system.cal_service.init_calibration_databases``), runs the recipe
(or the single primitive named by ``recipename``) and writes the final
main-stream products in the working directory. On failure, the main stream is
written with a ``_crash`` suffix and the error is raised again.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import astrodata
from astrodata.errors import AstroDataError
from gempy.utils import logutils
from primitives import errors as primitive_errors
from primitives.base import PrimitivesBASE, UnknownParameterError
from recipe_system import registry
from recipe_system.errors import (
    CalibrationNotFoundError,
    RecipeNotFound,
    ReduceError,
    UnrecognizedParameter,
)
from recipe_system.mappers import PrimitiveMapper, RecipeMapper, dataset_signature
from recipe_system.reduction.command_line import (
    build_parser,
    normalize_ucals,
    normalize_uparms,
)

__all__ = ["Reduce"]

_FRAME = "=" * 80


def _same_file(path_a: str, path_b: str | None) -> bool:
    if not path_b:
        return False
    try:
        return os.path.samefile(path_a, path_b)
    except OSError:
        return os.path.abspath(path_a) == os.path.abspath(path_b)


def _did_you_mean(word: str, candidates: list[str]) -> str:
    import difflib

    lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(word.lower(), list(lower), n=3, cutoff=0.6)
    return ("; did you mean " + " or ".join(repr(lower[c]) for c in close) + "?") if close \
        else ""


class Reduce:
    """The reduction controller.

    Parameters
    ----------
    sys_args : argparse.Namespace or duck-typed equivalent, optional
        Parsed ``reduce`` arguments; defaults to ``build_parser().parse_args([])``.

    Attributes
    ----------
    files : list of str
        Input files; the first one decides the recipe and the primitive class.
    recipename : str
        ``'_default'``, a recipe, a primitive, or ``path/module.function``;
        after ``runr()`` the name of the recipe that ran.
    uparms : list
        User parameters: ``[('prim:par', value)]`` (``.append`` works), a dict
        or ``'prim:par=value'`` strings.
    ucals : dict or list
        User calibrations: ``{'processed_bias': path}`` or ``'caltype:path'``.
    mode : {'sq', 'ql', 'qa'}
    suffix : str or None
        Final suffix replacing every suffix of the outputs.
    config_file : str or None
        Calibration configuration file (dragonsrc).
    drpkg, adpkg : str or None
        Plug-in modules imported before mapping.
    jobs : int or None
        Parallel workers offered to the primitives (``p.jobs``).
    output_filenames : list of str
        Files written by ``runr()`` in the working directory (read-only).
    processed_filenames : list of str
        Calibrations stored by the ``storeProcessed*`` primitives.
    """

    def __init__(self, sys_args: Any = None) -> None:
        defaults = vars(build_parser().parse_args([]))
        args = sys_args if sys_args is not None else argparse.Namespace(**defaults)

        def get(name: str) -> Any:
            return getattr(args, name, defaults.get(name))

        self.files: list[str] = list(get("files") or [])
        self.mode: str = get("mode") or "sq"
        self.drpkg: str | None = get("drpkg")
        self.adpkg: str | None = get("adpkg")
        self.suffix: str | None = get("suffix")
        self.config_file: str | None = get("config")
        self.recipename = get("recipename") or "_default"
        self.upload = get("upload")
        self.jobs: int | None = getattr(args, "jobs", None)
        self.uparms = get("userparam")
        self.ucals = get("user_cal")
        self._output_filenames: list[str] = []
        self.processed_filenames: list[str] = []
        self.log = logutils.get_logger("recipe_system")

    # -- attributes with conversion --------------------------------------
    @property
    def uparms(self) -> list:
        """User parameters, a list one can ``append`` ``('prim:par', value)`` pairs to."""
        return self._uparms

    @uparms.setter
    def uparms(self, value: Any) -> None:
        if value is None:
            self._uparms = []
        elif isinstance(value, list):
            self._uparms = value
        elif isinstance(value, dict):
            self._uparms = list(value.items())
        elif isinstance(value, str):
            self._uparms = [value]
        else:
            self._uparms = list(value)

    @property
    def ucals(self) -> dict | list:
        """User calibrations (``{caltype: path}`` or ``'caltype:path'`` strings)."""
        return self._ucals

    @ucals.setter
    def ucals(self, value: Any) -> None:
        self._ucals = value if value is not None else {}

    @property
    def output_filenames(self) -> list[str]:
        """Names of the files written in the working directory by the last ``runr()``."""
        return list(self._output_filenames)

    # -- the reduction ----------------------------------------------------
    def _open_inputs(self) -> list:
        if not self.files:
            raise ReduceError("no input files given")
        adinputs = []
        for name in self.files:
            path = os.path.expanduser(str(name))
            if not os.path.exists(path):
                raise ReduceError(f"{name}: no such file")
            if os.path.isdir(path):
                raise ReduceError(f"{name}: is a directory, not a FITS file")
            try:
                ad = astrodata.open(path)
            except AstroDataError as exc:
                message = str(exc)
                if os.path.basename(path) not in message:
                    message = f"{name}: {message}"
                raise ReduceError(message) from None
            except OSError as exc:
                raise ReduceError(f"{name}: cannot be read: {exc.strerror or exc}") from None
            if len(ad) == 0:
                raise ReduceError(f"{name}: has no image extension to reduce")
            adinputs.append(ad)
        return adinputs

    def _load_plugins(self) -> None:
        for module in (self.adpkg, self.drpkg):
            if module:
                registry.load_plugin(module)

    def _map(self, adinputs: list) -> tuple[type, Any, str, str | None, list]:
        """(primitive class, recipe or None, label, primitive to run or None, uparms)."""
        tags, instrument = dataset_signature(adinputs, self.log)
        pclass = PrimitiveMapper(tags, instrument, self.mode).get_applicable_primitives()
        mapper = RecipeMapper(tags, instrument, self.mode, self.recipename)
        recipe = mapper.get_applicable_recipe()
        uparms = normalize_uparms(self.uparms)
        if recipe is not None:
            if callable(self.recipename):
                label = getattr(self.recipename, "__name__", "user recipe")
            elif self.recipename == "_default" or mapper.is_user_recipe:
                label = recipe.__name__
            else:
                label = self.recipename
            return pclass, recipe, label, None, uparms
        name = self.recipename
        if name in pclass.primitive_names():
            # a bare parameter is meant for the primitive being run
            uparms = [(key if ":" in key else f"{name}:{key}", value) for key, value in uparms]
            return pclass, None, name, name, uparms
        library = mapper.get_applicable_library()
        recipes = sorted(n for n, v in vars(library).items()
                         if callable(v) and not n.startswith("_"))
        raise RecipeNotFound(
            f"{name!r} is neither a recipe of {library.__name__} nor a primitive of "
            f"{pclass.__name__}{_did_you_mean(name, recipes + pclass.primitive_names())}")

    def _calibration_provider(self, ucals: dict[str, str]) -> Any:
        try:
            from recipe_system.cal_service import init_calibration_databases
        except ImportError:
            self.log.fullinfo("No calibration service available; calibrations come from "
                              "--user_cal only")
            return None
        return init_calibration_databases(ucals=ucals, config_file=self.config_file,
                                          mode=self.mode)

    def _make_primitives(self, pclass: type, adinputs: list, uparms: list,
                         ucals: dict[str, str], caldb: Any) -> PrimitivesBASE:
        try:
            return pclass(adinputs, mode=self.mode, ucals=ucals, uparms=uparms,
                          config_file=self.config_file, caldb=caldb, jobs=self.jobs)
        except UnknownParameterError as exc:
            raise UnrecognizedParameter(str(exc)) from None

    def plan(self) -> dict[str, Any]:
        """What ``runr()`` would do, without running it (``reduce -d``)."""
        self._load_plugins()
        adinputs = self._open_inputs()
        pclass, recipe, label, primitive_name, uparms = self._map(adinputs)
        ucals = normalize_ucals(self.ucals)
        p = self._make_primitives(pclass, adinputs, uparms, ucals, caldb=None)
        applies = {}
        for key in p.user_params:
            prim, _, par = key.rpartition(":")
            targets = [prim] if prim else [n for n in pclass.primitive_names()
                                           if par in pclass.parameters(n)]
            applies[key] = targets
        return {
            "files": list(self.files),
            "tags": sorted(adinputs[0].tags),
            "mode": self.mode,
            "recipe": label,
            "recipe_module": getattr(recipe, "__module__", None) if recipe else None,
            "primitive": primitive_name,
            "primitive_class": f"{pclass.__module__}.{pclass.__name__}",
            "user_params": dict(p.user_params),
            "user_params_apply_to": applies,
            "user_cals": ucals,
            "suffix": self.suffix,
            "config_file": self.config_file,
        }

    def runr(self) -> None:
        """Run the reduction.

        Raises
        ------
        ReduceError
            Bad inputs, no recipe or primitive class, unknown user parameter,
            a missing calibration (``CalibrationNotFoundError``).
        astrodata.AstroDataError
            A primitive failed (after the ``_crash`` files were written).
        """
        log = self.log
        self._output_filenames = []
        self.processed_filenames = []
        if self.upload:
            log.warning("--upload is ignored: astroreduce has no upload service")
        self._load_plugins()
        adinputs = self._open_inputs()
        pclass, recipe, label, primitive_name, uparms = self._map(adinputs)
        ucals = normalize_ucals(self.ucals)
        caldb = self._calibration_provider(ucals)
        p = self._make_primitives(pclass, adinputs, uparms, ucals, caldb)

        log.status(_FRAME)
        log.status(f"RECIPE: {label}")
        log.status(_FRAME)
        log.fullinfo(f"Primitive class: {pclass.__module__}.{pclass.__name__}")
        try:
            if primitive_name is not None:
                getattr(p, primitive_name)()
            else:
                recipe(p)
        except BaseException as exc:
            self._write_crash(p)
            self.processed_filenames = list(p.processed_filenames)
            if isinstance(exc, primitive_errors.CalibrationNotFoundError):
                raise CalibrationNotFoundError(str(exc)) from exc
            raise
        self._output_filenames = self._write_final(p.streams.get("main", []), adinputs)
        self.processed_filenames = list(p.processed_filenames)
        self.recipename = label
        log.stdinfo("")
        log.stdinfo("reduce completed successfully.")

    # -- writing ------------------------------------------------------------
    def _write(self, ad: Any, adinputs: list) -> str | None:
        target = os.path.join(os.getcwd(), ad.filename)
        if any(_same_file(target, getattr(inp, "path", None)) for inp in adinputs) \
                and os.path.exists(target):
            self.log.warning(f"Not writing {ad.filename}: it is an input file")
            return None
        ad.write(target, overwrite=True)
        return ad.filename

    def _write_final(self, outputs: list, adinputs: list) -> list[str]:
        """Write each output whose name differs from its original name; return the names."""
        written = []
        for ad in outputs:
            if self.suffix:
                ad.update_filename(suffix=self.suffix, strip=True)
            elif ad.filename == ad.orig_filename:
                continue
            name = self._write(ad, adinputs)
            if name is not None:
                self.log.stdinfo(f"Wrote {name} in the working directory")
                written.append(name)
        return written

    def _write_crash(self, p: PrimitivesBASE) -> None:
        """Write the main stream with a ``_crash`` suffix (errors here are only logged)."""
        for ad in p.streams.get("main", []):
            try:
                ad.update_filename(suffix="_crash")
                name = self._write(ad, [])
            except Exception as exc:  # the original failure is what the user must see
                self.log.warning(f"Could not write the crash file of "
                                 f"{getattr(ad, 'filename', '?')}: {exc}")
                continue
            if name is not None:
                self.log.stdinfo(f"Wrote {name} (reduction state at the failure)")

