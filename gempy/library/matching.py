"""Cross-matching of two source lists and fitting of the pixel transform between them.

This is the engine of ``adjustWCSToReference`` and
``determineAstrometricSolution``: the reference sources are first put in the
pixel frame of the image being registered (through the two WCSs), so the two
lists differ by the WCS error, mostly a shift of a few pixels.

- `match_catalogs` finds that shift robustly by letting every pair of sources
  within ``search_radius`` vote for its offset, then pairs sources one-to-one
  with a KD-tree within ``match_radius``.
- `fit_transform` fits a shift, a shift plus rotation and/or scale, or a
  polynomial distortion to matched pairs, with iterative sigma clipping, and
  returns an `astropy.modeling` model.
- `align_catalogs` chains the two (match, fit, re-match through the fitted
  model, re-fit; coarse to fine from ``search_radius`` down to
  ``match_radius`` when a rotation, scale or distortion is fitted) and is
  what a primitive calls.

When too few sources can be matched (fewer than ``min_sources``), these
functions return None, and the caller is expected to fall back to the
telescope offsets in the headers, as DRAGONS does.

Coordinates are (x, y) pixel pairs, arrays of shape (N, 2), in any
consistent origin (0- or 1-based, as long as both lists use the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.modeling import Model, fitting, models
from scipy.spatial import cKDTree

__all__ = [
    "Alignment",
    "CatalogMatch",
    "TransformFit",
    "align_catalogs",
    "fit_transform",
    "match_catalogs",
]


@dataclass(frozen=True)
class CatalogMatch:
    """Result of `match_catalogs`.

    Attributes
    ----------
    ref_index, in_index : numpy.ndarray of int, shape (M,)
        Row indices of the matched pairs in ``xy_ref`` and ``xy_in``
        (one-to-one), sorted by ``ref_index``.
    offset : numpy.ndarray, shape (2,)
        Median (dx, dy) such that ``xy_ref ~ xy_in + offset`` for the pairs
        (pixels).
    separation : numpy.ndarray, shape (M,)
        Distance between each pair after applying ``offset`` (pixels).
    votes : int
        Number of source pairs that agreed on the offset in the voting stage.
    """

    ref_index: np.ndarray
    in_index: np.ndarray
    offset: np.ndarray
    separation: np.ndarray
    votes: int

    def __len__(self) -> int:
        return len(self.ref_index)


@dataclass(frozen=True)
class TransformFit:
    """Result of `fit_transform`.

    Attributes
    ----------
    model : astropy.modeling.Model
        Maps input (x, y) to reference (x, y); has an inverse.
    rms : float
        Root-mean-square distance between the model positions and the
        reference positions of the pairs kept by the clipping (pixels).
    inliers : numpy.ndarray of bool, shape (N,)
        Which of the given pairs the final fit used.
    shift : tuple of float
        (dx, dy) part of the transform (pixels).
    rotation : float
        Rotation of the linear part, degrees counter-clockwise (0 unless
        fitted).
    scale : float
        Scale of the linear part (1 unless fitted).
    """

    model: Model
    rms: float
    inliers: np.ndarray
    shift: tuple[float, float]
    rotation: float = 0.0
    scale: float = 1.0

    @property
    def n_used(self) -> int:
        """Number of pairs in the final fit."""
        return int(np.count_nonzero(self.inliers))


@dataclass(frozen=True)
class Alignment:
    """Result of `align_catalogs`: the final fit and the pairs it used."""

    fit: TransformFit
    match: CatalogMatch
    initial_offset: np.ndarray = field(default_factory=lambda: np.zeros(2))

    @property
    def model(self) -> Model:
        return self.fit.model

    @property
    def rms(self) -> float:
        return self.fit.rms


def _as_xy(xy, name: str) -> np.ndarray:
    array = np.asarray(xy, dtype=float)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {array.shape}")
    return array


def _vote_offset(
    xy_ref: np.ndarray,
    xy_in: np.ndarray,
    initial_offset: np.ndarray,
    search_radius: float,
    match_radius: float,
) -> tuple[np.ndarray, int]:
    """Offset agreed by the most pairs, and how many agreed.

    Every (reference, input) pair whose offset lies within ``search_radius``
    of ``initial_offset`` is a vote; the winning offset is the one with most
    votes within ``match_radius`` of it, refined by the median of those votes.
    A true offset collects one vote per common source, a random one only a
    few chance coincidences.
    """
    ref_tree = cKDTree(xy_ref)
    shifted = xy_in + initial_offset
    neighbours = ref_tree.query_ball_point(shifted, search_radius)
    counts = np.fromiter((len(n) for n in neighbours), dtype=np.int64, count=len(neighbours))
    if counts.sum() == 0:
        return initial_offset.copy(), 0
    in_rows = np.repeat(np.arange(len(xy_in)), counts)
    ref_rows = np.fromiter(
        (j for n in neighbours for j in n), dtype=np.int64, count=int(counts.sum())
    )
    offsets = xy_ref[ref_rows] - xy_in[in_rows]
    vote_tree = cKDTree(offsets)
    support = vote_tree.query_ball_point(offsets, match_radius, return_length=True)
    best = int(np.argmax(support))
    members = vote_tree.query_ball_point(offsets[best], match_radius)
    offset = np.median(offsets[members], axis=0)
    # one source can vote several times for nearby offsets; count distinct sources
    votes = min(len(np.unique(in_rows[members])), len(np.unique(ref_rows[members])))
    return offset, votes


def _pair_nearest(
    xy_ref: np.ndarray, xy_in_mapped: np.ndarray, match_radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one nearest-neighbour pairs closer than match_radius."""
    distance, ref_rows = cKDTree(xy_ref).query(xy_in_mapped, k=1, distance_upper_bound=match_radius)
    found = np.isfinite(distance)
    in_rows = np.flatnonzero(found)
    ref_rows = ref_rows[found]
    distance = distance[found]
    # where two inputs claim one reference source, the closer one keeps it
    order = np.lexsort((distance, ref_rows))
    ref_rows, in_rows, distance = ref_rows[order], in_rows[order], distance[order]
    first = np.ones(len(ref_rows), dtype=bool)
    first[1:] = ref_rows[1:] != ref_rows[:-1]
    return ref_rows[first], in_rows[first], distance[first]


def match_catalogs(
    xy_ref,
    xy_in,
    initial_offset=(0.0, 0.0),
    search_radius: float = 25.0,
    match_radius: float = 2.5,
    min_sources: int = 1,
    vote: bool = True,
) -> CatalogMatch | None:
    """Pair the sources of two lists that differ by an unknown shift.

    Parameters
    ----------
    xy_ref : array_like, shape (N, 2)
        Reference positions (pixels).
    xy_in : array_like, shape (M, 2)
        Positions to match, in the same pixel frame as ``xy_ref`` up to a
        shift.
    initial_offset : (float, float)
        First guess of (dx, dy) with ``xy_ref ~ xy_in + offset``, pixels.
    search_radius : float
        Largest error of ``initial_offset`` that is searched, pixels (the
        ``first_pass`` parameter of ``adjustWCSToReference`` converted to
        pixels).
    match_radius : float
        Largest distance between two paired sources once the offset is
        applied, pixels; also the tolerance within which offset votes agree.
    min_sources : int
        Fewest pairs accepted; below this None is returned.
    vote : bool
        If False, skip the voting stage and trust ``initial_offset`` (used
        when re-matching through a fitted model).

    Returns
    -------
    CatalogMatch or None
        The pairs, or None if fewer than ``min_sources`` sources (or pairs)
        are available.

    Raises
    ------
    ValueError
        If an array does not have shape (N, 2) or a radius is not positive.
    """
    xy_ref = _as_xy(xy_ref, "xy_ref")
    xy_in = _as_xy(xy_in, "xy_in")
    if search_radius <= 0 or match_radius <= 0:
        raise ValueError(
            f"radii must be positive (search_radius={search_radius}, match_radius={match_radius})"
        )
    min_sources = max(int(min_sources), 1)
    ref_ok = np.all(np.isfinite(xy_ref), axis=1)
    in_ok = np.all(np.isfinite(xy_in), axis=1)
    if ref_ok.sum() < min_sources or in_ok.sum() < min_sources:
        return None
    ref_map = np.flatnonzero(ref_ok)
    in_map = np.flatnonzero(in_ok)
    ref, inp = xy_ref[ref_ok], xy_in[in_ok]
    offset = np.asarray(initial_offset, dtype=float).reshape(2)
    votes = 0
    if vote:
        offset, votes = _vote_offset(ref, inp, offset, search_radius, match_radius)
        if votes < min_sources:
            return None
    ref_rows, in_rows, _ = _pair_nearest(ref, inp + offset, match_radius)
    if len(ref_rows) < min_sources:
        return None
    # the median offset of the pairs is better than the vote's, so pair once more
    offset = np.median(ref[ref_rows] - inp[in_rows], axis=0)
    ref_rows, in_rows, distance = _pair_nearest(ref, inp + offset, match_radius)
    if len(ref_rows) < min_sources:
        return None
    order = np.argsort(ref_rows, kind="stable")
    return CatalogMatch(
        ref_index=ref_map[ref_rows[order]],
        in_index=in_map[in_rows[order]],
        offset=offset,
        separation=distance[order],
        votes=int(votes if vote else len(ref_rows)),
    )


def _similarity(src: np.ndarray, dst: np.ndarray, rotate: bool, scale: bool):
    """Least-squares dst ~ s R src + t (Umeyama), returning (matrix, t, angle_deg, s)."""
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    a = src - src_mean
    b = dst - dst_mean
    if rotate:
        # angle maximising sum(b . R a): atan2 of the cross and dot sums
        cross = np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
        dot = np.sum(a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1])
        angle = np.arctan2(cross, dot)
    else:
        angle = 0.0
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    ra = a @ rot.T
    if scale:
        denominator = np.sum(ra * ra)
        s = float(np.sum(ra * b) / denominator) if denominator > 0 else 1.0
    else:
        s = 1.0
    matrix = s * rot
    translation = dst_mean - matrix @ src_mean
    return matrix, translation, float(np.degrees(angle)), s


def _polynomial_pair(src: np.ndarray, dst: np.ndarray, order: int) -> Model:
    fitter = fitting.LinearLSQFitter()
    px = fitter(models.Polynomial2D(order), src[:, 0], src[:, 1], dst[:, 0])
    py = fitter(models.Polynomial2D(order), src[:, 0], src[:, 1], dst[:, 1])
    return models.Mapping((0, 1, 0, 1)) | (px & py)


def _polynomial_with_inverse(src: np.ndarray, dst: np.ndarray, order: int) -> Model:
    """Polynomial dst(src) with a polynomial inverse fitted on a grid over the sources' extent."""
    forward = _polynomial_pair(src, dst, order)
    lo = src.min(axis=0)
    hi = src.max(axis=0)
    margin = 0.1 * (hi - lo) + 1.0
    gx, gy = np.meshgrid(
        np.linspace(lo[0] - margin[0], hi[0] + margin[0], 25),
        np.linspace(lo[1] - margin[1], hi[1] + margin[1], 25),
    )
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    mapped = np.column_stack(forward(grid[:, 0], grid[:, 1]))
    forward.inverse = _polynomial_pair(mapped, grid, order + 1)
    return forward


def fit_transform(
    xy_ref,
    xy_in,
    rotate: bool = False,
    scale: bool = False,
    order: int = 1,
    sigma: float = 3.0,
    max_iters: int = 5,
    min_sources: int = 1,
) -> TransformFit | None:
    """Fit the transform that takes input positions onto reference positions.

    Parameters
    ----------
    xy_ref, xy_in : array_like, shape (N, 2)
        Matched positions (row i of one is the same source as row i of the
        other), pixels.
    rotate : bool
        Also fit a rotation (order 1).
    scale : bool
        Also fit a uniform scale (order 1).
    order : int
        1 for a shift (plus rotation/scale as requested); 2 or more for a
        full 2-D polynomial of that order in x and y (``rotate`` and
        ``scale`` are then implied).
    sigma : float
        Pairs whose residual exceeds ``sigma`` times the rms residual are
        rejected, and the fit repeated, up to ``max_iters`` times.
    max_iters : int
        Largest number of clipping iterations.
    min_sources : int
        Fewest pairs accepted (never fewer than the transform needs: 1 for a
        shift, 2 with rotation or scale, ``(order+1)(order+2)/2`` for a
        polynomial); below this None is returned.

    Returns
    -------
    TransformFit or None
        The model (``Shift & Shift``, an ``AffineTransformation2D`` when a
        rotation or scale is fitted, or ``Mapping | Polynomial2D &
        Polynomial2D`` with a fitted polynomial inverse) and its residual rms
        in pixels; None if there are too few pairs for a trustworthy fit, in
        which case the caller should fall back to the header offsets.

    Raises
    ------
    ValueError
        If the arrays do not have the same shape (N, 2) or order < 1.
    """
    xy_ref = _as_xy(xy_ref, "xy_ref")
    xy_in = _as_xy(xy_in, "xy_in")
    if xy_ref.shape != xy_in.shape:
        raise ValueError(f"xy_ref {xy_ref.shape} and xy_in {xy_in.shape} must pair row by row")
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    if order == 1:
        n_pairs_needed = 1 + int(rotate or scale)
    else:
        n_pairs_needed = (order + 1) * (order + 2) // 2
    finite = np.all(np.isfinite(xy_ref), axis=1) & np.all(np.isfinite(xy_in), axis=1)
    if finite.sum() < max(int(min_sources), n_pairs_needed, 1):
        return None

    inliers = finite.copy()
    n_iterations = max(int(max_iters), 0) + 1
    for iteration in range(n_iterations):
        src, dst = xy_in[inliers], xy_ref[inliers]
        angle, s = 0.0, 1.0
        if order > 1:
            model = _polynomial_with_inverse(src, dst, order)
        elif rotate or scale:
            matrix, translation, angle, s = _similarity(src, dst, rotate, scale)
            model = models.AffineTransformation2D(matrix=matrix, translation=translation)
        else:
            shift = np.mean(dst - src, axis=0)
            model = models.Shift(shift[0]) & models.Shift(shift[1])
        mapped = np.column_stack(model(xy_in[:, 0], xy_in[:, 1]))
        residual = np.hypot(*(mapped - xy_ref).T)
        rms = float(np.sqrt(np.mean(residual[inliers] ** 2)))
        if iteration == n_iterations - 1:
            break
        # the median-based width resists the wrong pairs a wide first pass lets in
        # (for 2-D Gaussian errors the rms radius is 1.201 times the median radius)
        width = min(rms, 1.2011 * float(np.median(residual[inliers])))
        keep = finite & (residual <= max(sigma * width, 1e-9))
        if np.array_equal(keep, inliers) or keep.sum() < max(int(min_sources), n_pairs_needed):
            break
        inliers = keep

    x0, y0 = model(0.0, 0.0)
    return TransformFit(
        model=model,
        rms=rms,
        inliers=inliers,
        shift=(float(x0), float(y0)),
        rotation=angle,
        scale=s,
    )


def align_catalogs(
    xy_ref,
    xy_in,
    initial_offset=(0.0, 0.0),
    search_radius: float = 25.0,
    match_radius: float = 2.5,
    min_sources: int = 3,
    rotate: bool = False,
    scale: bool = False,
    order: int = 1,
    sigma: float = 3.0,
    max_iters: int = 5,
) -> Alignment | None:
    """Match two source lists and fit the transform between them.

    For a shift, votes for the offset within ``search_radius`` and pairs
    within ``match_radius`` (`match_catalogs`), then fits (`fit_transform`).
    With ``rotate``, ``scale`` or ``order > 1`` the true pairs' offsets differ
    across the field, so the vote uses a tolerance of ``search_radius / 5``
    and only starts a coarse-to-fine search: pair through the current model
    within a radius that halves from ``search_radius`` to ``match_radius``,
    refitting each time. Finally the sources are paired through the model
    within ``match_radius`` and refitted until the pairs stop changing.

    Typical use in ``adjustWCSToReference``: ``xy_ref`` are the reference
    image's sources put in this image's pixel frame through both WCSs,
    ``xy_in`` this image's sources; the model then goes to
    `gempy.library.resample.prepend_pixel_transform` to correct this image's
    WCS.

    Parameters
    ----------
    xy_ref, xy_in, initial_offset, search_radius, match_radius
        As in `match_catalogs`.
    min_sources : int
        Fewest matched sources for a solution (``adjustWCSToReference``
        default 3).
    rotate, scale, order, sigma, max_iters
        As in `fit_transform`.

    Returns
    -------
    Alignment or None
        The final fit (model from input to reference pixels) and the pairs;
        None if fewer than ``min_sources`` sources could be matched, so the
        caller falls back to header offsets.
    """
    xy_ref = _as_xy(xy_ref, "xy_ref")
    xy_in = _as_xy(xy_in, "xy_in")
    start = np.asarray(initial_offset, dtype=float).reshape(2)
    ref_map = np.flatnonzero(np.all(np.isfinite(xy_ref), axis=1))
    in_map = np.flatnonzero(np.all(np.isfinite(xy_in), axis=1))
    ref, inp = xy_ref[ref_map], xy_in[in_map]

    def refit(pairs: CatalogMatch) -> TransformFit | None:
        return fit_transform(
            ref[pairs.ref_index],
            inp[pairs.in_index],
            rotate=rotate,
            scale=scale,
            order=order,
            sigma=sigma,
            max_iters=max_iters,
            min_sources=min_sources,
        )

    if not (rotate or scale or order > 1):
        match = match_catalogs(
            ref, inp, start, search_radius, match_radius, min_sources=min_sources
        )
        if match is None:
            return None
        fit = refit(match)
    else:
        # a rotation spreads the offsets of true pairs over many pixels across
        # the field, so the vote uses a wider tolerance, and the voted offset
        # only starts a coarse-to-fine search: pair within the search radius,
        # fit, halve the radius until it reaches match_radius
        if len(ref) < min_sources or len(inp) < min_sources:
            return None
        vote_radius = max(match_radius, search_radius / 5.0)
        offset, votes = _vote_offset(ref, inp, start, search_radius, vote_radius)
        if votes < min_sources:
            return None
        match = CatalogMatch(
            ref_index=np.zeros(0, dtype=int),
            in_index=np.zeros(0, dtype=int),
            offset=offset,
            separation=np.zeros(0),
            votes=votes,
        )
        model = models.Shift(offset[0]) & models.Shift(offset[1])
        radius = float(search_radius)
        while True:
            mapped = np.column_stack(model(inp[:, 0], inp[:, 1]))
            ref_rows, in_rows, _ = _pair_nearest(ref, mapped, radius)
            if len(ref_rows) < min_sources:
                return None
            fit = fit_transform(
                ref[ref_rows],
                inp[in_rows],
                rotate=rotate,
                scale=scale,
                order=order,
                sigma=sigma,
                max_iters=max(max_iters, 10),
                min_sources=min_sources,
            )
            if fit is None:
                return None
            model = fit.model
            if radius <= match_radius:
                break
            radius = max(radius / 2.0, match_radius)
    # pair again through the model until the pairs stop changing
    for _ in range(3):
        if fit is None:
            return None
        mapped = np.column_stack(fit.model(inp[:, 0], inp[:, 1]))
        ref_rows, in_rows, distance = _pair_nearest(ref, mapped, match_radius)
        if len(ref_rows) < min_sources:
            return None
        by_ref = np.argsort(ref_rows, kind="stable")
        ref_rows, in_rows, distance = ref_rows[by_ref], in_rows[by_ref], distance[by_ref]
        unchanged = np.array_equal(ref_rows, match.ref_index) and np.array_equal(
            in_rows, match.in_index
        )
        match = CatalogMatch(
            ref_index=ref_rows,
            in_index=in_rows,
            offset=np.median(ref[ref_rows] - inp[in_rows], axis=0),
            separation=distance,
            votes=match.votes,
        )
        if unchanged:
            break
        fit = refit(match)
    if fit is None:
        return None
    final = CatalogMatch(
        ref_index=ref_map[match.ref_index],
        in_index=in_map[match.in_index],
        offset=match.offset,
        separation=match.separation,
        votes=match.votes,
    )
    return Alignment(fit=fit, match=final, initial_offset=start)
