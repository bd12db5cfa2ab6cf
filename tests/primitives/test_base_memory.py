"""Frames written to a file refer to its copy-on-write memory map (``refer_to_file``)."""

import copy
import hashlib

import numpy as np
import pytest

import astrodata
from astrodata.nddata import NDAstroData
from primitives.base import refer_to_file, release_freed_memory, write_scratch


def _frame(shape=(40, 50), value=7.0):
    rng = np.random.default_rng(3)
    data = (value + rng.normal(size=shape)).astype(np.float32)
    nd = NDAstroData(data, variance=np.full(shape, 2.5, np.float32),
                     mask=np.where(rng.random(shape) < 0.1, 1, 0).astype(np.uint16))
    ad = astrodata.create({"INSTRUME": "F2", "OBJECT": "test"})
    ad.append(nd)
    return ad


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _is_memory_mapped(array):
    base = array
    while base is not None:
        if isinstance(base, np.memmap):
            return True
        base = base.base
    return False


def test_frame_refers_to_its_file_and_never_writes_into_it(tmp_path):
    ad = _frame()
    expected = (ad[0].data.copy(), ad[0].variance.copy(), ad[0].mask.copy())
    path = tmp_path / "checkpoint.fits"
    write_scratch(ad, path)
    before = _md5(path)
    assert refer_to_file(ad, path)
    assert not ad[0].nddata.is_loaded()        # private copies released
    assert _is_memory_mapped(ad[0].data)
    np.testing.assert_array_equal(ad[0].data, expected[0])
    np.testing.assert_array_equal(ad[0].variance, expected[1])
    np.testing.assert_array_equal(ad[0].mask, expected[2])
    # in-place arithmetic (what darkCorrect does) changes the object, not the file
    ad[0].data -= 5.0
    ad[0].variance *= 2.0
    np.testing.assert_allclose(ad[0].data, expected[0] - 5.0)
    assert _md5(path) == before
    np.testing.assert_array_equal(astrodata.open(str(path))[0].data, expected[0])


def test_pixels_survive_the_deletion_of_the_file_and_copies_stay_independent(tmp_path):
    ad = _frame()
    expected = ad[0].data.copy()
    path = tmp_path / "rolling.fits"
    write_scratch(ad, path)
    assert refer_to_file(ad, path)
    path.unlink()                      # a superseded rolling checkpoint
    duplicate = copy.deepcopy(ad)
    duplicate[0].data += 100.0
    np.testing.assert_array_equal(ad[0].data, expected)
    np.testing.assert_allclose(duplicate[0].data, expected + 100.0)


def test_a_file_with_other_planes_is_not_adopted(tmp_path):
    ad = _frame()
    other = _frame(shape=(30, 50))
    path = tmp_path / "other.fits"
    write_scratch(other, path)
    assert not refer_to_file(ad, path)
    assert ad[0].nddata.is_loaded()
    assert ad[0].data.shape == (40, 50)
    no_variance = _frame()
    no_variance[0].variance = None
    write_scratch(no_variance, path)
    assert not refer_to_file(ad, path)
    assert ad[0].variance is not None and ad[0].nddata.is_loaded()


def test_adopt_file_arrays_rejects_another_dtype(tmp_path):
    ad = _frame()
    path = tmp_path / "f64.fits"
    wide = _frame()
    wide[0].data = wide[0].data.astype(np.float64)
    write_scratch(wide, path)
    with pytest.raises(ValueError, match="data"):
        ad[0].nddata.adopt_file_arrays(astrodata.open(str(path))[0].nddata)


def test_release_freed_memory_collects_unreachable_cycles():
    import gc
    import weakref

    class Holder:
        pass

    holder = Holder()
    holder.me = holder                 # a cycle, as AstroData objects have
    holder.pixels = np.ones(1000)
    alive = weakref.ref(holder)
    gc.disable()
    try:
        del holder
        assert alive() is not None     # only the cyclic collector frees it
        release_freed_memory()
        assert alive() is None
    finally:
        gc.enable()


def test_dropping_clean_pages_keeps_every_change(tmp_path):
    from astrodata.fits import drop_clean_pages

    ad = _frame(shape=(300, 400))
    expected = ad[0].data.copy()
    original = expected.copy()
    path = tmp_path / "mapped.fits"
    write_scratch(ad, path)
    assert refer_to_file(ad, path)
    data = ad[0].data
    assert float(data.sum()) == pytest.approx(float(expected.sum()), rel=1e-5)  # all resident
    data[10:20] += 1000.0              # copy-on-write pages: private, must survive
    expected[10:20] += 1000.0
    dropped = drop_clean_pages()
    assert dropped > 0                 # the pages only read were unmapped
    np.testing.assert_array_equal(ad[0].data, expected)
    np.testing.assert_array_equal(astrodata.open(str(path))[0].data, original)


def test_pages_of_read_planes_are_dropped_after_their_file_object_is_gone(tmp_path):
    # arrays read from a file keep its map alive once the lazy arrays (and the
    # FitsFile holding the map) are dropped: the map itself must still be found
    import gc

    from astrodata.fits import drop_clean_pages

    ad = _frame(shape=(300, 400))
    path = tmp_path / "read.fits"
    write_scratch(ad, path)
    reopened = astrodata.open(str(path))
    data = reopened[0].data            # loaded: a view of the map
    expected = np.array(data)
    del reopened
    gc.collect()
    assert drop_clean_pages() >= data.nbytes // 2
    np.testing.assert_array_equal(data, expected)


def test_independent_copy_of_a_frame_on_disk_reads_nothing_and_shares_nothing(tmp_path):
    from primitives.base import independent_copy

    ad = _frame()
    expected = ad[0].data.copy()
    path = tmp_path / "stream.fits"
    write_scratch(ad, path)
    assert refer_to_file(ad, path)
    duplicate = independent_copy(ad)
    assert not duplicate[0].nddata.is_loaded()     # still in the file: no memory
    path.unlink()                                  # mapped already: survives
    duplicate[0].data += 1.0
    ad[0].variance *= 3.0
    np.testing.assert_array_equal(ad[0].data, expected)
    np.testing.assert_allclose(duplicate[0].data, expected + 1.0)
    np.testing.assert_allclose(duplicate[0].variance, 2.5)
