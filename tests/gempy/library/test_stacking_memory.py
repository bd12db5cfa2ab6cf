"""gempy.library.stacking: strips under a memory budget, memory-mapped FITS inputs, JIT cache."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from astropy.io import fits

from gempy.library import _stack_kernels as kernels
from gempy.library._mapped_pages import MappedRows
from gempy.library.stacking import stack

COMBINATIONS = [("mean", "sigclip"), ("median", "none"), ("wtmean", "minmax"),
                ("lmedian", "varclip")]


def make_frames(nframes=11, shape=(37, 70), seed=2):
    rng = np.random.default_rng(seed)
    data = (500.0 + 8.0 * rng.standard_normal((nframes,) + shape)).astype(np.float32)
    data[rng.random(data.shape) < 0.03] += 400.0
    data[rng.random(data.shape) < 0.005] = np.nan
    variance = rng.uniform(40.0, 90.0, data.shape).astype(np.float32)
    mask = np.zeros(data.shape, np.uint16)
    for bit in (1, 2, 4, 8, 16, 32, 64):
        mask[rng.random(data.shape) < 0.03] |= bit
    return data, variance, mask


def assert_same(result, expected):
    np.testing.assert_array_equal(result.data, expected.data)
    np.testing.assert_array_equal(result.variance, expected.variance)
    np.testing.assert_array_equal(result.mask, expected.mask)
    np.testing.assert_array_equal(result.rejection_map, expected.rejection_map)


@pytest.fixture(scope="module")
def frames():
    return make_frames()


@pytest.mark.parametrize("operation,reject", COMBINATIONS)
@pytest.mark.parametrize("memory", [1, 11 * 70 * 10 * 3, "20kB", "1GB"])
def test_strips_give_the_same_result_as_one_strip(frames, operation, reject, memory):
    data, variance, mask = frames
    kwargs = dict(operation=operation, reject_method=reject, nlow=2, nhigh=2,
                  save_rejection_map=True)
    whole = stack(data, variance, mask, memory=None, **kwargs)
    # Buffered inputs (big-endian data, int32 DQ) are what the budget splits.
    buffered = stack([d.astype(">f4") for d in data], variance, [m.astype(np.int32) for m in mask],
                     memory=memory, **kwargs)
    assert_same(buffered, whole)
    assert_same(stack(data, variance, mask, memory=memory, **kwargs), whole)


def test_thread_count_does_not_change_the_result(frames):
    import numba

    data, variance, mask = frames
    before = numba.get_num_threads()
    one = stack(data, variance, mask, operation="median", nthreads=1, save_rejection_map=True)
    assert numba.get_num_threads() == before
    assert_same(one, stack(data, variance, mask, operation="median", save_rejection_map=True))


def write_fits_frames(directory, data, variance, mask):
    paths = []
    for index, (d, v, m) in enumerate(zip(data, variance, mask, strict=True)):
        path = directory / f"frame{index:03d}.fits"
        fits.HDUList([
            fits.PrimaryHDU(),
            fits.ImageHDU(d, name="SCI"),
            fits.ImageHDU(v, name="VAR"),
            # uint16 needs BZERO in FITS, which astropy cannot memory-map;
            # int16 holds every DQ value used here.
            fits.ImageHDU(m.astype(np.int16), name="DQ"),
        ]).writeto(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("operation,reject", COMBINATIONS)
def test_memory_mapped_fits_inputs(tmp_path, frames, operation, reject):
    data, variance, mask = frames
    paths = write_fits_frames(tmp_path, data, variance, mask)
    hdulists = [fits.open(path, memmap=True) for path in paths]
    try:
        sci = [h["SCI"].data for h in hdulists]
        assert MappedRows.for_array(sci[0]) is not None
        kwargs = dict(operation=operation, reject_method=reject, nlow=1, nhigh=3,
                      save_rejection_map=True)
        result = stack(sci, [h["VAR"].data for h in hdulists], [h["DQ"].data for h in hdulists],
                       memory="30kB", **kwargs)
        assert_same(result, stack(data, variance, mask, memory=None, **kwargs))
    finally:
        for h in hdulists:
            h.close()


def test_native_memmaps_read_in_place(tmp_path, frames):
    data, variance, mask = frames
    cube_path = tmp_path / "cube.dat"
    cube = np.memmap(cube_path, dtype=np.float32, mode="w+", shape=data.shape)
    cube[:] = data
    cube.flush()
    del cube
    readonly = np.memmap(cube_path, dtype=np.float32, mode="r", shape=data.shape)
    result = stack(readonly, variance, mask, memory="10kB", save_rejection_map=True)
    assert_same(result, stack(data, variance, mask, save_rejection_map=True))


def test_releasing_pages_keeps_changes_to_copy_on_write_memmaps(tmp_path, frames):
    data, variance, mask = frames
    paths = write_fits_frames(tmp_path, data, variance, mask)
    hdulists = [fits.open(path, memmap=True) for path in paths]
    try:
        sci = [h["SCI"].data for h in hdulists]
        # Change the frames in memory only (astropy maps files copy-on-write).
        for frame in sci:
            frame[5:9, :] *= 2.0
        changed = [np.array(frame) for frame in sci]
        result = stack(sci, operation="mean", reject_method="none", memory="8kB")
        expected = stack(changed, operation="mean", reject_method="none")
        np.testing.assert_array_equal(result.data, expected.data)
        for frame, copy in zip(sci, changed, strict=True):
            np.testing.assert_array_equal(frame, copy)
    finally:
        for h in hdulists:
            h.close()
    with fits.open(paths[0]) as original:
        np.testing.assert_array_equal(original["SCI"].data, data[0])


RSS_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from astropy.io import fits
    from gempy.library.stacking import stack

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024

    hdulists = [fits.open(p, memmap=True) for p in sys.argv[2:]]
    sci = [h[1].data for h in hdulists]
    dq = [h[2].data for h in hdulists]
    stack([np.ones((2, 2), np.float32)] * 3)  # load the kernel
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = status("VmRSS")
    result = stack(sci, mask=dq, operation="median", reject_method="none", memory=sys.argv[1])
    print(status("VmHWM") - before, int(result.data.sum()))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and page release")
def test_peak_memory_stays_within_the_budget(tmp_path):
    """24 memory-mapped frames of 4 MB data + 2 MB DQ under a 12 MB budget."""
    nframes, shape = 24, (1024, 1024)
    paths = []
    for index in range(nframes):
        path = tmp_path / f"f{index}.fits"
        data = np.full(shape, float(index), np.float32)
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data),
                      fits.ImageHDU(np.zeros(shape, np.int16))]).writeto(path)
        paths.append(str(path))
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("cannot reset the peak RSS here")
    budget = 12 * 2**20
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(budget), *paths],
                         capture_output=True, text=True, check=True, timeout=300)
    growth, total = (int(v) for v in out.stdout.split())
    # The median of 0..23 is 11.5 everywhere.
    assert total == int(11.5 * shape[0] * shape[1])
    outputs = shape[0] * shape[1] * (4 + 4 + 2 + 2)
    # Without page release the mapped files alone would add 144 MB.
    assert growth < budget + outputs + 24 * 2**20, f"peak RSS grew by {growth / 2**20:.0f} MB"


def test_kernel_is_cached_on_disk():
    # The kernel compiles (or loads) in this process; a fresh process must
    # then load it from the cache instead of compiling.
    stack(np.ones((3, 4, 5), np.float32))
    assert type(kernels.stack_rows._cache).__name__ == "FunctionCache"
    script = (
        "import numpy as np\n"
        "from gempy.library import _stack_kernels as k\n"
        "from gempy.library.stacking import stack\n"
        "stack(np.ones((3, 4, 5), np.float32))\n"
        "print(sum(k.stack_rows.stats.cache_hits.values()),"
        " sum(k.stack_rows.stats.cache_misses.values()))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=600)
    hits, misses = (int(v) for v in out.stdout.split())
    assert hits == 1 and misses == 0


def rss_file_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssFile in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux page release")
@pytest.mark.parametrize("mode,pagemap", [("r", True), ("c", True), ("c", False)])
def test_release_unmaps_pages_but_keeps_the_content(tmp_path, monkeypatch, mode, pagemap):
    from gempy.library import _mapped_pages

    if not pagemap:
        monkeypatch.setattr(_mapped_pages, "_file_backed_pages", lambda *args: None)
    shape = (1024, 4096)  # 16 MB of float32
    path = tmp_path / "frame.dat"
    np.arange(shape[0] * shape[1], dtype=np.float32).reshape(shape).tofile(path)
    array = np.memmap(path, dtype=np.float32, mode=mode, shape=shape)
    expected = np.arange(shape[0] * shape[1], dtype=np.float32).reshape(shape)
    if mode == "c":
        array[100:110] = -1.0  # private copies of these pages
        expected[100:110] = -1.0
    mapped = MappedRows.for_array(array)
    assert mapped is not None
    before = rss_file_bytes()
    assert float(array.sum(dtype=np.float64)) == float(expected.sum(dtype=np.float64))
    touched = rss_file_bytes()
    mapped.release(0, shape[0])
    released = rss_file_bytes()
    np.testing.assert_array_equal(array, expected)
    if pagemap:
        assert touched - before > 12 * 2**20
        assert touched - released > 12 * 2**20
    del array


def test_arrays_not_memory_mapped_have_nothing_to_release():
    assert MappedRows.for_array(np.zeros((4, 4), np.float32)) is None
    assert MappedRows.for_array([[1.0]]) is None
