"""GMOS illumination masks: the imaging field of the GMOS lookup, flagged by addDQ (bit 64).

The geometry is checked against the numbers the lookup documents (5.5'
square on the full-size detectors), the masks of simulated frames against
the simulator's truth (one geometry for both) and against the raw pixels
(flagged pixels received no light), at 2x2 and 1x1, full frame and CCD2
ROI, Hamamatsu and e2vDD, before and after the overscan is trimmed.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import sys

import numpy as np
import pytest
from astropy.io import fits
from scipy import ndimage

import astrodata
from astrodata import DQ, Section
from astrodata.instruments.gmos import lookup
from gempy.sim.headers import frame_pointing
from gempy.sim.instruments.gmos import GMOS as SimGMOS
from gempy.sim.instruments.gmos import GMOS_N_E2V, GMOS_S_HAMAMATSU
from gempy.sim.observation import FrameSpec
from gempy.sim.observatory import GEMINI_NORTH, GEMINI_SOUTH
from primitives.gmos import GMOS, GMOSImage

sys.path.insert(0, os.path.dirname(__file__))
from gmos_frames import dataset, files, quiet  # noqa: E402


# ---------------------------------------------------------------------------
# the geometry in the lookup (full-size detectors, no data)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("key, scale", [("GMOS-S Hamamatsu", 0.0800), ("GMOS-N e2vDD", 0.07288),
                                        ("GMOS-N Hamamatsu", 0.0807)])
def test_field_is_five_and_a_half_arcmin_square(key, scale):
    field = lookup.imaging_field(key)
    assert 2 * field.half_width * scale == pytest.approx(330.0)
    assert field.corner_radius == pytest.approx(1.3 * field.half_width)
    # the field centre is the CCD2 centre: an unrotated CCD2 sees no offset
    assert field.placements[1] == (0.0, 0.0, 0.0)


def _dark_row(key, ccd, row, binning=(1, 1), shape=(4224, 2048)):
    rows, cols = shape
    plane = lookup.unilluminated_pixels(key, ccd, shape, (0, 0), binning,
                                        (rows // binning[1], cols // binning[0]))
    return plane[row]


def test_full_size_hamamatsu_field_on_the_ccds():
    """CCD2 lit across; CCD1 and CCD3 lit on their inner ~976 columns; ~50 rows dark top and
    bottom; corners cut."""
    key = "GMOS-S Hamamatsu"
    assert not _dark_row(key, 1, 2112).any()
    # CCD1 centre at x = -2110.2 from CCD2's: columns u with u - 1023.5 - 2110.2 > -2062.5
    lit = ~_dark_row(key, 0, 2112)
    assert lit.sum() == 976 and lit[-976:].all()
    # CCD3 centre at +2109.0: u - 1023.5 + 2109.0 < 2062.5
    lit = ~_dark_row(key, 2, 2112)
    assert lit.sum() == 977 and lit[:977].all()
    plane = lookup.unilluminated_pixels(key, 1, (4224, 2048), (0, 0), (1, 1), (4224, 2048))
    column = plane[:, 1024]
    assert column[:50].all() and column[4174:].all() and not column[50:4174].any()
    # near the top the corner circle cuts CCD1 further
    assert (~_dark_row(key, 0, 4100)).sum() < 900
    # binned 2x2 the same area is dark
    binned = lookup.unilluminated_pixels(key, 0, (4224, 2048), (0, 0), (2, 2), (2112, 1024))
    unbinned = lookup.unilluminated_pixels(key, 0, (4224, 2048), (0, 0), (1, 1), (4224, 2048))
    assert binned.mean() == pytest.approx(unbinned.mean(), abs=0.002)


def test_detector_keys():
    assert lookup.detector_key("GMOS + Hamamatsu_new", "GMOS-S", "Hamamatsu") == \
        "GMOS-S Hamamatsu"
    assert lookup.detector_key("GMOS + Red1", "GMOS-N", "EEV") == "GMOS-N EEV"
    assert lookup.detector_key("Unknown", "GMOS-N", "e2vDD") is None
    # GMOS-S EEV has no measured shifts: CCDs side by side with the 37-pixel gap
    field = lookup.imaging_field("GMOS-S EEV")
    assert field.placements[0] == (-2085.0, 0.0, 0.0)


def _full_size_frame(detector, binning):
    """A full-size raw GMOS frame with the simulator's headers (zero data) and its model."""
    north = detector is GMOS_N_E2V
    day = dt.datetime(2016, 5, 5, 8) if north else dt.datetime(2022, 3, 5, 2)
    model = SimGMOS(detector, small=False)
    spec = FrameSpec(filename="x.fits", role="science", site=GEMINI_NORTH if north
                     else GEMINI_SOUTH, ut_start=day, exptime=60.0, object_name="field",
                     target=(150.0, 10.0), filters=("open1-6", detector.filter_ids["r"]),
                     filter_band="r", config={"binning": binning})
    model.prepare_static(np.random.default_rng(0), [spec])
    hdus = [fits.PrimaryHDU(header=model.primary_header(spec, frame_pointing(spec)))]
    for index, readout in enumerate(model.readouts(spec)):
        hdus.append(fits.ImageHDU(np.zeros(readout.raw_shape, np.uint16),
                                  header=model.extension_header(index, readout, spec, [])))
    return astrodata.open(fits.HDUList(hdus)), model, spec


@pytest.mark.parametrize("detector, binning", [(GMOS_N_E2V, (2, 2)),
                                               (GMOS_S_HAMAMATSU, (4, 4))])
def test_full_size_masks_are_where_the_simulator_puts_no_light(detector, binning):
    """At full size too (e2vDD CCDSIZE has 4644 rows, 4608 read), hook and simulator agree."""
    ad, model, spec = _full_size_frame(detector, binning)
    masks = GMOSImage([ad])._illumination_masks(ad)
    assert len(masks) == len(ad)
    for plane, readout in zip(masks, model.readouts(spec), strict=True):
        np.testing.assert_array_equal(plane[readout.data_slice], model.unilluminated(readout))
        assert not plane[readout.overscan_slice].any()
    # about 40 (e2vDD) or 50 (Hamamatsu) unbinned rows are outside the field at the bottom
    middle = len(masks) // 2
    ccd2 = masks[middle][model.readouts(spec)[middle].data_slice]
    dark_rows = np.flatnonzero(~ccd2.all(axis=1))[0] * binning[1]
    assert dark_rows == pytest.approx(40 if detector is GMOS_N_E2V else 50, abs=binning[1])


# ---------------------------------------------------------------------------
# addDQ on simulated frames
# ---------------------------------------------------------------------------
def _prepared(path):
    quiet()
    p = GMOSImage([astrodata.open(path)])
    p.prepare(require_wcs=False)
    return p


@pytest.mark.parametrize("name", ["gmos-imaging", "gmos-n-e2v", "gmos-imaging-ccd2",
                                  "gmos-imaging-1x1"])
@pytest.mark.parametrize("role", ["science", "twilight"])
def test_add_dq_flags_the_truth_unilluminated_pixels(name, role, tmp_path_factory, caplog):
    directory, truth = dataset(name, tmp_path_factory)
    path = files(name, tmp_path_factory, role)[0]
    p = _prepared(path)
    with caplog.at_level(logging.WARNING):
        p.addDQ()                # GMOSImage: add_illum_mask=True by default
    assert "no illumination mask" not in caplog.text
    ad = p.streams["main"][0]
    assert "ADDILMSK" in ad.phu
    dark = 0
    for index, ext in enumerate(ad):
        flagged = (np.asarray(ext.mask) & DQ.unilluminated) != 0
        expected = (truth["bpm"][index] & DQ.unilluminated) != 0
        np.testing.assert_array_equal(flagged, expected)
        overscan = Section.from_string(ext.hdr["BIASSEC"])
        assert not flagged[overscan.asslice()].any()
        dark += int(flagged.sum())
    if name in ("gmos-imaging", "gmos-n-e2v", "gmos-imaging-1x1"):
        # the field leaves a good part of CCD1 and CCD3 dark
        assert 0.15 < dark / sum(int(np.prod(ext.shape)) for ext in ad) < 0.45
    else:
        assert dark == 0           # small CCD2 lies inside the field


@pytest.mark.parametrize("name", ["gmos-imaging", "gmos-n-e2v"])
def test_flagged_pixels_received_no_light(name, tmp_path_factory):
    """In a raw twilight flat the flagged pixels read the bias; those inside read the sky."""
    directory, truth = dataset(name, tmp_path_factory)
    raw = astrodata.open(files(name, tmp_path_factory, "twilight", "r")[0])
    masks = GMOS([raw])._illumination_masks(raw)
    lit_levels, dark_levels = [], []
    for ext, plane, datasec, biassec in zip(raw, masks, raw.data_section(),
                                            raw.overscan_section(), strict=True):
        data = np.asarray(ext.data, dtype=float)
        signal = data - np.median(data[biassec.asslice()])
        inside = np.zeros(plane.shape, bool)
        inside[datasec.asslice()] = True
        # the penumbra (2 unbinned pixels) and a star's wings stay out of both samples
        near_edge = ndimage.binary_dilation(plane, iterations=3)
        dark_levels.append(signal[plane])
        lit_levels.append(signal[inside & ~near_edge])
    dark_values, lit_values = np.concatenate(dark_levels), np.concatenate(lit_levels)
    sky = np.median(lit_values)
    assert sky > 5000
    # only dark current and read noise where the mask says no light fell
    assert abs(np.median(dark_values)) < 3.0
    assert np.percentile(dark_values, 99) < 0.01 * sky
    # and the lit pixels are lit: no pixel of the field is missing from it
    assert np.percentile(lit_values, 0.5) > 0.5 * sky


def test_mask_after_overscan_trim_and_not_for_tiles_or_spectra(tmp_path_factory, caplog):
    name = "gmos-imaging"
    directory, truth = dataset(name, tmp_path_factory)
    p = _prepared(files(name, tmp_path_factory, "science", "r")[0])
    p.addDQ(add_illum_mask=False)
    p.overscanCorrect()
    trimmed = p.streams["main"][0]
    record = truth["files"][trimmed.orig_filename]["extensions"]
    before = [np.asarray(ext.mask).copy() for ext in trimmed]
    p.addIllumMaskToDQ()
    for index, ext in enumerate(p.streams["main"][0]):
        section = Section.from_string(record[index]["datasec"]).asslice()
        expected = (truth["bpm"][index][section] & DQ.unilluminated) != 0
        np.testing.assert_array_equal((np.asarray(ext.mask) & DQ.unilluminated) != 0, expected)
        # other bits are kept
        others = np.uint16(0xFFFF ^ DQ.unilluminated)
        np.testing.assert_array_equal(np.asarray(ext.mask) & others, before[index] & others)
    # a tiled frame has CCDs in one extension: no GMOS geometry mask for it
    tiler = GMOSImage([copy.deepcopy(trimmed)])
    tiler.tileArrays(tile_all=True)
    tiled = tiler.streams["main"][0]
    with caplog.at_level(logging.WARNING):
        assert tiler._illumination_masks(tiled) is None
    assert f"{tiled.filename} extension 1" in caplog.text and "no GMOS illumination" in caplog.text
    spectrum = copy.deepcopy(trimmed)
    spectrum.phu["GRATING"] = "R400+_G5305"
    spectrum.phu["OBSMODE"] = "LONGSLIT"
    assert "SPECT" in spectrum.tags and "IMAGE" not in spectrum.tags
    assert GMOS([spectrum])._illumination_masks(spectrum) is None
