"""Grouping of exposures into fields and choice of the sky frames for each science frame.

The logic of ``separateSky`` and ``associateSky`` on plain per-frame
metadata (`FrameInfo`, or dicts with the same keys), so the primitives only
extract descriptors:

- `group_by_field` puts exposures whose pointings lie within each other's
  field of view into one group, then decides which groups are object
  (target) frames and which are sky frames.
- `associate_sky` picks, for every science frame, the sky frames taken
  with the same configuration, far enough away on the sky, closest in time.

Positions are in degrees (RA, Dec), separations and radii in arcsec, times
in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

import numpy as np

__all__ = [
    "FrameInfo",
    "SkyGrouping",
    "angular_separation",
    "associate_sky",
    "group_by_field",
]


@dataclass(frozen=True)
class FrameInfo:
    """What the sky logic needs to know about one exposure.

    Attributes
    ----------
    name : str
        File name (matched against explicit object/sky lists).
    ut_datetime : datetime.datetime
        Start of the exposure (UT).
    ra, dec : float
        Pointing (field centre), degrees.
    config : hashable
        Instrument configuration key; only frames with equal keys can be
        each other's sky (e.g. (instrument, filter, read mode, exposure time,
        coadds...)).
    field_radius : float, optional
        Radius of the field of view, arcsec (for `group_by_field`).
    offset : (float, float), optional
        Telescope offset from the base (target) position, arcsec (p, q or
        x, y); used for the distance to the target when no target position
        is given.
    guided : bool
        False for unguided frames, which are only ever used as sky.
    is_object, is_sky : bool or None
        Classification already recorded in the headers (OBJFRAME/SKYFRAME);
        None if absent.
    """

    name: str
    ut_datetime: datetime
    ra: float
    dec: float
    config: Hashable = None
    field_radius: float | None = None
    offset: tuple[float, float] | None = None
    guided: bool = True
    is_object: bool | None = None
    is_sky: bool | None = None


_FRAME_FIELDS = {f.name for f in fields(FrameInfo)}


def _as_frames(frames: Iterable[FrameInfo | Mapping]) -> list[FrameInfo]:
    out = []
    for i, frame in enumerate(frames):
        if isinstance(frame, FrameInfo):
            out.append(frame)
        elif isinstance(frame, Mapping):
            unknown = set(frame) - _FRAME_FIELDS
            if unknown:
                raise ValueError(f"frame {i}: unknown metadata keys {sorted(unknown)}")
            out.append(FrameInfo(**frame))
        else:
            raise TypeError(f"frame {i}: expected FrameInfo or dict, got {type(frame).__name__}")
    return out


def _seconds(moment: datetime) -> float:
    """POSIX seconds of a UT datetime (naive ones are taken as UT)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def angular_separation(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle separation in arcsec (Vincenty formula, stable at all angles).

    Parameters
    ----------
    ra1, dec1, ra2, dec2 : float or array_like
        Degrees; broadcast against each other.
    """
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(v, dtype=float)) for v in (ra1, dec1, ra2, dec2)
    )
    d_lon = lon2 - lon1
    num1 = np.cos(lat2) * np.sin(d_lon)
    num2 = np.cos(lat1) * np.sin(lat2) - np.sin(lat1) * np.cos(lat2) * np.cos(d_lon)
    den = np.sin(lat1) * np.sin(lat2) + np.cos(lat1) * np.cos(lat2) * np.cos(d_lon)
    return np.degrees(np.arctan2(np.hypot(num1, num2), den)) * 3600.0


@dataclass(frozen=True)
class SkyGrouping:
    """Result of `group_by_field`.

    Attributes
    ----------
    groups : list of list of int
        Frame indices of each field group, ordered by distance to the
        target (nearest first); ``EXPGROUP`` of frame i is the position of
        its group in this list.
    object_indices : list of int
        Frames to reduce as science (target) frames, in input order.
    sky_indices : list of int
        Frames usable as sky, in input order (a frame can be both when the
        target is dithered within one field).
    unassigned : list of int
        Frames in neither explicit list when both lists were given; they are
        neither object nor sky.
    """

    groups: list[list[int]]
    object_indices: list[int]
    sky_indices: list[int]
    unassigned: list[int] = field(default_factory=list)

    def group_of(self, index: int) -> int:
        """Group number (EXPGROUP) of frame ``index``."""
        for number, members in enumerate(self.groups):
            if index in members:
                return number
        raise IndexError(f"frame {index} is in no group")


def _friends_of_friends(linked: np.ndarray) -> list[list[int]]:
    """Connected components of a symmetric boolean adjacency matrix."""
    n = len(linked)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(linked, 1)), strict=True):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    components: dict[int, list[int]] = {}
    for i in range(n):
        components.setdefault(root(i), []).append(i)
    return sorted(components.values(), key=lambda members: members[0])


def _group_distance(
    frames: list[FrameInfo], members: list[int], target: tuple[float, float] | None
) -> float:
    """Distance (arcsec) of a group's mean pointing from the target."""
    if target is None:
        offsets = [frames[i].offset for i in members]
        if all(o is not None for o in offsets):
            return float(np.hypot(*np.mean(np.asarray(offsets, dtype=float), axis=0)))
        raise ValueError(
            "cannot tell which field holds the target: give target=(ra, dec) or the frames' offsets"
        )
    ra = np.array([frames[i].ra for i in members])
    dec = np.array([frames[i].dec for i in members])
    # mean pointing on the unit sphere, so groups across RA = 0 average correctly
    vectors = np.column_stack(
        [
            np.cos(np.radians(dec)) * np.cos(np.radians(ra)),
            np.cos(np.radians(dec)) * np.sin(np.radians(ra)),
            np.sin(np.radians(dec)),
        ]
    ).mean(axis=0)
    mean_ra = math.degrees(math.atan2(vectors[1], vectors[0]))
    mean_dec = math.degrees(math.atan2(vectors[2], math.hypot(vectors[0], vectors[1])))
    return float(angular_separation(mean_ra, mean_dec, target[0], target[1]))


def group_by_field(
    frames: Sequence[FrameInfo | Mapping],
    target: tuple[float, float] | None = None,
    frac_FOV: float = 0.9,
    field_radius: float | None = None,
    ref_obj: Iterable[str] = (),
    ref_sky: Iterable[str] = (),
) -> SkyGrouping:
    """Group exposures by field of view and decide which are object and which sky.

    Two frames are in the same field when the separation of their pointings
    is less than ``frac_FOV`` times the field radius (so that one's pointing
    lies well inside the other's field); groups are formed transitively
    (friends of friends). Then, in this order of precedence:

    1. Explicit lists: with ``ref_obj`` and/or ``ref_sky`` (file names), the
       named frames are object or sky; when only one list is given every
       other frame is of the other kind; when both are given, frames in
       neither are returned as ``unassigned``.
    2. Header flags (``is_object``/``is_sky``, from OBJFRAME/SKYFRAME) decide
       for the frames that have them.
    3. Unguided frames are sky only.
    4. The remaining frames are classified by field: with one group every
       frame is object, and also sky (dither on target) unless steps 2-3
       already provided sky frames; with two groups the
       one nearer the target is object and the other sky; with more, groups
       are taken as object nearest-first until at least half of these frames
       are object, and the rest are sky.

    Parameters
    ----------
    frames : sequence of FrameInfo or dict
    target : (float, float), optional
        Target (RA, Dec) in degrees; without it the group distance to the
        target is the length of the mean telescope offset.
    frac_FOV : float
        Fraction of the field radius within which pointings share a field.
    field_radius : float, optional
        Field radius in arcsec for frames whose ``field_radius`` is None.
    ref_obj, ref_sky : iterable of str
        File names forced to be object / sky frames.

    Returns
    -------
    SkyGrouping

    Raises
    ------
    ValueError
        If a frame has no field radius, a name in the lists is unknown,
        ``frac_FOV`` is not positive, or the target's group cannot be found.
    """
    frames = _as_frames(frames)
    n = len(frames)
    if frac_FOV <= 0:
        raise ValueError(f"frac_FOV must be positive, got {frac_FOV}")
    if n == 0:
        return SkyGrouping([], [], [])
    radii = np.array(
        [f.field_radius if f.field_radius is not None else np.nan for f in frames], dtype=float
    )
    if field_radius is not None:
        radii = np.where(np.isnan(radii), float(field_radius), radii)
    if np.any(~np.isfinite(radii) | (radii <= 0)):
        missing = [frames[i].name for i in np.flatnonzero(~np.isfinite(radii) | (radii <= 0))]
        raise ValueError(f"no valid field radius for {', '.join(missing)}")

    ra = np.array([f.ra for f in frames], dtype=float)
    dec = np.array([f.dec for f in frames], dtype=float)
    separation = angular_separation(ra[:, None], dec[:, None], ra[None, :], dec[None, :])
    limit = frac_FOV * np.minimum(radii[:, None], radii[None, :])
    groups = _friends_of_friends(separation < limit)

    names = [f.name for f in frames]
    obj_names, sky_names = set(ref_obj), set(ref_sky)
    unknown = (obj_names | sky_names) - set(names)
    if unknown:
        raise ValueError(f"not among the inputs: {', '.join(sorted(unknown))}")

    is_object = np.zeros(n, dtype=bool)
    is_sky = np.zeros(n, dtype=bool)
    decided = np.zeros(n, dtype=bool)
    unassigned: list[int] = []
    if obj_names or sky_names:
        for i, name in enumerate(names):
            in_obj, in_sky = name in obj_names, name in sky_names
            if obj_names and sky_names:
                is_object[i], is_sky[i] = in_obj, in_sky
                if not (in_obj or in_sky):
                    unassigned.append(i)
            elif obj_names:
                is_object[i], is_sky[i] = in_obj, not in_obj
            else:
                is_object[i], is_sky[i] = not in_sky, in_sky
        decided[:] = True
    else:
        for i, frame in enumerate(frames):
            if frame.is_object is not None or frame.is_sky is not None:
                is_object[i] = bool(frame.is_object)
                is_sky[i] = bool(frame.is_sky)
                decided[i] = True
            elif not frame.guided:
                is_sky[i] = True
                decided[i] = True

    undecided_groups = [[i for i in members if not decided[i]] for members in groups]
    undecided_groups = [members for members in undecided_groups if members]
    can_measure = target is not None or all(f.offset is not None for f in frames)
    if len(groups) > 1 and (can_measure or len(undecided_groups) > 1):
        distances = [_group_distance(frames, members, target) for members in groups]
        groups = [groups[k] for k in np.argsort(distances, kind="stable")]
        undecided_groups = [[i for i in members if not decided[i]] for members in groups]
        undecided_groups = [members for members in undecided_groups if members]
    if len(undecided_groups) == 1:
        # dithered on target, unless dedicated sky frames were already found
        has_skies = bool(is_sky[decided].any())
        for i in undecided_groups[0]:
            is_object[i] = True
            is_sky[i] = not has_skies
    elif len(undecided_groups) == 2:
        for i in undecided_groups[0]:
            is_object[i] = True
        for i in undecided_groups[1]:
            is_sky[i] = True
    elif undecided_groups:
        total = sum(len(members) for members in undecided_groups)
        n_object = 0
        for members in undecided_groups:
            if n_object * 2 < total:
                n_object += len(members)
                for i in members:
                    is_object[i] = True
            else:
                for i in members:
                    is_sky[i] = True

    return SkyGrouping(
        groups=groups,
        object_indices=[int(i) for i in np.flatnonzero(is_object)],
        sky_indices=[int(i) for i in np.flatnonzero(is_sky)],
        unassigned=unassigned,
    )


def associate_sky(
    science_meta: Sequence[FrameInfo | Mapping],
    sky_meta: Sequence[FrameInfo | Mapping],
    time: float = 600.0,
    distance: float = 3.0,
    min_skies: int = 3,
    max_skies: int | None = None,
    use_all: bool = False,
) -> list[list[int]]:
    """Choose the sky frames for each science frame.

    A sky frame is a candidate for a science frame if it has the same
    ``config``, is not the same file, and its pointing is more than
    ``distance`` arcsec away (so the sources do not overlap). Candidates are
    ranked by the absolute time difference; those within ``time`` seconds
    are taken, or, if fewer than ``min_skies`` are, the ``min_skies``
    nearest in time whatever the gap; at most ``max_skies`` are kept.

    Parameters
    ----------
    science_meta : sequence of FrameInfo or dict
        Frames to be sky-subtracted.
    sky_meta : sequence of FrameInfo or dict
        Frames available as sky (may include science frames: a frame is
        never its own sky).
    time : float
        Largest time difference, seconds (NIRI/GSAOI use 900).
    distance : float
        Smallest separation between the science and sky pointings, arcsec.
    min_skies : int
        Fewest skies wanted; overrides the time cut.
    max_skies : int, optional
        Most skies kept (the nearest in time).
    use_all : bool
        Ignore the time cut: every candidate (up to ``max_skies``) is used.

    Returns
    -------
    list of list of int
        For each science frame, indices into ``sky_meta`` sorted by time
        difference (then by index); an empty list means no usable sky (the
        primitive moves such frames to the ``no_skies`` stream).

    Raises
    ------
    ValueError
        For negative ``time``/``distance``/``min_skies`` or ``max_skies`` < 1.
    """
    science = _as_frames(science_meta)
    skies = _as_frames(sky_meta)
    if time < 0 or distance < 0 or min_skies < 0:
        raise ValueError(
            f"time, distance and min_skies must be >= 0 (got {time}, {distance}, {min_skies})"
        )
    if max_skies is not None and max_skies < 1:
        raise ValueError(f"max_skies must be at least 1 or None, got {max_skies}")
    if not skies:
        return [[] for _ in science]
    sky_ra = np.array([s.ra for s in skies], dtype=float)
    sky_dec = np.array([s.dec for s in skies], dtype=float)
    sky_time = np.array([_seconds(s.ut_datetime) for s in skies], dtype=float)
    sky_config = [s.config for s in skies]
    sky_name = [s.name for s in skies]

    result: list[list[int]] = []
    for frame in science:
        separation = angular_separation(frame.ra, frame.dec, sky_ra, sky_dec)
        candidates = np.array(
            [
                k
                for k in range(len(skies))
                if sky_config[k] == frame.config
                and sky_name[k] != frame.name
                and separation[k] > distance
            ],
            dtype=int,
        )
        if len(candidates) == 0:
            result.append([])
            continue
        gap = np.abs(sky_time[candidates] - _seconds(frame.ut_datetime))
        order = np.lexsort((candidates, gap))
        candidates, gap = candidates[order], gap[order]
        if use_all:
            chosen = candidates
        else:
            n_within = int(np.count_nonzero(gap <= time))
            chosen = candidates[: max(n_within, min(int(min_skies), len(candidates)))]
        if max_skies is not None:
            chosen = chosen[:max_skies]
        result.append([int(k) for k in chosen])
    return result
