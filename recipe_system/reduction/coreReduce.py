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

Re-runs, provenance and parallel work (issue 10):

* Every top-level primitive call goes through a step cache
  (:mod:`recipe_system.cache`, journal in ``./.reducecache/``): ``reprocess``
  ``'auto'`` (default; ``[reduce] reprocess`` in the configuration file)
  reuses the recorded result of an unchanged step, ``'always'`` recomputes,
  ``'never'`` refuses to overwrite a product made from something else. A final
  product that exists with the same key and checksum is kept as it is.
* Each product gets ``REDKEY`` (its cache key) in the PHU and a
  ``REDUCTION`` table (recipe, parameters, inputs with MD5, calibrations,
  version) read by ``provenance FILE`` and by ``replay = FILE``
  (``reduce --replay FILE``).
* ``jobs`` (default: the cores) processes, this one and ``jobs - 1``
  workers, run the primitives declared ``per_file``; ``cal_cache`` pins and
  records calibration choices.
* ``group_by`` (``'group'`` or ``'night'``) splits the inputs into
  independent reductions, calibrations first; with ``executor`` (or
  ``cluster``, a Dask scheduler address) they run there::

      from recipe_system.executors import DaskExecutor
      r = Reduce(executor=DaskExecutor("tcp://scheduler:8786"))
      r.files = all_raw_files
      r.group_by = "night"
      r.runr()

* The ``[reduce]`` section of the configuration file (dragonsrc) may set
  ``reprocess``, ``jobs`` and ``checkpoint_min_seconds`` (which saved step
  outputs are kept once superseded — the latest state is always saved:
  ``auto``, the default, those of steps that took longer than saving them;
  a number of seconds; ``0``: every step).
* ``summary_lines()`` is the table printed at the end (what ran, what was
  reused, time per primitive or per reduction).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from typing import Any

from astropy.table import Table

import astrodata
from astrodata.errors import AstroDataError
from gempy.utils import logutils
from primitives import errors as primitive_errors
from primitives.base import (
    KEY_COMMENT,
    KEY_KEYWORD,
    PrimitivesBASE,
    UnknownParameterError,
    replay_log,
)
from recipe_system import registry
from recipe_system.auto import instance_or_default
from recipe_system.cache import REPROCESS_MODES, StepCache, StepReport, package_version
from recipe_system.errors import (
    CalibrationNotFoundError,
    ConfigError,
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

__all__ = ["REDUCTION_TABLE", "Reduce", "plan_reductions"]

_FRAME = "=" * 80
#: Default cap of the step cache's checkpoints (``[reduce] cache_max_gb``), GB: about
#: five variants of the full-size F2 tutorial.
DEFAULT_CACHE_MAX_GB = 50.0

#: Name of the top-level table recording how a product was made.
REDUCTION_TABLE = "REDUCTION"

#: Order in which independent reductions run: processed calibrations first.
_RANKS = (("BIAS", 0), ("DARK", 1), ("FLAT", 2), ("BPM", 2), ("STANDARD", 3))


def _same_file(path_a: str, path_b: str | None) -> bool:
    if not path_b:
        return False
    try:
        return os.path.samefile(path_a, path_b)
    except OSError:
        return os.path.abspath(path_a) == os.path.abspath(path_b)


class _InputPath:
    """Where an input frame was read from, all the writing checks need of it (no pixels)."""

    __slots__ = ("path",)

    def __init__(self, path: str | None) -> None:
        self.path = path


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
    executor : optional
        Where independent reductions run (``recipe_system.executors``:
        ``DaskExecutor``, ``LocalExecutor``); see ``group_by``.

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
        Processes for per-file primitives, this one and ``jobs - 1`` workers
        (None: the number of cores, or ``[reduce] jobs`` of the configuration
        file; 1: serial).
    reprocess : {'auto', 'always', 'never'} or None
        Re-run policy (None: ``[reduce] reprocess`` of the configuration file,
        else ``'auto'``); see :mod:`recipe_system.cache`.
    cal_cache : str or None
        Calibration cache (JSON): its pins are used, the choices written back.
    group_by : {'group', 'night'} or None
        Split the inputs into independent reductions (one per observation
        group, or per night and group), run in order of calibration type
        (biases, darks, flats, standards, then the rest).
    cluster : str or None
        Dask scheduler address (``tcp://HOST:PORT``, ``local:N``) for the
        reductions, when no ``executor`` is given.
    replay : str or None
        A product whose recorded reduction ``runr()`` runs again.
    calibration_databases : list or None
        Explicit databases (paths, URLs or ``DatabaseSpec``) instead of the
        configuration's (set for reductions sent to other processes).
    cache_dir : str or None
        The step cache directory (default ``./.reducecache``).
    checkpoint_min_seconds : float, 'auto' or None
        Which step outputs are saved (``StepCache``; None: ``[reduce]
        checkpoint_min_seconds`` of the configuration file, else ``'auto'``;
        0 saves every step).
    cache_max_gb : float, 'none' or None
        Cap of the step cache's checkpoints: after a reduction, the least
        recently used ones beyond it are deleted, never those of that
        reduction or used in the last 10 minutes (None: ``[reduce]
        cache_max_gb`` of the configuration file, else 50 GB; ``'none'``: no
        cap).
    min_pixels : int or None
        Smallest image sent to worker processes (None: the executor's default).
    output_filenames : list of str
        Files written (or kept, being up to date) in the working directory by
        the last ``runr()`` (read-only).
    processed_filenames : list of str
        Calibrations stored by the ``storeProcessed*`` primitives.
    step_reports : list of StepReport
        What happened to each step of the last single reduction.
    reduction_results : list of dict
        One result per reduction of the last grouped run.
    """

    def __init__(self, sys_args: Any = None, executor: Any = None) -> None:
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
        self.reprocess: str | None = get("reprocess")
        self.cal_cache: str | None = get("cal_cache")
        self.group_by: str | None = get("group_by")
        self.cluster: str | None = get("cluster")
        self.replay: str | None = get("replay")
        self.executor = executor
        self.calibration_databases: list | None = None
        self.cache_dir: str | None = None
        self.checkpoint_min_seconds: float | str | None = None
        self.cache_max_gb: float | str | None = None
        self.min_pixels: int | None = None
        self.step_reports: list[StepReport] = []
        self.reduction_results: list[dict[str, Any]] = []
        self.replayed_key: str | None = None
        self.product_keys: dict[str, str] = {}
        self._output_filenames: list[str] = []
        self.processed_filenames: list[str] = []
        self._summary: list[str] = []
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

    def summary_lines(self) -> list[str]:
        """The summary table of the last ``runr()`` (steps, or reductions when grouped)."""
        return list(self._summary)

    # -- settings -----------------------------------------------------------------
    def _config_value(self, name: str) -> str | None:
        """``[reduce] name`` of the configuration file in force, if any."""
        try:
            from recipe_system.cal_service.service import active_configuration
            from recipe_system.config import load_config

            config = (load_config(self.config_file) if self.config_file
                      else active_configuration() or load_config())
        except ConfigError:
            raise
        except Exception:  # noqa: BLE001 - no configuration: built-in defaults
            return None
        parser = getattr(config, "parser", None)
        if parser is None or not parser.has_section("reduce"):
            return None
        value = parser.get("reduce", name, fallback=None)
        return value.strip() if value else None

    def _reprocess_mode(self) -> str:
        mode = self.reprocess or self._config_value("reprocess") or "auto"
        if mode not in REPROCESS_MODES:
            raise ReduceError(f"reprocess={mode!r}: expected one of "
                              f"{', '.join(REPROCESS_MODES)}")
        return mode

    def _jobs(self) -> int:
        if self.jobs:
            return int(self.jobs)
        configured = self._config_value("jobs")
        if configured:
            try:
                return max(1, int(configured))
            except ValueError:
                raise ConfigError(f"[reduce] jobs = {configured!r} is not a whole number") \
                    from None
        from recipe_system.executors import default_jobs

        return default_jobs()

    def _checkpoint_seconds(self) -> float | str:
        value = self.checkpoint_min_seconds
        if value is None:
            value = self._config_value("checkpoint_min_seconds") or "auto"
        if value == "auto":
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"checkpoint_min_seconds = {value!r}: expected a number of "
                              f"seconds or 'auto'") from None

    def _cache_max_bytes(self) -> int | None:
        """The step cache cap in bytes (None: no cap).

        ``cache_max_gb`` (the attribute, else ``[reduce] cache_max_gb``, else
        ``DEFAULT_CACHE_MAX_GB``); ``'none'`` lifts the cap.
        """
        value = self.cache_max_gb
        if value is None:
            value = self._config_value("cache_max_gb")
        if value is None:
            value = DEFAULT_CACHE_MAX_GB
        if str(value).strip().lower() in ("none", "off", "unlimited"):
            return None
        try:
            gigabytes = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"cache_max_gb = {value!r}: expected a number of GB or 'none'") \
                from None
        if gigabytes < 0:
            raise ConfigError(f"cache_max_gb = {value!r} is negative")
        return int(gigabytes * 1e9)

    def _prune_cache(self, cache: StepCache, limit: int | None) -> None:
        """Keep the step cache under `limit` bytes: least recently used checkpoints go first."""
        if limit is None:
            return
        removed, freed = cache.prune(limit, keep=cache.files_in_use())
        if removed:
            self.log.stdinfo(f"Step cache: removed the {removed} least recently used "
                             f"checkpoint(s) ({freed / 1e9:.2f} GB) to stay under "
                             f"{limit / 1e9:g} GB (cache_max_gb)")

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
        if self.suffix:
            # --suffix names the final products; the copies the store
            # primitives put in calibrations/ carry the same name, so runs
            # with different suffixes never overwrite each other's copies.
            given = {key for key, _ in uparms}
            uparms = uparms + [(f"{name}:suffix", self.suffix)
                               for name in pclass.primitive_names()
                               if name.startswith("storeProcessed")
                               and f"{name}:suffix" not in given]
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
        cal_cache = self.cal_cache if self.cal_cache and os.path.exists(
            os.path.expanduser(self.cal_cache)) else None
        databases = None
        if self.calibration_databases is not None:
            databases = [_database_spec(item) for item in self.calibration_databases]
        return init_calibration_databases(ucals=ucals, config_file=self.config_file,
                                          mode=self.mode, databases=databases,
                                          cal_cache=cal_cache)

    def _make_primitives(self, pclass: type, adinputs: list, uparms: list,
                         ucals: dict[str, str], caldb: Any) -> PrimitivesBASE:
        try:
            return pclass(adinputs, mode=self.mode, ucals=ucals, uparms=uparms,
                          config_file=self.config_file, caldb=caldb, jobs=self.jobs)
        except UnknownParameterError as exc:
            raise UnrecognizedParameter(str(exc)) from None

    def plan(self) -> dict[str, Any]:
        """What ``runr()`` would do, without running it (``reduce -d``)."""
        if self.replay:
            self._apply_replay()
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
        result = {
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
            "reprocess": self._reprocess_mode(),
            "jobs": self._jobs(),
        }
        if self.group_by or self.cluster or self.executor is not None:
            result["reductions"] = [[os.path.basename(f) for f in group]
                                    for _, group in plan_reductions(self.files, self.group_by)]
            result["cluster"] = self.cluster or (repr(self.executor) if self.executor else None)
        return result

    @instance_or_default
    def auto(self, directory: Any, dry_run: bool = False, **options: Any) -> Any:
        """Classify, group, order and reduce every raw frame of a folder (``reduce --auto``).

        Callable on the class (``Reduce.auto("../playdata")``, default settings)
        or on an instance (its mode, ``uparms``, ``ucals``, configuration...
        apply to every step). Options: ``amin``, ``amax``, ``flat_min``,
        ``recipes``; see :mod:`recipe_system.auto`.

        Returns
        -------
        recipe_system.auto.AutoPlan
            The plan (``print(plan)`` shows it); after a run, each step's outcome.
        """
        from recipe_system.auto import auto_reduce

        return auto_reduce(self, directory, dry_run=dry_run, **options)

    def runr(self) -> None:
        """Run the reduction (or, with ``group_by``/``executor``/``cluster``, the reductions).

        Raises
        ------
        ReduceError
            Bad inputs, no recipe or primitive class, unknown user parameter,
            a missing calibration (``CalibrationNotFoundError``), a product
            that ``reprocess='never'`` forbids overwriting, failed reductions
            of a grouped run.
        astrodata.AstroDataError
            A primitive failed (after the ``_crash`` files were written).
        """
        self._output_filenames = []
        self.processed_filenames = []
        self.step_reports = []
        self.reduction_results = []
        self._summary = []
        if self.replay:
            self._apply_replay()
        if self.group_by or self.cluster or self.executor is not None:
            self._run_many()
        else:
            self._run_one()
        if self.replay:
            self._check_replay()

    def _run_one(self) -> None:
        log = self.log
        if self.upload:
            log.warning("--upload is ignored: astroreduce has no upload service")
        reprocess = self._reprocess_mode()
        self._load_plugins()
        adinputs = self._open_inputs()
        pclass, recipe, label, primitive_name, uparms = self._map(adinputs)
        ucals = normalize_ucals(self.ucals)
        caldb = self._calibration_provider(ucals)
        p = self._make_primitives(pclass, adinputs, uparms, ucals, caldb)
        cache = StepCache(self.cache_dir, reprocess, self._checkpoint_seconds())
        cache_limit = self._cache_max_bytes()      # a bad value stops the run before it starts
        cache.remove_stale_temporaries()
        cache.load_checksums(p)
        p.step_cache = cache
        jobs = self._jobs()
        if jobs > 1:
            from recipe_system.executors import DEFAULT_MIN_PIXELS, LocalExecutor

            # this process takes its share of the per-file work: jobs - 1 workers
            p.executor = LocalExecutor(jobs, min_pixels=self.min_pixels
                                       if self.min_pixels is not None else DEFAULT_MIN_PIXELS,
                                       main_works=True)
        record = self._reduction_record(adinputs, recipe, label, primitive_name, ucals, p)
        # the recipe owns the frames now (p.streams): keep only their paths, so that
        # frames the recipe replaces (flushPixels) are freed
        ninputs = len(adinputs)
        adinputs = [_InputPath(getattr(ad, "path", None)) for ad in adinputs]

        log.status(_FRAME)
        log.status(f"RECIPE: {label}")
        log.status(_FRAME)
        log.fullinfo(f"Primitive class: {pclass.__module__}.{pclass.__name__}")
        started = time.perf_counter()
        try:
            try:
                if primitive_name is not None:
                    getattr(p, primitive_name)()
                else:
                    recipe(p)
            except BaseException as exc:
                self._write_crash(p)
                self.processed_filenames = list(p.processed_filenames)
                self.step_reports = list(cache.reports)
                if isinstance(exc, primitive_errors.CalibrationNotFoundError):
                    raise CalibrationNotFoundError(str(exc)) from exc
                raise
            cache.flush()
            record["calibrations"] = cache.calibrations()
            self._output_filenames = self._write_final(p, cache, adinputs, record)
            self.processed_filenames = list(p.processed_filenames)
            self._save_cal_cache(caldb)
        finally:
            p.step_cache = None
            cache.close()
            cache.save_checksums(p)
            for path in p.transfer_files:
                if os.path.exists(path):
                    os.unlink(path)
        self._prune_cache(cache, cache_limit)
        self.step_reports = list(cache.reports)
        self.recipename = label
        self._summary = cache.summary_lines()
        elapsed = time.perf_counter() - started
        if self._summary:
            log.stdinfo("")
            log.stdinfo(f"Summary of {label} ({ninputs} input file(s), "
                        f"{elapsed:.1f} s; reprocess={reprocess}):")
            for line in self._summary:
                log.stdinfo("   " + line)
        log.stdinfo("")
        log.stdinfo("reduce completed successfully.")

    # -- provenance record --------------------------------------------------------
    def _reduction_record(self, adinputs: list, recipe: Any, label: str,
                          primitive_name: str | None, ucals: dict[str, str],
                          p: PrimitivesBASE) -> dict[str, Any]:
        """What the ``REDUCTION`` table of each product says (calibrations added at the end)."""
        if primitive_name is not None:
            recipe_ref = primitive_name
        elif callable(self.recipename):
            recipe_ref = f"{getattr(recipe, '__module__', '?')}.{label}"
        elif _is_path_recipe(self.recipename):
            module, _, func = str(self.recipename).rpartition(".")
            module = module[:-3] if module.endswith(".py") else module
            recipe_ref = f"{os.path.abspath(os.path.expanduser(module))}.{func}"
        elif self.recipename == "_default" or recipe is None:
            recipe_ref = f"{recipe.__module__}.{recipe.__name__}" if recipe else label
        else:
            recipe_ref = f"{recipe.__module__}.{label}"
        inputs = []
        for ad in adinputs:
            md5 = p._md5(ad.path)
            inputs.append({"name": ad.filename, "path": ad.path, "md5": md5})
        return {
            "recipe": label,
            "recipe_ref": recipe_ref,
            "primitive": primitive_name,
            "primitive_class": f"{type(p).__module__}.{type(p).__qualname__}",
            "mode": self.mode,
            "uparms": [[key, _plain(value)] for key, value in normalize_uparms(self.uparms)],
            "ucals": {caltype: {"path": path, "md5": p._md5(path)}
                      for caltype, path in ucals.items()},
            "suffix": self.suffix,
            "drpkg": self.drpkg,
            "adpkg": self.adpkg,
            "inputs": inputs,
            "calibrations": [],
            "version": package_version(),
            "python": sys.version.split()[0],
            "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        }

    # -- writing ------------------------------------------------------------
    def _write(self, ad: Any, adinputs: list) -> str | None:
        target = os.path.join(os.getcwd(), ad.filename)
        if any(_same_file(target, getattr(inp, "path", None)) for inp in adinputs) \
                and os.path.exists(target):
            self.log.warning(f"Not writing {ad.filename}: it is an input file")
            return None
        ad.write(target, overwrite=True)
        return ad.filename

    def _write_final(self, p: PrimitivesBASE, cache: StepCache, adinputs: list,
                     record: dict[str, Any]) -> list[str]:
        """Write each output whose name differs from its original name; return the names.

        An output whose file exists already, written from the same content key
        with the checksum the journal recorded, is kept as it is.
        """
        infos = cache.final_objects(p)
        if self.suffix or any(not info.key for info in infos):
            objects = p.streams.get("main", [])
            if self.suffix:
                for ad in objects:
                    ad.update_filename(suffix=self.suffix, strip=True)
            infos = [_info_of(cache, p, ad) for ad in objects]
        objects = None
        written = []
        for index, info in enumerate(infos):
            if not self.suffix and info.filename == info.orig_filename:
                continue
            if info.filename is None:
                continue
            target = os.path.join(os.getcwd(), info.filename)
            if any(_same_file(target, getattr(inp, "path", None)) for inp in adinputs) \
                    and os.path.exists(target):
                self.log.warning(f"Not writing {info.filename}: it is an input file")
                continue
            key = info.key or None
            if not cache.check_product(target, key):
                self.log.stdinfo(f"Kept {info.filename}: up to date (same key "
                                 f"{(key or '')[:12]}, checksum as recorded)")
                written.append(info.filename)
                self.product_keys[info.filename] = key
                continue
            if objects is None:
                objects = p.streams.get("main", [])
            ad = objects[index]
            if key:
                ad.phu[KEY_KEYWORD] = (key, KEY_COMMENT)
            setattr(ad, REDUCTION_TABLE, _record_table({**record, "key": key,
                                                        "product": info.filename}))
            name = self._write(ad, adinputs)
            if name is None:
                continue
            cache.record_product(target, key)
            self.product_keys[name] = key
            self.log.stdinfo(f"Wrote {name} in the working directory")
            written.append(name)
        return written

    def _write_crash(self, p: PrimitivesBASE) -> None:
        """Write the main stream with a ``_crash`` suffix (errors here are only logged)."""
        try:
            outputs = p.streams.get("main", [])
        except Exception as exc:  # noqa: BLE001 - the original failure is what matters
            self.log.warning(f"Could not load the reduction state to write crash files: {exc}")
            return
        for ad in outputs:
            try:
                ad.update_filename(suffix="_crash")
                name = self._write(ad, [])
            except Exception as exc:  # the original failure is what the user must see
                self.log.warning(f"Could not write the crash file of "
                                 f"{getattr(ad, 'filename', '?')}: {exc}")
                continue
            if name is not None:
                self.log.stdinfo(f"Wrote {name} (reduction state at the failure)")

    def _save_cal_cache(self, caldb: Any) -> None:
        if not self.cal_cache or caldb is None:
            return
        from recipe_system.cal_service import read_cal_cache, write_cal_cache

        path = os.path.expanduser(self.cal_cache)
        merged: dict[str, dict[str, str | None]] = {}
        if os.path.exists(path):
            merged = {k: dict(v) for k, v in read_cal_cache(path).items()}
        for label, chosen in getattr(caldb, "choices", {}).items():
            merged.setdefault(label, {}).update(chosen)
        if merged:
            write_cal_cache(path, merged)
            self.log.stdinfo(f"Calibration choices written to {self.cal_cache}")

    # -- replay ---------------------------------------------------------------------
    def _apply_replay(self) -> None:
        from recipe_system.replay import prepare_replay

        prepare_replay(self, self.replay)

    def _check_replay(self) -> None:
        wanted = self.replayed_key
        if not wanted:
            return
        if wanted in self.product_keys.values():
            self.log.stdinfo(f"Replay of {os.path.basename(self.replay)}: same cache key "
                             f"{wanted[:12]} (same inputs, parameters, calibrations and "
                             f"code)")
        else:
            self.log.warning(f"Replay of {os.path.basename(self.replay)}: the product's key "
                             f"differs from the recorded one ({wanted[:12]}): the code or "
                             f"the calibrations are not the same")

    # -- several independent reductions ------------------------------------------------
    def to_spec(self, files: list[str] | None = None, name: str | None = None,
                jobs: int | None = None) -> dict[str, Any]:
        """This reduction (or one for `files`) as a plain dictionary another process can run.

        Paths are made absolute and the calibration databases resolved here,
        so that a worker (``recipe_system.executors.run_reduction``) uses the
        same files and databases.
        """
        if callable(self.recipename):
            raise ReduceError("a recipe given as a Python function cannot be sent to another "
                              "process; give its name or path/module.function")
        files = [os.path.abspath(os.path.expanduser(str(f))) for f in (files or self.files)]
        recipename = self.recipename
        if _is_path_recipe(recipename):
            module, _, func = str(recipename).rpartition(".")
            recipename = f"{os.path.abspath(os.path.expanduser(module))}.{func}"
        return {
            "name": name or (os.path.basename(files[0]) + (f" +{len(files) - 1}"
                                                          if len(files) > 1 else "")),
            "files": files,
            "recipename": recipename,
            "uparms": [[k, _plain(v)] for k, v in normalize_uparms(self.uparms)],
            "ucals": normalize_ucals(self.ucals),
            "mode": self.mode,
            "suffix": self.suffix,
            "drpkg": self.drpkg,
            "adpkg": self.adpkg,
            "config_file": os.path.abspath(self.config_file) if self.config_file else None,
            "databases": self._resolved_databases(),
            "reprocess": self._reprocess_mode(),
            "jobs": jobs if jobs is not None else self.jobs,
            "cal_cache": os.path.abspath(self.cal_cache) if self.cal_cache else None,
            "cache_dir": os.path.abspath(self.cache_dir) if self.cache_dir else None,
            "checkpoint_min_seconds": self.checkpoint_min_seconds,
            "min_pixels": self.min_pixels,
            "workdir": os.getcwd(),
            "log_level": logutils.FULLINFO,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Reduce:
        """The reduction described by ``to_spec()``."""
        reduction = cls()
        reduction.files = list(spec["files"])
        reduction.recipename = spec.get("recipename") or "_default"
        reduction.uparms = [tuple(item) for item in spec.get("uparms") or []]
        reduction.ucals = dict(spec.get("ucals") or {})
        reduction.mode = spec.get("mode") or "sq"
        reduction.suffix = spec.get("suffix")
        reduction.drpkg = spec.get("drpkg")
        reduction.adpkg = spec.get("adpkg")
        reduction.config_file = spec.get("config_file")
        reduction.calibration_databases = spec.get("databases")
        reduction.reprocess = spec.get("reprocess")
        reduction.jobs = spec.get("jobs")
        reduction.cal_cache = spec.get("cal_cache")
        reduction.cache_dir = spec.get("cache_dir")
        reduction.checkpoint_min_seconds = spec.get("checkpoint_min_seconds")
        reduction.min_pixels = spec.get("min_pixels")
        return reduction

    def _resolved_databases(self) -> list[list] | None:
        if self.calibration_databases is not None:
            return [list(_database_tuple(item)) for item in self.calibration_databases]
        try:
            from recipe_system.cal_service.service import active_configuration
            from recipe_system.config import load_config

            config = (load_config(self.config_file) if self.config_file
                      else active_configuration() or load_config())
        except ImportError:
            return None
        return [[db.location, db.get, db.store] for db in config.databases]

    def _run_many(self) -> None:
        log = self.log
        self._load_plugins()
        plan = plan_reductions(self.files, self.group_by)
        own_executor = None
        executor = self.executor
        if executor is None and self.cluster:
            from recipe_system.executors import DaskExecutor

            executor = own_executor = DaskExecutor(self.cluster)
        remote = executor is not None
        specs = [(rank, self.to_spec(files, jobs=1 if remote else None))
                 for rank, files in plan]
        where = repr(executor) if remote else "this process"
        log.status(_FRAME)
        log.status(f"{len(specs)} independent reduction(s) on {where}")
        log.status(_FRAME)
        started = time.perf_counter()
        results: list[dict[str, Any]] = []
        try:
            for rank in sorted({r for r, _ in specs}):
                batch = [spec for r, spec in specs if r == rank]
                results.extend(self._run_batch(batch, executor))
                failed = [r for r in results if not r["ok"]]
                if failed:
                    break
        finally:
            if own_executor is not None:
                own_executor.close()
        self.reduction_results = results
        for result in results:
            self._output_filenames.extend(result["output_filenames"])
            self.processed_filenames.extend(result["processed_filenames"])
        self._summary = _reductions_table(results)
        log.stdinfo("")
        log.stdinfo(f"Summary of {len(results)} reduction(s) "
                    f"({time.perf_counter() - started:.1f} s):")
        for line in self._summary:
            log.stdinfo("   " + line)
        failed = [r for r in results if not r["ok"]]
        if failed:
            skipped = len(specs) - len(results)
            more = f"; {skipped} later reduction(s) not run" if skipped else ""
            raise ReduceError(f"{len(failed)} of {len(results)} reduction(s) failed{more}: "
                              + "; ".join(f"{r['name']}: {r['error']}" for r in failed))
        log.stdinfo("")
        log.stdinfo("reduce completed successfully.")

    def _run_batch(self, batch: list[dict[str, Any]], executor: Any) -> list[dict[str, Any]]:
        """Run reductions that do not depend on each other; results in `batch` order."""
        from recipe_system.executors import run_reduction

        if executor is None:
            results = []
            for spec in batch:
                self.log.status(f"REDUCTION: {spec['name']}")
                results.append(run_reduction(spec, capture=False))
            return results
        futures = [executor.submit(run_reduction, spec) for spec in batch]
        bar = PrimitivesBASE._progress_bar(len(futures), "reductions")
        for _ in executor.as_completed(futures):
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        results = []
        for spec, future in zip(batch, futures, strict=True):
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - the worker itself failed
                result = {"name": spec["name"], "ok": False,
                          "error": f"{type(exc).__name__}: {exc}", "output_filenames": [],
                          "processed_filenames": [], "steps": [], "log": [], "seconds": 0.0}
            self.log.status(f"REDUCTION: {spec['name']}")
            replay_log(result.get("log") or [], 1)
            results.append(result)
        return results


# -- helpers ------------------------------------------------------------------------
def _is_path_recipe(name: Any) -> bool:
    return isinstance(name, str) and ("/" in name or os.sep in name or ".py." in name)


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a user parameter value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    filename = getattr(value, "filename", None)
    return filename if isinstance(filename, str) else str(value)


def _record_table(record: dict[str, Any]) -> Table:
    """The ``REDUCTION`` table: one row per item, values as JSON."""
    rows = [(name, json.dumps(value, sort_keys=True, default=str))
            for name, value in record.items()]
    return Table(rows=rows, names=("item", "value"), dtype=[str, str])


def _info_of(cache: StepCache, p: PrimitivesBASE, ad: Any) -> Any:
    from recipe_system.cache import ObjectInfo

    return ObjectInfo(cache.key_of(p, ad) or "", None, None, getattr(ad, "path", None),
                      getattr(ad, "orig_filename", None))


def _database_tuple(item: Any) -> tuple[str, bool, bool]:
    if isinstance(item, (list, tuple)):
        location, get, store = (list(item) + [True, True])[:3]
        return str(location), bool(get), bool(store)
    location = getattr(item, "location", None)
    if location is not None:
        return str(location), bool(getattr(item, "get", True)), bool(getattr(item, "store",
                                                                              True))
    return os.fspath(item), True, True


def _database_spec(item: Any) -> Any:
    from recipe_system.config import DatabaseSpec

    if isinstance(item, DatabaseSpec) or hasattr(item, "lookup"):
        return item
    location, get, store = _database_tuple(item)
    return DatabaseSpec(location, get=get, store=store, source="reduction spec")


def _rank(ad: Any) -> int:
    tags = ad.tags
    if "PROCESSED" in tags:
        return 4
    for tag, rank in _RANKS:
        if tag in tags:
            return rank
    return 4


def _night(ad: Any) -> str:
    try:
        value = ad.ut_date()
    except Exception:  # noqa: BLE001 - undated frames form their own night
        value = None
    return str(value) if value is not None else "undated"


def _group(ad: Any) -> str:
    try:
        value = ad.group_id()
    except Exception:  # noqa: BLE001 - frames without a group are grouped by observation
        value = None
    if value is None:
        try:
            value = ad.observation_id()
        except Exception:  # noqa: BLE001
            value = None
    return str(value)


def plan_reductions(files: list[str], group_by: str | None) -> list[tuple[int, list[str]]]:
    """Split `files` into independent reductions: ``[(rank, files)]`` in running order.

    ``group_by='group'`` makes one reduction per (instrument, observation
    group: the ``group_id`` descriptor); ``'night'`` one per (instrument, UT
    date, group); None keeps all files together. Ranks run in order (biases
    0, darks 1, flats and BPMs 2, standards 3, anything else 4), so that the
    calibrations are stored before the reductions needing them; reductions of
    one rank may run at the same time. File order is kept within a reduction.

    Raises
    ------
    ReduceError
        For an unknown `group_by` or a file that cannot be read.
    """
    if group_by not in (None, "group", "night"):
        raise ReduceError(f"group_by={group_by!r}: expected 'group' or 'night'")
    if not files:
        raise ReduceError("no input files given")
    groups: dict[tuple, list[str]] = {}
    ranks: dict[tuple, int] = {}
    for name in files:
        path = os.path.expanduser(str(name))
        try:
            ad = astrodata.open(path)
        except (AstroDataError, OSError) as exc:
            raise ReduceError(f"{name}: cannot be read: {exc}") from None
        if group_by is None:
            key: tuple = ("all",)
        else:
            instrument = str(ad.instrument()) if hasattr(ad, "instrument") else ""
            key = (instrument, _group(ad)) if group_by == "group" else \
                (instrument, _night(ad), _group(ad))
        groups.setdefault(key, []).append(str(name))
        ranks[key] = min(ranks.get(key, 4), _rank(ad))
    ordered = sorted(groups, key=lambda k: (ranks[k], os.path.basename(groups[k][0])))
    return [(ranks[k], groups[k]) for k in ordered]


def _reductions_table(results: list[dict[str, Any]]) -> list[str]:
    if not results:
        return []
    width = max(len("Reduction"), *(len(str(r["name"])) for r in results))
    lines = [f"{'#':>3}  {'Reduction':<{width}}  {'Status':<6}  {'Ran':>4}  {'Reused':>6}  "
             f"{'Time (s)':>8}  Outputs",
             f"{'-' * 3}  {'-' * width}  {'-' * 6}  {'-' * 4}  {'-' * 6}  {'-' * 8}  -------"]
    for number, r in enumerate(results, start=1):
        steps = r.get("steps") or []
        ran = sum(1 for s in steps if s.get("status") in ("ran", "rerun", "always"))
        reused = sum(1 for s in steps if s.get("status") == "reused")
        status = "ok" if r["ok"] else "FAILED"
        outputs = ", ".join(r.get("output_filenames") or []) or "-"
        lines.append(f"{number:>3}  {str(r['name']):<{width}}  {status:<6}  {ran:>4}  "
                     f"{reused:>6}  {r.get('seconds', 0.0):8.1f}  {outputs}")
    return lines
