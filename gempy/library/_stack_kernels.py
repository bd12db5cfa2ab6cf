"""Compiled stacking kernels (numba): DQ class selection, rejection and combination per pixel.

The entry point is :func:`stack_rows`, which combines a block of rows of N
frames into output pixels. ``gempy.library.stacking`` is its only caller: it
reads the inputs, checks the arguments and documents the behaviour.

The frames are handed over as row addresses (one base address and one row
stride in bytes per frame) rather than as one 3-D array, so that the kernel
reads in-memory or memory-mapped frames where they are, without first copying
N frames into a cube; only inputs that are not native float32 / uint16 with
contiguous rows are copied into strip buffers by the caller, which keeps the
arrays alive for the duration of the call.

Work is done in tiles of one row by ``tile`` columns. Every step loops over
the frames outside and the tile's pixels inside, so the inner loops are
branch-free and vectorise across pixels (SIMD across pixels rather than
across frames, which is what makes order statistics cheap):

1. load the tile of every frame, applying ``x*scale + zero`` and
   ``v*scale**2``, and give every input its DQ badness class (or
   "excluded" for non-finite data or a non-finite or negative variance).
   Each pixel uses the inputs of its best class;
2. when the operation or the rejection needs order statistics, sort every
   pixel's inputs at once with a Batcher odd-even merge network
   (compare-exchange with min/max: no data-dependent branches). Without
   rejection and for sigclip, the VALUES are sorted, the inputs outside the
   best class as +inf after them: as float32 when they are exact float32s
   (no scale or zero; half-width values double the SIMD lanes), else as
   float64. For a plain median only the comparators that lead to the
   middle rows are applied (a selection network, chosen for the largest
   number of missing inputs in the tile). minmax (whose ties are broken by
   frame) and varclip (which needs each value's variance) sort 64-bit
   keys instead: class in the top bits, then the value as order-preserving
   float32 bits, then the frame number; the sorted values are decoded from
   the keys (or, after scaling, looked up by frame number and put in exact
   float64 order);
3. rejection leaves, for each pixel, a contiguous range of its sorted inputs
   (minmax: drop the ends; sigclip: iterate on the range; varclip, whose
   survivors need not be contiguous, is done pixel by pixel and compacted);
   the inputs kept are flagged back in frame order -- for sigclip by value
   (the kept range holds every input of the best class with a value within
   its ends, since the clipping depends on the values alone), for the
   others by key;
4. combine (mean, wtmean, median, lmedian) with the output variance, the OR
   of the DQ of the inputs used and the rejection count.

Order statistics: a per-pixel quickselect or insertion sort (tried first)
spends most of its time in mispredicted data-dependent branches; the
network does more comparisons but runs them a SIMD vector of pixels at a
time without branches, and was about 3x faster on 20 frames.

Indexing: row views start at the tile's first column and rows picked per
pixel are unsigned, so that numba emits no negative-index wrap-around code,
which would turn contiguous loads into gathers and stop stores vectorising.

Arithmetic is in float64 (float32 only holds exact float32 values for
sorting). Scratch arrays are allocated once per chunk of tiles (a few times
per thread), never per pixel.
"""

import math

import numpy as np
from llvmlite import binding as llvm_binding
from llvmlite import ir
from numba import carray, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from gempy.library import order_statistics as _order_statistics

OP_MEAN = 0
OP_WTMEAN = 1
OP_MEDIAN = 2
OP_LMEDIAN = 3

REJECT_NONE = 0
REJECT_MINMAX = 1
REJECT_SIGCLIP = 2
REJECT_VARCLIP = 3

# DQ bits (astrodata.DQ): bad_pixel 1, cosmic_ray 8, no_data 16, overlap 32,
# unilluminated 64. non_linear (2) and saturated (4) do not lower the class.
DQ_NO_DATA = 16

# Key layout: class (3 bits) << 48 | value order (32 bits) << 16 | frame.
MAX_FRAMES = 1 << 16
_FRAME_BITS = MAX_FRAMES - 1
_VALUE_SHIFT = 16
_CLASS_SHIFT = 48
_EXCLUDED = 7
_NO_DATA_CLASS = 5

# Pixels per tile: a multiple of the SIMD width; the tile arrays of one
# thread (about TILE_BYTES_PER_INPUT bytes per frame and pixel) should stay
# within L2, so many frames get narrower tiles (see tile_width).
MAX_TILE = 128
MIN_TILE = 16
TILE_BYTES_PER_INPUT = 60
L2_BUDGET = 2**20

# Tiles ahead whose input rows are prefetched. Each tile reads a short run of
# one row of every frame's data, variance and DQ; with tens of frames the
# hardware prefetchers lose track of that many streams, and the loads would
# wait for memory.
_PREFETCH_TILES = 2
_CACHE_LINE = 64
# The intrinsic's name carries its pointer type: opaque "p0" since LLVM 15
# (as numba 0.61+ uses it), typed "p0i8" before.
_PREFETCH_INTRINSIC = (
    "llvm.prefetch.p0" if llvm_binding.llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"
)


# error_model="numpy": a float division by zero gives inf/nan instead of a
# check and a raise, which would stop the loops from vectorising.
_JIT = dict(cache=True, fastmath=False, error_model="numpy")

# var(median of m unit normal values), tabulated for m < len(table), and the
# offsets c of pi / (2m + c) beyond it (order_statistics.median_variance_factor).
_MEDIAN_VARIANCE = _order_statistics.MEDIAN_VARIANCE
_LOWER_MEDIAN_VARIANCE = _order_statistics.LOWER_MEDIAN_VARIANCE
_MEDIAN_OFFSETS = np.array(
    [math.pi / _order_statistics.median_variance_factor(m, lower) - 2.0 * m
     for lower in (False, True) for m in (_MEDIAN_VARIANCE.size - 1, _MEDIAN_VARIANCE.size - 2)])


@njit(inline="always", **_JIT)
def _median_factor(m, lower):
    """var(median of m unit normal values), of the lower median with `lower`."""
    if m < 1:
        return 0.0
    if m < _MEDIAN_VARIANCE.size:
        return _LOWER_MEDIAN_VARIANCE[m] if lower else _MEDIAN_VARIANCE[m]
    # offsets: [median (size-1 parity), median (other), lower..., lower...]
    index = (2 if lower else 0) + (0 if m % 2 == (_MEDIAN_VARIANCE.size - 1) % 2 else 1)
    return math.pi / (2.0 * m + _MEDIAN_OFFSETS[index])


@intrinsic
def _float32_pointer(typingctx, address):
    """Reinterpret an integer address as a float32 pointer (for numba.carray)."""
    ptr_type = types.CPointer(types.float32)
    sig = ptr_type(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr_type))

    return sig, codegen


@intrinsic
def _uint16_pointer(typingctx, address):
    """Reinterpret an integer address as a uint16 pointer (for numba.carray)."""
    ptr_type = types.CPointer(types.uint16)
    sig = ptr_type(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr_type))

    return sig, codegen


@intrinsic
def _float32_bits(typingctx, value):
    """The bit pattern of a float32 as an int32."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int32))

    return sig, codegen


@intrinsic
def _bits_float32(typingctx, bits):
    """The float32 with the bit pattern of an int32."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return sig, codegen


@intrinsic
def _prefetch(typingctx, address):
    """Hint the CPU to bring the cache line at an integer address into the caches."""
    sig = types.void(types.int64)

    def codegen(context, builder, signature, args):
        byte_ptr = ir.IntType(8).as_pointer()
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_ptr] + [ir.IntType(32)] * 3),
            _PREFETCH_INTRINSIC,
        )
        # read, high temporal locality, data cache
        flags = [ir.Constant(ir.IntType(32), value) for value in (0, 3, 1)]
        builder.call(function, [builder.inttoptr(args[0], byte_ptr)] + flags)
        return context.get_dummy_value()

    return sig, codegen


def tile_width(nframes: int) -> int:
    """Columns per tile for N frames: a power of two in [MIN_TILE, MAX_TILE]."""
    width = MAX_TILE
    while width > MIN_TILE and width * nframes * TILE_BYTES_PER_INPUT > L2_BUDGET:
        width //= 2
    return width


@njit(inline="always", **_JIT)
def _badness(m):
    """Badness class of a DQ value: 0 (clean, non-linear or saturated) .. 5 (no_data)."""
    return (
        5 if m & 16 else 4 if m & 64 else 3 if m & 1 else 2 if m & 32 else 1 if m & 8 else 0
    )


@njit(inline="always", **_JIT)
def _value_order(x):
    """Unsigned 32-bit number ordered as float32(x) is."""
    bits = np.int64(_float32_bits(np.float32(x)))
    # Negative floats: the magnitude bits count the wrong way.
    bits = bits ^ 0x7FFFFFFF if bits < 0 else bits
    return bits + 0x80000000


@njit(inline="always", **_JIT)
def _key_value(key):
    """The float32 value held in a key, as float64 (inverse of _value_order)."""
    bits = ((key >> _VALUE_SHIFT) & 0xFFFFFFFF) - 0x80000000
    bits = bits ^ 0x7FFFFFFF if bits < 0 else bits
    return np.float64(_bits_float32(np.int32(bits)))


@njit(inline="always", **_JIT)
def _variance_class(v):
    """Class of an input from its variance: 0, or excluded if non-finite or negative."""
    return 0 if ((v >= 0.0) & (v < np.inf)) else _EXCLUDED


@njit(inline="always", **_JIT)
def _prefetch_rows(addresses, strides, row, x0, width, itemsize):
    """Prefetch the given row, columns [x0, x0 + width), of every frame."""
    nbytes = width * itemsize
    for i in range(addresses.shape[0]):
        start = addresses[i] + row * strides[i] + x0 * itemsize
        for offset in range(0, nbytes, _CACHE_LINE):
            _prefetch(start + offset)


@njit(**_JIT)
def _load_tile(
    data_addr, data_stride, var_addr, var_stride, mask_addr, mask_stride, row, x0, width,
    tile, nrows, ncols, has_var, has_mask, scale, zero, tile_x, tile_v, tile_m, level, best,
):
    """Step 1: load one tile of every frame, scaled; each input's class, each pixel's best."""
    nframes = data_addr.shape[0]
    tiles_per_row = (ncols + tile - 1) // tile
    ahead = x0 // tile + _PREFETCH_TILES
    ahead_row = row + ahead // tiles_per_row
    if ahead_row < nrows:
        ahead_x0 = (ahead % tiles_per_row) * tile
        ahead_width = min(tile, ncols - ahead_x0)
        _prefetch_rows(data_addr, data_stride, ahead_row, ahead_x0, ahead_width, 4)
        if has_var:
            _prefetch_rows(var_addr, var_stride, ahead_row, ahead_x0, ahead_width, 4)
        if has_mask:
            _prefetch_rows(mask_addr, mask_stride, ahead_row, ahead_x0, ahead_width, 2)
    for p in range(width):
        best[p] = _EXCLUDED
    for i in range(nframes):
        s = scale[i]
        z = zero[i]
        # Separate loops for DQ, variance and data: a loop that writes more
        # arrays needs too many run-time overlap checks to be vectorised.
        if has_mask:
            mrow = carray(_uint16_pointer(mask_addr[i] + row * mask_stride[i] + 2 * x0), width)
            flags = 0
            for p in range(width):
                m = np.int32(mrow[p])
                tile_m[i, p] = m
                flags |= m
            if flags == 0:
                # Mostly the case: skip working out the classes.
                for p in range(width):
                    level[i, p] = 0
            else:
                for p in range(width):
                    level[i, p] = _badness(tile_m[i, p])
        else:
            for p in range(width):
                level[i, p] = 0
        if has_var:
            s2 = s * s
            vrow = carray(_float32_pointer(var_addr[i] + row * var_stride[i] + 4 * x0), width)
            for p in range(width):
                v = np.float64(vrow[p])
                tile_v[i, p] = v * s2
                level[i, p] = max(level[i, p], _variance_class(v))
        drow = carray(_float32_pointer(data_addr[i] + row * data_stride[i] + 4 * x0), width)
        for p in range(width):
            x = np.float64(drow[p])
            tile_x[i, p] = x * s + z
            cls = max(level[i, p], 0 if math.isfinite(x) else _EXCLUDED)
            level[i, p] = cls
            best[p] = min(best[p], cls)


@njit(**_JIT)
def _make_keys(level, tile_x, width, keys):
    """The sort key of every input: class, then value as float32 order, then frame number."""
    nframes = level.shape[0]
    for i in range(nframes):
        for p in range(width):
            keys[i, p] = (
                (level[i, p] << _CLASS_SHIFT) | (_value_order(tile_x[i, p]) << _VALUE_SHIFT) | i
            )


@njit(**_JIT)
def _flag_best_class(level, best, width, blank_no_data, used, count):
    """Flag (in frame order) and count the inputs of each pixel's best class.

    With blank_no_data, a pixel whose best inputs are no_data has none.
    """
    nframes = level.shape[0]
    unusable = _NO_DATA_CLASS if blank_no_data else _EXCLUDED
    for p in range(width):
        count[p] = 0
    for i in range(nframes):
        for p in range(width):
            ok = (level[i, p] == best[p]) & (best[p] < unusable)
            used[i, p] = ok
            count[p] += 1 if ok else 0


@njit(**_JIT)
def _sort_tile(keys, sorted_keys, width, network_lo, network_hi):
    """Step 2: sort a copy of every pixel's keys with the comparator network."""
    nframes = keys.shape[0]
    for i in range(nframes):
        for p in range(width):
            sorted_keys[i, p] = keys[i, p]
    for k in range(network_lo.shape[0]):
        a = network_lo[k]
        b = network_hi[k]
        for p in range(width):
            ka = sorted_keys[a, p]
            kb = sorted_keys[b, p]
            sorted_keys[a, p] = min(ka, kb)
            sorted_keys[b, p] = max(ka, kb)


@njit(**_JIT)
def _sorted_values(sorted_keys, width, count, tile_x, exact, sx):
    """Values of each pixel in key order.

    exact: every value is a float32 (no scaling), decoded from the key.
    Otherwise the keys order by float32(value) and values equal in float32
    may be out of float64 order: look the values up and finish with an
    insertion pass (one compare each on sorted input), moving the keys along.
    """
    nframes = sorted_keys.shape[0]
    if exact:
        for j in range(nframes):
            for p in range(width):
                sx[j, p] = _key_value(sorted_keys[j, p])
        return
    last = nframes - 1
    for j in range(nframes):
        for p in range(width):
            f = min(sorted_keys[j, p] & _FRAME_BITS, last)
            sx[j, p] = tile_x[f, p]
    for p in range(width):
        for i in range(1, count[p]):
            x = sx[i, p]
            if sx[i - 1, p] <= x:
                continue
            key = sorted_keys[i, p]
            j = i - 1
            while j >= 0 and sx[j, p] > x:
                sx[j + 1, p] = sx[j, p]
                sorted_keys[j + 1, p] = sorted_keys[j, p]
                j -= 1
            sx[j + 1, p] = x
            sorted_keys[j + 1, p] = key


@njit(**_JIT)
def _sorted_copy(tile_x, used, width, sx):
    """Copy the values of each pixel's best class into sx, the others as +inf (sorted last)."""
    nframes = tile_x.shape[0]
    for j in range(nframes):
        for p in range(width):
            sx[j, p] = tile_x[j, p] if used[j, p] else np.inf


@njit(**_JIT)
def _sort_values(sx, width, network_lo, network_hi):
    """Step 2 on values: apply the comparator network to every pixel's column of sx in place."""
    for k in range(network_lo.shape[0]):
        a = network_lo[k]
        b = network_hi[k]
        for p in range(width):
            xa = sx[a, p]
            xb = sx[b, p]
            # No NaN here (excluded inputs are +inf): plain compare-and-select.
            sx[a, p] = xa if xa < xb else xb
            sx[b, p] = xb if xa < xb else xa


@njit(**_JIT)
def _kept_value_range(sx, lo, hi, width, value_lo, value_hi):
    """The values [sx[lo], sx[hi - 1]] at the ends of each pixel's sorted range [lo, hi).

    For a rejection that depends only on the values (sigclip), the range
    holds every input of the best class with a value in that interval, so
    that :func:`_combine_tile` flags exactly the inputs of the range by
    comparing values.
    """
    for p in range(width):
        nonempty = hi[p] > lo[p]
        # Unsigned rows: no negative-index wrap-around code in the loads.
        value_lo[p] = sx[np.uint64(lo[p]), p] if nonempty else np.inf
        value_hi[p] = sx[np.uint64(max(hi[p] - 1, 0)), p] if nonempty else -np.inf


@njit(**_JIT)
def _minmax_ranges(count, width, nframes, nlow, nhigh, lo, hi):
    """Step 3, minmax: drop the nl lowest and nh highest, IRAF's nl = int(n*nlow/N + 0.001)."""
    for p in range(width):
        n = count[p]
        nl = int(n * nlow / nframes + 0.001)
        nh = int(n * nhigh / nframes + 0.001)
        while nl + nh >= n and n > 0:
            # Only reachable for very large N; always keep one value.
            if nh > 0:
                nh -= 1
            else:
                nl -= 1
        lo[p] = nl
        hi[p] = n - nh


@njit(**_JIT)
def _sorted_median(sx, lo, hi, p):
    """Median of the sorted column p of sx over [lo, hi) (mean of the middle two if even)."""
    n = hi - lo
    k = lo + (n - 1) // 2
    if n % 2 == 1:
        return sx[k, p]
    return 0.5 * (sx[k, p] + sx[k + 1, p])


@njit(**_JIT)
def _sigclip_column(sx, p, lo, hi, lsigma, hsigma, mclip, iterations):
    """Up to ``iterations`` sigma-clipping iterations of the sorted column p over [lo, hi).

    Returns the new (lo, hi); see :func:`_sigclip_ranges`.
    """
    for _ in range(iterations):
        n = hi - lo
        if n < 2:
            break
        total = 0.0
        for j in range(lo, hi):
            total += sx[j, p]
        mean = total / n
        ss = 0.0
        for j in range(lo, hi):
            d = sx[j, p] - mean
            ss += d * d
        std = math.sqrt(ss / n)
        centre = _sorted_median(sx, lo, hi, p) if mclip else mean
        lo_t = centre - lsigma * std
        hi_t = centre + hsigma * std
        new_lo = lo
        while new_lo < hi and sx[new_lo, p] < lo_t:
            new_lo += 1
        new_hi = hi
        while new_hi > new_lo and sx[new_hi - 1, p] > hi_t:
            new_hi -= 1
        if new_hi == new_lo or (new_lo == lo and new_hi == hi):
            break
        lo = new_lo
        hi = new_hi
    return lo, hi


@njit(**_JIT)
def _sigclip_ranges(
    sx, width, lsigma, hsigma, mclip, max_iters, lo, hi, low, high, median, s1, s2,
):
    """Step 3, sigclip: iterative clipping of the sorted columns [lo, hi).

    Centre: median (mclip) or mean of the survivors; width: their population
    standard deviation; values outside [centre - lsigma*std, centre +
    hsigma*std] are rejected, cumulatively, until nothing changes or max_iters
    iterations. On sorted values the survivors stay a contiguous range
    [lo, hi). An iteration that would reject every remaining value is not
    applied.

    The first iteration runs on the whole tile at once: each column's
    lowest, middle and highest values are read directly, and one vectorised
    pass gives mean and variance (summed about the median, so without
    cancellation). Only the pixels whose lowest or highest value falls
    outside the limits go on, one by one. low, high, median, s1, s2 are
    scratch arrays of the tile width.
    """
    if max_iters < 1:
        return
    nframes = sx.shape[0]
    same_range = True
    for p in range(width):
        same_range &= (lo[p] == lo[0]) & (hi[p] == hi[0])
    for p in range(width):
        # Direct picks (O(1) a pixel); rows past a pixel's count hold junk
        # that only pixels with fewer than two values read, and ignore.
        # Unsigned rows: no negative-index wrap-around code in the loads.
        first = lo[p]
        last = max(hi[p] - 1, first)
        middle = first + (last - first) // 2
        low[p] = sx[np.uint64(first), p]
        high[p] = sx[np.uint64(last), p]
        median[p] = sx[np.uint64(middle), p]
        s1[p] = sx[np.uint64(min(middle + 1, last)), p]
    for p in range(width):
        n = hi[p] - lo[p]
        median[p] = median[p] if n % 2 == 1 else 0.5 * (median[p] + s1[p])
        s1[p] = 0.0
        s2[p] = 0.0
    if same_range:
        for j in range(lo[0], hi[0]):
            for p in range(width):
                d = sx[j, p] - median[p]
                s1[p] += d
                s2[p] += d * d
    else:
        for j in range(nframes):
            for p in range(width):
                inside = (j >= lo[p]) & (j < hi[p])
                d = sx[j, p] - median[p]
                s1[p] += d if inside else 0.0
                s2[p] += d * d if inside else 0.0
    for p in range(width):
        n = hi[p] - lo[p]
        mean_offset = s1[p] / n
        std = math.sqrt(max(s2[p] / n - mean_offset * mean_offset, 0.0))
        centre = median[p] if mclip else median[p] + mean_offset
        # Whether the lowest or the highest value is out (a rare branch).
        s1[p] = 1.0 if (
            (n > 1) & ((low[p] < centre - lsigma * std) | (high[p] > centre + hsigma * std))
        ) else 0.0
    for p in range(width):
        if s1[p] != 0.0:
            lo[p], hi[p] = _sigclip_column(sx, p, lo[p], hi[p], lsigma, hsigma, mclip, max_iters)


@njit(**_JIT)
def _varclip_column(sx, sorted_keys, tile_v, p, n, keep, lsigma, hsigma, mclip, max_iters):
    """Step 3, varclip, for one pixel: clip each value against its own sqrt(variance).

    Works on the sorted column p (n values); the kept values (and their
    keys) are compacted, in order, to the top of the column. Returns the
    number kept. Cumulative; an iteration that would reject every remaining
    value is not applied.
    """
    for i in range(n):
        keep[i] = True
    m = n
    it = 0
    while it < max_iters and m > 1:
        if mclip:
            # Median of the kept values, walking the sorted column.
            k = (m - 1) // 2
            seen = 0
            lower = 0.0
            upper = 0.0
            for i in range(n):
                if keep[i]:
                    if seen == k:
                        lower = sx[i, p]
                    elif seen == k + 1:
                        upper = sx[i, p]
                        break
                    seen += 1
            centre = lower if m % 2 == 1 else 0.5 * (lower + upper)
        else:
            total = 0.0
            for i in range(n):
                if keep[i]:
                    total += sx[i, p]
            centre = total / m
        rejected = 0
        for i in range(n):
            if keep[i]:
                sigma = math.sqrt(tile_v[sorted_keys[i, p] & _FRAME_BITS, p])
                d = sx[i, p] - centre
                if d > hsigma * sigma or -d > lsigma * sigma:
                    rejected += 1
        if rejected == 0 or rejected == m:
            break
        for i in range(n):
            if keep[i]:
                sigma = math.sqrt(tile_v[sorted_keys[i, p] & _FRAME_BITS, p])
                d = sx[i, p] - centre
                if d > hsigma * sigma or -d > lsigma * sigma:
                    keep[i] = False
        m -= rejected
        it += 1
    if m < n:
        j = 0
        for i in range(n):
            if keep[i]:
                sx[j, p] = sx[i, p]
                sorted_keys[j, p] = sorted_keys[i, p]
                j += 1
    return m


@njit(**_JIT)
def _flag_kept(keys, sorted_keys, lo, hi, width, by_key_range, used, key_lo, key_hi):
    """Flag in frame order the inputs in the sorted range [lo, hi) of each pixel.

    If by_key_range, the sorted keys are in key order and the range is the
    key interval [sorted_keys[lo], sorted_keys[hi - 1]] (keys are unique):
    a vectorised comparison. Otherwise the frames are looked up one by one.
    """
    nframes = keys.shape[0]
    if by_key_range:
        for p in range(width):
            if hi[p] > lo[p]:
                key_lo[p] = sorted_keys[lo[p], p]
                key_hi[p] = sorted_keys[hi[p] - 1, p]
            else:
                key_lo[p] = 1
                key_hi[p] = 0
        for i in range(nframes):
            for p in range(width):
                key = keys[i, p]
                used[i, p] = (key >= key_lo[p]) & (key <= key_hi[p])
        return
    for i in range(nframes):
        for p in range(width):
            used[i, p] = False
    for p in range(width):
        for j in range(lo[p], hi[p]):
            used[sorted_keys[j, p] & _FRAME_BITS, p] = True


@njit(**_JIT)
def _noiseless_mean(tile_x, tile_v, used, p, nframes):
    """Mean of the used inputs of pixel p that have zero variance."""
    nzero = 0
    zsum = 0.0
    for j in range(nframes):
        if used[j, p] and tile_v[j, p] == 0.0:
            nzero += 1
            zsum += tile_x[j, p]
    return zsum / nzero


@njit(**_JIT)
def _combine_tile(
    tile_x, tile_v, tile_m, used, value_lo, value_hi, count, sx, lo, width, nframes, has_var,
    operation, xsum, vsum, dq, nused, acc1, acc2, acc3, value, variance,
    out_data, out_var, out_mask, out_rej, y, x0,
):
    """Step 4: combine the inputs flagged in ``used`` (frame order) and write the outputs.

    Only the flagged inputs with a value in [value_lo[p], value_hi[p]] are
    used (the sigclip range; infinite bounds otherwise): the first pass
    clears the flags of the others.

    nused[p] is the number of inputs flagged for pixel p. For the median
    operations, they are also the sorted range of sx starting at lo[p].
    Every loop runs over the whole tile; the few noiseless wtmean pixels are
    redone one by one. xsum, vsum, dq, acc1-3, value and variance are scratch
    arrays of the tile width.
    """
    for p in range(width):
        xsum[p] = 0.0
        vsum[p] = 0.0
        dq[p] = 0
        acc1[p] = 0.0
        acc2[p] = 0.0
        acc3[p] = 0.0
    for j in range(nframes):
        for p in range(width):
            x = tile_x[j, p]
            inside = used[j, p] & (x >= value_lo[p]) & (x <= value_hi[p])
            used[j, p] = inside
            v = tile_v[j, p]
            m = tile_m[j, p]
            xsum[p] += x if inside else 0.0
            vsum[p] += v if inside else 0.0
            dq[p] |= m if inside else 0

    # Variance of the mean: from the input variances, or from the scatter.
    if has_var:
        for p in range(width):
            n = nused[p]
            variance[p] = vsum[p] / (n * n)
    else:
        for p in range(width):
            acc2[p] = xsum[p] / nused[p]
        for j in range(nframes):
            for p in range(width):
                d = tile_x[j, p] - acc2[p]
                acc1[p] += d * d if used[j, p] else 0.0
        for p in range(width):
            n = nused[p]
            variance[p] = acc1[p] / (n * (n - 1.0)) if n > 1 else 0.0

    if operation == OP_MEAN or (operation == OP_WTMEAN and not has_var):
        for p in range(width):
            value[p] = xsum[p] / nused[p]
    elif operation == OP_WTMEAN:
        # acc1 = sum(x/v) and acc2 = sum(1/v) over v > 0; acc3 counts the
        # noiseless inputs (v == 0).
        for p in range(width):
            acc1[p] = 0.0
            acc2[p] = 0.0
        for j in range(nframes):
            for p in range(width):
                inside = used[j, p]
                v = tile_v[j, p]
                x = tile_x[j, p]
                weighted = inside & (v > 0.0)
                inv = 1.0 / v if weighted else 0.0
                acc1[p] += x * inv if weighted else 0.0
                acc2[p] += inv
                acc3[p] += 1.0 if (inside & (v == 0.0)) else 0.0
        for p in range(width):
            single = nused[p] == 1
            value[p] = xsum[p] if single else acc1[p] / acc2[p]
            variance[p] = vsum[p] if single else 1.0 / acc2[p]
        for p in range(width):
            if acc3[p] > 0.0 and nused[p] > 1:
                # A noiseless input has infinite weight: the limit of the
                # weighted mean is the mean of the noiseless inputs.
                value[p] = _noiseless_mean(tile_x, tile_v, used, p, nframes)
                variance[p] = 0.0
    else:
        # Median: rows k (and k + 1 for an even count) of the sorted range.
        last = nframes - 1
        for p in range(width):
            k = min(max(lo[p] + (nused[p] - 1) // 2, 0), last)
            acc1[p] = sx[np.uint64(k), p]
            acc2[p] = sx[np.uint64(min(k + 1, last)), p]
        lower_median = operation == OP_LMEDIAN
        for p in range(width):
            even = nused[p] % 2 == 0
            value[p] = 0.5 * (acc1[p] + acc2[p]) if (even and not lower_median) else acc1[p]
            # variance of the mean (v/n) -> of the median of the m = count inputs
            # before rejection (gempy.library.order_statistics; not DRAGONS' pi/2)
            variance[p] *= nused[p] * _median_factor(count[p], lower_median)

    # Row views starting at x0: indexed by the loop variable alone, the
    # stores need no negative-index wrap-around and vectorise.
    data_row = out_data[y, x0:x0 + width]
    var_row = out_var[y, x0:x0 + width]
    mask_row = out_mask[y, x0:x0 + width]
    rej_row = out_rej[y, x0:x0 + width]
    for p in range(width):
        empty = count[p] == 0
        data_row[p] = 0.0 if empty else value[p]
        var_row[p] = 0.0 if empty else variance[p]
        mask_row[p] = DQ_NO_DATA if empty else dq[p]
        rej_row[p] = count[p] - nused[p]


@njit(**_JIT)
def _rank_by_value(
    sx, tile_x, used, count, width, reject, lsigma, hsigma, mclip, max_iters,
    network_lo, network_hi, median_lo, median_hi, median_offsets, lo, hi,
    low, high, median, s1, s2, value_lo, value_hi,
):
    """Steps 2-3 on values (no rejection, or sigclip): sort, clip, flag the kept inputs.

    sx (float32 when the values are exact float32s, else float64) receives
    each pixel's best-class values in order, the others as +inf after them;
    [lo, hi) comes back as the kept range, and [value_lo, value_hi] as the
    values at its ends, which :func:`_combine_tile` uses to flag its inputs.
    Without rejection, only the middle rows are needed: the selection
    network for the largest number of missing inputs in the tile.
    """
    nframes = tile_x.shape[0]
    _sorted_copy(tile_x, used, width, sx)
    if reject == REJECT_NONE:
        fewest = nframes
        for p in range(width):
            fewest = min(fewest, count[p])
        missing = nframes - fewest
        if missing < median_offsets.size - 1:
            start = median_offsets[missing]
            stop = median_offsets[missing + 1]
            _sort_values(sx, width, median_lo[start:stop], median_hi[start:stop])
        else:
            _sort_values(sx, width, network_lo, network_hi)
        return
    _sort_values(sx, width, network_lo, network_hi)
    _sigclip_ranges(sx, width, lsigma, hsigma, mclip, max_iters, lo, hi, low, high, median, s1, s2)
    _kept_value_range(sx, lo, hi, width, value_lo, value_hi)


@njit(parallel=True, nogil=True, **_JIT)
def stack_rows(
    data_addr, data_stride, var_addr, var_stride, mask_addr, mask_stride,
    nrows, ncols, has_var, has_mask, scale, zero, operation, reject,
    lsigma, hsigma, mclip, max_iters, nlow, nhigh,
    network_lo, network_hi, median_lo, median_hi, median_offsets, exact, blank_no_data,
    out_data, out_var, out_mask, out_rej, tile, nchunks,
):
    """Stack nrows rows of N frames (N < MAX_FRAMES).

    Parameters
    ----------
    data_addr, data_stride : int64 arrays (N,)
        Address of the first row of each frame's float32 data, and the byte
        stride between rows (pixels within a row must be contiguous).
    var_addr, var_stride : int64 arrays (N,)
        The same for the float32 variances; ignored unless has_var.
    mask_addr, mask_stride : int64 arrays (N,)
        The same for the uint16 DQ; ignored unless has_mask.
    nrows, ncols : int
    has_var, has_mask : bool
    scale, zero : float64 arrays (N,)
        Applied as ``data*scale + zero`` and ``var*scale**2``.
    operation : int
        OP_MEAN, OP_WTMEAN, OP_MEDIAN or OP_LMEDIAN.
    reject : int
        REJECT_NONE, REJECT_MINMAX, REJECT_SIGCLIP or REJECT_VARCLIP.
    lsigma, hsigma : float
    mclip : bool
    max_iters, nlow, nhigh : int
    network_lo, network_hi : int64 arrays
        Compare-exchange pairs (lo < hi) of a sorting network for N inputs.
    median_lo, median_hi, median_offsets : int64 arrays
        Selection networks, one after the other: comparators
        ``median_offsets[m]:median_offsets[m + 1]`` put the right values in
        the middle rows of any pixel with at least N - m inputs (the others
        sorted last as +inf), rows (N-m-1)//2 to N//2; used by the median
        operations when nothing is rejected, for m up to
        ``median_offsets.size - 2`` (beyond, the full network is used).
    exact : bool
        True if every scaled value is exactly a float32 (no scale or zero),
        so that float32 keys and sort buffers hold the values exactly.
    blank_no_data : bool
        Treat inputs flagged no_data as unusable: a pixel with nothing
        better is 0 with DQ no_data (rather than combining them).
    out_data, out_var : float32 arrays (nrows, ncols)
    out_mask : uint16 array (nrows, ncols)
    out_rej : int16 array (nrows, ncols)
    tile : int
        Columns per tile (:func:`tile_width`).
    nchunks : int
        Number of chunks of tiles shared out among the threads.
    """
    nframes = data_addr.shape[0]
    needs_order = reject != REJECT_NONE or operation == OP_MEDIAN or operation == OP_LMEDIAN
    by_key = reject == REJECT_MINMAX or reject == REJECT_VARCLIP
    tiles_per_row = (ncols + tile - 1) // tile
    ntiles = nrows * tiles_per_row
    nchunks = max(1, min(ntiles, nchunks))
    per_chunk = (ntiles + nchunks - 1) // nchunks
    for c in prange(nchunks):
        tile_x = np.zeros((nframes, tile), dtype=np.float64)
        tile_v = np.zeros((nframes, tile), dtype=np.float64)
        tile_m = np.zeros((nframes, tile), dtype=np.int32)
        level = np.empty((nframes, tile), dtype=np.int64)
        used = np.empty((nframes, tile), dtype=np.bool_)
        sx = np.zeros((nframes, tile), dtype=np.float64)
        sx32 = np.zeros((nframes, tile), dtype=np.float32)
        # Keys only for the rejections that sort them (a row of junk otherwise).
        key_rows = nframes if by_key else 1
        keys = np.empty((key_rows, tile), dtype=np.int64)
        sorted_keys = np.empty((key_rows, tile), dtype=np.int64)
        best = np.empty(tile, dtype=np.int64)
        count = np.empty(tile, dtype=np.int64)
        lo = np.zeros(tile, dtype=np.int64)
        hi = np.zeros(tile, dtype=np.int64)
        nused = np.empty(tile, dtype=np.int64)
        key_lo = np.empty(tile, dtype=np.int64)
        key_hi = np.empty(tile, dtype=np.int64)
        dq = np.empty(tile, dtype=np.int32)
        xsum = np.empty(tile, dtype=np.float64)
        vsum = np.empty(tile, dtype=np.float64)
        acc1 = np.empty(tile, dtype=np.float64)
        acc2 = np.empty(tile, dtype=np.float64)
        acc3 = np.empty(tile, dtype=np.float64)
        acc4 = np.empty(tile, dtype=np.float64)
        acc5 = np.empty(tile, dtype=np.float64)
        value_lo = np.empty(tile, dtype=np.float64)
        value_hi = np.empty(tile, dtype=np.float64)
        keep = np.empty(nframes, dtype=np.bool_)
        for t in range(c * per_chunk, min(ntiles, (c + 1) * per_chunk)):
            row = t // tiles_per_row
            x0 = (t % tiles_per_row) * tile
            width = min(tile, ncols - x0)
            _load_tile(
                data_addr, data_stride, var_addr, var_stride, mask_addr, mask_stride, row, x0,
                width, tile, nrows, ncols, has_var, has_mask, scale, zero, tile_x, tile_v,
                tile_m, level, best,
            )
            _flag_best_class(level, best, width, blank_no_data, used, count)
            for p in range(width):
                lo[p] = 0
                hi[p] = count[p]
                value_lo[p] = -np.inf
                value_hi[p] = np.inf
            if by_key:
                # minmax and varclip: ties and variances need each value's frame.
                _make_keys(level, tile_x, width, keys)
                _sort_tile(keys, sorted_keys, width, network_lo, network_hi)
                _sorted_values(sorted_keys, width, count, tile_x, exact, sx)
                if reject == REJECT_MINMAX:
                    _minmax_ranges(count, width, nframes, nlow, nhigh, lo, hi)
                else:
                    for p in range(width):
                        if count[p] > 1:
                            hi[p] = _varclip_column(
                                sx, sorted_keys, tile_v, p, count[p], keep, lsigma, hsigma,
                                mclip, max_iters,
                            )
                _flag_kept(
                    keys, sorted_keys, lo, hi, width, exact and reject == REJECT_MINMAX, used,
                    key_lo, key_hi,
                )
            elif needs_order and exact:
                # The values are float32s: sort them as such, twice the SIMD lanes.
                _rank_by_value(
                    sx32, tile_x, used, count, width, reject, lsigma, hsigma, mclip, max_iters,
                    network_lo, network_hi, median_lo, median_hi, median_offsets, lo, hi,
                    acc1, acc2, acc3, acc4, acc5, value_lo, value_hi,
                )
            elif needs_order:
                _rank_by_value(
                    sx, tile_x, used, count, width, reject, lsigma, hsigma, mclip, max_iters,
                    network_lo, network_hi, median_lo, median_hi, median_offsets, lo, hi,
                    acc1, acc2, acc3, acc4, acc5, value_lo, value_hi,
                )
            for p in range(width):
                nused[p] = hi[p] - lo[p]
            if needs_order and exact and not by_key:
                _combine_tile(
                    tile_x, tile_v, tile_m, used, value_lo, value_hi, count, sx32, lo, width,
                    nframes, has_var, operation, xsum, vsum, dq, nused, acc1, acc2, acc3, acc4,
                    acc5, out_data, out_var, out_mask, out_rej, row, x0,
                )
            else:
                _combine_tile(
                    tile_x, tile_v, tile_m, used, value_lo, value_hi, count, sx, lo, width,
                    nframes, has_var, operation, xsum, vsum, dq, nused, acc1, acc2, acc3, acc4,
                    acc5, out_data, out_var, out_mask, out_rej, row, x0,
                )
