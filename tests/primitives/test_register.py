"""Tests of primitives.core.register (adjustWCSToReference) on simulated frames.

The simulator writes exact WCSs, so a frame's header WCS is the truth: the
tests corrupt it and check that the registration restores it.
"""

from __future__ import annotations

import copy
import logging
import os
import sys

import numpy as np
import pytest
from astropy.table import Table

import astrodata
from astrodata.wcs import fits_header_to_gwcs
from gempy.library._wcs import SkyWCS
from primitives.core.register import (
    matching_sources,
    shift_is_significant,
    weighted_linear_fit,
)
from primitives.errors import PrimitiveError
from primitives.f2 import F2Image
from primitives.gsaoi import GSAOIImage
from primitives.params import resolve_params

sys.path.insert(0, os.path.dirname(__file__))
from imaging_frames import (  # noqa: E402
    imaging_sim_fixture,  # noqa: F401
    render_star_field,
    science_frames,
    truth_calibrated,
)

CORRUPTED = 3
SHIFT = (3.3, -1.2)


def _grid(shape, n=5):
    ny, nx = shape
    gx, gy = np.meshgrid(np.linspace(0, nx - 1, n), np.linspace(0, ny - 1, n))
    return gx.ravel(), gy.ravel()


def _wcs_error(wcs, truth_wcs, shape) -> float:
    """Largest pixel distance, over the frame, between where two WCSs put the same sky."""
    x, y = _grid(shape)
    tx, ty = SkyWCS(wcs).world_to_pixel(*SkyWCS(truth_wcs).pixel_to_world(x, y))
    return float(np.max(np.hypot(tx - x, ty - y)))


def _corrupt_crpix(ext, dx, dy):
    header = ext.hdr
    header["CRPIX1"] = header["CRPIX1"] + dx
    header["CRPIX2"] = header["CRPIX2"] + dy
    ext.wcs = fits_header_to_gwcs(header)


@pytest.fixture(scope="module")
def f2_detected(imaging_sim):
    """Truth-calibrated F2 science frames with OBJCATs, and their true WCSs."""
    directory, truth = imaging_sim("f2-tutorial")
    frames = science_frames(directory, truth)
    F2Image(frames).detectSources()
    return frames, [copy.deepcopy(ad[0].wcs) for ad in frames]


@pytest.fixture
def f2_corrupted(f2_detected):
    frames, truth_wcs = f2_detected
    frames = [copy.deepcopy(ad) for ad in frames]
    _corrupt_crpix(frames[CORRUPTED][0], *SHIFT)
    return frames, truth_wcs


def test_corrupted_crpix_is_recovered(f2_corrupted, caplog):
    frames, truth_wcs = f2_corrupted
    shape = frames[0][0].shape
    assert _wcs_error(frames[CORRUPTED][0].wcs, truth_wcs[CORRUPTED], shape) > 3
    with caplog.at_level(logging.INFO):
        F2Image(frames).adjustWCSToReference()
    for ad, true in zip(frames, truth_wcs, strict=True):
        assert _wcs_error(ad[0].wcs, true, shape) < 0.1, ad.filename
        assert "ALIGN" in ad.phu
        assert ad.filename.endswith("_wcsCorrected.fits")
    lines = [r.getMessage() for r in caplog.records if "sources matched" in r.getMessage()]
    assert len(lines) == len(frames) - 1
    corrected = [line for line in lines if frames[CORRUPTED].orig_filename[:-5] in line][0]
    assert "shift (+3.3" in corrected and "rms" in corrected


def test_reference_is_not_changed(f2_corrupted):
    frames, _ = f2_corrupted
    before = copy.deepcopy(frames[0][0].wcs)
    F2Image(frames).adjustWCSToReference()
    assert _wcs_error(frames[0][0].wcs, before, frames[0][0].shape) < 1e-6


def test_objcat_world_columns_follow_the_new_wcs(f2_corrupted, imaging_sim):
    frames, _ = f2_corrupted
    _, truth = imaging_sim("f2-tutorial")
    F2Image(frames).adjustWCSToReference()
    objcat = frames[CORRUPTED][0].OBJCAT
    catalog = truth["catalog"]
    ra, dec = np.asarray(catalog["ra"], float), np.asarray(catalog["dec"], float)
    bright = np.asarray(objcat["FLUX_AUTO"]) / np.asarray(objcat["FLUXERR_AUTO"]) > 20
    for row in np.flatnonzero(bright):
        separation = np.hypot((ra - objcat["X_WORLD"][row]) * np.cos(np.radians(dec)),
                              dec - objcat["Y_WORLD"][row]) * 3600
        assert separation.min() < 0.05  # arcsec; the pixels are 0.18"


def test_falls_back_to_offsets_with_too_few_sources(f2_corrupted, caplog):
    frames, truth_wcs = f2_corrupted
    with caplog.at_level(logging.WARNING):
        F2Image(frames).adjustWCSToReference(min_sources=50)
    assert any("telescope offsets" in r.getMessage() for r in caplog.records)
    shape = frames[0][0].shape
    # the simulated telescope offsets are exact: the corruption is undone
    for ad, true in zip(frames, truth_wcs, strict=True):
        assert _wcs_error(ad[0].wcs, true, shape) < 0.05, ad.filename


def test_without_fallback_the_wcs_is_left_alone(f2_corrupted, caplog):
    frames, truth_wcs = f2_corrupted
    with caplog.at_level(logging.WARNING):
        F2Image(frames).adjustWCSToReference(min_sources=50, fallback=None)
    assert any("WCS left unchanged" in r.getMessage() for r in caplog.records)
    shape = frames[0][0].shape
    error = _wcs_error(frames[CORRUPTED][0].wcs, truth_wcs[CORRUPTED], shape)
    assert error == pytest.approx(np.hypot(*SHIFT), abs=0.01)


def test_offsets_method(f2_corrupted):
    frames, truth_wcs = f2_corrupted
    F2Image(frames).adjustWCSToReference(method="offsets")
    for ad, true in zip(frames, truth_wcs, strict=True):
        assert _wcs_error(ad[0].wcs, true, frames[0][0].shape) < 0.05


def test_rotation_is_recovered(imaging_sim):
    """A frame whose WCS is turned by 0.3 degree about its centre is turned back.

    The small simulated frames hold too few well-measured stars to fix a
    rotation, so two of them are filled with a denser field of 60 stars
    (Moffat PSF, noise) seen through their true WCSs.
    """
    directory, truth = imaging_sim("f2-tutorial")
    frames = science_frames(directory, truth, count=2)
    rng = np.random.default_rng(11)
    ra, dec = SkyWCS(frames[0][0].wcs).pixel_to_world(rng.uniform(10, 245, 60),
                                                      rng.uniform(10, 245, 60))
    flux = 10 ** rng.uniform(4, 5.5, 60)
    for seed, ad in enumerate(frames):
        render_star_field(ad, ra, dec, flux, fwhm=4.5, noise=30.0, seed=seed)
    true_wcs = copy.deepcopy(frames[1][0].wcs)
    ext = frames[1][0]
    header = ext.hdr
    angle = np.radians(0.3)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    cd = np.array([[header["CD1_1"], header["CD1_2"]], [header["CD2_1"], header["CD2_2"]]])
    for (i, j), value in np.ndenumerate(cd @ rotation):
        header[f"CD{i + 1}_{j + 1}"] = value
    ext.wcs = fits_header_to_gwcs(header)
    shape = ext.shape
    assert _wcs_error(ext.wcs, true_wcs, shape) > 0.6
    p = F2Image(frames)
    p.detectSources()
    p.adjustWCSToReference(rotate=True)
    assert _wcs_error(frames[1][0].wcs, true_wcs, shape) < 0.1
    # without rotate, only the shift is fitted and the corners stay wrong
    frames[1][0].wcs = fits_header_to_gwcs(header)
    F2Image(frames).adjustWCSToReference()
    assert _wcs_error(frames[1][0].wcs, true_wcs, shape) > 0.3


def test_corrected_wcs_is_written_exactly(f2_corrupted, tmp_path):
    frames, truth_wcs = f2_corrupted
    F2Image(frames).adjustWCSToReference()
    ad = frames[CORRUPTED]
    path = tmp_path / "corrected.fits"
    ad.write(path)
    back = astrodata.open(path)
    assert "FITS-WCS" not in back[0].hdr
    assert _wcs_error(back[0].wcs, ad[0].wcs, ad[0].shape) < 1e-4
    assert _wcs_error(back[0].wcs, truth_wcs[CORRUPTED], ad[0].shape) < 0.1


@pytest.fixture(scope="module")
def gsaoi_detected(imaging_sim):
    directory, truth = imaging_sim("gsaoi-tutorial")
    names = truth["roles"]["science"][:5]
    frames = [truth_calibrated(directory, truth, name) for name in names]
    GSAOIImage(frames).detectSources()
    return frames, [[copy.deepcopy(ext.wcs) for ext in ad] for ad in frames]


def _shift_sky(ad, arcsec_ra, arcsec_dec):
    """Move every array's WCS by the same sky offset (a pointing error)."""
    for ext in ad:
        header = ext.hdr
        header["CRVAL1"] = header["CRVAL1"] + arcsec_ra / 3600 / np.cos(
            np.radians(header["CRVAL2"]))
        header["CRVAL2"] = header["CRVAL2"] + arcsec_dec / 3600
        ext.wcs = fits_header_to_gwcs(header)


@pytest.mark.parametrize("method", ["offsets", "sources"])
def test_gsaoi_arrays_are_registered_together(gsaoi_detected, method, caplog):
    """A pointing error of frame 2 (0.1", 5 pixels) is undone on all four arrays."""
    frames, truth_wcs = gsaoi_detected
    frames = [copy.deepcopy(ad) for ad in frames]
    _shift_sky(frames[2], 0.06, -0.08)
    shape = frames[2][0].shape
    assert all(_wcs_error(ext.wcs, true, shape) > 4
               for ext, true in zip(frames[2], truth_wcs[2], strict=True))
    with caplog.at_level(logging.INFO):
        GSAOIImage(frames).adjustWCSToReference(method=method)
    if method == "sources":
        assert any("sources matched" in r.getMessage() and frames[2].orig_filename[:-5]
                   in r.getMessage() for r in caplog.records)
    # the GSAOI header offsets are rounded to 1 mas (0.05 pixel)
    tolerance = 0.12 if method == "offsets" else 0.1
    for ad, true_list in zip(frames, truth_wcs, strict=True):
        for ext, true in zip(ad, true_list, strict=True):
            assert _wcs_error(ext.wcs, true, shape) < tolerance, (ad.filename, ext.id)


def test_gsaoi_defaults():
    params = resolve_params(GSAOIImage, "adjustWCSToReference")
    assert (params["first_pass"].default, params["order"].default,
            params["max_iters"].default) == (3.0, 3, 5)


def _sparse(ad, rows, snr):
    """Keep only some OBJCAT rows of a frame, their FLUXERR_AUTO set for the given S/N."""
    ext = ad[0]
    objcat = ext.OBJCAT[rows]
    objcat["FLUXERR_AUTO"] = objcat["FLUX_AUTO"] / snr
    objcat["FLAGS"] = 0
    ext.OBJCAT = objcat
    return objcat


def _bright_rows(ad, count):
    objcat = ad[0].OBJCAT
    snr = np.asarray(objcat["FLUX_AUTO"]) / np.asarray(objcat["FLUXERR_AUTO"])
    return np.argsort(-snr)[:count]


@pytest.mark.parametrize("shift, kept", [(0.3, True), (2.0, False)])
def test_sparse_field_shift_must_be_significant(f2_detected, shift, kept, caplog):
    """Three faint sources (S/N 6, centroids +/-0.3 pixel): a 0.3-pixel shift is noise.

    The header WCS (exact in the simulation) is kept unless the fitted shift
    exceeds 5 times its uncertainty (fewer than 5 pairs); a 2-pixel shift
    does, and is applied.
    """
    frames, truth_wcs = f2_detected
    # the same pointing twice: every source of the second frame is in the first
    frames = [copy.deepcopy(frames[0]), copy.deepcopy(frames[0])]
    rows = _bright_rows(frames[1], 3)
    objcat = _sparse(frames[1], rows, snr=6.0)
    objcat["X_IMAGE"] = objcat["X_IMAGE"] + shift
    shape = frames[1][0].shape
    with caplog.at_level(logging.INFO):
        F2Image(frames).adjustWCSToReference()
    line = [r.getMessage() for r in caplog.records if "sources matched" in r.getMessage()][0]
    assert "3 sources matched" in line
    error = _wcs_error(frames[1][0].wcs, truth_wcs[0], shape)
    if kept:
        assert "header WCS kept" in line
        assert error < 1e-6
    else:
        assert "header WCS kept" not in line
        assert error == pytest.approx(shift, abs=0.4)


def test_many_precise_sources_apply_a_small_shift(f2_detected, caplog):
    """A 0.3-pixel shift measured by well-detected stars is significant and applied."""
    frames, truth_wcs = f2_detected
    frames = [copy.deepcopy(frames[0]), copy.deepcopy(frames[0])]
    objcat = frames[1][0].OBJCAT
    objcat["X_IMAGE"] = objcat["X_IMAGE"] + 0.3
    with caplog.at_level(logging.INFO):
        F2Image(frames).adjustWCSToReference()
    assert any("sources matched" in r.getMessage() for r in caplog.records)
    assert not any("header WCS kept" in r.getMessage() for r in caplog.records)
    # the WCS now puts the sky where the shifted centroids say: 0.3 pixel from the truth
    error = _wcs_error(frames[1][0].wcs, truth_wcs[0], frames[1][0].shape)
    assert error == pytest.approx(0.3, abs=0.05)


def test_shift_significance_rule():
    assert not shift_is_significant((0.3, 0.2), 0.15, 3)     # 2.4 sigma
    assert shift_is_significant((0.6, 0.0), 0.15, 8)         # 4 sigma, 8 pairs
    assert not shift_is_significant((0.6, 0.0), 0.15, 4)     # 4 sigma, < 5 pairs: needs 5
    assert shift_is_significant((0.8, 0.0), 0.15, 4)
    assert shift_is_significant((0.01, 0.0), None, 3)        # no error estimate: applied


def test_flagged_and_faint_sources_are_not_matched(f2_detected):
    """Saturated/edge-truncated (FLAGS 4, 8) and S/N < 5 sources stay out of the matching."""
    frames, _ = f2_detected
    ad = copy.deepcopy(frames[0])
    objcat = ad[0].OBJCAT
    rows = _bright_rows(ad, 6)
    objcat["FLAGS"][rows[0]] = 8
    objcat["FLAGS"][rows[1]] = 4
    objcat["FLUXERR_AUTO"][rows[2]] = objcat["FLUX_AUTO"][rows[2]] / 3.0
    snr = np.asarray(objcat["FLUX_AUTO"]) / np.asarray(objcat["FLUXERR_AUTO"])
    fit = ((np.asarray(objcat["FLAGS"]) & 12) == 0) & (snr >= 5)
    assert fit.sum() >= 2
    chosen = matching_sources(ad, cull=False, min_sources=2)
    assert sorted(chosen["row"]) == sorted(np.flatnonzero(fit))
    assert not set(rows[:3]) & set(chosen["row"])
    # too few would remain: every source is used (the flagged ones down-weighted)
    everything = matching_sources(ad, cull=False, min_sources=int(fit.sum()) + 1)
    assert len(everything["row"]) == len(objcat)


def test_weighted_fit_follows_the_precise_pairs():
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 200, (12, 2))
    sigma = np.full(12, 0.02)
    sigma[:4] = 1.0
    dst = src + (1.5, -2.0) + rng.normal(0, 1, (12, 2)) * sigma[:, None]
    dst[0] += (6.0, 6.0)  # a wrong pair
    matrix, offset, used = weighted_linear_fit(src, dst, sigma)
    np.testing.assert_allclose(matrix, np.eye(2))
    np.testing.assert_allclose(offset, (1.5, -2.0), atol=0.03)
    assert not used[0]


# ---------------------------------------------------------------------------
# addReferenceCatalog + determineAstrometricSolution
# ---------------------------------------------------------------------------
def _write_reference_catalog(truth, path):
    catalog = truth["catalog"]
    table = Table({"id": np.asarray(catalog["id"]), "RA": np.asarray(catalog["ra"], float),
                   "DEC": np.asarray(catalog["dec"], float),
                   "mag": np.asarray(catalog["mag"], float)})
    table.write(path, format="ascii.ecsv")
    return str(path)


def test_absolute_astrometry_from_a_catalogue_file(f2_detected, imaging_sim, tmp_path, caplog):
    """Every frame off by the same 0.5" (a pointing error) is put back on the catalogue."""
    frames, truth_wcs = f2_detected
    _, truth = imaging_sim("f2-tutorial")
    frames = [copy.deepcopy(ad) for ad in frames]
    for ad in frames:
        _shift_sky(ad, 0.5, -0.4)
    shape = frames[0][0].shape
    assert all(_wcs_error(ad[0].wcs, true, shape) > 3
               for ad, true in zip(frames, truth_wcs, strict=True))
    path = _write_reference_catalog(truth, tmp_path / "refcat.ecsv")
    p = F2Image(frames)
    with caplog.at_level(logging.INFO):
        p.addReferenceCatalog(source=path)
        p.determineAstrometricSolution()
    for ad in frames:
        refcat = ad.REFCAT
        assert {"Id", "Cat_Id", "RAJ2000", "DEJ2000", "mag"} <= set(refcat.colnames)
        assert len(refcat) > 10
        # F2's default radius: 0.033 degree around the field centre
        centre = SkyWCS(ad[0].wcs).pixel_to_world(127.5, 127.5)
        distance = np.hypot((refcat["RAJ2000"] - centre[0]) * np.cos(np.radians(centre[1])),
                            refcat["DEJ2000"] - centre[1])
        assert distance.max() < 0.033
    corrected = [ad for ad in frames if "ASTROMET" in ad.phu]
    assert len(corrected) >= len(frames) - 2
    for ad, true in zip(frames, truth_wcs, strict=True):
        if ad in corrected:
            assert _wcs_error(ad[0].wcs, true, shape) < 0.1, ad.filename
            assert ad.filename.endswith("_astrometryCorrected.fits")
    assert any("reference catalogue; shift (" in r.getMessage() for r in caplog.records)


def test_catalogue_servers_are_not_queried(f2_detected, caplog):
    frames, truth_wcs = f2_detected
    frames = [copy.deepcopy(ad) for ad in frames[:2]]
    p = F2Image(frames)
    with caplog.at_level(logging.WARNING):
        p.addReferenceCatalog()
        p.determineAstrometricSolution()
    assert all("REFCAT" not in ad.tables for ad in frames)
    messages = [r.getMessage() for r in caplog.records]
    assert any("catalogue server cannot be queried" in m for m in messages)
    assert any("no reference catalogue" in m for m in messages)
    assert _wcs_error(frames[1][0].wcs, truth_wcs[1], frames[1][0].shape) < 1e-6


def test_unknown_catalogue_source_is_an_error(f2_detected):
    frames, _ = f2_detected
    with pytest.raises(PrimitiveError, match="neither a catalogue server .* nor a file"):
        F2Image([copy.deepcopy(frames[0])]).addReferenceCatalog(source="no/such/file.fits")
