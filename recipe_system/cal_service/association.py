"""Applying an association rule: SQL pre-filter, Python check, ordering, and the reasons for a miss.

:func:`select_candidates` turns the exact-match, tolerance, time-window and
processing-mode parts of a :class:`~.rules.CalibrationRule` into SQL filters
(one indexed query), then re-checks every returned row with
:func:`rule_differences` in Python, which also applies the ROI containment
rule, and orders the survivors (closest in time, best processing mode, most
recently added). :func:`nearest_candidates` evaluates every calibration of the
type and instrument to say which came closest and what differs, for
``explain``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from recipe_system.cal_service.frame_values import (
    parse_amp_read_area,
    parse_sections,
    split_joined,
)
from recipe_system.cal_service.models import RULE_COLUMNS, ProcessedCalibration
from recipe_system.cal_service.rules import (
    PROCESSING_RANK,
    CalibrationRule,
    accepted_processing,
)

__all__ = [
    "Candidate",
    "nearest_candidates",
    "ordering_key",
    "roi_difference",
    "rule_differences",
    "iter_candidates",
    "select_candidates",
]

_FILE_COLUMNS = ("id", "filename", "path", "checksum", "size", "mtime_ns", "added",
                 "processing", "ut_datetime", "caltype", "instrument_family")


@dataclass
class Candidate:
    """A calibration considered for a frame.

    Attributes
    ----------
    values : dict
        The row's stored values (file facts and the descriptors the rule reads).
    differences : list of str
        Why it does not satisfy the rule (empty: it does).
    time_distance : float or None
        ``|Δut_datetime|`` in days (None when either time is unknown).
    """

    values: dict[str, Any]
    differences: list[str] = field(default_factory=list)
    time_distance: float | None = None

    @property
    def filename(self) -> str:
        """The file name (the database key)."""
        return self.values["filename"]

    @property
    def path(self) -> str:
        """Where the file is."""
        return self.values["path"]

    def describe(self) -> str:
        """``name (N days apart, sq)``."""
        parts = []
        if self.time_distance is not None:
            parts.append(f"{self.time_distance:.2f} days apart")
        parts.append(f"processing {self.values.get('processing') or 'unknown'}")
        return f"{self.filename} ({', '.join(parts)})"


def _time_distance(target_time: dt.datetime | None, cal_time: dt.datetime | None) -> float | None:
    if target_time is None or cal_time is None:
        return None
    return abs((cal_time - target_time).total_seconds()) / 86400.0


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return repr(value)


def roi_difference(rule: CalibrationRule, target: Mapping[str, Any],
                   cal: Mapping[str, Any]) -> str | None:
    """Why the calibration's region does not serve the frame's, or None if it does."""
    if rule.roi is None:
        return None
    name = rule.roi
    wanted, have = target.get(name), cal.get(name)
    if wanted in (None, ""):
        return None
    if have in (None, ""):
        return f"{name}: the calibration has none to compare with {_fmt(wanted)}"
    exact = (rule.roi_exact_for
             and target.get("detector_roi_setting") in rule.roi_exact_for)
    if name == "array_name":
        missing = set(split_joined(wanted)) - set(split_joined(have))
        if missing:
            return f"array_name: the calibration lacks {', '.join(sorted(missing))}"
        return None
    if exact:
        if _roi_items(name, wanted) != _roi_items(name, have):
            return (f"{name} {_fmt(have)} differs from {_fmt(wanted)} (must be equal for"
                    f" {target.get('detector_roi_setting')} frames)")
        return None
    if name == "amp_read_area":
        cal_amps = parse_amp_read_area(have)
        for amp, section in parse_amp_read_area(wanted):
            if not any(amp == cal_amp and (cal_sec.contains(section)
                                           if cal_sec is not None and section is not None
                                           else cal_sec == section)
                       for cal_amp, cal_sec in cal_amps):
                where = f"{amp!r}:{section.asIRAFsection()}" if section is not None else amp
                return f"amp_read_area: no amplifier of the calibration contains {where}"
        return None
    cal_sections = parse_sections(have)
    for section in parse_sections(wanted):
        if not any(c.ndim == section.ndim and c.contains(section) for c in cal_sections):
            return (f"{name}: {section.asIRAFsection()} is not inside the calibration's"
                    f" {_fmt(have)}")
    return None


def _roi_items(name: str, value: Any) -> list:
    if name == "amp_read_area":
        return sorted((a, tuple(s) if s is not None else None)
                      for a, s in parse_amp_read_area(value))
    return sorted(tuple(s) for s in parse_sections(value))


def rule_differences(rule: CalibrationRule, target: Mapping[str, Any],
                     cal: Mapping[str, Any], procmode: str | None) -> list[str]:
    """Every way in which calibration values `cal` fail `rule` for frame values `target`.

    Returns
    -------
    list of str
        Human-readable differences; empty when the calibration qualifies.
    """
    diffs: list[str] = []
    for name in rule.match + (rule.match_if_prepared if target.get("prepared") else ()):
        wanted, have = target.get(name), cal.get(name)
        if wanted != have:
            diffs.append(f"{name} {_fmt(have)} != {_fmt(wanted)}")
    for name, tolerance in rule.tolerances.items():
        wanted, have = target.get(name), cal.get(name)
        if wanted is None or have is None:
            if wanted is not have:
                diffs.append(f"{name} {_fmt(have)} != {_fmt(wanted)}")
        elif not abs(have - wanted) < tolerance:
            diffs.append(f"{name} {_fmt(have)} differs from {_fmt(wanted)} by"
                         f" {abs(have - wanted):g} (limit {tolerance:g})")
    target_time, cal_time = target.get("ut_datetime"), cal.get("ut_datetime")
    if target_time is not None and (rule.before_only or rule.window_days is not None):
        if cal_time is None:
            diffs.append("the calibration has no observation time")
        elif rule.before_only:
            if cal_time > target_time:
                diffs.append(f"taken {_time_distance(target_time, cal_time):.2f} days after"
                             " the frame (must be before)")
        else:
            distance = _time_distance(target_time, cal_time)
            if not distance < rule.window_days:
                diffs.append(f"{distance:.2f} days apart (limit {rule.window_days:g})")
    accepted = accepted_processing(procmode)
    if accepted is not None and cal.get("processing") not in accepted:
        diffs.append(f"processed in {cal.get('processing')!r} mode; a {procmode} reduction"
                     f" accepts {', '.join(m for m in accepted if m)}")
    roi = roi_difference(rule, target, cal)
    if roi:
        diffs.append(roi)
    return diffs


def _equal(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def _sql_filters(rule: CalibrationRule, target: Mapping[str, Any],
                 procmode: str | None) -> list[Any]:
    cal = ProcessedCalibration
    filters = [cal.caltype == rule.caltype, cal.instrument_family == rule.instrument]
    names = rule.match + (rule.match_if_prepared if target.get("prepared") else ())
    for name in names:
        column = RULE_COLUMNS.get(name)
        if column is not None:
            filters.append(_equal(column, target.get(name)))
    for name, tolerance in rule.tolerances.items():
        column = RULE_COLUMNS.get(name)
        wanted = target.get(name)
        if column is None:
            continue
        if wanted is None:
            filters.append(column.is_(None))
        else:
            filters.append(and_(column > wanted - tolerance, column < wanted + tolerance))
    target_time = target.get("ut_datetime")
    if target_time is not None:
        if rule.before_only:
            filters.append(cal.ut_datetime <= target_time)
        elif rule.window_days is not None:
            window = dt.timedelta(days=rule.window_days)
            filters.append(and_(cal.ut_datetime > target_time - window,
                                cal.ut_datetime < target_time + window))
    accepted = accepted_processing(procmode)
    if accepted is not None:
        modes = [m for m in accepted if m is not None]
        clause = cal.processing.in_(modes)
        if None in accepted:
            clause = or_(clause, cal.processing.is_(None))
        filters.append(clause)
    return filters


def _columns(rule: CalibrationRule | None) -> list[Any]:
    names = list(_FILE_COLUMNS)
    extra_json = False
    if rule is not None:
        for name in rule.descriptors:
            if name in RULE_COLUMNS or name in ("ut_datetime",):
                if name not in names:
                    names.append(name)
            elif name not in ("observation_type",):
                extra_json = True
    if extra_json:
        names.append("descriptors")
    return [getattr(ProcessedCalibration, n) for n in names]


def _row_values(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    stored = values.pop("descriptors", None)
    if stored:
        for key, value in stored.items():
            values.setdefault(key, value)
    return values


def ordering_key(candidate: Candidate) -> tuple:
    """Closest in time, then best processing mode, then most recently added."""
    distance = candidate.time_distance if candidate.time_distance is not None else math.inf
    rank = PROCESSING_RANK.get(candidate.values.get("processing"), 0)
    added = candidate.values.get("added")
    added_key = -added.timestamp() if isinstance(added, dt.datetime) else 0.0
    return (distance, -rank, added_key, candidate.values.get("filename", ""))


def iter_candidates(session: Session, rule: CalibrationRule, target: Mapping[str, Any],
                    procmode: str | None) -> Iterator[Candidate]:
    """The calibrations that satisfy `rule` for `target`, best first, checked lazily.

    The SQL query returns the rows passing the exact-match, tolerance, time
    and processing filters; they are put in order first and then checked one
    by one in Python (ROI rule and a re-check of the rest), so a look-up that
    takes the first qualifying file checks only as many rows as it needs.
    """
    query = select(*_columns(rule)).where(*_sql_filters(rule, target, procmode))
    target_time = target.get("ut_datetime")
    rows = [Candidate(values, [], _time_distance(target_time, values.get("ut_datetime")))
            for values in map(_row_values, session.execute(query))]
    rows.sort(key=ordering_key)
    for candidate in rows:
        if not rule_differences(rule, target, candidate.values, procmode):
            yield candidate


def select_candidates(session: Session, rule: CalibrationRule, target: Mapping[str, Any],
                      procmode: str | None) -> list[Candidate]:
    """All the calibrations that satisfy `rule` for `target`, best first."""
    return list(iter_candidates(session, rule, target, procmode))


def nearest_candidates(session: Session, rule: CalibrationRule, target: Mapping[str, Any],
                       procmode: str | None) -> tuple[list[Candidate], int]:
    """Every calibration of the rule's type and instrument, best match first.

    Returns
    -------
    candidates : list of Candidate
        Sorted by number of differences, then the usual ordering.
    total : int
        How many calibrations of that type and instrument the database holds.
    """
    cal = ProcessedCalibration
    query = select(*_columns(rule)).where(cal.caltype == rule.caltype,
                                          cal.instrument_family == rule.instrument)
    candidates = []
    for row in session.execute(query):
        values = _row_values(row)
        candidates.append(Candidate(
            values, rule_differences(rule, target, values, procmode),
            _time_distance(target.get("ut_datetime"), values.get("ut_datetime"))))
    candidates.sort(key=lambda c: (len(c.differences),) + ordering_key(c))
    return candidates, len(candidates)


@dataclass
class Target:
    """A frame described for one calibration type: its values, rule and applicability.

    Attributes
    ----------
    caltype : str
        The calibration type asked for.
    values : dict
        Normalised descriptor values of the frame (:func:`.frame_values.frame_values`).
    rule : CalibrationRule or None
        The rule for the frame's instrument, if any.
    not_applicable : str or None
        Why the calibration type never applies to this frame (then nothing is looked up).
    """

    caltype: str
    values: dict[str, Any]
    rule: CalibrationRule | None
    not_applicable: str | None

    @property
    def label(self) -> str:
        """The frame's file name (or data label)."""
        return str(self.values.get("filename") or self.values.get("data_label") or "frame")

    def wanted(self) -> str:
        """``name=value, ...`` for the descriptors the rule compares."""
        if self.rule is None:
            return ""
        names = [n for n in self.rule.descriptors if n != "observation_type"]
        if not self.values.get("prepared"):
            names = [n for n in names if n not in self.rule.match_if_prepared]
        return ", ".join(f"{n}={_fmt(self.values.get(n))}" for n in names)


def describe_target(ad: Any, caltype: str) -> Target:
    """Read what the association of `caltype` needs from frame `ad`."""
    from recipe_system.cal_service.frame_values import (
        CALTYPES,
        frame_values,
        instrument_family,
    )
    from recipe_system.cal_service.rules import find_rule, not_applicable_reason

    base = frame_values(ad, ("instrument", "observation_type", "data_label"))
    family = instrument_family(base["instrument"])
    rule = find_rule(family, caltype)
    reason = not_applicable_reason(family, caltype, base.get("observation_type"),
                                   caltypes=CALTYPES)
    values = base
    if rule is not None and reason is None:
        extra = [n for n in rule.descriptors if n not in base]
        values = {**base, **frame_values(ad, extra)}
    values["filename"] = getattr(ad, "filename", None)
    return Target(caltype, values, rule, reason)
