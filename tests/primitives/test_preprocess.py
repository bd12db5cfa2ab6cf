"""Tests of primitives.core.preprocess: dark/flat correction, flat normalisation, sky."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

import astrodata
from astrodata import DQ, Section
from primitives.errors import CalibrationNotFoundError, ParameterError, PrimitiveError
from primitives.f2 import F2, F2Image
from primitives.gsaoi import GSAOIImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nearir_frames  # noqa: E402
from nearir_frames import detector_stages, raw  # noqa: E402

sim = nearir_frames.sim

SHAPE = (30, 40)


def _frame(name: str, data, variance=None, mask=None, obstype="OBJECT", exptime=60.0,
           electrons=True):
    phu = {"INSTRUME": "F2", "OBSERVAT": "Gemini-South", "TELESCOP": "Gemini-South",
           "OBSTYPE": obstype, "GRISM": "Open", "DATALAB": f"GS-2013B-Q-1-1-{name[-3:]}",
           "ORIGNAME": f"{name}.fits", "EXPTIME": exptime, "PREPARE": "2024-01-01T00:00:00",
           "GEM-TLM": "2024-01-01T00:00:00", "LNRS": 8, "DATE-OBS": "2013-11-21",
           "TIME-OBS": "02:00:00"}
    if obstype == "DARK":
        phu["FILTER1"] = "DK_G0807"
    ad = astrodata.create(phu)
    ext = ad.append(np.asarray(data, dtype=np.float32))
    if variance is not None:
        ext.variance = np.asarray(variance, dtype=np.float32)
    if mask is not None:
        ext.mask = np.asarray(mask, dtype=np.uint16)
    if electrons:
        ext.hdr["BUNIT"] = "electron"
    ad.filename = f"{name}_nonlinearityCorrected.fits"
    return ad


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------------------
# darkCorrect
# ---------------------------------------------------------------------------
def test_dark_correct_subtracts_with_variance_dq_and_records_it(in_tmp):
    rng = np.random.default_rng(0)
    sci_data = rng.normal(500, 20, SHAPE)
    sci_mask = np.zeros(SHAPE, np.uint16)
    sci_mask[0, 0] = DQ.saturated
    dark_data = rng.normal(30, 2, SHAPE)
    dark_mask = np.zeros(SHAPE, np.uint16)
    dark_mask[5, 5] = DQ.bad_pixel
    dark = _frame("S20131120S0115", dark_data, np.full(SHAPE, 4.0), dark_mask, "DARK")
    dark.write(str(in_tmp / "master_dark.fits"))
    sci = _frame("S20131121S0075", sci_data, np.full(SHAPE, 400.0), sci_mask)
    out = F2Image([sci]).darkCorrect(dark=str(in_tmp / "master_dark.fits"))[0]
    np.testing.assert_allclose(out[0].data, (sci_data - dark_data).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(out[0].variance, 404.0)
    assert out[0].mask[0, 0] == DQ.saturated and out[0].mask[5, 5] == DQ.bad_pixel
    assert out[0].data.dtype == np.float32 and out[0].variance.dtype == np.float32
    assert out.phu["DARKIM"] == "master_dark.fits" and "DARKCORR" in out.phu
    assert out.filename == "S20131121S0075_darkCorrected.fits"
    assert "master_dark.fits" in list(out.PROVENANCE["filename"])


def test_one_dark_corrects_many_frames_and_is_never_changed(in_tmp):
    # the calibration's planes are applied as read-only views, not copied per frame
    from primitives.core.preprocess import matching_calibration

    rng = np.random.default_rng(1)
    dark_data = rng.normal(30, 2, SHAPE)
    dark = _frame("S20131120S0115", dark_data, np.full(SHAPE, 4.0), None, "DARK")
    frames = [_frame(f"S20131121S00{75 + i}", rng.normal(500, 20, SHAPE), np.full(SHAPE, 400.0))
              for i in range(3)]
    expected = [np.asarray(f[0].data) - dark_data.astype(np.float32) for f in frames]
    outputs = F2Image(frames).darkCorrect(dark=dark)
    for out, want in zip(outputs, expected, strict=True):
        np.testing.assert_allclose(out[0].data, want, rtol=1e-6)
    np.testing.assert_array_equal(dark[0].data, dark_data.astype(np.float32))
    np.testing.assert_array_equal(dark[0].variance, 4.0)
    part = matching_calibration(frames[0], dark, "dark")[0]
    with pytest.raises(ValueError):
        part.data[0, 0] = 0.0


def test_dark_correct_refuses_other_exposure_times_and_units(caplog):
    sci = _frame("S20131121S0075", np.ones(SHAPE), exptime=120.0)
    dark = _frame("S20131120S0115", np.zeros(SHAPE), obstype="DARK", exptime=2.0)
    with pytest.raises(PrimitiveError, match=r"exposure time of 120.0 s but the dark .* 2.0 s"):
        F2Image([sci]).darkCorrect(dark=dark)
    # within 0.01 s is accepted
    ok = _frame("S20131120S0116", np.zeros(SHAPE), obstype="DARK", exptime=120.005)
    assert "DARKCORR" in F2Image([sci]).darkCorrect(dark=ok)[0].phu
    # quick-look mode warns and goes on
    sci2 = _frame("S20131121S0076", np.ones(SHAPE), exptime=120.0)
    with caplog.at_level(logging.WARNING):
        F2Image([sci2], mode="ql").darkCorrect(dark=dark)
    assert "use a dark of the same exposure time" in caplog.text
    in_adu = _frame("S20131120S0117", np.zeros(SHAPE), obstype="DARK", exptime=120.0,
                    electrons=False)
    sci3 = _frame("S20131121S0077", np.ones(SHAPE), exptime=120.0)
    with pytest.raises(PrimitiveError, match="in electrons but the dark .* is in ADU"):
        F2Image([sci3]).darkCorrect(dark=in_adu)


def test_dark_correct_twice_and_missing_dark(caplog):
    sci = _frame("S20131121S0075", np.full(SHAPE, 10.0))
    dark = _frame("S20131120S0115", np.full(SHAPE, 3.0), obstype="DARK")
    p = F2Image([sci])
    p.darkCorrect(dark=dark)
    with caplog.at_level(logging.WARNING):
        p.darkCorrect(dark=dark)
    assert "already processed by darkCorrect" in caplog.text
    np.testing.assert_array_equal(sci[0].data, 7.0)
    other = _frame("S20131121S0076", np.full(SHAPE, 10.0))
    with pytest.raises(CalibrationNotFoundError, match="processed_dark"):
        F2Image([other]).darkCorrect()  # sq mode, no calibration database
    skipped = F2Image([other]).darkCorrect(do_cal="skip")[0]
    assert "DARKCORR" not in skipped.phu and np.all(skipped[0].data == 10.0)


# ---------------------------------------------------------------------------
# flats
# ---------------------------------------------------------------------------
def test_normalize_and_threshold_flat():
    rng = np.random.default_rng(1)
    data = rng.normal(2000, 20, SHAPE)
    mask = np.zeros(SHAPE, np.uint16)
    data[:2, :] = 5.0  # unilluminated rows
    mask[:2, :] = DQ.unilluminated
    data[10, 10] = 0.0  # dead pixel, already known
    mask[10, 10] = DQ.bad_pixel
    data[11, 11] = 1.0  # dead pixel, not flagged yet
    data[12, 12] = 50000.0  # far too high
    flat = _frame("S20131129S0320", data, np.full(SHAPE, 2000.0), mask, obstype="FLAT")
    p = F2Image([flat])
    p.normalizeFlat()
    good = mask == 0
    assert np.median(flat[0].data[good]) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(flat[0].variance[5, 5], 2000.0 / np.median(data[good]) ** 2,
                               rtol=1e-5)
    assert flat.filename.endswith("_normalized.fits") and "NORMLIZE" in flat.phu
    p.thresholdFlatfield()
    assert flat[0].mask[11, 11] == DQ.unilluminated
    assert flat[0].mask[12, 12] == DQ.unilluminated
    assert flat[0].mask[10, 10] == DQ.bad_pixel  # bad pixels are not re-flagged
    assert flat[0].data[11, 11] == 1.0 and flat[0].data[10, 10] == 1.0
    assert np.all(flat[0].data[:2] == 1.0)
    assert flat[0].data[12, 12] == 1.0  # flagged: dividing by it leaves the pixel alone
    assert flat[0].variance[11, 11] == 0.0 and flat[0].variance[5, 5] > 0
    assert flat.filename.endswith("_thresholdFlatfielded.fits") and "THRFLAT" in flat.phu


def test_gsaoi_flat_cut_to_the_standard_star_roi_is_the_same_region(sim):
    """A full-frame GSAOI flat divides a central-ROI standard exactly by its own region."""
    directory, truth = sim("gsaoi-tutorial")
    p = GSAOIImage(raw(directory, truth["roles"]["flat_lamp_on"][:2]
                       + truth["roles"]["flat_lamp_off"][:2]))
    detector_stages(p)
    p.makeLampFlat()
    p.normalizeFlat()
    flat = p.thresholdFlatfield()[0]
    q = GSAOIImage(raw(directory, truth["roles"]["standard"][:1]))
    standard = detector_stages(q)[0]
    assert standard[0].shape != flat[0].shape
    before = [(np.array(e.data), np.array(e.variance), np.array(e.mask)) for e in standard]
    out = q.flatCorrect(flat=flat)[0]
    assert out.phu["FLATIM"] == flat.filename
    for index, (ext, (data, variance, mask)) in enumerate(zip(out, before, strict=True)):
        det = Section.from_string(ext.hdr["DETSEC"])
        flat_ext = next(f for f in flat if f.hdr["ARRAYID"] == ext.hdr["ARRAYID"])
        fdet = Section.from_string(flat_ext.hdr["DETSEC"])
        y0, x0 = det.y1 - fdet.y1, det.x1 - fdet.x1
        assert (y0, x0) == (32, 32), index
        region = (slice(y0, y0 + ext.shape[0]), slice(x0, x0 + ext.shape[1]))
        f, fv = flat_ext.data[region], flat_ext.variance[region]
        assert np.array_equal(ext.data, (data / f).astype(np.float32))
        np.testing.assert_allclose(ext.variance, variance / f**2 + fv * data**2 / f**4,
                                   rtol=1e-5)
        assert np.array_equal(ext.mask, mask | flat_ext.mask[region])


def test_flat_correct_refuses_other_binning_and_uncovered_regions():
    sci = _frame("S20131121S0075", np.ones(SHAPE))
    flat = _frame("S20131129S0320", np.ones(SHAPE), obstype="FLAT")
    flat.phu["XBIN"] = 2
    with pytest.raises(PrimitiveError, match="binning"):
        F2Image([sci]).flatCorrect(flat=flat)
    small = _frame("S20131129S0321", np.ones((10, 10)), obstype="FLAT")
    small[0].hdr["DETSEC"] = "[1:10,1:10]"
    sci[0].hdr["DETSEC"] = "[1:40,1:30]"
    with pytest.raises(PrimitiveError, match="not covered"):
        F2Image([sci]).flatCorrect(flat=small)


# ---------------------------------------------------------------------------
# sky
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def f2_flat_corrected(sim):
    """The F2 tutorial's science frames, dark- and flat-corrected with their own masters."""
    directory, truth = sim("f2-tutorial")
    darks = [n for n in truth["roles"]["dark"] if truth["files"][n]["exptime"] == 120.0]
    p = F2(raw(directory, darks))
    detector_stages(p, dark=True)
    dark = p.stackDarks()[0]
    p = F2Image(raw(directory, truth["roles"]["flat_lamp_on"] + truth["roles"]["flat_lamp_off"]))
    detector_stages(p)
    p.makeLampFlat()
    p.normalizeFlat()
    flat = p.thresholdFlatfield()[0]
    p = F2Image(raw(directory, truth["roles"]["science"]))
    detector_stages(p)
    p.darkCorrect(dark=dark)
    p.flatCorrect(flat=flat)
    return [astrodata.open(ad.write(str(Path(directory) / ad.filename), overwrite=True))
            for ad in p.streams["main"]]


def _fresh(frames):
    return [astrodata.open(ad.path) for ad in frames]


def test_separate_sky_dither_on_target_and_offset_to_sky(sim, f2_flat_corrected):
    p = F2Image(_fresh(f2_flat_corrected))
    objects = p.separateSky()
    assert len(objects) == 9 and len(p.streams["sky"]) == 9
    assert all(a is b for a, b in zip(objects, p.streams["sky"], strict=True))
    assert all(ad.phu["OBJFRAME"] == "TRUE" and ad.phu["SKYFRAME"] == "TRUE"
               and ad.phu["EXPGROUP"] == 0 for ad in objects)
    assert objects[0].filename.endswith("_skySeparated.fits")

    directory, truth = sim("gsaoi-tutorial")
    names = sorted(truth["roles"]["science"] + truth["roles"]["sky"])
    q = GSAOIImage(raw(directory, names))
    q.prepare()
    objects = q.separateSky()
    sky_roots = sorted(n[:-5] for n in truth["roles"]["sky"])
    assert sorted(ad.orig_filename[:-5] for ad in q.streams["sky"]) == sky_roots
    assert sorted(ad.orig_filename for ad in objects) == sorted(truth["roles"]["science"])
    assert {ad.phu["EXPGROUP"] for ad in objects} == {0}
    assert {ad.phu["EXPGROUP"] for ad in q.streams["sky"]} == {1}
    assert not any("SKYFRAME" in ad.phu for ad in objects)
    # the user's lists win
    r = GSAOIImage(raw(directory, names))
    r.prepare()
    objects = r.separateSky(ref_sky=[sky_roots[0]], ref_obj=[n[:-5] for n in names
                                                             if n[:-5] not in sky_roots])
    assert len(r.streams["sky"]) == 1 and len(objects) == len(truth["roles"]["science"])


def test_associate_sky_respects_time_and_min_skies(f2_flat_corrected):
    p = F2Image(_fresh(f2_flat_corrected))
    p.separateSky()
    p.associateSky(time=600, min_skies=3)
    frames = p.streams["main"]
    times = {ad.filename: ad.ut_datetime() for ad in frames}
    for ad in frames:
        skies = list(ad.SKYTABLE["SKYNAME"])
        assert ad.filename not in skies and len(skies) >= 3
        gaps = [abs((times[s] - ad.ut_datetime()).total_seconds()) for s in skies]
        assert max(gaps) <= 600 or len(skies) == 3
    # no frame of the same configuration elsewhere on the sky: nothing to associate
    lonely = F2Image(_fresh(f2_flat_corrected[:1]))
    lonely.separateSky()
    assert lonely.associateSky() == [lonely.streams["sky"][0]]
    assert "SKYTABLE" not in lonely.streams["main"][0].tables
    # only the corners of the 3x3 grid (10 arcsec steps) have a frame more than 25 arcsec away:
    # the five other frames have no sky and move to the no_skies stream
    q = F2Image(_fresh(f2_flat_corrected))
    q.separateSky()
    kept = q.associateSky(distance=25.0)
    assert len(kept) == 4 and len(q.streams["no_skies"]) == 5
    assert all(len(ad.SKYTABLE) == 1 for ad in kept)
    assert q.streams["main"] == kept


def test_sky_correct_leaves_no_sky_residual(f2_flat_corrected):
    """Both passes of the F2 recipe's sky subtraction leave a residual consistent with zero."""
    p = F2Image(_fresh(f2_flat_corrected))
    p.separateSky()
    p.associateSky(stream="sky")
    skysub = p.skyCorrect(instream="sky", mask_objects=False, outstream="skysub")
    assert len(skysub) == 9
    for ad in skysub:
        ext = ad[0]
        good = ext.mask == 0
        values = ext.data[good]
        sigma = 1.4826 * np.median(np.abs(values - np.median(values)))
        assert abs(np.median(values)) < 0.05 * sigma, ad.filename
        assert ad.filename.endswith("_skyCorrected.fits") and "SKYCORR" in ad.phu
        assert "SKYTABLE" not in ad.tables
        # the variance plane accounts for the scatter (sky stack noise included)
        assert np.sqrt(np.median(ext.variance[good])) > 0.95 * sigma
    # second pass: objects masked with a mask made from the first pass
    sky_before = [np.array(ad[0].data) for ad in p.streams["sky"]]
    for ad, sub in zip(p.streams["sky"], skysub, strict=True):
        sub_data = sub[0].data
        level = np.median(sub_data[sub[0].mask == 0])
        ad[0].OBJMASK = (sub_data - level > 5 * 150).astype(np.uint8)
    p.associateSky()
    final = p.skyCorrect(mask_objects=True)
    for ad in final:
        good = (ad[0].mask == 0) & (ad[0].OBJMASK == 0)
        values = ad[0].data[good]
        sigma = 1.4826 * np.median(np.abs(values - np.median(values)))
        assert abs(np.median(values)) < 0.05 * sigma, ad.filename
    # the sky frames (the same objects as the science frames) were not changed
    for ad, data in zip(p.streams["sky"], sky_before, strict=True):
        assert np.array_equal(ad[0].data, data) and "SKYCORR" not in ad.phu


def test_sky_correct_offset_and_scale_are_exclusive(f2_flat_corrected):
    p = F2Image(_fresh(f2_flat_corrected))
    with pytest.raises(ParameterError, match="scale_sky and offset_sky"):
        p.skyCorrect(scale_sky=True, offset_sky=True)
    with pytest.raises(ParameterError, match="scale_sky and offset_sky"):
        p.subtractSky(sky=p.streams["main"][1], scale_sky=True, offset_sky=True)


def test_subtract_sky_offset_and_reset(in_tmp):
    rng = np.random.default_rng(2)
    sky = rng.normal(1000, 10, SHAPE)
    sci = sky + 50 + rng.normal(0, 10, SHAPE)
    ad = _frame("S20131121S0075", sci, np.full(SHAPE, 100.0))
    sky_ad = _frame("S20131121S0076", sky, np.full(SHAPE, 100.0))
    out = F2Image([ad]).subtractSky(sky=sky_ad, scale_sky=False, offset_sky=True,
                                    save_sky=True)[0]
    assert abs(np.median(out[0].data)) < 1.0
    np.testing.assert_allclose(out[0].variance, 200.0)
    assert (in_tmp / "S20131121S0075_sky.fits").is_file()
    ad2 = _frame("S20131121S0077", sci, np.full(SHAPE, 100.0))
    kept = F2Image([ad2]).subtractSky(sky=sky_ad, reset_sky=True)[0]
    assert np.median(kept[0].data) == pytest.approx(np.median(sci), abs=2.0)
