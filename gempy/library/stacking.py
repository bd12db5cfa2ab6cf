"""Stacking of N frames (data, variance, DQ) into one: DQ-aware selection, rejection, combination.

This is the library behind every stack primitive (stackFrames, stackDarks,
stackFlats, stackBiases, stackSkyFrames, makeLampFlat, makeFringeFrame).

Public API
----------
- :func:`stack` -- combine N 2-D frames (with optional variance and DQ) into
  a :class:`StackResult`, in horizontal strips under a memory budget, with a
  compiled per-pixel kernel (:mod:`gempy.library._stack_kernels`).
- :func:`scale_zero_factors` -- per-frame multiplicative or additive factors
  that bring every frame to the level of the first, from sigma-clipped
  medians in a statistics section.
- :func:`parse_memory` -- a memory budget ('256MB', '1GB', bytes) in bytes.
- ``OPERATIONS``, ``REJECT_METHODS`` -- the accepted names.

Inputs may be lists of 2-D numpy arrays, ``np.memmap`` objects, the data of
FITS files opened with ``astropy.io.fits.open(path, memmap=True)``, any
lazy array with ``.shape``, ``.dtype`` and ``[y0:y1]`` row slicing, or one
3-D array. Frames that are native float32 (variance float32, DQ uint16) with
contiguous rows are read in place; others are converted strip by strip into
a buffer. Pages of memory-mapped inputs are released after each strip, so
peak memory stays within the budget plus the outputs, whatever N.
"""

import functools
import logging
import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numba
import numpy as np

from gempy.library import _stack_kernels as kernels
from gempy.library._mapped_pages import MappedRows

__all__ = [
    "OPERATIONS",
    "REJECT_METHODS",
    "DEFAULT_MEMORY",
    "StackResult",
    "stack",
    "scale_zero_factors",
    "parse_memory",
]

log = logging.getLogger(__name__)

OPERATIONS = {
    "mean": kernels.OP_MEAN,
    "wtmean": kernels.OP_WTMEAN,
    "median": kernels.OP_MEDIAN,
    "lmedian": kernels.OP_LMEDIAN,
}
REJECT_METHODS = {
    "none": kernels.REJECT_NONE,
    "minmax": kernels.REJECT_MINMAX,
    "sigclip": kernels.REJECT_SIGCLIP,
    "varclip": kernels.REJECT_VARCLIP,
}

#: Default memory budget for the strips: 1 GB, as DRAGONS' stackFrames.
DEFAULT_MEMORY = 10**9

# "Until convergence" means at most this many clipping iterations.
_MAX_ITERS_CAP = 100

# Strips larger than this gain nothing (the kernel works on one-row tiles)
# and cost cache misses, so a larger budget is not used up.
_EFFICIENT_STRIP_BYTES = 64 * 2**20

# Selection networks for the median are made for up to this many inputs
# missing at a pixel of a tile (see _median_networks).
_MAX_MISSING = 15

# Chunks of tiles per thread, handed out one at a time (dynamic scheduling),
# so that a thread slowed down by other processes does not hold up the rest.
_CHUNKS_PER_THREAD = 32

_DQ_BAD_PIXEL = 1
_DQ_NO_DATA = kernels.DQ_NO_DATA

_MEMORY_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gib": 2**30,
    "t": 10**12, "tb": 10**12, "tib": 2**40,
}


class StackResult(NamedTuple):
    """Output of :func:`stack`.

    Attributes
    ----------
    data : float32 ndarray (ny, nx)
        The combined image.
    variance : float32 ndarray (ny, nx) or None
        Its variance (estimated from the scatter of the inputs when no input
        variance was given); None only for a single frame without variance.
    mask : uint16 ndarray (ny, nx)
        OR of the DQ of the input pixels used; ``no_data`` (16) where no
        valid input was left.
    rejection_map : int16 ndarray (ny, nx) or None
        Number of input pixels rejected by the rejection method at each
        pixel (not counting those excluded by DQ or as non-finite), if
        ``save_rejection_map``.
    """

    data: np.ndarray
    variance: np.ndarray | None
    mask: np.ndarray
    rejection_map: np.ndarray | None


def parse_memory(memory: int | float | str | None) -> int | None:
    """A memory budget in bytes.

    Parameters
    ----------
    memory : int, float, str or None
        Bytes as a number, or a string with a unit: ``'256MB'``, ``'1 GB'``,
        ``'512MiB'``, ``'2e9'`` (k/M/G/T are powers of 1000, Ki/Mi/Gi/Ti of
        1024). None means no limit.

    Returns
    -------
    int or None

    Raises
    ------
    ValueError
        For an unreadable string or a budget that is not positive.
    """
    if memory is None:
        return None
    if isinstance(memory, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", memory)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _MEMORY_UNITS:
            raise ValueError(
                f"memory={memory!r} is not a size; use bytes or a string like '256MB' or '1GB'"
            )
        nbytes = float(match.group(1)) * _MEMORY_UNITS[unit]
    elif isinstance(memory, bool) or not isinstance(memory, int | float | np.integer | np.floating):
        raise ValueError(f"memory={memory!r} is not a size in bytes")
    else:
        nbytes = float(memory)
    if not math.isfinite(nbytes) or nbytes < 1:
        raise ValueError(f"memory={memory!r} must be a positive number of bytes")
    return int(nbytes)


@functools.lru_cache(maxsize=64)
def _sorting_network(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Compare-exchange pairs (lo, hi) of Batcher's odd-even merge sort for n inputs.

    The network for the next power of two, keeping only comparators inside
    [0, n): the missing inputs would be +inf and never move, so the pruned
    network sorts any n inputs.
    """
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    network = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return np.ascontiguousarray(network[:, 0]), np.ascontiguousarray(network[:, 1])


@functools.lru_cache(maxsize=64)
def _median_network(n: int, missing: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The comparators of :func:`_sorting_network` that lead to the middle rows.

    The rows are those a median reads when up to ``missing`` of the n inputs
    are absent (sorted last as +inf): (n-1-missing)//2 to n//2. Working back
    from the last comparator, keep those touching a row that matters, and
    make both their rows matter: the result puts the right values in those
    rows (a selection network), the other rows are only partly ordered.
    """
    lo, hi = _sorting_network(n)
    wanted = set(range((n - 1 - missing) // 2, n // 2 + 1))
    kept = []
    for a, b in zip(lo[::-1].tolist(), hi[::-1].tolist(), strict=True):
        if a in wanted or b in wanted:
            kept.append((a, b))
            wanted.update((a, b))
    network = np.array(kept[::-1], dtype=np.int64).reshape(-1, 2)
    return np.ascontiguousarray(network[:, 0]), np.ascontiguousarray(network[:, 1])


@functools.lru_cache(maxsize=64)
def _median_networks(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_median_network` for 0, 1, ... missing inputs, end to end, and their offsets.

    Up to _MAX_MISSING missing inputs (fewer than n): with more, the
    selection network is nearly the whole sorting network, which the kernel
    then uses.
    """
    networks = [_median_network(n, missing) for missing in range(min(n, _MAX_MISSING + 1))]
    offsets = np.zeros(len(networks) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([lo.size for lo, _ in networks])
    lo = np.concatenate([lo for lo, _ in networks]).astype(np.int64)
    hi = np.concatenate([hi for _, hi in networks]).astype(np.int64)
    return lo, hi, offsets


def _as_frames(arrays: Any, name: str, nframes: int | None = None) -> list | None:
    """A list of 2-D frames from a sequence of 2-D arrays or a 3-D array (None stays None)."""
    if arrays is None:
        return None
    ndim = getattr(arrays, "ndim", None)
    if ndim == 3:
        frames = [arrays[i] for i in range(arrays.shape[0])]
    elif ndim is not None:
        raise ValueError(f"{name} must be a sequence of 2-D arrays or a 3-D array, not {ndim}-D")
    elif isinstance(arrays, Sequence) and not isinstance(arrays, str | bytes):
        frames = list(arrays)
    else:
        raise ValueError(f"{name} must be a sequence of 2-D arrays or a 3-D array")
    if nframes is not None and len(frames) != nframes:
        raise ValueError(f"{name} has {len(frames)} frames but data has {nframes}")
    return frames


def _check_shapes(frames: list, name: str, shape: tuple[int, int]) -> None:
    for index, frame in enumerate(frames):
        if frame is None:
            continue
        frame_shape = tuple(getattr(frame, "shape", ()))
        if frame_shape != shape:
            raise ValueError(
                f"{name}[{index}] has shape {frame_shape}, expected {shape} like data[0]"
            )


def _readable_in_place(frame: Any, dtype: np.dtype) -> bool:
    """Whether the kernel can read the frame where it is (native dtype, contiguous rows)."""
    return (
        isinstance(frame, np.ndarray)
        and frame.dtype == dtype
        and frame.dtype.isnative
        and frame.flags.aligned
        and frame.strides[1] == frame.itemsize
        and frame.strides[0] > 0
    )


class _FrameRows:
    """Where the kernel finds the rows of one kind of input (data, variance or DQ).

    Frames readable in place are addressed directly; the others are copied
    strip by strip into one buffer. Memory-mapped frames have their pages
    released once read.
    """

    def __init__(self, frames: list, dtype: np.dtype, ncols: int, bool_as: int | None = None):
        self.frames = frames
        self.dtype = np.dtype(dtype)
        self.ncols = ncols
        self.bool_as = bool_as
        self.in_place = [_readable_in_place(frame, self.dtype) for frame in frames]
        self.mapped = [MappedRows.for_array(frame) for frame in frames]
        self.buffered = [i for i, ok in enumerate(self.in_place) if not ok]
        self.buffer = None
        self.addresses = np.zeros(len(frames), dtype=np.int64)
        self.strides = np.zeros(len(frames), dtype=np.int64)

    def bytes_per_row(self) -> int:
        """Memory a strip needs per row: buffered frames, and mapped frames read in place."""
        row = self.ncols * self.dtype.itemsize
        held = sum(
            1 for i, ok in enumerate(self.in_place) if not ok or self.mapped[i] is not None
        )
        return held * row

    def allocate(self, strip_rows: int) -> None:
        if self.buffered:
            self.buffer = np.empty((len(self.buffered), strip_rows, self.ncols), self.dtype)

    def load(self, y0: int, y1: int) -> None:
        """Point the addresses at rows [y0, y1): copy buffered frames, address the others."""
        for i, frame in enumerate(self.frames):
            if self.in_place[i]:
                self.addresses[i] = frame.ctypes.data + y0 * frame.strides[0]
                self.strides[i] = frame.strides[0]
        for slot, i in enumerate(self.buffered):
            target = self.buffer[slot, : y1 - y0]
            rows = np.asarray(self.frames[i][y0:y1])
            if rows.shape != target.shape:
                raise ValueError(
                    f"frame {i}: rows {y0}:{y1} read as shape {rows.shape}, "
                    f"expected {target.shape}"
                )
            if rows.dtype == np.bool_ and self.bool_as is not None:
                np.multiply(rows, self.bool_as, out=target, casting="unsafe")
            else:
                np.copyto(target, rows, casting="unsafe")
            del rows
            if self.mapped[i] is not None:
                self.mapped[i].release(y0, y1)
            self.addresses[i] = target.ctypes.data
            self.strides[i] = target.strides[0]

    def release(self, y0: int, y1: int) -> None:
        """Release the mapped pages of the frames read in place."""
        for i, mapped in enumerate(self.mapped):
            if mapped is not None and self.in_place[i]:
                mapped.release(y0, y1)


def _strip_rows(nrows: int, bytes_per_row: int, memory: int | None) -> int:
    """Rows per strip: all for no budget; else as many as the budget allows, at least 1."""
    if memory is None or bytes_per_row == 0:
        return nrows
    budget = min(memory, _EFFICIENT_STRIP_BYTES)
    return max(1, min(nrows, budget // bytes_per_row))


def _factors(values: Any, name: str, nframes: int) -> np.ndarray | None:
    if values is None:
        return None
    factors = np.asarray(values, dtype=np.float64).reshape(-1)
    if factors.size != nframes:
        raise ValueError(f"{name} has {factors.size} values for {nframes} frames")
    if not np.all(np.isfinite(factors)):
        raise ValueError(f"{name} factors must be finite: {factors.tolist()}")
    if name == "scale" and np.any(factors <= 0):
        raise ValueError(f"scale factors must be positive: {factors.tolist()}")
    return factors


def stack(
    data: Any,
    variance: Any = None,
    mask: Any = None,
    operation: str = "mean",
    reject_method: str = "sigclip",
    hsigma: float = 3.0,
    lsigma: float = 3.0,
    mclip: bool = True,
    max_iters: int | None = None,
    nlow: int = 0,
    nhigh: int = 0,
    scale: Any = None,
    zero: Any = None,
    memory: int | float | str | None = DEFAULT_MEMORY,
    save_rejection_map: bool = False,
    apply_dq: bool = True,
    nthreads: int | None = None,
) -> StackResult:
    """Combine N frames into one, pixel by pixel, with DQ-aware input selection and rejection.

    Parameters
    ----------
    data : sequence of N 2-D arrays, or a 3-D array (N, ny, nx)
        Frames of equal shape: ndarrays, memmaps, FITS data opened with
        ``memmap=True``, or lazy arrays with ``.shape``, ``.dtype`` and
        ``[y0:y1]`` row slicing. Read strip by strip, never modified.
    variance : same form as data, optional
        Per-pixel variances. A sequence with some None entries is treated as
        no variance (with a warning).
    mask : same form as data, optional
        Per-pixel DQ (uint16 bit planes: bad_pixel 1, non_linear 2,
        saturated 4, cosmic_ray 8, no_data 16, overlap 32, unilluminated
        64); a boolean mask counts True as bad_pixel; None entries mean "no
        flags" for that frame.
    operation : {'mean', 'wtmean', 'median', 'lmedian'}
        ``wtmean`` is the inverse-variance weighted mean (the plain mean,
        with a warning, without variances); ``lmedian`` the lower median
        (the lower of the two middle values for an even count).
    reject_method : {'none', 'minmax', 'sigclip', 'varclip'}
        ``minmax`` drops the ``nl = int(n*nlow/N + 0.001)`` lowest and
        ``nh = int(n*nhigh/N + 0.001)`` highest of the n inputs left at a
        pixel (IRAF's rule); ``sigclip`` rejects values more than
        ``lsigma``/``hsigma`` standard deviations (population std of the
        survivors) below/above the centre (median if ``mclip`` else mean),
        iterating; ``varclip`` does the same with each pixel's own
        ``sqrt(variance)`` as sigma, and falls back to sigclip (with a
        warning) without variances. A clipping iteration that would reject
        every remaining value is not applied.
    hsigma, lsigma : float
        Upper and lower clipping thresholds, in sigma.
    mclip : bool
        Clip around the median (True) or the mean (False).
    max_iters : int or None
        Maximum clipping iterations; None iterates until nothing changes
        (at most 100).
    nlow, nhigh : int
        Numbers of low and high values minmax rejects out of N.
    scale, zero : sequences of N floats, optional
        Applied to each frame before anything else, as ``data*scale + zero``
        and ``variance*scale**2``; see :func:`scale_zero_factors`.
    memory : int, float, str or None
        Budget in bytes (or '256MB', '1GB', ...) for the rows of the inputs
        held at once (strip buffers and mapped pages); default 1 GB. None
        processes each frame in one strip. The outputs come on top.
    save_rejection_map : bool
        Also return the number of rejected inputs at each pixel.
    apply_dq : bool
        Use the DQ for input selection and output DQ; False ignores the
        masks altogether.
    nthreads : int, optional
        Threads for the kernel (default: numba's setting, all cores).

    Returns
    -------
    StackResult
        ``data`` (float32), ``variance`` (float32), ``mask`` (uint16),
        ``rejection_map`` (int16, or None unless ``save_rejection_map``).

    Notes
    -----
    DQ-aware selection: each input pixel is ranked by the worst flag it
    carries -- no_data (16), unilluminated (64), bad_pixel (1), overlap
    (32), cosmic_ray (8), then clean / non_linear (2) / saturated (4) -- and
    each output pixel uses only the inputs of the best class present (the
    clean ones if any; else those flagged cosmic_ray; and so on; if all are
    no_data, those). Non-finite data, and non-finite or negative variances,
    exclude the input altogether; a pixel with no valid input at all is 0
    with DQ no_data and variance 0. So is, when zero offsets are applied, a
    pixel whose inputs are all flagged no_data (they hold no data, and the
    offsets would make up a level there). The output DQ is the OR of the DQ
    of the inputs actually used (after rejection).

    Output variance, with n the number of inputs used at the pixel and N
    the number of frames:

    - mean: ``sum(v)/n**2`` with input variances; else the sample variance
      of the mean ``sum((x - mean)**2)/(n(n-1))``, 0 for n = 1;
    - wtmean: ``sum(x/v)/sum(1/v)``, variance ``1/sum(1/v)``; inputs with
      zero variance have infinite weight (the result is their mean,
      variance 0);
    - median, lmedian: ``f(m) * sum(v)/n``, the variance of the median of
      m normal values of variance mean(v), where m is the number of inputs
      before rejection (the median of the survivors of a symmetric minmax
      is the median of all m) and f(m) is
      :func:`gempy.library.order_statistics.median_variance_factor`
      (1, 0.5, 0.449, 0.298, 0.287... -> pi/(2m)); without input variances,
      ``f(m)`` times the sample variance. DRAGONS uses ``pi/2 * sum(v)/n**2``
      (one input's variance for an odd n = N), which overstates the noise of
      a median of a few frames by up to 3.5x.

    A single frame is returned as it is (scaled if asked), with its
    variance (None if it has none); rejection needs at least two frames and
    is skipped.

    Raises
    ------
    ValueError
        For unknown operation or reject_method names, frames of different
        shapes, minmax with ``nlow + nhigh >= N``, bad factors or memory.

    Examples
    --------
    >>> frames = [np.full((4, 5), v, dtype=np.float32) for v in (1, 2, 3, 100)]
    >>> result = stack(frames, operation='mean', reject_method='minmax', nhigh=1)
    >>> float(result.data[0, 0])
    2.0
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation={operation!r}; use one of {sorted(OPERATIONS)}")
    if reject_method is None:
        reject_method = "none"
    if reject_method not in REJECT_METHODS:
        raise ValueError(f"reject_method={reject_method!r}; use one of {sorted(REJECT_METHODS)}")

    frames = _as_frames(data, "data")
    nframes = len(frames)
    if nframes == 0:
        raise ValueError("no frames to stack")
    if nframes >= kernels.MAX_FRAMES:
        raise ValueError(f"{nframes} frames: at most {kernels.MAX_FRAMES - 1} can be stacked")
    shape = tuple(getattr(frames[0], "shape", ()))
    if len(shape) != 2 or 0 in shape:
        raise ValueError(f"data[0] must be a non-empty 2-D array, not shape {shape}")
    _check_shapes(frames, "data", shape)

    variances = _as_frames(variance, "variance", nframes)
    if variances is not None and any(v is None for v in variances):
        log.warning("Some frames have no variance: stacking without variance")
        variances = None
    if variances is not None:
        _check_shapes(variances, "variance", shape)

    masks = _as_frames(mask, "mask", nframes) if apply_dq else None
    if masks is not None:
        _check_shapes(masks, "mask", shape)
        if all(m is None for m in masks):
            masks = None
        else:
            masks = [np.zeros(shape, np.uint16) if m is None else m for m in masks]

    if operation == "wtmean" and variances is None:
        log.warning("wtmean needs variances; using the unweighted mean")
    if reject_method == "varclip" and variances is None:
        log.warning("varclip needs variances; using sigclip instead")
        reject_method = "sigclip"
    if nframes == 1:
        reject_method = "none"
    if reject_method == "minmax":
        if nlow < 0 or nhigh < 0:
            raise ValueError(f"nlow={nlow} and nhigh={nhigh} must not be negative")
        if nlow + nhigh >= nframes:
            raise ValueError(
                f"minmax rejection of nlow={nlow} + nhigh={nhigh} values would leave "
                f"nothing of {nframes} frames; nlow + nhigh must be less than {nframes}"
            )
    if hsigma < 0 or lsigma < 0:
        raise ValueError(f"hsigma={hsigma} and lsigma={lsigma} must not be negative")
    if max_iters is None:
        max_iters = _MAX_ITERS_CAP
    elif max_iters < 0:
        raise ValueError(f"max_iters={max_iters} must not be negative")

    scale_factors = _factors(scale, "scale", nframes)
    zero_factors = _factors(zero, "zero", nframes)
    if scale_factors is None:
        scale_factors = np.ones(nframes)
    if zero_factors is None:
        zero_factors = np.zeros(nframes)
    # Unscaled values are exact float32s, which the kernel's sort keys hold.
    exact = bool(np.all(scale_factors == 1.0)) and bool(np.all(zero_factors == 0.0))
    # no_data inputs hold no data: offsetting them would make up a level.
    blank_no_data = bool(np.any(zero_factors != 0.0))

    budget = parse_memory(memory)
    nrows, ncols = shape
    data_rows = _FrameRows(frames, np.float32, ncols)
    var_rows = _FrameRows(variances, np.float32, ncols) if variances is not None else None
    mask_rows = (
        _FrameRows(masks, np.uint16, ncols, bool_as=_DQ_BAD_PIXEL) if masks is not None else None
    )
    row_sources = [rows for rows in (data_rows, var_rows, mask_rows) if rows is not None]
    strip = _strip_rows(nrows, sum(rows.bytes_per_row() for rows in row_sources), budget)
    for rows in row_sources:
        rows.allocate(strip)
    log.debug("Stacking %d frames of %s in strips of %d rows", nframes, shape, strip)

    out_data = np.empty(shape, dtype=np.float32)
    out_var = np.empty(shape, dtype=np.float32)
    out_mask = np.empty(shape, dtype=np.uint16)
    out_rej = np.empty(shape, dtype=np.int16)

    network_lo, network_hi = _sorting_network(nframes)
    median_lo, median_hi, median_offsets = _median_networks(nframes)
    unused = np.zeros(nframes, dtype=np.int64)
    previous_threads = numba.get_num_threads()
    if nthreads is not None:
        numba.set_num_threads(max(1, min(int(nthreads), numba.config.NUMBA_NUM_THREADS)))
    previous_chunksize = numba.set_parallel_chunksize(1)
    try:
        nchunks = _CHUNKS_PER_THREAD * numba.get_num_threads()
        for y0 in range(0, nrows, strip):
            y1 = min(nrows, y0 + strip)
            for rows in row_sources:
                rows.load(y0, y1)
            kernels.stack_rows(
                data_rows.addresses, data_rows.strides,
                var_rows.addresses if var_rows else unused,
                var_rows.strides if var_rows else unused,
                mask_rows.addresses if mask_rows else unused,
                mask_rows.strides if mask_rows else unused,
                int(y1 - y0), int(ncols), var_rows is not None, mask_rows is not None,
                scale_factors, zero_factors,
                int(OPERATIONS[operation]), int(REJECT_METHODS[reject_method]),
                float(lsigma), float(hsigma), bool(mclip), int(max_iters),
                int(nlow), int(nhigh), network_lo, network_hi, median_lo, median_hi,
                median_offsets, bool(exact), blank_no_data,
                out_data[y0:y1], out_var[y0:y1], out_mask[y0:y1], out_rej[y0:y1],
                int(kernels.tile_width(nframes)), int(nchunks),
            )
            for rows in row_sources:
                rows.release(y0, y1)
    finally:
        numba.set_parallel_chunksize(previous_chunksize)
        numba.set_num_threads(previous_threads)

    if nframes == 1 and variances is None:
        out_var = None
    return StackResult(
        data=out_data,
        variance=out_var,
        mask=out_mask,
        rejection_map=out_rej if save_rejection_map else None,
    )


def _statistics_section(statsec: Any, shape: tuple[int, int]) -> tuple[slice, slice]:
    """(y slice, x slice) from slices, a Section-like (x1, x2, y1, y2) or an IRAF string."""
    if statsec is None:
        return slice(0, shape[0]), slice(0, shape[1])
    if isinstance(statsec, str):
        match = re.fullmatch(r"\s*\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]\s*", statsec)
        if match is None:
            raise ValueError(f"statsec={statsec!r} is not an IRAF section like '[1:100,1:200]'")
        x1, x2, y1, y2 = (int(v) for v in match.groups())
        x1, y1 = x1 - 1, y1 - 1
    elif all(hasattr(statsec, name) for name in ("x1", "x2", "y1", "y2")):
        x1, x2, y1, y2 = (int(getattr(statsec, name)) for name in ("x1", "x2", "y1", "y2"))
    elif isinstance(statsec, tuple) and len(statsec) == 2 and all(
        isinstance(s, slice) for s in statsec
    ):
        y1, y2, _ = statsec[0].indices(shape[0])
        x1, x2, _ = statsec[1].indices(shape[1])
    elif isinstance(statsec, Sequence) and len(statsec) == 4:
        x1, x2, y1, y2 = (int(v) for v in statsec)
    else:
        raise ValueError(
            f"statsec={statsec!r}: use (yslice, xslice), a Section (x1, x2, y1, y2) "
            "(0-based, end exclusive) or an IRAF string '[x1:x2,y1:y2]'"
        )
    if not (0 <= x1 < x2 <= shape[1] and 0 <= y1 < y2 <= shape[0]):
        raise ValueError(
            f"statsec={statsec!r} is not a non-empty section inside the frame shape {shape}"
        )
    return slice(y1, y2), slice(x1, x2)


def _clipped_median(values: np.ndarray, sigma: float = 3.0, max_iters: int = 10) -> float:
    """Median of values after iterative sigma clipping about the median."""
    for _ in range(max_iters):
        centre = np.median(values)
        spread = values.std()
        kept = np.abs(values - centre) <= sigma * spread
        if kept.all() or not kept.any():
            break
        values = values[kept]
    return float(np.median(values))


def scale_zero_factors(
    data: Any,
    mask: Any = None,
    statsec: Any = None,
    scale: bool = False,
    zero: bool = False,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Factors that bring every frame to the level of the first, for :func:`stack`.

    The level of a frame is the median of its finite, unflagged pixels in
    the statistics section after iterative 3-sigma clipping about the
    median. Frames are read one at a time (row block of the section only).

    Parameters
    ----------
    data : sequence of N 2-D arrays, or a 3-D array
    mask : same form, optional
        DQ; pixels with any flag are left out of the statistics.
    statsec : optional
        The statistics section: ``(yslice, xslice)``, a Section-like with
        0-based, end-exclusive ``x1, x2, y1, y2`` (e.g.
        ``astrodata.Section``), a 4-tuple in that order, or a 1-based IRAF
        string ``'[x1:x2,y1:y2]'``. Default: the whole frame.
    scale : bool
        Compute multiplicative factors ``level[0] / level[i]``.
    zero : bool
        Compute additive offsets ``level[0] - level[i]``.

    Returns
    -------
    (scale, zero) : tuple of float64 arrays (N,) or None
        None for a factor not asked for. If both are asked, scale is
        dropped (a warning says so), as DRAGONS' stackFrames does. If a
        level cannot be measured or a factor comes out non-finite or
        non-positive, that factor is switched off (None) with a warning.

    Examples
    --------
    >>> frames = [np.full((10, 10), v, dtype=np.float32) for v in (100, 200, 50)]
    >>> s, z = scale_zero_factors(frames, scale=True)
    >>> s.tolist(), z
    ([1.0, 0.5, 2.0], None)
    """
    if scale and zero:
        log.warning("Both scale and zero requested: using zero only")
        scale = False
    if not (scale or zero):
        return None, None
    frames = _as_frames(data, "data")
    if not frames:
        raise ValueError("no frames")
    shape = tuple(frames[0].shape)
    _check_shapes(frames, "data", shape)
    masks = _as_frames(mask, "mask", len(frames))
    if masks is not None:
        _check_shapes(masks, "mask", shape)
    ys, xs = _statistics_section(statsec, shape)

    levels = np.empty(len(frames))
    for index, frame in enumerate(frames):
        values = np.asarray(frame[ys], dtype=np.float64)[:, xs]
        good = np.isfinite(values)
        if masks is not None and masks[index] is not None:
            good &= np.asarray(masks[index][ys])[:, xs] == 0
        for source in (frame, None if masks is None else masks[index]):
            mapped = MappedRows.for_array(source)
            if mapped is not None:
                mapped.release(ys.start, ys.stop)
        if not good.any():
            log.warning(
                "Frame %d has no finite unflagged pixel in the statistics section: "
                "no scaling or offsetting", index,
            )
            return None, None
        levels[index] = _clipped_median(values[good])

    if scale:
        factors = levels[0] / levels
        if not np.all(np.isfinite(factors)) or np.any(factors <= 0):
            log.warning("Scale factors %s are not usable: no scaling", factors.tolist())
            return None, None
        return factors, None
    offsets = levels[0] - levels
    if not np.all(np.isfinite(offsets)):
        log.warning("Offsets %s are not usable: no offsetting", offsets.tolist())
        return None, None
    return None, offsets
