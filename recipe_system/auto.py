"""Automatic organisation of a folder of raw frames into reductions (``reduce --auto DIR``).

One call reduces a night's folder the way the tutorials do by hand::

    from recipe_system.reduction.coreReduce import Reduce
    plan = Reduce.auto("../playdata", dry_run=True)     # look first
    print(plan)
    Reduce.auto("../playdata")                          # then reduce

or ``reduce --auto ../playdata [--dry-run] [--amin F --amax F]``. Outputs go
to the working directory, as with ``reduce``.

What happens (:func:`plan_auto` makes the plan, :func:`run_plan` runs it):

1. **Classify** every FITS file of the folder (top level, sorted by name)
   from its tags: ``BIAS``; ``DARK``; ``FLAT`` (lamp on/off, dome, twilight);
   ``OBJECT`` frames by ``observation_class``: ``science`` (or no class) is
   science, ``partnerCal``/``progCal`` a standard. Acquisitions, spectra,
   processed or prepared files, bad pixel masks, daytime ``OBJECT``
   calibrations of no known kind and unreadable files are *skipped*, with
   the reason.
2. **Screen** the frames (see :func:`screen_frame`): flats whose median
   exceeds the non-linear level (saturated), illuminated flats (lamp on,
   dome, twilight) whose median signal is below ``flat_min`` electrons, and,
   when given, illuminated frames (illuminated flats, science, standards)
   whose median counts above the pedestal are outside ``amin``..``amax`` of
   the saturation level (photopipe's ``amin``/``amax``, fractions of
   saturation) are skipped with the reason.
3. **Group** each kind by the descriptors that the instrument's calibration
   association rule (``recipe_system.cal_service.rules.RULES``) compares, so
   a group is exactly a set of frames one processed calibration is made from
   (F2 darks by read mode and exposure time, flats by filter, GMOS biases by
   binning, read speed, gain and ROI...); instruments without a rule group
   by :data:`FALLBACK_MATCH`. Science and standards are grouped by
   observation ID (the object when there is none), filter and exposure time.
4. **Bad pixel mask**: when the recipe library of the flats has
   ``makeProcessedBPM`` and short darks exist (exposure time no longer than
   the flats'), one BPM per instrument and binning is made from the flats
   (lamp on and off) of the flat group with the most lamp-on frames followed
   by the shortest darks (the F2 tutorial's order: flats first), and given to
   the flat, standard and science steps as ``addDQ:user_bpm``, as the
   tutorial does. Darks used only for the BPM, that no frame of the folder
   needs, are not made into a processed dark. A user ``addDQ:user_bpm`` turns
   this off.
5. **Order** the steps bias -> dark -> BPM -> flat -> standard -> science;
   each step is one :class:`~recipe_system.reduction.coreReduce.Reduce` run of
   the group's default recipe. The processed bias, dark and flat are added
   to the managed calibration database (the first configured with ``store``,
   else the first: what ``caldb add`` uses; with no configuration file
   ``./calibrations/cal_manager.db``), as the tutorials' ``caldb.add_cal``
   does, so the later steps find them through the normal association rules.

User parameters (``-p``) go to every step whose primitive class has that
primitive and parameter; ``ROLE:primitive:parameter=value`` (ROLE one of
:data:`ROLES`) limits one to a kind of step, e.g. ``-p
science:skyCorrect:offset_sky=False`` for the GSAOI tutorial's science only.
``recipes={'science': 'reduce'}`` (``-r science:reduce``) chooses another
recipe for a kind of step. A step whose calibration step failed is not run;
the others are, and :class:`AutoReduceError` at the end names the failures.

User documentation: ``docs/auto.md``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import logging
import math
import os
import textwrap
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import astrodata
from astrodata.errors import AstroDataError
from gempy.utils import logutils
from recipe_system.errors import ReduceError, UnrecognizedParameter
from recipe_system.reduction.command_line import normalize_uparms

__all__ = [
    "AutoPlan",
    "AutoReduceError",
    "AutoStep",
    "FALLBACK_MATCH",
    "FLAT_MIN_ELECTRONS",
    "FrameLevel",
    "ROLES",
    "SkippedFrame",
    "auto_reduce",
    "classify",
    "instance_or_default",
    "measure_level",
    "plan_auto",
    "recipe_calls",
    "run_auto_command",
    "run_plan",
    "screen_frame",
]

#: Kinds of step, in the order they run.
ROLES = ("bias", "dark", "bpm", "flat", "standard", "science")

#: Calibration type whose association rule groups the frames of each kind.
GROUP_CALTYPE = {"bias": "processed_bias", "dark": "processed_dark",
                 "flat": "processed_flat", "bpm": "processed_bpm"}

#: Grouping descriptors for an instrument without a rule of that type.
FALLBACK_MATCH = {
    "processed_bias": ("detector_x_bin", "detector_y_bin"),
    "processed_dark": ("detector_x_bin", "detector_y_bin", "exposure_time"),
    "processed_flat": ("detector_x_bin", "detector_y_bin", "filter_name"),
    "processed_bpm": ("detector_x_bin", "detector_y_bin"),
}

#: Descriptors grouping science frames and standards (observation ID, or the
#: object when a frame has none).
SCIENCE_MATCH = ("observation_id", "filter_name", "exposure_time")

#: Correction primitive -> the processed calibration it reads.
CORRECTIONS = {"biasCorrect": "processed_bias", "darkCorrect": "processed_dark",
               "flatCorrect": "processed_flat", "fringeCorrect": "processed_fringe"}

#: Calibration type -> the kind of step that makes it here.
MADE_BY = {"processed_bias": "bias", "processed_dark": "dark", "processed_flat": "flat"}

#: Minimum median signal (electrons) of an illuminated flat: a Poisson
#: signal-to-noise ratio of about 30 per pixel and frame.
FLAT_MIN_ELECTRONS = 1000.0

#: Parameters every primitive accepts (``primitives.params``).
_UNIVERSAL_PARAMS = ("skip_primitive", "write_outputs")

#: Classes of observation reduced as standards.
_STANDARD_CLASSES = ("partnerCal", "progCal")

_FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fits.fz", ".fz")

#: Screening reads about this many pixels of an extension to measure its level.
_LEVEL_SAMPLES = 65536

_FRAME = "=" * 80


class AutoReduceError(ReduceError):
    """Steps of an automatic reduction failed; ``plan`` says which and why."""

    def __init__(self, message: str, plan: AutoPlan | None = None) -> None:
        super().__init__(message)
        self.plan = plan


# -- Reduce.auto: callable on the class or on a configured instance -----------------
class instance_or_default:  # noqa: N801 - used as a decorator, like classmethod
    """Method decorator: called on the class, the method runs on a new default instance.

    ``Reduce.auto(dir)`` and ``r.auto(dir)`` (keeping ``r``'s mode, user
    parameters, configuration file...) both work.
    """

    def __init__(self, func: Callable) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, obj: Any, owner: type | None = None) -> Callable:
        if obj is not None:
            return types.MethodType(self.func, obj)

        @functools.wraps(self.func)
        def on_new_instance(*args: Any, **kwargs: Any) -> Any:
            return self.func(owner(), *args, **kwargs)

        return on_new_instance


# -- data model ---------------------------------------------------------------------
@dataclass
class Frame:
    """One raw file of the folder: its object (headers only), kind and rule values."""

    path: str
    ad: Any
    role: str
    values: dict[str, Any]

    @property
    def filename(self) -> str:
        return os.path.basename(self.path)

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(self.ad.tags)

    @property
    def instrument(self) -> str | None:
        return self.values.get("instrument_family")

    @property
    def illuminated(self) -> bool:
        """Whether the frame should carry light (not a bias, dark or lamp-off flat)."""
        return self.role in ("science", "standard") or (
            self.role == "flat" and "LAMPOFF" not in self.tags)


@dataclass(frozen=True)
class SkippedFrame:
    """A file left out of the reduction, and why."""

    filename: str
    kind: str
    reason: str


@dataclass
class AutoStep:
    """One reduction of the plan: a group of frames, its recipe, calibrations and outcome.

    Attributes
    ----------
    number : int
        1-based position in the running order.
    role : str
        One of :data:`ROLES`.
    recipe : str
        Name of the recipe run (``makeProcessedDark``, ``reduce``...).
    files : list of str
        Input paths, in the order given to ``Reduce`` (sorted; BPM: flats first).
    group : dict
        The descriptor values that define the group (what the rule compares).
    instrument : str
        Instrument family (``F2``, ``GMOS``...).
    expected_outputs : list of str
        File names the step should write (per-frame recipes: one per input that
        is reduced; the sky frames of an offset-to-sky sequence write none).
    per_frame : bool
        Whether the recipe writes one product per frame (no stacking).
    calibrations : dict
        ``{caltype: description}`` of what the step will use (a planned
        product, a database file, or ``none found``), plus ``user_bpm``.
    depends_on : list of int
        Step numbers whose products this step uses.
    uparms : list of (str, object)
        User parameters given to this step (``addDQ:user_bpm`` is added when
        the BPM step has run).
    status : str
        ``planned``, ``done``, ``failed`` or ``not run``.
    outputs : list of str
        Files written by the step (after running).
    error : str or None
        Why the step failed or was not run.
    seconds : float
        Time taken.
    """

    number: int
    role: str
    recipe: str
    files: list[str]
    group: dict[str, Any]
    instrument: str
    expected_outputs: list[str] = field(default_factory=list)
    per_frame: bool = False
    calibrations: dict[str, str] = field(default_factory=dict)
    depends_on: list[int] = field(default_factory=list)
    uparms: list[tuple[str, Any]] = field(default_factory=list)
    bpm_step: int | None = None
    status: str = "planned"
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def first_file(self) -> str:
        return os.path.basename(self.files[0])

    @property
    def group_text(self) -> str:
        """``F2 read_mode=8 exposure_time=120``."""
        items = " ".join(_show_item(name, value) for name, value in self.group.items())
        return f"{self.instrument} {items}".strip()

    @property
    def output_text(self) -> str:
        if not self.expected_outputs:
            return "-"
        if self.per_frame and len(self.files) > 1:
            return f"{self.expected_outputs[0]} (one per frame)"
        return ", ".join(self.expected_outputs)


@dataclass
class AutoPlan:
    """What an automatic reduction does (and, once run, did).

    ``str(plan)`` is the table ``reduce --auto DIR --dry-run`` prints.

    Attributes
    ----------
    source : str
        The folder (or a description of the file list).
    steps : list of AutoStep
        In running order.
    skipped : list of SkippedFrame
        Files left out, with the reason.
    n_files : int
        FITS files examined.
    """

    source: str
    steps: list[AutoStep] = field(default_factory=list)
    skipped: list[SkippedFrame] = field(default_factory=list)
    n_files: int = 0

    def step(self, number: int) -> AutoStep:
        """The step with that number."""
        return self.steps[number - 1]

    def steps_of(self, role: str) -> list[AutoStep]:
        """Steps of one kind (``'flat'``, ``'science'``...)."""
        return [s for s in self.steps if s.role == role]

    @property
    def output_filenames(self) -> list[str]:
        """Every file the steps wrote, in running order."""
        return [name for s in self.steps for name in s.outputs]

    @property
    def science_products(self) -> list[str]:
        """Files written by the science and standard steps."""
        return [name for s in self.steps if s.role in ("science", "standard")
                for name in s.outputs]

    @property
    def failed(self) -> list[AutoStep]:
        return [s for s in self.steps if s.status in ("failed", "not run")]

    def plan_lines(self) -> list[str]:
        """The plan table: step, recipe, files, group, expected output, calibrations."""
        header = ("Step", "Kind", "Recipe", "N", "First file", "Group", "Output",
                  "Calibrations")
        rows = [(str(s.number), s.role, s.recipe, str(len(s.files)), s.first_file,
                 s.group_text, s.output_text, _calibration_text(s)) for s in self.steps]
        return _table(header, rows)

    def skipped_lines(self) -> list[str]:
        """The table of skipped files and reasons."""
        rows = [(s.filename, s.kind, s.reason) for s in self.skipped]
        return _table(("Skipped file", "Kind", "Reason"), rows)

    def summary_lines(self) -> list[str]:
        """After running: each step's status, time and outputs."""
        rows = []
        for s in self.steps:
            outputs = ", ".join(s.outputs[:3]) if s.outputs else (s.error or "-")
            if len(s.outputs) > 3:
                outputs += f" (+{len(s.outputs) - 3} more)"
            rows.append((str(s.number), s.role, s.recipe, s.status, f"{s.seconds:.1f}",
                         outputs))
        return _table(("Step", "Kind", "Recipe", "Status", "Time (s)", "Outputs"), rows)

    def render(self) -> str:
        """Plan and skipped tables as text."""
        lines = [f"Automatic reduction of {self.source}: {self.n_files} file(s), "
                 f"{len(self.steps)} step(s), {len(self.skipped)} skipped", ""]
        lines += self.plan_lines() if self.steps else ["No reduction to run."]
        if self.skipped:
            lines += [""] + self.skipped_lines()
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


#: Region descriptors, shown in the plan as their bounding box and number of parts.
_REGION_DESCRIPTORS = ("amp_read_area", "detector_section", "data_section")


def _show_item(name: str, value: Any) -> str:
    """``name=value`` for the plan; regions as ``[x1:x2,y1:y2]`` (1-based) and part count."""
    if name in _REGION_DESCRIPTORS and value is not None:
        from recipe_system.cal_service.frame_values import parse_amp_read_area, parse_sections

        try:
            if name == "amp_read_area":
                sections = [s for _, s in parse_amp_read_area(value) if s is not None]
            elif isinstance(value, str) and value.startswith("Section("):
                sections = [_section_from_repr(value)]
            else:
                sections = list(parse_sections(value))
        except (TypeError, ValueError):
            sections = []
        if sections:
            x1, y1 = min(s.x1 for s in sections), min(s.y1 for s in sections)
            x2, y2 = max(s.x2 for s in sections), max(s.y2 for s in sections)
            parts = f" ({len(sections)} parts)" if len(sections) > 1 else ""
            return f"{name}=[{x1 + 1}:{x2},{y1 + 1}:{y2}]{parts}"
    return f"{name}={_show(value)}"


def _section_from_repr(text: str) -> Any:
    """``Section(x1=0, x2=256, y1=0, y2=256)`` (how ``data_section`` is stored) -> Section."""
    from astrodata import Section

    inside = text.strip()[len("Section("):-1]
    numbers = dict(item.strip().split("=") for item in inside.split(","))
    return Section(*(int(numbers[k]) for k in ("x1", "x2", "y1", "y2")))


def _calibration_text(step: AutoStep) -> str:
    if not step.calibrations:
        return "-"
    return "; ".join(f"{name.removeprefix('processed_')}: {what}"
                     for name, what in step.calibrations.items())


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


# -- classification -------------------------------------------------------------------
def classify(ad: Any) -> tuple[str | None, str]:
    """The kind of a raw frame (``bias``, ``dark``, ``flat``, ``science``, ``standard``).

    Returns
    -------
    (kind, reason)
        ``kind`` None means the frame is skipped; ``reason`` says why (or,
        for a kind, what decided it).
    """
    tags = frozenset(ad.tags)
    if "BPM" in tags:
        return None, "a bad pixel mask, not a raw frame"
    if "PROCESSED" in tags or "PREPARED" in tags:
        return None, "already processed (not a raw frame)"
    if "SPECT" in tags:
        return None, "spectroscopy is not reduced by --auto"
    obs_class = _descriptor(ad, "observation_class")
    if "ACQUISITION" in tags or obs_class in ("acq", "acqCal"):
        return None, "acquisition frame"
    for tag, kind in (("BIAS", "bias"), ("DARK", "dark"), ("FLAT", "flat"),
                      ("TWILIGHT", "flat")):
        if tag in tags:
            return kind, f"{tag} tag"
    for tag in ("ARC", "PINHOLE", "RONCHI", "FRINGE"):
        if tag in tags:
            return None, f"{tag} frames are not reduced by --auto"
    obstype = _descriptor(ad, "observation_type")
    if obstype is not None and str(obstype).upper() not in ("OBJECT", "STANDARD"):
        return None, f"observation type {obstype} is not reduced by --auto"
    if obs_class in _STANDARD_CLASSES:
        return "standard", f"observation class {obs_class}"
    if obs_class in (None, "science"):
        return "science", f"observation class {obs_class or 'unknown'}"
    return None, f"observation class {obs_class} on an OBJECT frame of no known kind"


def _descriptor(ad: Any, name: str, **kwargs: Any) -> Any:
    method = getattr(ad, name, None)
    if method is None:
        return None
    try:
        with _quiet_descriptors():
            return method(**kwargs)
    except Exception:  # noqa: BLE001 - a bad header value means "unknown" here
        return None


@contextlib.contextmanager
def _quiet_descriptors() -> Iterator[None]:
    """Silence descriptor warnings (missing keywords on raw frames are normal here)."""
    logger = logging.getLogger("astrodata")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


# -- screening ----------------------------------------------------------------------
@dataclass(frozen=True)
class FrameLevel:
    """Median counts of each extension of a raw frame and the levels to compare them with.

    Attributes
    ----------
    median : tuple of float
        Median of the data section, raw ADU (pedestal included).
    pedestal : tuple of float
        Median of the overscan (0 without one): the zero level.
    non_linear, saturation : tuple of float or None
        The descriptors' levels, raw ADU.
    gain : tuple of float or None
        Electrons per ADU.
    """

    median: tuple[float, ...]
    pedestal: tuple[float, ...]
    non_linear: tuple[float | None, ...]
    saturation: tuple[float | None, ...]
    gain: tuple[float | None, ...]

    def signal(self) -> list[float]:
        """Median counts above the pedestal, ADU, per extension."""
        return [m - p for m, p in zip(self.median, self.pedestal, strict=True)]

    def brightest(self) -> int:
        """Index of the extension with the most signal."""
        signal = self.signal()
        return int(np.nanargmax(signal)) if signal else 0

    def saturation_fraction(self) -> float | None:
        """The brightest extension's signal as a fraction of its range to saturation."""
        i = self.brightest()
        top = self.saturation[i] if self.saturation[i] is not None else self.non_linear[i]
        if top is None or not top > self.pedestal[i]:
            return None
        return self.signal()[i] / (top - self.pedestal[i])

    def electrons(self) -> float | None:
        """The brightest extension's signal in electrons (None without a gain)."""
        i = self.brightest()
        gain = self.gain[i]
        return None if gain is None else self.signal()[i] * gain


def _per_extension(ad: Any, name: str) -> list[Any]:
    value = _descriptor(ad, name)
    if isinstance(value, (list, tuple)) and len(value) == len(ad):
        return list(value)
    return [value] * len(ad)


def _sampled_median(data: np.ndarray, section: Any) -> float:
    plane = data
    while plane.ndim > 2:
        plane = plane[0]
    if section is not None:
        plane = plane[section.asslice()]
    step = max(1, int(math.sqrt(plane.size / _LEVEL_SAMPLES)))
    sample = np.asarray(plane[::step, ::step], dtype=np.float64)
    if sample.size == 0:
        return float("nan")
    return float(np.nanmedian(sample))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def measure_level(ad: Any) -> FrameLevel:
    """Median counts of each extension of a raw frame (a sub-sample of the data section).

    Rows and columns are sub-sampled evenly (about 65 000 pixels an
    extension), so a 2048x2048 frame reads an eighth of its rows. The pedestal
    is the median of the overscan section when the frame has one.
    """
    sections = _per_extension(ad, "data_section")
    overscans = _per_extension(ad, "overscan_section")
    medians, pedestals = [], []
    for ext, section, overscan in zip(ad, sections, overscans, strict=True):
        data = ext.data
        medians.append(_sampled_median(data, section))
        pedestal = _sampled_median(data, overscan) if overscan is not None else 0.0
        pedestals.append(pedestal if math.isfinite(pedestal) else 0.0)
    return FrameLevel(
        median=tuple(medians), pedestal=tuple(pedestals),
        non_linear=tuple(_number(v) for v in _per_extension(ad, "non_linear_level")),
        saturation=tuple(_number(v) for v in _per_extension(ad, "saturation_level")),
        gain=tuple(_number(v) for v in _per_extension(ad, "gain")),
    )


def screen_frame(frame: Frame, level: FrameLevel, amin: float | None = None,
                 amax: float | None = None,
                 flat_min: float | None = FLAT_MIN_ELECTRONS) -> str | None:
    """Why a frame is unusable, or None.

    * a flat (any) with an extension whose median exceeds that extension's
      non-linear level (saturation level if there is none) is saturated;
    * an illuminated flat (not lamp-off) whose brightest extension has a
      median signal below `flat_min` electrons is too faint;
    * an illuminated frame (illuminated flat, science, standard) whose
      brightest extension's median signal, as a fraction of its range from
      the pedestal to saturation, is below `amin` or above `amax`.
    """
    if frame.role == "flat":
        for i, median in enumerate(level.median):
            limit = level.non_linear[i] if level.non_linear[i] is not None \
                else level.saturation[i]
            if limit is not None and median > limit:
                which = f" (extension {i + 1})" if len(level.median) > 1 else ""
                return (f"saturated flat: median {median:.0f} ADU above the non-linear "
                        f"level {limit:.0f} ADU{which}")
        electrons = level.electrons()
        if (flat_min is not None and frame.illuminated and electrons is not None
                and electrons < flat_min):
            return (f"flat too faint: median signal {electrons:.0f} e-, below the minimum "
                    f"{flat_min:.0f} e-")
    if frame.illuminated and (amin is not None or amax is not None):
        fraction = level.saturation_fraction()
        if fraction is not None:
            if amin is not None and fraction < amin:
                return (f"median counts {fraction:.3f} of saturation, below amin "
                        f"{amin:g}")
            if amax is not None and fraction > amax:
                return (f"median counts {fraction:.3f} of saturation, above amax "
                        f"{amax:g}")
    return None


# -- recipes --------------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def recipe_calls(recipe: Callable) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    """The primitives a recipe calls, in order, with their literal keyword arguments.

    Read from the recipe's source (recipes are one ``p.primitive(...)`` call
    a line); ``()`` when the source cannot be read.
    """
    try:
        source = textwrap.dedent(inspect.getsource(recipe))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return ()
    func = next((n for n in tree.body if isinstance(n, (ast.FunctionDef,
                                                         ast.AsyncFunctionDef))), None)
    if func is None or not func.args.args:
        return ()
    name = func.args.args[0].arg
    calls = []
    for node in ast.walk(func):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == name):
            kwargs = []
            for keyword in node.keywords:
                if keyword.arg is None:
                    continue
                try:
                    kwargs.append((keyword.arg, ast.literal_eval(keyword.value)))
                except (ValueError, TypeError, SyntaxError):
                    kwargs.append((keyword.arg, None))
            calls.append((node.lineno, node.col_offset, node.func.attr, tuple(kwargs)))
    calls.sort()
    return tuple((prim, kwargs) for _, _, prim, kwargs in calls)


def _combines(calls: Sequence[tuple[str, Any]]) -> bool:
    """Whether the recipe combines its inputs into one product (a stack, a lamp flat, a BPM)."""
    return any(prim.startswith("stack") or prim in ("makeLampFlat", "makeBPM",
                                                    "makeFringeFrame")
               for prim, _ in calls)


def _product_suffix(calls: Sequence[tuple[str, Any]], pclass: type) -> str | None:
    """Suffix of the final product: the last primitive's ``suffix`` argument or default."""
    for prim, kwargs in reversed(calls):
        given = dict(kwargs).get("suffix")
        if given:
            return given
        if prim in ("writeOutputs", "clearStream"):
            continue
        try:
            param = pclass.parameters(prim).get("suffix")
        except Exception:  # noqa: BLE001 - not a primitive of the class: look further back
            continue
        if param is not None and getattr(param, "default", None):
            return param.default
    return None


def _root(path: str) -> str:
    name = os.path.basename(path)
    for suffix in sorted(_FITS_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return os.path.splitext(name)[0]


# -- planning -----------------------------------------------------------------------
def _fits_files(source: str | os.PathLike | Sequence[str]) -> tuple[str, list[str]]:
    if isinstance(source, (str, os.PathLike)):
        directory = os.path.expanduser(os.fspath(source))
        if not os.path.isdir(directory):
            if os.path.exists(directory):
                raise ReduceError(f"{source}: not a directory (--auto takes a folder)")
            raise ReduceError(f"{source}: no such directory")
        names = sorted(n for n in os.listdir(directory)
                       if n.lower().endswith(_FITS_SUFFIXES) and not n.startswith(".")
                       and os.path.isfile(os.path.join(directory, n)))
        return directory, [os.path.join(directory, n) for n in names]
    files = sorted((os.path.expanduser(os.fspath(f)) for f in source),
                   key=lambda p: (os.path.basename(p), p))
    return f"{len(files)} file(s)", files


def _group_names(instrument: str | None, caltype: str) -> tuple[str, ...]:
    from recipe_system.cal_service.rules import find_rule

    rule = find_rule(instrument, caltype)
    if rule is None:
        return FALLBACK_MATCH[caltype]
    names = list(rule.match) + list(rule.tolerances)
    if rule.roi:
        names.append(rule.roi)
    return tuple(dict.fromkeys(n for n in names if n != "instrument"))


def _key_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    return value


def _group_of(frame: Frame) -> dict[str, Any]:
    if frame.role in GROUP_CALTYPE:
        names = _group_names(frame.instrument, GROUP_CALTYPE[frame.role])
    else:
        names = SCIENCE_MATCH
    group = {}
    for name in names:
        if name not in frame.values:
            frame.values[name] = _descriptor(frame.ad, name)
        value = _key_value(frame.values.get(name))
        if name == "observation_id" and value is None:
            name, value = "object", frame.values.get("object")
        group[name] = value
    return group


def _load_instrument_plugins(frames: Iterable[Frame]) -> None:
    """Import each instrument's primitive module once (plug-ins register their rules there)."""
    from recipe_system import registry
    from recipe_system.mappers import instrument_key

    for key in sorted({instrument_key(f.ad) for f in frames} - {None}):
        with contextlib.suppress(Exception):
            registry.primitive_classes(key)


def _map_group(files: list[Frame], mode: str, recipename: str) -> tuple[type, Callable]:
    """(primitive class, recipe) for a group, from the first frame (as ``Reduce`` does)."""
    from recipe_system.mappers import PrimitiveMapper, RecipeMapper, dataset_signature

    tags, key = dataset_signature([files[0].ad])
    pclass = PrimitiveMapper(tags, key, mode).get_applicable_primitives()
    recipe = RecipeMapper(tags, key, mode, recipename).get_applicable_recipe()
    if recipe is None:
        raise ReduceError(f"{recipename!r} is not a recipe for {files[0].filename}")
    return pclass, recipe


def _parameter_applies(pclass: type, primitive: str, parameter: str) -> bool:
    try:
        names = pclass.primitive_names()
    except Exception:  # noqa: BLE001
        return False
    candidates = [primitive] if primitive else names
    for name in candidates:
        if name not in names:
            continue
        if parameter in _UNIVERSAL_PARAMS:
            return True
        try:
            if parameter in pclass.parameters(name):
                return True
        except Exception:  # noqa: BLE001 - a primitive without declared parameters
            continue
    return False


def _split_role(key: str) -> tuple[str | None, str]:
    head, sep, rest = key.partition(":")
    if sep and head in ROLES:
        return head, rest
    return None, key


def _route_uparms(uparms: list[tuple[str, Any]], steps: list[tuple[str, type]]
                  ) -> list[list[tuple[str, Any]]]:
    """The user parameters each step receives; every parameter must reach some step.

    Raises
    ------
    UnrecognizedParameter
        A parameter that no step's primitive class has (or none of its role's).
    """
    routed: list[list[tuple[str, Any]]] = [[] for _ in steps]
    for key, value in uparms:
        role, bare = _split_role(key)
        primitive, _, parameter = bare.rpartition(":")
        used = False
        for index, (step_role, pclass) in enumerate(steps):
            if role is not None and role != step_role:
                continue
            if _parameter_applies(pclass, primitive, parameter):
                routed[index].append((bare, value))
                used = True
        if not used:
            where = f"the {role} steps" if role else "any step"
            if role is not None and role not in {r for r, _ in steps}:
                where = f"the {role} steps (there is none)"
            raise UnrecognizedParameter(
                f"user parameter {key!r}: no primitive of {where} has it")
    return routed


def _values_for_rule(frame: Frame, caltype: str) -> dict[str, Any]:
    from recipe_system.cal_service.rules import find_rule

    rule = find_rule(frame.instrument, caltype)
    if rule is not None:
        for name in rule.descriptors:
            if name not in frame.values:
                frame.values[name] = _descriptor(frame.ad, name)
    return frame.values


def _serves(cal: Frame, target: Frame, caltype: str) -> bool:
    """Whether a processed calibration made from `cal`'s group would serve `target`."""
    from recipe_system.cal_service.association import rule_differences
    from recipe_system.cal_service.rules import find_rule

    if cal.instrument != target.instrument:
        return False
    rule = find_rule(target.instrument, caltype)
    if rule is None:
        names = FALLBACK_MATCH[caltype]
        return all(_key_value(_descriptor(cal.ad, n)) == _key_value(_descriptor(target.ad, n))
                   for n in names)
    return not rule_differences(rule, _values_for_rule(target, caltype),
                                _values_for_rule(cal, caltype), None)


def plan_auto(source: str | os.PathLike | Sequence[str], *, mode: str = "sq",
              uparms: Any = None, recipes: dict[str, str] | None = None,
              amin: float | None = None, amax: float | None = None,
              flat_min: float | None = FLAT_MIN_ELECTRONS,
              provider: Any = None) -> AutoPlan:
    """Classify, screen and group the raw frames of a folder into ordered reductions.

    Parameters
    ----------
    source : path or sequence of paths
        The folder (its top-level FITS files) or an explicit list of files.
    mode : {'sq', 'ql', 'qa'}
        Recipe mode.
    uparms : optional
        User parameters (as ``Reduce.uparms``); ``ROLE:prim:par`` keys go to
        that kind of step only.
    recipes : dict, optional
        ``{role: recipe name}`` replacing a kind of step's default recipe.
    amin, amax : float, optional
        Accepted range of an illuminated frame's median counts above the
        pedestal, as a fraction of the saturation level (0..1).
    flat_min : float or None
        Minimum median signal of an illuminated flat, electrons (None: no minimum).
    provider : optional
        A calibration provider (``init_calibration_databases``) asked for the
        calibrations no step of the plan makes; None: not asked.

    Returns
    -------
    AutoPlan

    Raises
    ------
    ReduceError
        A missing folder, bad limits or recipe names.
    UnrecognizedParameter
        A user parameter no step can take.
    """
    for name, value in (("amin", amin), ("amax", amax)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ReduceError(f"{name}={value:g}: expected a fraction of the saturation "
                              f"level between 0 and 1")
    if amin is not None and amax is not None and amin >= amax:
        raise ReduceError(f"amin={amin:g} is not below amax={amax:g}")
    recipes = dict(recipes or {})
    unknown = sorted(set(recipes) - set(ROLES))
    if unknown:
        raise ReduceError(f"recipes for unknown kinds of step {', '.join(unknown)}; "
                          f"expected {', '.join(ROLES)}")
    label, paths = _fits_files(source)
    plan = AutoPlan(source=label, n_files=len(paths))
    frames = _classify_all(paths, plan)
    _load_instrument_plugins(frames)
    frames = _screen_all(frames, plan, amin, amax, flat_min)

    groups: dict[tuple, list[Frame]] = {}
    for frame in frames:
        group = _group_of(frame)
        key = (frame.role, frame.instrument, tuple((k, repr(v)) for k, v in group.items()))
        groups.setdefault(key, []).append(frame)
    drafts = [_Draft(role, frames_[0].instrument or "?", _group_of(frames_[0]), frames_)
              for (role, _, _), frames_ in groups.items()]
    drafts = [d for d in drafts if _usable_flat_group(d, plan)]

    uparm_list = normalize_uparms(uparms)
    user_bpm = any(_split_role(k)[1] == "addDQ:user_bpm" for k, _ in uparm_list)
    if not user_bpm:
        drafts += _bpm_drafts(drafts, mode)
    drafts = _drop_bpm_only_darks(drafts)
    drafts = [d for d in drafts if _map_draft(d, mode, recipes, plan)]
    drafts.sort(key=lambda d: (ROLES.index(d.role), d.frames[0].filename))

    routed = _route_uparms(uparm_list, [(d.role, d.pclass) for d in drafts])
    for number, (draft, step_uparms) in enumerate(zip(drafts, routed, strict=True), start=1):
        draft.number = number
        plan.steps.append(draft.to_step(step_uparms))
    _attach_calibrations(plan, drafts, provider)
    return plan


@dataclass
class _Draft:
    """A step being planned: its frames and mapping (kept out of the public AutoStep)."""

    role: str
    instrument: str
    group: dict[str, Any]
    frames: list[Frame]
    pclass: Any = None
    recipe: Any = None
    recipename: str = "_default"
    number: int = 0
    bpm_darks: list[Frame] = field(default_factory=list)
    used_for_bpm: bool = False

    def inputs(self) -> list[Frame]:
        return self.frames + self.bpm_darks

    def to_step(self, uparms: list[tuple[str, Any]]) -> AutoStep:
        calls = recipe_calls(self.recipe)
        per_frame = not _combines(calls)
        suffix = _product_suffix(calls, self.pclass)
        inputs = self.inputs()
        kept = inputs
        # NIRI recipes drop the earliest frame (reset anomaly) before naming anything
        if (any(prim == "removeFirstFrame" for prim, _ in calls) and len(inputs) > 1
                and _user_value(uparms, "removeFirstFrame:remove_first", True)):
            earliest = min(inputs, key=_ut_order)
            kept = [f for f in inputs if f is not earliest]
        outputs: list[str] = []
        if suffix:
            if per_frame:
                outputs = [_root(f.path) + suffix + ".fits" for f in kept]
            else:
                named = kept[0]
                if any(prim == "makeLampFlat" for prim, _ in calls):
                    named = next((f for f in kept if "LAMPON" in f.tags), named)
                outputs = [_root(named.path) + suffix + ".fits"]
        return AutoStep(number=self.number, role=self.role,
                        recipe=(self.recipename if self.recipename != "_default"
                                else getattr(self.recipe, "__name__", self.recipename)),
                        files=[f.path for f in inputs], group=self.group,
                        instrument=self.instrument, expected_outputs=outputs,
                        per_frame=per_frame, uparms=list(uparms))


def _ut_order(frame: Frame) -> tuple:
    when = frame.values.get("ut_datetime")
    return (when is None, when.isoformat() if when is not None else "", frame.filename)


def _user_value(uparms: list[tuple[str, Any]], key: str, default: bool) -> bool:
    """A boolean user parameter as the primitive would read it (``"False"`` is False)."""
    for name, value in uparms:
        if name in (key, key.rpartition(":")[2]):
            if isinstance(value, str):
                return value.strip().lower() not in ("false", "no", "0", "off", "none", "")
            return bool(value)
    return default


def _classify_all(paths: list[str], plan: AutoPlan) -> list[Frame]:
    from recipe_system.cal_service.frame_values import frame_values

    frames = []
    for path in paths:
        name = os.path.basename(path)
        try:
            ad = astrodata.open(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not fatal
            plan.skipped.append(SkippedFrame(name, "?", f"cannot be read: {exc}"))
            continue
        if len(ad) == 0:
            plan.skipped.append(SkippedFrame(name, "?", "no image extension"))
            continue
        role, reason = classify(ad)
        if role is None:
            plan.skipped.append(SkippedFrame(name, "-", reason))
            continue
        values = frame_values(ad)
        if values.get("instrument_family") is None:
            plan.skipped.append(SkippedFrame(name, role, "no instrument in the header"))
            continue
        frames.append(Frame(path, ad, role, values))
    return frames


def _screen_all(frames: list[Frame], plan: AutoPlan, amin: float | None,
                amax: float | None, flat_min: float | None) -> list[Frame]:
    kept = []
    limits = amin is not None or amax is not None
    for frame in frames:
        if frame.role == "flat" or (limits and frame.illuminated):
            try:
                level = measure_level(frame.ad)
            except (AstroDataError, OSError, ValueError) as exc:
                plan.skipped.append(SkippedFrame(frame.filename, frame.role,
                                                 f"pixels cannot be read: {exc}"))
                continue
            reason = screen_frame(frame, level, amin, amax, flat_min)
            if reason is not None:
                plan.skipped.append(SkippedFrame(frame.filename, frame.role, reason))
                continue
        kept.append(frame)
    return kept


def _usable_flat_group(draft: _Draft, plan: AutoPlan) -> bool:
    """Lamp flats need a lamp-on frame; a group of lamp-off frames alone is skipped."""
    if draft.role != "flat":
        return True
    tags = [f.tags for f in draft.frames]
    if any("LAMPOFF" in t for t in tags) and not any("LAMPON" in t for t in tags):
        for frame in draft.frames:
            plan.skipped.append(SkippedFrame(frame.filename, "flat",
                                             "lamp-off flat without a usable lamp-on flat "
                                             "of the same configuration"))
        return False
    return True


def _bpm_drafts(drafts: list[_Draft], mode: str) -> list[_Draft]:
    """One BPM step per instrument and binning with lamp flats and short darks."""
    result = []
    by_config: dict[tuple, list[_Draft]] = {}
    for draft in drafts:
        if draft.role in ("flat", "dark"):
            frame = draft.frames[0]
            config = (draft.instrument,
                      tuple(frame.values.get(n) for n in ("detector_x_bin", "detector_y_bin")))
            by_config.setdefault(config, []).append(draft)
    for (instrument, _), members in sorted(by_config.items(), key=lambda kv: str(kv[0])):
        flats = [d for d in members if d.role == "flat"
                 and any("LAMPON" in f.tags for f in d.frames)]
        darks = [d for d in members if d.role == "dark"]
        if not flats or not darks:
            continue
        flat = max(flats, key=lambda d: (sum("LAMPON" in f.tags for f in d.frames),
                                         -flats.index(d)))
        try:
            _map_group(flat.frames, mode, "makeProcessedBPM")
        except ReduceError:
            continue
        longest_flat = max(_exptime(f) for f in flat.frames)
        short = [d for d in darks if _exptime(d.frames[0]) <= longest_flat]
        if not short:
            continue
        dark = min(short, key=lambda d: (_exptime(d.frames[0]), d.frames[0].filename))
        dark.used_for_bpm = True
        group = {"flats": _show(flat.group.get("filter_name", flat.frames[0].filename)),
                 "darks": f"{_show(_exptime(dark.frames[0]))}s"}
        result.append(_Draft("bpm", instrument, group, list(flat.frames),
                             recipename="makeProcessedBPM", bpm_darks=list(dark.frames)))
    return result


def _exptime(frame: Frame) -> float:
    value = frame.values.get("exposure_time")
    return float(value) if value is not None else 0.0


def _drop_bpm_only_darks(drafts: list[_Draft]) -> list[_Draft]:
    """Short darks used for a BPM become a processed dark only if some frame needs one."""
    from recipe_system.cal_service.rules import not_applicable_reason

    kept = []
    others = [f for d in drafts if d.role in ("flat", "standard", "science") for f in d.frames]
    for draft in drafts:
        if draft.role == "dark" and draft.used_for_bpm:
            cal = draft.frames[0]
            needed = any(
                not not_applicable_reason(f.instrument, "processed_dark",
                                          f.values.get("observation_type"))
                and _serves(cal, f, "processed_dark") for f in others)
            if not needed:
                continue
        kept.append(draft)
    return kept


def _map_draft(draft: _Draft, mode: str, recipes: dict[str, str], plan: AutoPlan) -> bool:
    if draft.role in recipes:
        draft.recipename = recipes[draft.role]
    try:
        draft.pclass, draft.recipe = _map_group(draft.frames, mode, draft.recipename)
    except ReduceError as exc:
        if draft.role in recipes:
            raise
        for frame in draft.inputs():
            plan.skipped.append(SkippedFrame(frame.filename, draft.role,
                                             f"no recipe: {exc}"))
        return False
    return True


def _attach_calibrations(plan: AutoPlan, drafts: list[_Draft], provider: Any) -> None:
    """Say which calibration each step uses: a product of the plan, a database file, none."""
    from recipe_system.cal_service.rules import not_applicable_reason

    for draft, step in zip(drafts, plan.steps, strict=True):
        calls = recipe_calls(draft.recipe)
        needed = list(dict.fromkeys(CORRECTIONS[prim] for prim, _ in calls
                                    if prim in CORRECTIONS))
        target = draft.frames[0]
        for caltype in needed:
            if not_applicable_reason(target.instrument, caltype,
                                     target.values.get("observation_type")):
                continue
            makers = [d for d in drafts if d.role == MADE_BY.get(caltype)
                      and d.number < draft.number and _serves(d.frames[0], target, caltype)]
            if makers:
                maker = min(makers, key=lambda d: _time_apart(d.frames[0], target))
                made = plan.step(maker.number)
                name = made.expected_outputs[0] if made.expected_outputs else made.first_file
                step.calibrations[caltype] = f"{name} (step {maker.number})"
                step.depends_on.append(maker.number)
                continue
            step.calibrations[caltype] = _database_answer(provider, target, caltype)
        if draft.role in ("flat", "standard", "science"):
            bpm = next((d for d in drafts if d.role == "bpm"
                        and d.instrument == draft.instrument
                        and _same_binning(d.frames[0], target)), None)
            if bpm is not None:
                made = plan.step(bpm.number)
                name = made.expected_outputs[0] if made.expected_outputs else "BPM"
                step.calibrations["user_bpm"] = f"{name} (step {bpm.number})"
                step.depends_on.append(bpm.number)
                step.bpm_step = bpm.number
        step.depends_on = sorted(set(step.depends_on))


def _same_binning(a: Frame, b: Frame) -> bool:
    names = ("detector_x_bin", "detector_y_bin")
    return all(a.values.get(n) == b.values.get(n) for n in names)


def _time_apart(a: Frame, b: Frame) -> float:
    ta, tb = a.values.get("ut_datetime"), b.values.get("ut_datetime")
    if ta is None or tb is None:
        return math.inf
    return abs((ta - tb).total_seconds())


def _database_answer(provider: Any, target: Frame, caltype: str) -> str:
    note = " (needed only if the filter fringes)" if caltype == "processed_fringe" else ""
    if provider is None:
        return "looked up when the step runs" + note
    try:
        found = provider.get_calibrations([target.ad], caltype)
    except Exception as exc:  # noqa: BLE001 - the plan still shows what is missing
        return f"database look-up failed: {exc}"
    path = found.files[0] if found.files else None
    if path:
        return f"{os.path.basename(path)} (database)"
    return "none found" + note


# -- running ---------------------------------------------------------------------------
#: Reduce settings a step inherits from the Reduce that ``auto`` was called on.
_INHERITED = ("mode", "config_file", "drpkg", "adpkg", "jobs", "reprocess", "cal_cache",
              "calibration_databases", "cache_dir", "checkpoint_min_seconds", "min_pixels",
              "ucals", "upload")


def _step_reduction(base: Any, step: AutoStep, bpm_name: str | None) -> Any:
    reduction = type(base)()
    for name in _INHERITED:
        if hasattr(base, name):
            setattr(reduction, name, getattr(base, name))
    reduction.files = list(step.files)
    reduction.recipename = step.recipe
    uparms = list(step.uparms)
    if bpm_name is not None:
        uparms.append(("addDQ:user_bpm", bpm_name))
    reduction.uparms = uparms
    return reduction


def _managed_database(base: Any) -> Any:
    """The database ``caldb add`` would write to for `base`'s configuration."""
    from recipe_system.cal_service import LocalDB
    from recipe_system.cal_service.service import active_configuration, managed_database
    from recipe_system.config import load_config

    explicit = getattr(base, "calibration_databases", None)
    if explicit:
        specs = []
        for item in explicit:
            if isinstance(item, (list, tuple)):
                location, get, store = (list(item) + [True, True])[:3]
            else:
                location = getattr(item, "location", item)
                store = getattr(item, "store", True)
            specs.append((os.fspath(location), bool(store)))
        location = next((loc for loc, store in specs if store), specs[0][0])
        return LocalDB(location)
    config = (load_config(base.config_file) if base.config_file
              else active_configuration() or load_config())
    return LocalDB(managed_database(config).location)


def _product(step: AutoStep) -> str | None:
    """The processed calibration a step wrote (the expected name, else its first output)."""
    for name in step.expected_outputs:
        if name in step.outputs:
            return name
    return step.outputs[0] if step.outputs else None


def run_plan(plan: AutoPlan, base: Any) -> AutoPlan:
    """Run the steps of `plan` in order, each as a ``Reduce`` configured like `base`.

    The processed bias, dark and flat of each step are added to the managed
    calibration database; the BPM is given to later steps as
    ``addDQ:user_bpm``. A step whose calibration step failed is not run.

    Raises
    ------
    AutoReduceError
        At the end, if any step failed or was not run (``.plan`` has the details).
    """
    log = logutils.get_logger("recipe_system")
    database = None
    started = time.perf_counter()
    for step in plan.steps:
        broken = [n for n in step.depends_on if plan.step(n).status != "done"]
        if broken:
            step.status = "not run"
            step.error = "needs step " + ", ".join(str(n) for n in broken) + \
                " which did not succeed"
            log.warning(f"Step {step.number} ({step.role}, {step.first_file}) not run: "
                        f"{step.error}")
            continue
        bpm_name = None
        if step.bpm_step is not None:
            bpm_name = _product(plan.step(step.bpm_step))
        log.status(_FRAME)
        log.status(f"AUTO STEP {step.number}/{len(plan.steps)}: {step.role} "
                   f"({len(step.files)} file(s), {step.group_text})")
        log.status(_FRAME)
        reduction = _step_reduction(base, step, bpm_name)
        step_started = time.perf_counter()
        try:
            reduction.runr()
            step.outputs = reduction.output_filenames
            base.processed_filenames.extend(reduction.processed_filenames)
            if step.role in MADE_BY.values():
                product = _product(step)
                if product is None:
                    raise ReduceError(f"step {step.number} wrote no processed {step.role}")
                if database is None:
                    database = _managed_database(base)
                # the store primitive's safe-keeping copy, as it registers it, else the
                # product in the working directory (identical pixels)
                kept = os.path.join("calibrations", GROUP_CALTYPE[step.role], product)
                database.add_cal(os.path.abspath(kept if os.path.isfile(kept) else product))
                log.stdinfo(f"Added {product} to the calibration database {database.name}")
            elif step.role == "bpm" and _product(step) is None:
                raise ReduceError(f"step {step.number} wrote no bad pixel mask")
            step.status = "done"
        except KeyboardInterrupt:
            step.status = "failed"
            step.error = "interrupted"
            raise
        except Exception as exc:  # noqa: BLE001 - reported; independent steps go on
            step.status = "failed"
            step.error = " ".join(str(exc).split()) or type(exc).__name__
            log.error(f"Step {step.number} ({step.role}, {step.first_file}) failed: "
                      f"{step.error}")
        finally:
            step.seconds = time.perf_counter() - step_started
    base._output_filenames = plan.output_filenames
    log.stdinfo("")
    log.stdinfo(f"Summary of the automatic reduction of {plan.source} "
                f"({time.perf_counter() - started:.1f} s):")
    for line in plan.summary_lines():
        log.stdinfo("   " + line)
    failed = plan.failed
    if failed:
        raise AutoReduceError(
            f"{len(failed)} of {len(plan.steps)} step(s) of the automatic reduction did not "
            "succeed: " + "; ".join(f"step {s.number} ({s.role}, {s.first_file}): {s.error}"
                                    for s in failed), plan)
    return plan


def auto_reduce(base: Any, source: str | os.PathLike | Sequence[str], dry_run: bool = False,
                *, amin: float | None = None, amax: float | None = None,
                flat_min: float | None = FLAT_MIN_ELECTRONS,
                recipes: dict[str, str] | None = None) -> AutoPlan:
    """Plan (and unless `dry_run`, run) the automatic reduction of a folder; see the module doc.

    Parameters
    ----------
    base : Reduce
        Its mode, user parameters, user calibrations, configuration file,
        plug-ins, jobs and re-run settings apply to every step; its
        ``recipename``, if not the default, is ``ROLE:recipe[,ROLE:recipe]``.
    source : path or sequence of paths
        The folder of raw frames (or a list of files).
    dry_run : bool
        Only plan: the plan (``print(plan)``) is returned and logged.
    amin, amax, flat_min, recipes
        As for :func:`plan_auto`.

    Returns
    -------
    AutoPlan
        With each step's status and outputs after a run. ``base.output_filenames``
        lists every file written.

    Raises
    ------
    AutoReduceError
        If any step failed (after the others ran).
    ReduceError
        A bad folder, parameter or recipe name.
    """
    log = logutils.get_logger("recipe_system")
    recipes = {**_recipes_from_name(getattr(base, "recipename", "_default")), **(recipes or {})}
    for name, option in (("suffix", "--suffix"), ("group_by", "--group-by"),
                         ("cluster", "--cluster"), ("replay", "--replay")):
        if getattr(base, name, None):
            log.warning(f"{option} is ignored by --auto (each group is one reduction in "
                        f"this process, with its recipe's product names)")
    base._load_plugins()
    from recipe_system.reduction.command_line import normalize_ucals

    provider = base._calibration_provider(normalize_ucals(base.ucals))
    plan = plan_auto(source, mode=base.mode, uparms=base.uparms, recipes=recipes, amin=amin,
                     amax=amax, flat_min=flat_min, provider=provider)
    for line in plan.render().splitlines():
        log.stdinfo(line)
    base._output_filenames = []
    base.processed_filenames = []
    if dry_run:
        return plan
    return run_plan(plan, base)


def _recipes_from_name(recipename: Any) -> dict[str, str]:
    if not recipename or recipename == "_default":
        return {}
    if not isinstance(recipename, str):
        raise ReduceError("with --auto, a recipe is given as ROLE:recipe (e.g. science:reduce)")
    recipes = {}
    for item in recipename.split(","):
        role, sep, name = item.strip().partition(":")
        if not sep or role not in ROLES or not name:
            raise ReduceError(f"with --auto, -r takes ROLE:recipe[,ROLE:recipe] with ROLE one "
                              f"of {', '.join(ROLES)}; got {recipename!r}")
        recipes[role] = name
    return recipes


def run_auto_command(args: Any) -> int:
    """``reduce --auto DIR`` (called by ``recipe_system.scripts.reduce.main``): exit status.

    Errors are raised for the caller to report in one line; a usage error
    (input files given with ``--auto``) returns 2.
    """
    import sys

    from recipe_system.reduction.coreReduce import Reduce

    if args.files:
        print(f"reduce: error: --auto {args.auto} takes no input files (got "
              f"{', '.join(args.files[:3])}{'...' if len(args.files) > 3 else ''})",
              file=sys.stderr)
        return 2
    dry_run = bool(getattr(args, "dry_run", False) or getattr(args, "displayflags", False))
    if dry_run:
        logutils.config(mode="quiet")
    else:
        logutils.config(mode=args.logmode, file_name=args.logfile)
    reduction = Reduce(args)
    plan = reduction.auto(args.auto, dry_run=dry_run, amin=getattr(args, "amin", None),
                          amax=getattr(args, "amax", None))
    if dry_run:
        print(plan.render())
    return 0
