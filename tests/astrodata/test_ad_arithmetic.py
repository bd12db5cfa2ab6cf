"""Arithmetic on NDAstroData and AstroData: first-order variance and OR'ed DQ."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import NDData, StdDevUncertainty

import astrodata
from astrodata import DQ, AstroDataError, NDAstroData


@pytest.fixture
def operands(rng):
    shape = (4, 5)
    a = rng.uniform(50, 100, shape).astype(np.float32)
    b = rng.uniform(2, 10, shape).astype(np.float32)
    va = rng.uniform(1, 4, shape).astype(np.float32)
    vb = rng.uniform(0.1, 0.5, shape).astype(np.float32)
    ma = np.zeros(shape, np.uint16)
    mb = np.zeros(shape, np.uint16)
    ma[0, 0] = DQ.bad_pixel
    mb[0, 0] = DQ.saturated
    mb[1, 1] = DQ.cosmic_ray
    return a, b, va, vb, ma, mb


def nd_pair(operands):
    a, b, va, vb, ma, mb = operands
    return (NDAstroData(a.copy(), variance=va.copy(), mask=ma.copy()),
            NDAstroData(b.copy(), variance=vb.copy(), mask=mb.copy()))


def expected(op, a, b, va, vb):
    if op == "add":
        return a + b, va + vb
    if op == "subtract":
        return a - b, va + vb
    if op == "multiply":
        return a * b, va * b**2 + vb * a**2
    return a / b, va / b**2 + vb * a**2 / b**4


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide"])
def test_nddata_operations_follow_the_formulas(op, operands):
    a, b, va, vb, ma, mb = operands
    x, y = nd_pair(operands)
    result = getattr(x, op)(y)
    data, var = expected(op, a.astype(np.float64), b.astype(np.float64), va, vb)
    np.testing.assert_allclose(result.data, data, rtol=1e-6)
    np.testing.assert_allclose(result.variance, var, rtol=1e-5)
    assert result.mask.dtype == np.uint16
    assert result.mask[0, 0] == DQ.bad_pixel | DQ.saturated
    assert result.mask[1, 1] == DQ.cosmic_ray
    assert result.data.dtype == np.float32 and result.variance.dtype == np.float32
    # the operands are unchanged
    assert np.array_equal(x.data, a) and np.array_equal(y.variance, vb)


def test_scalars_scale_the_variance(operands):
    a, _, va, _, ma, _ = operands
    x = NDAstroData(a, variance=va, mask=ma)
    np.testing.assert_allclose((x * 3).variance, va * 9, rtol=1e-6)
    np.testing.assert_allclose((x / 4).variance, va / 16, rtol=1e-6)
    np.testing.assert_allclose((x + 7).variance, va)
    np.testing.assert_allclose((10 - x).data, 10 - a)
    np.testing.assert_allclose((10 - x).variance, va)
    np.testing.assert_allclose((2 / x).data, 2 / a, rtol=1e-6)
    np.testing.assert_allclose((2 / x).variance, va * 4 / a**4, rtol=1e-5)
    assert np.array_equal((x * 3).mask, ma)


def test_array_operand_and_reflection(operands):
    a, b, va, _, _, _ = operands
    x = NDAstroData(a, variance=va)
    r = b * x  # ndarray on the left defers to NDAstroData
    assert isinstance(r, NDAstroData)
    np.testing.assert_allclose(r.variance, va * b**2, rtol=1e-6)
    assert r.mask is None


def test_ndarithmetic_with_plain_nddata_uncertainties(operands):
    a, b, va, vb, _, _ = operands
    x = NDAstroData(a, variance=va)
    other = NDData(b, uncertainty=StdDevUncertainty(np.sqrt(vb)), mask=np.eye(4, 5, dtype=bool))
    r = x + other
    np.testing.assert_allclose(r.variance, va + vb, rtol=1e-5)
    assert r.mask.dtype == np.uint16 and r.mask[0, 0] == DQ.bad_pixel and r.mask[0, 1] == 0


def test_in_place_operations(operands):
    a, b, va, vb, ma, mb = operands
    x, y = nd_pair(operands)
    x *= y
    np.testing.assert_allclose(x.variance, va * b**2 + vb * a**2, rtol=1e-5)
    x -= 1
    np.testing.assert_allclose(x.data, a * b - 1, rtol=1e-6)


def test_negative_variance_is_clipped_with_a_warning():
    with pytest.warns(RuntimeWarning, match="negative variance"):
        nd = NDAstroData(np.ones(3), variance=np.array([1.0, -2.0, 3.0]))
    assert nd.variance.tolist() == [1.0, 0.0, 3.0]


def make_ad(arrays, variances, masks):
    ad = astrodata.create(fits.Header([("OBJECT", "arith")]))
    for d, v, m in zip(arrays, variances, masks, strict=True):
        ad.append(d.copy())
        ad[-1].variance = v.copy()
        ad[-1].mask = m.copy()
    return ad


def test_astrodata_operations(operands):
    a, b, va, vb, ma, mb = operands
    ad1 = make_ad([a, 2 * a], [va, va], [ma, ma])
    ad2 = make_ad([b, b], [vb, vb], [mb, mb])
    ad2.REFCAT = astrodata.provenance._table([("x",)], ("name",))
    out = ad1 / ad2
    np.testing.assert_allclose(out[0].data, a / b, rtol=1e-6)
    np.testing.assert_allclose(out[1].variance, va / b**2 + vb * (2 * a) ** 2 / b**4, rtol=1e-5)
    assert out[0].mask[0, 0] == DQ.bad_pixel | DQ.saturated
    assert "REFCAT" in out.tables  # tables missing on the left are copied over
    assert np.array_equal(ad1[0].data, a)  # ad1 itself unchanged
    ad1 += ad2[0]  # a single slice applies to every extension
    np.testing.assert_allclose(ad1[1].data, 2 * a + b, rtol=1e-6)
    ad1[0] *= 2  # on a slice, in place
    np.testing.assert_allclose(ad1[0].data, 2 * (a + b), rtol=1e-6)
    np.testing.assert_allclose(ad1[0].variance, 4 * (va + vb), rtol=1e-6)
    with pytest.raises(AstroDataError, match="extensions"):
        ad1 + make_ad([a], [va], [ma])


def test_astrodata_aliases_are_in_place(operands):
    a, _, va, _, ma, _ = operands
    ad = make_ad([a], [va], [ma])
    assert ad.multiply(2.0) is ad
    np.testing.assert_allclose(ad[0].variance, 4 * va, rtol=1e-6)
    r = 100 - ad
    np.testing.assert_allclose(r[0].data, 100 - 2 * a, rtol=1e-6)
