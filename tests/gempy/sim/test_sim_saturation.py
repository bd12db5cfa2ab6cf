"""Pixels collecting far more charge than the well read at the saturation level."""

import numpy as np

from gempy.sim.detector import ir_readout

F2_LINEARITY = (0.9999107, -4.2854848e-8, 1.0096585e-12)


def test_charge_far_beyond_the_well_reads_saturated_not_negative():
    rng = np.random.default_rng(1)
    electrons = np.array([1e6, 1e8, 1e10], np.float32)
    adu = ir_readout(rng, electrons, 1, F2_LINEARITY, gain=0.555, read_noise=5.0,
                     saturation_adu=280000)
    assert np.all(adu == 280000)


def test_charge_below_the_well_is_not_saturated():
    rng = np.random.default_rng(2)
    adu = ir_readout(rng, np.full(1000, 5e4, np.float32), 1, F2_LINEARITY, gain=0.555,
                     read_noise=5.0, saturation_adu=280000)
    assert np.all(adu < 280000) and abs(np.median(adu) * 0.555 / 5e4 - 1) < 0.01
