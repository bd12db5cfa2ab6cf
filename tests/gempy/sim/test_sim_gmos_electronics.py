"""GMOS simulator electronics: one table (astrodata's) for gains, read noise, bias levels, wells.

The descriptors of every simulated raw frame equal the truth exactly, the
pixels carry that gain (photon transfer on two twilight flats) and that
bias level, and the simulator refuses dates for which astrodata's tables
have no value instead of inventing one.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats

import astrodata
from astrodata import Section
from astrodata.instruments.gmos import lookup
from gempy.sim.instruments.gmos import GMOS, GMOS_N_E2V, GMOS_S_HAMAMATSU
from gempy.sim.observation import FrameSpec
from gempy.sim.observatory import GEMINI_SOUTH

GMOS_SETS = ["gmos-imaging", "gmos-n-e2v", "gmos-imaging-ccd2", "gmos-imaging-1x1"]


@pytest.mark.parametrize("name", GMOS_SETS)
def test_descriptors_equal_the_truth_in_every_frame(small_dataset, name):
    path, truth = small_dataset(name)
    for filename, record in truth["files"].items():
        ad = astrodata.open(path / filename)
        extensions = record["extensions"]
        gains = [e["gain_e_per_adu"] for e in extensions]
        assert ad.gain() == gains, filename
        assert ad.read_noise() == [e["read_noise_e"] for e in extensions], filename
        assert ad.saturation_level() == [e["saturation_adu"] for e in extensions], filename
        assert [ext.hdr["GAIN"] for ext in ad] == gains
        assert [ext.hdr["RDNOISE"] for ext in ad] == [e["read_noise_e"] for e in extensions]


def test_truth_values_are_the_lookup_values_of_the_date(small_dataset):
    """The truth is astrodata's table for each amplifier, read mode and DATE-OBS."""
    path, truth = small_dataset("gmos-n-e2v")
    for filename, record in truth["files"].items():
        date = dt.date.fromisoformat(record["ut_start"][:10])
        ad = astrodata.open(path / filename)
        assert (ad.read_speed_setting(), ad.gain_setting()) == ("slow", "low")
        for amp, ext in zip(ad.array_name(), record["extensions"], strict=True):
            assert ext["gain_e_per_adu"] == lookup.amp_value(lookup.GAIN, date, "slow", "low",
                                                             amp)
            assert ext["read_noise_e"] == lookup.amp_value(lookup.READ_NOISE, date, "slow",
                                                           "low", amp)
    # the e2vDD amps are not all alike: the table spreads each CCD's range over its amps
    gains = {e["gain_e_per_adu"] for e in truth["files"][filename]["extensions"]}
    assert len(gains) == 2


def _overscan_levels(hdu: fits.ImageHDU) -> np.ndarray:
    section = Section.from_string(hdu.header["BIASSEC"])
    return np.median(hdu.data[section.asslice()].astype(float), axis=1)


@pytest.mark.parametrize("name", ["gmos-imaging", "gmos-n-e2v"])
def test_bias_frames_sit_at_the_table_bias_level(small_dataset, name):
    path, truth = small_dataset(name)
    for filename in truth["roles"]["bias"]:
        date = dt.date.fromisoformat(truth["files"][filename]["ut_start"][:10])
        with fits.open(path / filename) as hdul:
            for hdu, record in zip(hdul[1:], truth["files"][filename]["extensions"],
                                   strict=True):
                table = lookup.amp_value(lookup.BIAS_LEVEL, date, "slow", "low",
                                         hdu.header["AMPNAME"])
                # frame-to-frame offsets are 2.5 ADU rms; the truth records each one
                assert np.median(_overscan_levels(hdu)) == pytest.approx(table, abs=12.0)
                assert record["bias_level_adu"] == pytest.approx(
                    table + record["bias_frame_offset_adu"], abs=1e-3)


def test_photon_transfer_gives_the_truth_gain(small_dataset):
    """Two twilight flats of one filter: variance of their scaled difference against signal."""
    path, truth = small_dataset("gmos-imaging")
    first, second = [f for f in truth["roles"]["twilight"]
                     if truth["files"][f]["filter"] == "r"][:2]
    ratios = []
    with fits.open(path / first) as one, fits.open(path / second) as two:
        for index, record in enumerate(truth["files"][first]["extensions"]):
            section = Section.from_string(record["datasec"]).asslice()
            good = (truth["bpm"][index][section] == 0) & (truth["flat"][index][section] > 0.5)
            if good.sum() < 2000:
                continue           # amplifiers outside the imaging field
            a = one[index + 1].data[section] - _overscan_levels(one[index + 1])[:, None]
            b = two[index + 1].data[section] - _overscan_levels(two[index + 1])[:, None]
            a, b = a[good].astype(float), b[good].astype(float)
            scale = np.median(a) / np.median(b)
            # the pixel response is common to both frames and cancels in the difference
            _, _, sigma = sigma_clipped_stats(a - scale * b, sigma=4.0, maxiters=10)
            gain = record["gain_e_per_adu"]
            read_adu2 = (record["read_noise_e"] / gain) ** 2 + 1.0 / 12.0
            shot = sigma ** 2 - (1.0 + scale ** 2) * read_adu2
            ratios.append((np.mean(a) + scale ** 2 * np.mean(b)) / shot / gain)
    ratios = np.array(ratios)
    assert len(ratios) >= 6
    # each amplifier's variance is known to ~1.6% (8000 pixels)
    assert np.all(np.abs(ratios - 1.0) < 0.08)
    assert abs(ratios.mean() - 1.0) < 0.02


def _frame(day: dt.datetime) -> FrameSpec:
    return FrameSpec(filename="x.fits", role="science", site=GEMINI_SOUTH, ut_start=day,
                     exptime=60.0, filter_band="r", config={"binning": (2, 2)})


def test_no_invented_values_outside_the_tables():
    """The 2014-2023 GMOS-S CCD BI5-36-4k-2 has no gain in the table from 2023-12-14 on."""
    gmos = GMOS(GMOS_S_HAMAMATSU, small=True)
    readout = gmos.readouts(_frame(dt.datetime(2022, 3, 5, 1)))[0]
    assert gmos.electronics(readout, _frame(dt.datetime(2022, 3, 5, 1)))[0] == \
        lookup.amp_value(lookup.GAIN, dt.date(2022, 3, 5), "slow", "low", readout.name)
    with pytest.raises(ValueError, match="no gain for amp 'BI5-36-4k-2, 4'"):
        gmos.electronics(readout, _frame(dt.datetime(2024, 3, 5, 1)))
    with pytest.raises(ValueError, match="span a change"):
        gmos.prepare_static(np.random.default_rng(0), [_frame(dt.datetime(2017, 2, 1)),
                                                       _frame(dt.datetime(2017, 3, 1))])


def test_wells_and_saturation_follow_the_table():
    gmos = GMOS(GMOS_N_E2V, small=False)
    spec = _frame(dt.datetime(2016, 5, 5, 8))
    unbinned = FrameSpec(**{**spec.__dict__, "config": {"binning": (1, 1)}})
    for readout in gmos.readouts(unbinned):
        gain, _ = gmos.electronics(readout, unbinned)
        well = lookup.FULL_WELLS["GMOS + e2v DD CCD42-90"][readout.name]
        assert gmos.saturation_adu(readout, unbinned) == pytest.approx(min(well / gain, 65535))
    # binned 2x2 the ADC limits first
    assert {gmos.saturation_adu(r, spec) for r in gmos.readouts(spec)} == {65535.0}
    assert gmos.physics(0).well_depth == min(
        lookup.FULL_WELLS["GMOS + e2v DD CCD42-90"][a] for a in lookup.amp_names(
            "e2v 10031-23-05"))
