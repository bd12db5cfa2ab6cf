"""Calibration association rules, as data: which processed calibration serves which frame.

One :class:`CalibrationRule` per (instrument, calibration type). A rule says:

* ``match``: descriptors whose values must be equal (compared in SQL);
* ``tolerances``: descriptors whose values may differ by *less than* a bound;
* ``window_days``: the calibration must be closer in time than this
  (``|Δut_datetime| < window``), or ``before_only``: taken at or before the
  frame, however long before (the most recent one wins; BPMs);
* ``roi``: how regions of interest are compared (``amp_read_area``,
  ``detector_section`` or ``array_name``): the calibration's must *contain*
  the frame's, so a full-frame calibration also serves a smaller ROI (the
  primitive cuts it to the frame later); ``roi_exact_for`` lists ROI settings
  for which they must be equal instead;
* ``match_if_prepared``: descriptors matched only when the frame is PREPARED
  (GMOS overscan state, so a raw frame can still be explained);
* ``exclude_observation_types``: frames the calibration type never applies to.

Among the calibrations that pass, the order (:data:`ORDERING`) is: closest in
time, then the better processing mode (:data:`PROCESSING_RANK`), then the most
recently added. Which processing modes a reduction accepts is
:data:`ACCEPTED_PROCESSING`: science quality uses only science-quality
calibrations; quick-look accepts science-quality or quick-look ones; ``qa``
accepts any. Calibrations without ``PROCMODE`` (e.g. BPMs made elsewhere) are
accepted in every mode, ranked last.

The values come from the Gemini archive's association code (see
``shared/reference/gemini-headers.md`` §6) for the processed calibration
types, with these deliberate differences:

* ROI containment is geometric (each amplifier's section of the calibration
  must contain the frame's), where the archive compares strings; GSAOI and
  NIRI flats are compared by detector section containment, so the
  full-frame flat serves the ROI standard star of the GSAOI tutorial;
* ``processed_standard`` follows the archive's ``photometric_standard`` rule
  of each instrument (there is no processed imaging-standard rule there);
* GMOS ``processed_dark`` ignores the nod-and-shuffle descriptors (imaging only).

Instruments registered as plug-ins provide their rules as plain data through the
``astroreduce.calibration_rules`` entry-point group (:func:`load_plugin_rules`), or
add them with :func:`register_rule`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "ACCEPTED_PROCESSING",
    "CalibrationRule",
    "NOT_APPLICABLE",
    "ORDERING",
    "PROCESSING_RANK",
    "RULES",
    "accepted_processing",
    "find_rule",
    "not_applicable_reason",
    "register_rule",
    "load_plugin_rules",
    "RULES_ENTRY_POINT",
]

#: Order of the candidates that satisfy a rule (first key first).
ORDERING = ("closest in time", "best processing mode", "most recently added")

#: Processing mode (PROCMODE) rank: higher is preferred.
PROCESSING_RANK = MappingProxyType({"sq": 3, "ql": 2, "qa": 1, None: 0})

#: Processing modes of calibrations a reduction in a given mode may use
#: (None in the tuple: calibrations without PROCMODE).
ACCEPTED_PROCESSING = MappingProxyType({
    "sq": ("sq", None),
    "ql": ("sq", "ql", None),
    "qa": ("sq", "ql", "qa", None),
})


def accepted_processing(procmode: str | None) -> tuple[str | None, ...] | None:
    """Processing modes accepted for `procmode` (None: every mode)."""
    if procmode is None:
        return None
    return ACCEPTED_PROCESSING.get(str(procmode).lower())


@dataclass(frozen=True)
class CalibrationRule:
    """How one instrument's frames are associated with one calibration type.

    See the module documentation for the meaning of each field.
    """

    instrument: str
    caltype: str
    match: tuple[str, ...] = ()
    tolerances: Mapping[str, float] = field(default_factory=dict)
    window_days: float | None = None
    before_only: bool = False
    roi: str | None = None
    roi_exact_for: tuple[str, ...] = ()
    match_if_prepared: tuple[str, ...] = ()
    exclude_observation_types: tuple[str, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        if self.roi not in (None, "amp_read_area", "detector_section", "array_name"):
            raise ValueError(f"{self.instrument}/{self.caltype}: unknown roi rule {self.roi!r}")
        object.__setattr__(self, "tolerances", MappingProxyType(dict(self.tolerances)))

    @property
    def descriptors(self) -> tuple[str, ...]:
        """Every descriptor the rule reads."""
        names = list(self.match) + list(self.tolerances) + list(self.match_if_prepared)
        if self.roi:
            names.append(self.roi)
        if self.roi_exact_for:
            names.append("detector_roi_setting")
        names += ["ut_datetime", "observation_type"]
        return tuple(dict.fromkeys(names))

    def summary(self) -> str:
        """One line: what must match, tolerances, time window, ROI rule."""
        parts = []
        if self.match:
            parts.append("must match " + ", ".join(self.match))
        for name, tol in self.tolerances.items():
            parts.append(f"{name} within {tol:g}")
        if self.match_if_prepared:
            parts.append("on prepared frames also " + ", ".join(self.match_if_prepared))
        if self.roi == "array_name":
            parts.append("its arrays must include the frame's")
        elif self.roi:
            exact = (f" (equal for {', '.join(self.roi_exact_for)})"
                     if self.roi_exact_for else "")
            parts.append(f"its {self.roi} must contain the frame's{exact}")
        if self.before_only:
            parts.append("taken at or before the frame (most recent first)")
        elif self.window_days is not None:
            parts.append(f"within {self.window_days:g} days")
        return "; ".join(parts) if parts else "any calibration of this type"


def _rule(instrument: str, caltype: str, **kwargs) -> CalibrationRule:
    return CalibrationRule(instrument, caltype, **kwargs)


_GMOS_BINS = ("instrument", "detector_x_bin", "detector_y_bin")

_RULE_LIST: list[CalibrationRule] = [
    # -- Flamingos-2 --------------------------------------------------------
    _rule("F2", "processed_dark", match=("read_mode",), tolerances={"exposure_time": 0.01},
          window_days=90, exclude_observation_types=("DARK", "BPM"),
          note="exposure time (EXPTIME x COADDS) and read mode (LNRS) equal"),
    _rule("F2", "processed_flat",
          match=("disperser", "lyot_stop", "filter_name", "focal_plane_mask"),
          window_days=90, exclude_observation_types=("DARK", "BIAS", "BPM"),
          note="read mode is not compared (the archive does not either)"),
    _rule("F2", "processed_bpm", match=("instrument", "binning"), before_only=True,
          exclude_observation_types=("BPM",)),
    _rule("F2", "processed_standard", match=("filter_name", "lyot_stop"), window_days=1,
          exclude_observation_types=("DARK", "BIAS", "FLAT", "BPM")),
    # -- GSAOI --------------------------------------------------------------
    _rule("GSAOI", "processed_flat", match=("filter_name",), roi="detector_section",
          window_days=30, exclude_observation_types=("DARK", "BIAS", "BPM"),
          note="a full-frame flat also serves ROI frames"),
    _rule("GSAOI", "processed_bpm", match=("instrument", "binning"), before_only=True,
          exclude_observation_types=("BPM",)),
    _rule("GSAOI", "processed_standard", match=("filter_name",), window_days=30,
          exclude_observation_types=("DARK", "BIAS", "FLAT", "BPM")),
    # -- NIRI ---------------------------------------------------------------
    _rule("NIRI", "processed_dark",
          match=("data_section", "read_mode", "well_depth_setting", "coadds"),
          tolerances={"exposure_time": 0.01}, window_days=180,
          exclude_observation_types=("DARK", "BPM")),
    _rule("NIRI", "processed_flat",
          match=("well_depth_setting", "filter_name", "camera", "focal_plane_mask", "disperser"),
          roi="detector_section", window_days=180,
          exclude_observation_types=("DARK", "BIAS", "BPM"),
          note="read mode is not compared; a full-frame flat also serves sub-arrays"),
    _rule("NIRI", "processed_bpm", match=("instrument", "binning"), before_only=True,
          exclude_observation_types=("BPM",)),
    _rule("NIRI", "processed_standard", match=("filter_name", "camera"), window_days=1,
          exclude_observation_types=("DARK", "BIAS", "FLAT", "BPM")),
    # -- GMOS ---------------------------------------------------------------
    _rule("GMOS", "processed_bias",
          match=_GMOS_BINS + ("read_speed_setting", "gain_setting"),
          roi="amp_read_area", roi_exact_for=("Full Frame", "Central Spectrum"),
          match_if_prepared=("overscan_subtracted", "overscan_trimmed"),
          window_days=90, exclude_observation_types=("BIAS", "BPM")),
    _rule("GMOS", "processed_flat",
          match=_GMOS_BINS + ("filter_name", "read_speed_setting", "gain_setting",
                              "spectroscopy", "focal_plane_mask", "disperser"),
          roi="amp_read_area", window_days=180,
          exclude_observation_types=("BIAS", "DARK", "BPM")),
    _rule("GMOS", "processed_fringe", match=_GMOS_BINS + ("filter_name",),
          roi="amp_read_area", window_days=365,
          exclude_observation_types=("BIAS", "DARK", "FLAT", "BPM")),
    _rule("GMOS", "processed_dark", match=_GMOS_BINS + ("read_speed_setting", "gain_setting"),
          tolerances={"exposure_time": 50.0}, roi="amp_read_area", window_days=365,
          exclude_observation_types=("BIAS", "DARK", "BPM")),
    _rule("GMOS", "processed_bpm", match=_GMOS_BINS, roi="array_name", before_only=True,
          exclude_observation_types=("BPM",)),
    _rule("GMOS", "processed_standard", match=("instrument", "filter_name"), window_days=1,
          exclude_observation_types=("BIAS", "DARK", "FLAT", "BPM")),
]

#: (instrument, caltype) -> rule.
RULES: dict[tuple[str, str], CalibrationRule] = {
    (rule.instrument, rule.caltype): rule for rule in _RULE_LIST
}

_IR_NO_BIAS = "infrared arrays have no bias frames (the darks include the bias level)"
_NO_IR_FRINGE = "fringe frames are made for GMOS only"

#: (instrument, caltype) -> why that calibration type never applies.
NOT_APPLICABLE: dict[tuple[str, str], str] = {
    ("F2", "processed_bias"): _IR_NO_BIAS,
    ("F2", "processed_fringe"): _NO_IR_FRINGE,
    ("GSAOI", "processed_bias"): _IR_NO_BIAS,
    ("GSAOI", "processed_dark"): "GSAOI dark current is negligible; its recipes use no darks",
    ("GSAOI", "processed_fringe"): _NO_IR_FRINGE,
    ("NIRI", "processed_bias"): _IR_NO_BIAS,
    ("NIRI", "processed_fringe"): _NO_IR_FRINGE,
}


def register_rule(rule: CalibrationRule, replace: bool = False) -> None:
    """Add the rule of a plug-in instrument (or replace a built-in one with `replace`)."""
    key = (rule.instrument, rule.caltype)
    if key in RULES and not replace:
        raise ValueError(f"a rule for {rule.instrument}/{rule.caltype} already exists")
    RULES[key] = rule
    NOT_APPLICABLE.pop(key, None)


#: Entry-point group through which plug-in instruments provide their rules as plain data:
#: each entry point names an iterable of mappings with the fields of :class:`CalibrationRule`.
RULES_ENTRY_POINT = "astroreduce.calibration_rules"
_plugins_loaded = False


def load_plugin_rules() -> None:
    """Register the rules of every plug-in (entry points), once; built-in rules are kept.

    A plug-in module needs no import of ``recipe_system``: it exposes data, e.g.
    ``RULES = ({"instrument": "LMI", "caltype": "processed_flat", "match": ("filter_name",),
    "window_days": 90},)``.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=RULES_ENTRY_POINT):
        try:
            specs = entry.load()
        except Exception as err:  # a broken plug-in must not break the built-in rules
            import logging

            logging.getLogger("recipe_system").warning(
                "calibration rules of plug-in %r cannot be loaded: %s", entry.name, err)
            continue
        for spec in specs:
            fields = {key: tuple(value) if isinstance(value, list) else value
                      for key, value in dict(spec).items()}
            rule = CalibrationRule(**fields)
            if (rule.instrument, rule.caltype) not in RULES:
                register_rule(rule)


def find_rule(instrument: str | None, caltype: str) -> CalibrationRule | None:
    """The rule for an instrument family and calibration type, or None."""
    if instrument is None:
        return None
    rule = RULES.get((instrument, caltype))
    if rule is None and not _plugins_loaded:
        load_plugin_rules()
        rule = RULES.get((instrument, caltype))
    return rule


def not_applicable_reason(instrument: str | None, caltype: str,
                          observation_type: str | None = None,
                          caltypes: Iterable[str] | None = None) -> str | None:
    """Why `caltype` never applies to such a frame, or None if it may apply.

    An instrument without a rule for `caltype` (and not listed in
    :data:`NOT_APPLICABLE`) is *not* "not applicable": the look-up simply
    finds nothing, which is an error in science-quality mode.

    Parameters
    ----------
    instrument : str or None
        Instrument family (``GMOS``, ``F2``...).
    caltype : str
        Calibration type asked for.
    observation_type : str, optional
        The frame's OBSTYPE.
    caltypes : iterable of str, optional
        Known calibration types (an unknown one is reported).
    """
    if caltypes is not None and caltype not in caltypes:
        return f"{caltype} is not a calibration type ({', '.join(caltypes)})"
    reason = NOT_APPLICABLE.get((instrument or "", caltype))
    if reason:
        return f"{caltype} does not apply to {instrument}: {reason}"
    if caltype == "processed_science":
        return "processed science frames are products; they are never looked up"
    rule = find_rule(instrument, caltype)
    if rule is None:
        return None
    if observation_type and observation_type.upper() in rule.exclude_observation_types:
        return f"{caltype} does not apply to {instrument} frames of type {observation_type}"
    return None
