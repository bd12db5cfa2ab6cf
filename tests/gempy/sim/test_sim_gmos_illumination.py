"""GMOS simulator illumination: no light exactly where astrodata's GMOS geometry says.

The simulated light is zero on the pixels ``lookup.unilluminated_pixels``
flags (at full size and --small, every readout), rises to full within the
penumbra, and the truth BPM's bit 64 is that same set of pixels.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import ndimage

from astrodata import Section
from astrodata.instruments.gmos import lookup
from gempy.sim.instruments.gmos import FIELD_EDGE_PIXELS, GMOS, GMOS_N_E2V, GMOS_S_HAMAMATSU
from gempy.sim.layout import affine_to_focal_plane
from gempy.sim.observation import FrameSpec
from gempy.sim.observatory import GEMINI_SOUTH


def _light(gmos, readout):
    matrix, vector = affine_to_focal_plane(gmos.arrays[readout.array], readout)
    ny, nx = readout.data_shape
    py, px = np.mgrid[0:ny, 0:nx].astype(float)
    fx = matrix[0, 0] * px + matrix[0, 1] * py + vector[0]
    fy = matrix[1, 0] * px + matrix[1, 1] * py + vector[1]
    return gmos.illumination(fx, fy)


@pytest.mark.parametrize("detector", [GMOS_S_HAMAMATSU, GMOS_N_E2V])
@pytest.mark.parametrize("small, binning", [(False, (2, 2)), (True, (1, 1)), (True, (2, 2))])
def test_no_light_exactly_outside_the_lookup_field(detector, small, binning):
    gmos = GMOS(detector, small)
    spec = FrameSpec(filename="x.fits", role="science", site=GEMINI_SOUTH,
                     ut_start=dt.datetime(2016, 5, 5, 8), exptime=1.0,
                     config={"binning": binning})
    dark_total = lit_total = 0
    for readout in gmos.readouts(spec):
        light = _light(gmos, readout)
        outside = gmos.unilluminated(readout)
        assert outside.shape == light.shape
        assert np.all(light[outside] == 0.0)
        assert np.all(light[~outside] > 0.0)
        # beyond the penumbra the light is full (less the mild vignetting)
        xb = readout.binning[0]
        deep = ~ndimage.binary_dilation(outside, iterations=int(FIELD_EDGE_PIXELS // xb) + 1)
        if deep.any():
            assert light[deep].min() > 0.95
        dark_total += int(outside.sum())
        lit_total += int((~outside).sum())
    # the 5.5' field leaves about a third of the mosaic dark
    assert 0.2 < dark_total / (dark_total + lit_total) < 0.45


@pytest.mark.parametrize("name", ["gmos-imaging", "gmos-n-e2v", "gmos-imaging-1x1"])
def test_truth_bpm_bit_64_is_the_dark_part_of_the_true_flat(small_dataset, name):
    path, truth = small_dataset(name)
    reference = truth["files"][truth["reference_layout_file"]]["extensions"]
    for index, record in enumerate(reference):
        section = Section.from_string(record["datasec"]).asslice()
        flat = truth["flat"][index]
        unlit = (truth["bpm"][index] & 64) != 0
        dead = (truth["bpm"][index] & 1) != 0
        assert np.all(flat[unlit] == 0.0)
        inside = np.zeros(flat.shape, bool)
        inside[section] = True
        assert np.all(flat[inside & ~unlit & ~dead] > 0.0)
        assert not unlit[~inside].any()
        key = lookup.DETECTOR_CCDS[
            "GMOS + e2v DD CCD42-90" if name == "gmos-n-e2v" else "GMOS + Hamamatsu_new"]
        ccdsec = Section.from_string(record["ccdsec"])
        ccds = [a["name"] for a in truth["arrays"]]
        rows, cols = truth["arrays"][ccds.index(record["array"])]["shape"]
        binning = tuple(truth["binning"])
        expected = lookup.unilluminated_pixels(key, ccds.index(record["array"]), (rows, cols),
                                               (ccdsec.x1, ccdsec.y1), binning,
                                               flat[section].shape)
        np.testing.assert_array_equal(unlit[section], expected)
