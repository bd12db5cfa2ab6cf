"""Tests of primitives.core.standardize: prepare, addDQ, addIllumMaskToDQ, addLatencyToDQ, addVAR.

Science checks use small gempy.sim datasets and their truth files.
"""

from __future__ import annotations

import collections
import logging
import math
import os

import numpy as np
import pytest
from astropy.io import fits

import astrodata
from astrodata import DQ
from astrodata.provenance import md5sum
from gempy.sim import load_truth, make_dataset
from primitives.core.standardize import hidden_saturation
from primitives.errors import PrimitiveError
from primitives.f2 import F2, F2Image
from primitives.gmos import GMOSImage
from primitives.gsaoi import GSAOIImage
from primitives.niri import NIRIImage

CalReturn = collections.namedtuple("CalReturn", "files origins")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """``datasets(name)`` -> (directory, truth) of a small simulated dataset (made once)."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            path = make_dataset(name, tmp_path_factory.mktemp(name), small=True, seed=0)
            cache[name] = (path, load_truth(path))
        return cache[name]

    return get


def _open(directory, name):
    return astrodata.open(os.path.join(directory, name))


def _first(truth, role):
    return truth["roles"][role][0]


def _prepared(cls, directory, name, **kwargs):
    p = cls([_open(directory, name)])
    p.prepare(**kwargs)
    return p, p.streams["main"][0]


# ---------------------------------------------------------------------------
# prepare
# ---------------------------------------------------------------------------
def test_prepare_f2_structure_values_and_keywords(datasets, tmp_path):
    directory, truth = datasets("f2-tutorial")
    name = _first(truth, "science")
    path = os.path.join(directory, name)
    md5_before = md5sum(path)
    raw = fits.getdata(path, ext=1)
    raw_ad = astrodata.open(path)
    raw_levels = {d: getattr(raw_ad, d)()[0] for d in
                  ("gain", "read_noise", "saturation_level", "non_linear_level")}

    p = F2Image([astrodata.open(path)])
    ad = p.prepare()[0]

    assert ad.shape == [(256, 256)]
    assert np.asarray(ad[0].data).dtype == np.float32
    np.testing.assert_array_equal(ad[0].data, raw[0].astype(np.float32))
    assert "PREPARED" in ad.tags and not {"RAW", "UNPREPARED"} & ad.tags
    assert "PREPARE" in ad.phu and "GEM-TLM" in ad.phu
    assert ad.filename == name.replace(".fits", "_prepared.fits")
    ext_truth = truth["files"][name]["extensions"][0]
    assert ad.gain() == [pytest.approx(ext_truth["gain_e_per_adu"])]
    assert ad.read_noise() == [pytest.approx(ext_truth["read_noise_e"])]
    assert ad.saturation_level() == [pytest.approx(ext_truth["saturation_adu"])]
    for descriptor, value in raw_levels.items():
        keyword = ad._keyword_for(descriptor)
        assert ad[0].hdr[keyword] == pytest.approx(value)
        assert getattr(ad, descriptor)() == [pytest.approx(value)]
    for keyword in ("DATASEC", "DETSEC", "CCDSEC"):
        assert ad[0].hdr[keyword] == "[1:256,1:256]"
    assert ad[0].hdr["BUNIT"] == "adu"
    assert "CD3_3" not in ad[0].hdr and "AXISLAB3" not in ad[0].hdr
    assert ad.phu["PROCSOFT"] == "astroreduce" and ad.phu["ORIGNAME"] == name
    # the raw file's md5 is in PROVENANCE and the raw file is untouched
    rows = [(str(r["filename"]), str(r["md5"])) for r in ad.PROVENANCE]
    assert (name, md5_before) in rows
    assert md5sum(path) == md5_before
    # written and read back: still 2-D float32 with the same values
    written = ad.write(os.path.join(tmp_path, ad.filename))
    back = astrodata.open(written)
    assert back.shape == [(256, 256)] and "PREPARED" in back.tags
    np.testing.assert_array_equal(back[0].data, raw[0])
    assert back.wcs_ra() == pytest.approx(raw_ad.wcs_ra(), abs=1e-9)


def test_prepare_niri_writes_total_exposure_time(datasets):
    directory, truth = datasets("niri-imaging")
    name = _first(truth, "science")
    record = truth["files"][name]
    assert record["coadds"] > 1
    _, ad = _prepared(NIRIImage, directory, name)
    assert ad.phu["EXPTIME"] == pytest.approx(record["total_exptime"])
    assert ad.exposure_time() == pytest.approx(record["total_exptime"])
    assert ad.coadds() == record["coadds"]


def test_prepare_gsaoi_per_array_levels(datasets):
    directory, truth = datasets("gsaoi-tutorial")
    name = _first(truth, "science")
    _, ad = _prepared(GSAOIImage, directory, name)
    expected = truth["files"][name]["extensions"]
    assert len(ad) == 4
    assert ad.gain() == pytest.approx([e["gain_e_per_adu"] for e in expected])
    assert ad.saturation_level() == pytest.approx([e["saturation_adu"] for e in expected])
    assert ad.read_noise() == pytest.approx([e["read_noise_e"] for e in expected])
    assert ad.array_section(pretty=True) == [e["ccdsec"] for e in expected]
    assert all(h == "adu" for h in ad.hdr.get("BUNIT"))


def test_prepare_gmos_records_gain_setting(datasets):
    directory, truth = datasets("gmos-imaging")
    name = _first(truth, "science")
    _, ad = _prepared(GMOSImage, directory, name)
    assert len(ad) == 12
    assert all(np.asarray(ext.data).dtype == np.float32 for ext in ad)
    assert ad.phu["GAINSET"] == "low"
    assert ad.gain_setting() == "low"


def test_prepare_twice_passes_through(datasets, caplog):
    directory, truth = datasets("f2-tutorial")
    p, ad = _prepared(F2Image, directory, _first(truth, "science"))
    data = np.array(ad[0].data)
    stamp = ad.phu["PREPARE"]
    again = p.prepare([ad])[0]
    assert again is ad and ad.phu["PREPARE"] == stamp
    np.testing.assert_array_equal(ad[0].data, data)
    assert "already been processed by prepare" in caplog.text


def test_validate_rejects_wrong_instrument_and_extension_count(datasets):
    directory, truth = datasets("gsaoi-tutorial")
    name = _first(truth, "science")
    with pytest.raises(PrimitiveError, match=f"{name}.*not suitable for the F2Image"):
        F2Image([_open(directory, name)]).prepare()
    ad = _open(directory, name)
    del ad[3]
    with pytest.raises(PrimitiveError, match="has 3 extension.*GSAOI data have 4"):
        GSAOIImage([ad]).prepare()


@pytest.mark.parametrize("quiet", [False, True])
def test_missing_keyword_names_file_and_keyword(datasets, quiet):
    directory, truth = datasets("f2-tutorial")
    name = _first(truth, "science")
    ad = _open(directory, name)
    del ad.phu["LNRS"]
    logger = logging.getLogger("astrodata")
    level = logger.level
    if quiet:       # warnings switched off must not empty the error message
        logger.setLevel(logging.ERROR)
    try:
        with pytest.raises(PrimitiveError) as error:
            F2Image([ad]).prepare()
    finally:
        logger.setLevel(level)
    assert str(error.value).startswith(f"{name}: cannot determine gain")
    assert "keyword LNRS is missing" in str(error.value)


# ---------------------------------------------------------------------------
# standardizeWCS
# ---------------------------------------------------------------------------
def _shifted(directory, name, arcsec):
    ad = _open(directory, name)
    dec = ad.target_dec()
    for ext in ad:
        ext.hdr["CRVAL1"] = ext.hdr["CRVAL1"] + arcsec / 3600.0 / math.cos(math.radians(dec))
    return ad


def _offset_arcsec(ad):
    ra, dec = ad.wcs_ra(), ad.wcs_dec()
    ra0, dec0 = ad.target_ra(offset=True), ad.target_dec(offset=True)
    return math.hypot((ra - ra0) * math.cos(math.radians(dec0)), dec - dec0) * 3600.0


def test_standardize_wcs_bad_wcs_options(datasets, caplog):
    directory, truth = datasets("f2-tutorial")
    name = truth["roles"]["science"][3]
    with pytest.raises(PrimitiveError, match=f"{name}.*30.0 arcsec from the pointing"):
        F2Image([_shifted(directory, name, 30.0)]).prepare()

    ad = F2Image([_shifted(directory, name, 30.0)]).prepare(bad_wcs="fix")[0]
    assert _offset_arcsec(ad) < 0.01
    ad = F2Image([_shifted(directory, name, 30.0)]).prepare(bad_wcs="ignore")[0]
    assert _offset_arcsec(ad) == pytest.approx(30.0, abs=0.01)
    ad = F2Image([_shifted(directory, name, 30.0)]).prepare(require_wcs=False)[0]
    assert _offset_arcsec(ad) == pytest.approx(30.0, abs=0.01)
    # within the 10 arcsec tolerance nothing changes, unless a new WCS is asked for
    ad = F2Image([_shifted(directory, name, 4.0)]).prepare()[0]
    assert _offset_arcsec(ad) == pytest.approx(4.0, abs=0.01)
    ad = F2Image([_shifted(directory, name, 4.0)]).prepare(bad_wcs="new")[0]
    assert _offset_arcsec(ad) < 0.01


def test_standardize_wcs_fix_moves_every_array(datasets, tmp_path):
    directory, truth = datasets("gsaoi-tutorial")
    name = _first(truth, "science")
    original = [ext.hdr["CRVAL1"] for ext in _open(directory, name)]
    ad = GSAOIImage([_shifted(directory, name, -25.0)]).prepare(bad_wcs="fix")[0]
    back = astrodata.open(ad.write(os.path.join(tmp_path, ad.filename)))
    for ext, crval in zip(back, original, strict=True):
        assert ext.hdr["CRVAL1"] == pytest.approx(crval, abs=1e-8)
    assert _offset_arcsec(back) < 0.01


def test_standardize_wcs_missing_wcs(datasets):
    directory, truth = datasets("f2-tutorial")
    name = _first(truth, "science")

    def without_wcs():
        ad = _open(directory, name)
        for key in ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2",
                    "CD1_1", "CD1_2", "CD2_1", "CD2_2"):
            del ad[0].hdr[key]
        return ad

    with pytest.raises(PrimitiveError, match="no celestial WCS"):
        F2Image([without_wcs()]).prepare()
    ad = F2Image([without_wcs()]).prepare(require_wcs=False)[0]
    assert ad.wcs_ra() is None
    ad = F2Image([without_wcs()]).prepare(bad_wcs="new")[0]
    assert _offset_arcsec(ad) < 0.01
    assert ad.pixel_scale() == pytest.approx(truth["pixel_scale_arcsec"], rel=1e-3)


def test_calibration_frames_are_not_wcs_checked(datasets):
    directory, truth = datasets("f2-tutorial")
    dark = _shifted(directory, _first(truth, "dark"), 300.0)
    assert "DARK" in F2([dark]).prepare()[0].tags


# ---------------------------------------------------------------------------
# addDQ
# ---------------------------------------------------------------------------
def test_hidden_saturation_flags_low_cores_only():
    sky = np.full((120, 120), 100.0)
    yy, xx = np.mgrid[0:120, 0:120]
    r = np.hypot(xx - 40, yy - 40)
    sky[r < 8] = 500.0            # non-linear halo
    sky[r < 5] = 1000.0           # saturated ring
    sky[r < 2] = 50.0             # core reading low
    patch = (abs(xx - 90) < 6) & (abs(yy - 90) < 6)
    sky[patch] = 500.0            # bright non-linear patch ...
    sky[90, 90] = 0.0             # ... with a dead pixel (no saturated neighbour)
    flagged = hidden_saturation(sky, non_linear_level=400.0, saturation_level=900.0)
    assert np.array_equal(flagged, r < 2)
    # a frame with nothing saturated has nothing hidden
    assert not hidden_saturation(np.where(sky >= 900, 800.0, sky), 400.0, 900.0).any()


def test_add_dq_saturation_non_linear_and_low_core(datasets):
    directory, truth = datasets("f2-tutorial")
    p, ad = _prepared(F2Image, directory, _first(truth, "science"))
    sat, nonlin = ad.saturation_level()[0], ad.non_linear_level()[0]
    data = np.array(ad[0].data)
    sky = data.copy()
    yy, xx = np.mgrid[0:256, 0:256]
    r = np.hypot(xx - 100, yy - 140)
    data[r < 9] = 0.5 * (sat + nonlin)
    data[r < 6] = sat
    data[r < 2.5] = 0.3 * nonlin
    ad[0].data = data
    ad = p.addDQ([ad], add_illum_mask=False)[0]
    mask = ad[0].mask
    assert mask.dtype == np.uint16
    np.testing.assert_array_equal((mask & DQ.saturated) != 0, (data >= sat) | (r < 2.5))
    np.testing.assert_array_equal((mask & DQ.non_linear) != 0, (data >= nonlin) & (data < sat))
    untouched = r > 12
    np.testing.assert_array_equal(mask[untouched] & (DQ.saturated | DQ.non_linear) != 0,
                                  sky[untouched] >= nonlin)
    assert "ADDDQ" in ad.phu and ad.filename.endswith("_dqAdded.fits")


def test_add_dq_f2_illumination_circle(datasets):
    directory, truth = datasets("f2-tutorial")
    _, ad = _prepared(F2Image, directory, _first(truth, "science"))
    ad = F2Image([ad]).addDQ()[0]
    unlit = (ad[0].mask & DQ.unilluminated) != 0
    assert 0.80 < 1.0 - unlit.mean() < 0.84
    truth_unlit = (truth["bpm"][0] & DQ.unilluminated) != 0
    assert np.mean(unlit == truth_unlit) > 0.99
    assert "ADDILMSK" in ad.phu


def test_add_dq_no_illumination_for_darks(datasets):
    directory, truth = datasets("f2-tutorial")
    for cls in (F2, F2Image):
        _, dark = _prepared(cls, directory, _first(truth, "dark"))
        dark = cls([dark]).addDQ(add_illum_mask=True)[0]
        assert not (dark[0].mask & DQ.unilluminated).any()


def test_add_dq_gsaoi_illumination_border_in_roi(datasets):
    directory, truth = datasets("gsaoi-tutorial")
    _, full = _prepared(GSAOIImage, directory, _first(truth, "science"))
    full = GSAOIImage([full]).addDQ(add_illum_mask=True)[0]
    for ext in full:
        unlit = (ext.mask & DQ.unilluminated) != 0
        assert unlit[:4].all() and unlit[-4:].all() and unlit[:, :4].all()
        assert not unlit[4:-4, 4:-4].any()
    # the standard star is a central ROI: no array edge, nothing unilluminated
    _, roi = _prepared(GSAOIImage, directory, _first(truth, "standard"))
    roi = GSAOIImage([roi]).addDQ(add_illum_mask=True)[0]
    assert not any((ext.mask & DQ.unilluminated).any() for ext in roi)


def _bpm_file(cls, directory, name, bpm_planes, path):
    """A processed-BPM-like file: a prepared frame whose data are 0/1 int16."""
    _, ad = _prepared(cls, directory, name)
    for ext, plane in zip(ad, bpm_planes, strict=True):
        ext.reset((plane & DQ.bad_pixel).astype(np.int16), mask=None, variance=None)
    ad.phu["OBJECT"] = "BPM"
    return ad.write(path)


def test_add_dq_user_bpm(datasets, tmp_path):
    directory, truth = datasets("f2-tutorial")
    bpm = _bpm_file(F2Image, directory, _first(truth, "flat_lamp_on"), truth["bpm"],
                    os.path.join(tmp_path, "f2_bpm.fits"))
    _, ad = _prepared(F2Image, directory, _first(truth, "science"))
    ad = F2Image([ad], uparms={"addDQ:user_bpm": bpm}).addDQ()[0]
    expected = (truth["bpm"][0] & DQ.bad_pixel) != 0
    assert expected.sum() > 10
    np.testing.assert_array_equal((ad[0].mask & DQ.bad_pixel) != 0, expected)


def test_add_dq_full_frame_bpm_cut_to_roi(datasets, tmp_path):
    directory, truth = datasets("gsaoi-tutorial")
    bpm = _bpm_file(GSAOIImage, directory, _first(truth, "flat_lamp_on"), truth["bpm"],
                    os.path.join(tmp_path, "gsaoi_bpm.fits"))
    _, roi = _prepared(GSAOIImage, directory, _first(truth, "standard"))
    roi = GSAOIImage([roi]).addDQ(user_bpm=bpm)[0]
    for ext, plane in zip(roi, truth["bpm"], strict=True):
        sec = ext.array_section()
        expected = (plane[sec.y1:sec.y2, sec.x1:sec.x2] & DQ.bad_pixel) != 0
        np.testing.assert_array_equal((ext.mask & DQ.bad_pixel) != 0, expected)


class _Provider:
    """A calibration provider knowing one BPM (contracts.md section 6)."""

    def __init__(self, bpm):
        self.bpm = bpm

    def get_calibrations(self, adinputs, caltype, procmode=None):
        path = self.bpm if caltype == "processed_bpm" else None
        return CalReturn([path] * len(adinputs), ["localdb" if path else None] * len(adinputs))

    def explain(self, ad, caltype):
        return "nothing stored"


def test_add_dq_static_bpm_from_calibration_service(datasets, tmp_path):
    directory, truth = datasets("f2-tutorial")
    bpm = _bpm_file(F2Image, directory, _first(truth, "flat_lamp_on"), truth["bpm"],
                    os.path.join(tmp_path, "static_bpm.fits"))
    expected = (truth["bpm"][0] & DQ.bad_pixel) != 0
    _, ad = _prepared(F2Image, directory, _first(truth, "science"))
    ad = F2Image([ad], caldb=_Provider(bpm)).addDQ()[0]
    np.testing.assert_array_equal((ad[0].mask & DQ.bad_pixel) != 0, expected)
    # no BPM in the database (sq mode) is not an error
    _, ad = _prepared(F2Image, directory, _first(truth, "science"))
    ad = F2Image([ad], caldb=_Provider(None)).addDQ()[0]
    assert not (ad[0].mask & DQ.bad_pixel).any()
    _, ad = _prepared(F2Image, directory, _first(truth, "science"))
    ad = F2Image([ad]).addDQ(static_bpm=None)[0]
    assert not (ad[0].mask & DQ.bad_pixel).any()


def test_add_dq_twice_warns_and_keeps_mask(datasets, caplog):
    directory, truth = datasets("f2-tutorial")
    _, ad = _prepared(F2Image, directory, _first(truth, "science"))
    p = F2Image([ad])
    p.addDQ()
    mask = np.array(ad[0].mask)
    p.addDQ()
    np.testing.assert_array_equal(ad[0].mask, mask)
    assert "already been processed by addDQ" in caplog.text


def test_latency_flags_pixels_saturated_in_earlier_frames(datasets):
    directory, truth = datasets("gsaoi-tutorial")
    names = truth["roles"]["science"][:2]
    p = GSAOIImage([_open(directory, n) for n in names])
    first, second = p.prepare()
    data = np.array(first[0].data)
    data[10:13, 20:23] = first.saturation_level()[0] + 10.0
    first[0].data = data
    p.addDQ(time=1.0e6)      # GSAOI default: latency on
    latent = (second[0].mask & DQ.cosmic_ray) != 0
    assert latent[10:13, 20:23].all()
    assert not ((first[0].mask & DQ.cosmic_ray) != 0).any()
    assert "ADDLATNC" in second.phu


# ---------------------------------------------------------------------------
# addVAR
# ---------------------------------------------------------------------------
def test_add_var_formulas_in_adu_and_electrons(datasets, caplog):
    directory, truth = datasets("f2-tutorial")
    name = _first(truth, "science")
    ext_truth = truth["files"][name]["extensions"][0]
    gain, noise = ext_truth["gain_e_per_adu"], ext_truth["read_noise_e"]

    p, ad = _prepared(F2Image, directory, name)
    p.addVAR([ad], read_noise=True)
    np.testing.assert_allclose(ad[0].variance, (noise / gain) ** 2, rtol=1e-6)
    p.addVAR([ad], poisson_noise=True)
    data = np.asarray(ad[0].data)
    np.testing.assert_allclose(ad[0].variance,
                               (noise / gain) ** 2 + np.maximum(data, 0) / gain, rtol=1e-5)
    assert ad[0].hdr["VARNOISE"] == "read, Poisson"
    assert ad[0].variance.dtype == np.float32
    before = np.array(ad[0].variance)
    p.addVAR([ad], read_noise=True, poisson_noise=True)
    np.testing.assert_array_equal(ad[0].variance, before)
    assert "read noise already in the variance" in caplog.text

    # in electrons: RN^2 + max(data, 0)
    p, ad = _prepared(F2Image, directory, name)
    p.ADUToElectrons([ad])
    p.addVAR([ad], read_noise=True, poisson_noise=True)
    data = np.asarray(ad[0].data)
    np.testing.assert_allclose(ad[0].variance, noise ** 2 + np.maximum(data, 0), rtol=1e-5)


def test_add_var_averaged_coadds(datasets):
    directory, truth = datasets("gsaoi-tutorial")
    p, ad = _prepared(GSAOIImage, directory, _first(truth, "science"))
    ad.phu["COADDS"] = 4       # GSAOI averages its coadds
    p.addVAR([ad], poisson_noise=True)
    for ext, gain in zip(ad, ad.gain(), strict=True):
        expected = np.maximum(np.asarray(ext.data), 0) / gain / 4
        np.testing.assert_allclose(ext.variance, expected, rtol=1e-5)


def test_add_var_without_component_changes_nothing(datasets, caplog):
    directory, truth = datasets("f2-tutorial")
    p, ad = _prepared(F2Image, directory, _first(truth, "science"))
    p.addVAR([ad])
    assert ad[0].variance is None and "ADDVAR" not in ad.phu
    assert "neither read_noise nor poisson_noise" in caplog.text
