"""GMOS-S imaging end to end (Hamamatsu, 12 amplifiers, 2x2) with the ``reduce`` command.

The small ``gmos-imaging`` dataset (biases, r and z twilight flats, five
dithered r and five z frames; the z frames fringe) is reduced the way the
GMOS imaging tutorial does it, every command in a subprocess from a
``playground`` next to ``playdata`` with the calibration database of
``~/.geminidr/rsys.cfg``:

    dataselect ... -o biases.list / flats_r.list / flats_z.list / science_r.list / science_z.list
    caldb init
    reduce @biases.list
    reduce @flats_r.list ; reduce @flats_z.list
    reduce @science_z.list -r makeProcessedFringe
    reduce @science_z.list ; reduce @science_r.list                 (default recipe: _image)
    reduce @science_r.list -r reduce_nostack                         (one mosaic per frame)
    reduce S..._wcsCorrected.fits -r alignAndStack
    reduce @science_r.list -r reduceSeparateCCDs --suffix _separateCCDs

and the products are measured against the simulator's truth: bias level
and structure, flat response, fringe frame and fringe removal (the residual
fringe rms is printed), sky level of the stacks, star fluxes (2%), the
mosaic geometry (each CCD of each frame located against the truth scene to
a few hundredths of a pixel; < 0.2 pixel required) and the astrometry of
the stacks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import astrodata
from astrodata import DQ

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_gmos_support import (  # noqa: E402
    ccd2_name,
    ccd_regions,
    combined_names,
    data_columns,
    fit_scene,
    flat_normalisation,
    fringe_amplitude,
    star_photometry,
    truth_data,
)
from truth_checks import sky_statistics  # noqa: E402

pytestmark = pytest.mark.slow

BIAS = "S20220305S0301_bias.fits"
FLATS = {"r": "S20220305S0011_flat.fits", "z": "S20220305S0021_flat.fits"}
FRINGE = "S20220305S0061_fringe.fits"
STACKS = {"r": "S20220305S0051_image.fits", "z": "S20220305S0061_image.fits"}
SCIENCE = {"r": [f"S20220305S{n:04d}.fits" for n in range(51, 56)],
           "z": [f"S20220305S{n:04d}.fits" for n in range(61, 66)]}
ALIGNED = "S20220305S0051_stack.fits"
SEPARATE = "S20220305S0051_separateCCDs.fits"


def _raw(run) -> list[str]:
    """``../playdata/*.fits`` expanded as the shell does."""
    return sorted(f"../playdata/{p.name}" for p in run.playdata.glob("*.fits"))


def _listed(path: Path) -> list[str]:
    return [Path(line).name for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def gmos(tutorial_factory):
    """Every command of the reduction, in order; outputs kept by name."""
    run = tutorial_factory("gmos-imaging", small=True)
    raw, out = _raw(run), run.outputs
    run.run("dataselect", *raw, "--tags", "BIAS", "-o", "biases.list")
    for band in ("r", "z"):
        run.run("dataselect", *raw, "--tags", "FLAT", "--expr", f'filter_name=="{band}"',
                "-o", f"flats_{band}.list")
        run.run("dataselect", *raw, "--xtags", "CAL", "--expr", f'filter_name=="{band}"',
                "-o", f"science_{band}.list")
    run.run("caldb", "init")
    out["bias"] = run.run("reduce", "@biases.list")
    out["flat_r"] = run.run("reduce", "@flats_r.list")
    out["flat_z"] = run.run("reduce", "@flats_z.list")
    out["fringe"] = run.run("reduce", "@science_z.list", "-r", "makeProcessedFringe")
    out["science_z"] = run.run("reduce", "@science_z.list")
    out["science_r"] = run.run("reduce", "@science_r.list")
    out["nostack"] = run.run("reduce", "@science_r.list", "-r", "reduce_nostack")
    mosaics = [name.replace(".fits", "_wcsCorrected.fits") for name in SCIENCE["r"]]
    out["align"] = run.run("reduce", *mosaics, "-r", "alignAndStack")
    out["separate"] = run.run("reduce", "@science_r.list", "-r", "reduceSeparateCCDs",
                              "--suffix", "_separateCCDs")
    return run


def _open(run, name: str):
    path = run.playground / name
    assert path.is_file(), f"{name} was not written"
    return astrodata.open(path)


# -- the commands and their products -----------------------------------------------------
def test_lists_and_calibrations(gmos):
    ground = gmos.playground
    assert len(_listed(ground / "biases.list")) == 5
    assert _listed(ground / "science_r.list") == SCIENCE["r"]
    assert _listed(ground / "science_z.list") == SCIENCE["z"]
    assert len(_listed(ground / "flats_z.list")) == 5
    listing = gmos.run("caldb", "list").stdout
    for name, caltype in ((BIAS, "bias"), (FLATS["r"], "flat"), (FLATS["z"], "flat"),
                          (FRINGE, "fringe")):
        assert (ground / "calibrations" / f"processed_{caltype}" / name).is_file()
        assert name in listing
    # the z science frames found the fringe frame in the database; the r frames need none
    assert f"subtracted {FRINGE}" in gmos.outputs["science_z"].stdout
    assert "does not need fringe correction" in gmos.outputs["science_r"].stdout


def test_science_products(gmos):
    for band, name in STACKS.items():
        ad = _open(gmos, name)
        assert len(ad) == 1 and "PROCESSED_SCIENCE" in ad.tags
        ext = ad[0]
        assert ext.data.dtype.kind == "f" and ext.data.dtype.itemsize == 4
        assert ext.variance.dtype.kind == "f" and ext.variance.dtype.itemsize == 4
        assert ext.mask.dtype.kind == "u" and ext.mask.dtype.itemsize == 2
        assert ad.phu["NCOMBINE"] == 5 and combined_names(ad) == SCIENCE[band]
        assert ad.phu["BIASIM"] == BIAS and ad.phu["FLATIM"] == FLATS[band]
        assert ("FRINGEIM" in ad.phu) == (band == "z")
        assert ext.hdr["BUNIT"] == "electron"
        # the three CCDs and the dithers cover the frame; no pixel is left undefined
        assert np.all(np.isfinite(ext.data)) and np.all(ext.variance >= 0)
    separate = _open(gmos, SEPARATE)
    assert len(separate) == 3
    assert [e.hdr["CCDNAME"] for e in separate] == [
        "BI5-36-4k-2", "BI11-33-4k-1", "BI12-34-4k-1"]


def test_stored_science_copies_keep_distinct_names(gmos):
    """reduceSeparateCCDs stores its product under its own name, next to the default stacks.

    Neither its stored copy nor its working-directory product replaces the
    default recipe's ``_image`` stack of the same first frame.
    """
    stored = gmos.playground / "calibrations" / "processed_science"
    assert sorted(p.name for p in stored.glob("*.fits")) == sorted(
        [STACKS["r"], STACKS["z"], SEPARATE])
    image = astrodata.open(stored / STACKS["r"])
    assert len(image) == 1 and combined_names(image) == SCIENCE["r"]
    np.testing.assert_array_equal(image[0].data, _open(gmos, STACKS["r"])[0].data)
    separate = astrodata.open(stored / SEPARATE)
    assert len(separate) == 3 and "PROCESSED_SCIENCE" in separate.tags
    np.testing.assert_array_equal(separate[1].data, _open(gmos, SEPARATE)[1].data)
    assert f"processed_science calibrations/processed_science/{SEPARATE}" in \
        gmos.outputs["separate"].stdout


# -- calibrations against the truth ------------------------------------------------------
def test_master_bias_level_and_structure(gmos):
    """Overscan level per amplifier as the truth, and the 2-D bias structure to the noise."""
    truth = gmos.truth
    first = truth["roles"]["bias"][0]
    bias = _open(gmos, BIAS)
    assert len(bias) == 12
    residual_chi = []
    for ext, static, record in zip(bias, truth["bias"], truth["files"][first]["extensions"],
                                   strict=True):
        # level of the first bias's overscan (static level + the frame's offset)
        assert ext.hdr["OVERSCAN"] == pytest.approx(record["bias_level_adu"], abs=0.1)
        columns = np.zeros(static.shape[1], dtype=bool)
        columns[data_columns(record)] = True
        structure = static[:, columns] - np.median(static[:, ~columns])
        diff = np.asarray(ext.data, float) - structure
        sigma = np.sqrt(np.asarray(ext.variance, float))
        assert abs(np.median(diff)) < 0.1, "master bias offset from the truth (ADU)"
        residual_chi.append(1.4826 * np.median(np.abs(diff - np.median(diff)) / sigma))
    # the residual is the noise the variance plane describes
    assert 0.85 < np.median(residual_chi) < 1.15, residual_chi


@pytest.mark.parametrize("band", ["r", "z"])
def test_master_flat_matches_the_truth_response(gmos, band):
    """Processed flat = truth flat / (its CCD2 median), CCD1 and CCD3 relative response kept."""
    truth = gmos.truth
    flat = _open(gmos, FLATS[band])
    first = flat.phu.get("ORIGNAME", FLATS[band].replace("_flat", ""))
    norm = flat_normalisation(truth, first)
    truth_flats = truth_data(truth, "flat", first)
    bpms = truth_data(truth, "bpm", first)
    ratios, chis, agree = {}, [], []
    for ext, true_flat, bpm, record in zip(flat, truth_flats, bpms,
                                           truth["files"][first]["extensions"], strict=True):
        unilluminated = (ext.mask & DQ.unilluminated) != 0
        agree.append(np.mean(unilluminated == ((bpm & 64) != 0)))
        good = (ext.mask == 0) & (bpm == 0)
        if good.sum() < 500:
            continue
        expected = true_flat[good] / norm
        ratios.setdefault(record["array"], []).append(np.median(ext.data[good] / expected))
        diff = ext.data[good] - expected
        chis.append(1.4826 * np.median(np.abs(diff - np.median(diff)))
                    / np.sqrt(np.median(ext.variance[good])))
    for array, values in ratios.items():
        assert np.all(np.abs(np.asarray(values) - 1) < 0.003), (array, values)
    assert len(ratios) == 3 and ccd2_name(truth) in ratios
    # no worse than its variance says (the mean of the minmax survivors of 5 flats is
    # more precise than the propagated mean/3 variance: ~0.82 expected)
    assert 0.65 < np.median(chis) < 1.0, chis
    # the unilluminated pixels are where the truth says
    assert np.mean(agree) > 0.99


# -- fringes -----------------------------------------------------------------------------
def _fringe_inputs(truth: dict, name: str):
    patterns = truth_data(truth, "fringe", name)
    bpms = truth_data(truth, "bpm", name)
    return patterns, bpms


def test_fringe_frame_matches_the_truth_pattern(gmos):
    truth = gmos.truth
    fringe = _open(gmos, FRINGE)
    assert "FRINGE" in fringe.tags and fringe.phu["NCOMBINE"] == 5
    name = SCIENCE["z"][0]
    patterns, bpms = _fringe_inputs(truth, name)
    good = [(ext.mask == 0) & (bpm == 0) for ext, bpm in zip(fringe, bpms, strict=True)]
    amplitude = fringe_amplitude([ext.data for ext in fringe], patterns, good)
    # the fringes of the five frames, through the flat normalised on CCD2
    expected = np.mean([truth["files"][n]["fringe_e_per_pix"] for n in SCIENCE["z"]]) * 4 \
        * flat_normalisation(truth, name)
    assert amplitude == pytest.approx(expected, rel=0.03)
    values = np.concatenate([ext.data[g] for ext, g in zip(fringe, good, strict=True)])
    model = np.concatenate([p[g] for p, g in zip(patterns, good, strict=True)])
    assert np.corrcoef(values, model)[0, 1] > 0.85
    # nothing is subtracted where no light falls
    for ext in fringe:
        dark = (ext.mask & DQ.unilluminated) != 0
        assert np.all(ext.data[dark] == 0)


def _fringe_corrected(run, **options):
    """The z frames calibrated and fringe-corrected in process, with the processed calibrations."""
    from gempy.utils import logutils
    from primitives.gmos import GMOSImage

    logutils.config(mode="quiet")
    ground = run.playground
    p = GMOSImage([astrodata.open(run.playdata / name) for name in SCIENCE["z"]])
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect(bias=str(ground / BIAS))
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect(flat=str(ground / FLATS["z"]))
    before = [[np.array(ext.data) for ext in ad] for ad in p.streams["main"]]
    p.fringeCorrect(fringe=str(ground / FRINGE), **options)
    return before, p.streams["main"]


@pytest.mark.parametrize("options", [{}, {"scale": None}], ids=["default", "dragons"])
def test_fringe_correction_removes_the_fringes(gmos, options):
    """Residual fringe amplitude of every z frame after fringeCorrect, and its rms (printed).

    By default the fringe frame is scaled to each frame by a fit, which
    follows the fringe strength (the simulator varies it by ~8% rms, as the
    sky lines do) and leaves < 2% of the fringes; DRAGONS' rule
    (``scale=None``: a fringe frame from the same observation unscaled)
    leaves each frame's departure from the mean fringe strength.
    """
    truth = gmos.truth
    before, after = _fringe_corrected(gmos, **options)
    norm = flat_normalisation(truth, SCIENCE["z"][0])
    mean_fringe = np.mean([truth["files"][n]["fringe_e_per_pix"] for n in SCIENCE["z"]])
    lines, fractions = [], []
    for name, raw, ad in zip(SCIENCE["z"], before, after, strict=True):
        patterns, bpms = _fringe_inputs(truth, name)
        good = [(ext.mask == 0) & (bpm == 0) for ext, bpm in zip(ad, bpms, strict=True)]
        true_amp = truth["files"][name]["fringe_e_per_pix"] * 4 * norm
        found = fringe_amplitude(raw, patterns, good)
        residual = fringe_amplitude([ext.data for ext in ad], patterns, good)
        assert found == pytest.approx(true_amp, rel=0.03)
        fractions.append(residual / found)
        lines.append(f"{name}: fringe amplitude {found:.1f} e- before, {residual:+.2f} e- "
                     f"after ({100 * residual / found:+.1f}%), FRNGSCAL {ad.phu['FRNGSCAL']}")
        departure = abs(truth["files"][name]["fringe_e_per_pix"] / mean_fringe - 1)
        if options:
            assert abs(residual) < (departure + 0.02) * found
            assert ad.phu["FRNGSCAL"] == 1.0
        else:
            assert abs(residual) < 0.02 * found
            # the fit tells the frames' fringe strengths apart
            assert ad.phu["FRNGSCAL"] == pytest.approx(
                truth["files"][name]["fringe_e_per_pix"] / mean_fringe, abs=0.03)
    rms = float(np.sqrt(np.mean(np.square(fractions))))
    print(f"\nresidual fringes, fringeCorrect {options or 'default (scaled)'}: rms "
          f"{100 * rms:.2f}% of the fringe amplitude\n  " + "\n  ".join(lines))
    assert rms < (0.01 if not options else 0.1)


# -- science -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", [STACKS["r"], STACKS["z"], ALIGNED, SEPARATE])
def test_sky_level_of_the_stacks(gmos, name):
    """Blank sky = the first frame's true sky x the flat normalisation (bias and flat right)."""
    truth = gmos.truth
    ad = _open(gmos, name)
    first = combined_names(ad)[0]
    expected = truth["files"][first]["sky_e_per_pix"] * 4 * flat_normalisation(truth, first)
    for ext in ad:
        sky = sky_statistics(ext)
        assert abs(sky.median - expected) < max(2.5, 1e-3 * expected), (sky, expected)


@pytest.mark.parametrize("name", [STACKS["r"], STACKS["z"], ALIGNED, SEPARATE])
def test_stacked_star_fluxes_within_two_percent(gmos, name):
    """Aperture photometry of the isolated truth stars of S/N > 50: within 2% of the truth.

    A star is allowed more than 2% only when its own noise is larger than
    a third of that (3 sigma, the error from the VAR plane); their mean,
    weighted by S/N squared, must be within 1% (or 3 sigma of that mean).
    """
    truth = gmos.truth
    ad = _open(gmos, name)
    names = combined_names(ad)
    band = truth["files"][names[0]]["filter"]
    norm = flat_normalisation(truth, names[0])
    measured = [star_photometry(ext, truth, band, names, norm, min_snr=50) for ext in ad]
    ratios = np.concatenate([m.ratio for m in measured])
    print(f"\n{name} ({band}):\n" + "\n".join(m.summary() for m in measured if len(m.x)))
    snr = np.concatenate([m.snr for m in measured])
    assert ratios.size >= 2
    assert np.all(np.abs(ratios - 1) < np.maximum(0.02, 3.0 / snr)), (ratios, snr)
    mean_error = 1.0 / np.sqrt(np.sum(snr ** 2))
    assert abs(np.average(ratios, weights=snr ** 2) - 1) < max(0.01, 3 * mean_error)


def test_alignandstack_reproduces_the_reduce_stack(gmos):
    """reduce_nostack + alignAndStack gives the default recipe's stack."""
    reduced, aligned = _open(gmos, STACKS["r"])[0], _open(gmos, ALIGNED)[0]
    assert reduced.shape == aligned.shape
    np.testing.assert_array_equal(reduced.mask, aligned.mask)
    np.testing.assert_allclose(aligned.data, reduced.data, atol=0.01)


def test_mosaic_geometry_across_the_chip_gaps(gmos):
    """Every CCD of the frames' mosaics sits where the truth WCS says (< 0.2 pixel).

    The truth scene (stars and galaxies through the mosaic's WCS) is fitted
    to each CCD's part of each frame's mosaic for a shift: it uses all the
    light, so the outer CCDs, which hold few stars inside the imaging field,
    are located to a few hundredths of a pixel. Per CCD, the frames' shifts
    are averaged with their weights.
    """
    truth = gmos.truth
    offsets: dict[int, list[tuple[float, float, float]]] = {0: [], 1: [], 2: []}
    lines = []
    for name in SCIENCE["r"]:
        ad = _open(gmos, name.replace(".fits", "_wcsCorrected.fits"))
        assert len(ad) == 1
        ext = ad[0]
        regions = ccd_regions(ext)
        assert len(regions) == 3, "two chip gaps of no_data columns expected"
        norm = flat_normalisation(truth, name)
        for k, region in enumerate(regions):
            fit = fit_scene(ext, truth, "r", [name], norm, region, margin=3)
            lines.append(f"{name} CCD{k + 1}: ({fit.dx:+.3f}, {fit.dy:+.3f}) "
                         f"+/- {fit.error:.3f} px")
            offsets[k].append((fit.dx, fit.dy, fit.error))
            if fit.error < 0.05:
                assert np.hypot(fit.dx, fit.dy) < 0.2, lines[-1]
    means = {}
    for k, values in offsets.items():
        values = np.asarray(values)
        weights = 1.0 / values[:, 2] ** 2
        means[k] = (values[:, :2] * weights[:, None]).sum(axis=0) / weights.sum()
        error = 1.0 / np.sqrt(weights.sum())
        lines.append(f"CCD{k + 1} mean: ({means[k][0]:+.3f}, {means[k][1]:+.3f}) "
                     f"+/- {error:.3f} px")
        assert error < 0.03 and np.hypot(*means[k]) < 0.1, lines[-1]
    print("\nmosaic offsets from the truth:\n  " + "\n  ".join(lines))
    # the outer CCDs against the central one: no systematic shift from the geometry
    for k in (0, 2):
        assert np.all(np.abs(means[k] - means[1]) < 0.05), (k, means)


@pytest.mark.parametrize("name", [STACKS["r"], STACKS["z"], SEPARATE])
def test_stack_astrometry(gmos, name):
    """The stacks (and each separately stacked CCD) are where the truth WCS says."""
    truth = gmos.truth
    ad = _open(gmos, name)
    names = combined_names(ad)
    band = truth["files"][names[0]]["filter"]
    norm = flat_normalisation(truth, names[0])
    for ext in ad:
        fit = fit_scene(ext, truth, band, names, norm)
        assert fit.error < 0.03
        assert np.hypot(fit.dx, fit.dy) < 0.1, fit
        # the light of all the sources is there, on the scale of one frame (a coarse
        # check: the fit's sky is one constant; fluxes are the photometry test's job)
        assert fit.scale == pytest.approx(1.0, abs=0.03)
