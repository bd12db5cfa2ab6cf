"""Tests of tileArrays and mosaicDetectors on simulated GMOS frames.

The simulator places CCD1 and CCD3 with the Gemini geometry (shifts and
rotations relative to CCD2) and writes for every raw amplifier an exact WCS
(the truth). A mosaic is right when every pixel lands where that WCS says:
checked with images whose pixel values are the sky coordinates themselves
(a linear function of RA/Dec is interpolated exactly), and with the truth
stars.
"""

from __future__ import annotations

import copy
import os
import sys
import warnings

import numpy as np
import pytest

import astrodata
from astrodata import DQ
from gempy.library._wcs import SkyWCS
from primitives.core.visualize import group_arrays, reference_array
from primitives.gmos import GMOSImage

sys.path.insert(0, os.path.dirname(__file__))
from gmos_frames import dataset, electrons, files, master_bias, science  # noqa: E402


def _sky_planes(ad, ra0, dec0, scale_arcsec):
    """Two images per extension: the position of each pixel on the sky, in pixels."""
    xs, ys = [], []
    for ext in ad:
        ny, nx = ext.shape
        yy, xx = np.mgrid[:ny, :nx]
        ra, dec = SkyWCS(ext.wcs).pixel_to_world(xx.ravel(), yy.ravel())
        ra, dec = np.reshape(ra, (ny, nx)), np.reshape(dec, (ny, nx))
        xs.append((ra - ra0) * np.cos(np.radians(dec0)) * 3600 / scale_arcsec)
        ys.append((dec - dec0) * 3600 / scale_arcsec)
    return xs, ys


def _with_data(ad, planes):
    out = copy.deepcopy(ad)
    for ext, plane in zip(out, planes, strict=True):
        ext.data = plane.astype(np.float32)
    return out


def _interior(mask, margin=2):
    """Pixels with data whose interpolation kernel stays inside one CCD."""
    from scipy import ndimage
    covered = (mask & DQ.no_data) == 0
    return ndimage.binary_erosion(covered, iterations=margin)


@pytest.mark.parametrize("name", ["gmos-imaging", "gmos-imaging-1x1", "gmos-n-e2v"])
def test_mosaic_puts_every_pixel_where_the_truth_wcs_says(name, tmp_path_factory):
    directory, truth = dataset(name, tmp_path_factory)
    frame = electrons(files(name, tmp_path_factory, "science", "r")[:1],
                      master_bias(name, tmp_path_factory))[0]
    ra0, dec0 = truth["files"][frame.orig_filename]["base_radec"]
    scale = frame.pixel_scale()
    xs, ys = _sky_planes(frame, ra0, dec0, scale)
    p = GMOSImage([_with_data(frame, xs), _with_data(frame, ys)])
    p.mosaicDetectors()
    mosaic_x, mosaic_y = p.streams["main"]
    assert len(mosaic_x) == 1 and "MOSAIC" in mosaic_x.phu
    assert mosaic_x.filename.endswith("_mosaic.fits")
    ext = mosaic_x[0]
    (sky_x,), (sky_y,) = _sky_planes(mosaic_x, ra0, dec0, scale)
    inside = _interior(ext.mask)
    dx = (ext.data - sky_x)[inside]
    dy = (mosaic_y[0].data - sky_y)[inside]
    # every interior pixel of all three CCDs, in mosaic pixels
    assert np.abs(dx).max() < 0.02 and np.abs(dy).max() < 0.02
    # per CCD (thirds of the mosaic), no systematic offset at all
    columns = np.nonzero(inside)[1]
    for third in range(3):
        part = (columns >= third * ext.shape[1] / 3) & (columns < (third + 1) * ext.shape[1] / 3)
        assert abs(dx[part].mean()) < 0.005 and abs(dy[part].mean()) < 0.005


def test_mosaic_geometry_gaps_variance_and_dq(tmp_path_factory):
    frame = science("gmos-imaging", "r", tmp_path_factory)[0]
    frame[1].mask = frame[1].mask | np.where(np.arange(frame[1].data.size).reshape(
        frame[1].shape) == 5000, DQ.bad_pixel, 0).astype(np.uint16)   # one bad pixel of CCD1
    p = GMOSImage([copy.deepcopy(frame)])
    p.mosaicDetectors()
    mosaic = p.streams["main"][0]
    ext = mosaic[0]
    assert ext.data.dtype == np.float32 and ext.variance.dtype == np.float32
    assert ext.mask.dtype == np.uint16
    # two chip gaps of 61 unbinned pixels (+ the residual shifts) = ~31 binned columns
    empty = np.nonzero(((ext.mask & DQ.no_data) != 0).all(axis=0))[0]
    runs = np.split(empty, np.nonzero(np.diff(empty) > 1)[0] + 1)
    assert [len(r) for r in runs] == [30, 30] or [len(r) for r in runs] == [31, 30]
    assert np.all(ext.data[:, empty] == 0) and np.all(ext.variance[:, empty] == 0)
    # CCD2 is copied as it is: its pixels and variance are the tiled input's
    tiles = GMOSImage([copy.deepcopy(frame)])
    tiles.tileArrays()
    ccd2 = tiles.streams["main"][0][1]
    start = runs[0][-1] + 1
    np.testing.assert_array_equal(ext.data[:, start:start + 128], ccd2.data)
    np.testing.assert_array_equal(ext.variance[:, start:start + 128], ccd2.variance)
    # the bad pixel of CCD1 is still flagged near where it went
    assert np.count_nonzero(ext.mask & DQ.bad_pixel) >= np.count_nonzero(
        np.concatenate([np.ravel(e.mask & DQ.bad_pixel) for e in frame])) - 4
    # flux is conserved (CCD1 moves by a fraction of a pixel)
    ccd1 = tiles.streams["main"][0][0]
    good = (ccd1.mask == 0)
    box = (slice(20, 240), slice(10, 110))
    assert ext.data[box][ext.mask[box] == 0].mean() == pytest.approx(
        ccd1.data[box][good[box]].mean(), rel=2e-3)
    # gains averaged, one extension, written and read back with the same WCS
    assert ext.hdr["GAIN"] == pytest.approx(1.0)
    path = tmp_path_factory.mktemp("mosaic") / "mosaic.fits"
    mosaic.write(path)
    back = astrodata.open(path)
    x = np.array([10.0, 200.0, 400.0])
    y = np.array([10.0, 130.0, 250.0])
    np.testing.assert_allclose(SkyWCS(back[0].wcs).pixel_to_world(x, y),
                               SkyWCS(ext.wcs).pixel_to_world(x, y), atol=1e-7)


def _centroid(data, x, y, half=6):
    from photutils.centroids import centroid_2dg
    xi, yi = int(round(x)), int(round(y))
    box = np.asarray(data[yi - half:yi + half + 1, xi - half:xi + half + 1], dtype=float)
    edge = np.concatenate([box[0], box[-1], box[:, 0], box[:, -1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cx, cy = centroid_2dg(box - np.median(edge))
    return xi - half + cx, yi - half + cy


def test_truth_stars_across_the_chip_gaps(tmp_path_factory):
    """Stars of all three CCDs sit in the mosaic where the truth catalogue says."""
    directory, truth = dataset("gmos-imaging", tmp_path_factory)
    frames = science("gmos-imaging", "r", tmp_path_factory)
    catalog = truth["catalog"]
    p = GMOSImage(frames)
    p.mosaicDetectors()
    offsets = {0: [], 1: [], 2: []}
    for mosaic in p.streams["main"]:
        ext = mosaic[0]
        ny, nx = ext.shape
        x, y = SkyWCS(ext.wcs).world_to_pixel(np.asarray(catalog["ra"]),
                                              np.asarray(catalog["dec"]))
        counts = np.asarray(catalog["flux_e_per_s_r"]) * mosaic.exposure_time()
        for i in range(len(catalog)):
            if catalog["type"][i] != "star" or counts[i] < 3000:
                continue
            if not (8 < x[i] < nx - 9 and 8 < y[i] < ny - 9):
                continue
            others = np.hypot(x - x[i], y - y[i])
            others[i] = np.inf
            box = ext.mask[int(y[i]) - 7:int(y[i]) + 8, int(x[i]) - 7:int(x[i]) + 8]
            if others.min() < 12 or np.any(box & (DQ.no_data | DQ.saturated | DQ.unilluminated)):
                continue
            cx, cy = _centroid(ext.data, x[i], y[i])
            offsets[min(int(3 * x[i] / nx), 2)].append((cx - x[i], cy - y[i]))
    everything = np.array([o for values in offsets.values() for o in values])
    assert len(offsets[0]) >= 1 and len(offsets[2]) >= 1 and len(everything) >= 15
    # centroids of simulated stars scatter by ~0.1 pixel; the geometry adds nothing
    assert np.median(np.hypot(everything[:, 0], everything[:, 1])) < 0.2
    for values in offsets.values():
        values = np.asarray(values)
        assert np.all(np.abs(np.median(values, axis=0)) < 0.2)


def test_tile_arrays_per_ccd_keeps_the_exact_wcs(tmp_path_factory):
    frame = science("gmos-imaging", "r", tmp_path_factory)[0]
    p = GMOSImage([copy.deepcopy(frame)])
    p.tileArrays()
    tiled = p.streams["main"][0]
    assert len(tiled) == 3 and all(ext.shape == (264, 128) for ext in tiled)
    assert tiled.filename.endswith("_tiled.fits") and "TILEARRY" in tiled.phu
    groups = group_arrays(frame)
    for ext, group in zip(tiled, groups, strict=True):
        assert ext.hdr["CCDSEC"] == "[1:256,1:528]"
        for index, (px, py) in zip(group.indices, group.positions, strict=True):
            amp = frame[index]
            ny, nx = amp.shape
            np.testing.assert_array_equal(ext.data[py:py + ny, px:px + nx], amp.data)
            np.testing.assert_array_equal(ext.variance[py:py + ny, px:px + nx], amp.variance)
            np.testing.assert_array_equal(ext.mask[py:py + ny, px:px + nx], amp.mask)
            x = np.array([0.0, nx - 1.0, 10.0])
            y = np.array([0.0, ny - 1.0, 100.0])
            np.testing.assert_allclose(SkyWCS(ext.wcs).pixel_to_world(x + px, y + py),
                                       SkyWCS(amp.wcs).pixel_to_world(x, y), atol=1e-9)


def test_tile_all_with_chip_gaps(tmp_path_factory):
    frame = science("gmos-imaging", "r", tmp_path_factory)[0]
    p = GMOSImage([copy.deepcopy(frame)])
    p.tileArrays(tile_all=True)
    tiled = p.streams["main"][0]
    ext = tiled[0]
    # 3 x 128 columns and two gaps of round(61 / 2) = 30 binned columns
    assert len(tiled) == 1 and ext.shape == (264, 3 * 128 + 2 * 30)
    gap = ((ext.mask & DQ.no_data) != 0).all(axis=0)
    assert gap[128:158].all() and not gap[:128].any() and not gap[158:286].any()
    # the WCS is CCD2's: exact there; CCD1/CCD3 are off by the geometry residuals
    groups = group_arrays(frame)
    reference = reference_array(groups)
    amp = frame[groups[reference].indices[0]]
    x, y = np.array([3.0, 20.0]), np.array([5.0, 200.0])
    np.testing.assert_allclose(SkyWCS(ext.wcs).pixel_to_world(x + 158, y),
                               SkyWCS(amp.wcs).pixel_to_world(x, y), atol=1e-9)
    first = frame[groups[0].indices[0]]
    ra, dec = SkyWCS(first.wcs).pixel_to_world(x, y)
    tx, ty = SkyWCS(ext.wcs).world_to_pixel(ra, dec)
    # GMOS-S Hamamatsu CCD1 is 2110.2 - 2048 = 62.2 unbinned pixels (31.1 binned) to the
    # left of CCD2 and 0.71 up; the tile puts it 30 binned pixels away
    np.testing.assert_allclose(tx - x, -(31.1 - 30) * np.ones(2), atol=0.01)
    np.testing.assert_allclose(ty - y, 0.71 / 2 * np.ones(2), atol=0.01)


def test_one_ccd_roi_and_sci_only(tmp_path_factory):
    frame = electrons(files("gmos-imaging-ccd2", tmp_path_factory, "science", "r")[:1],
                      master_bias("gmos-imaging-ccd2", tmp_path_factory))[0]
    assert len(frame) == 4
    p = GMOSImage([copy.deepcopy(frame)])
    p.mosaicDetectors(sci_only=True)
    mosaic = p.streams["main"][0]
    assert len(mosaic) == 1 and mosaic[0].shape == (264, 128)
    assert mosaic[0].variance is None and mosaic[0].mask is None
    tiled = GMOSImage([copy.deepcopy(frame)])
    tiled.tileArrays(tile_all=True)
    np.testing.assert_array_equal(mosaic[0].data, tiled.streams["main"][0][0].data)
    # a second mosaic call passes the frame through
    again = GMOSImage([mosaic])
    again.mosaicDetectors()
    assert again.streams["main"][0] is mosaic
