"""The simulated LMI night reduced end to end with ``Reduce``: bias, flats, stacked science.

Everything goes through the public API of the tutorials (dataselect, Reduce,
the calibration database in ``./calibrations``), with the LMI classes found
through the entry points. Each product is checked against the simulator's
truth: the bias structure, the flat field, and the fluxes and positions of
the stars in the stacked images.
"""

import os

import numpy as np
import pytest
from photutils.centroids import centroid_com

import astrodata
from gempy.adlibrary import dataselect
from gempy.library._wcs import SkyWCS
from gempy.library.photometry import aperture_photometry
from gempy.sim.render import MoffatPSF
from recipe_system.reduction.coreReduce import Reduce

pytestmark = pytest.mark.slow

_GAIN = 2.89
_READ_NOISE_ADU = 6.0 / _GAIN


def _reduce(files):
    reduce = Reduce()
    reduce.files.extend(files)
    reduce.runr()
    assert len(reduce.output_filenames) == 1
    return astrodata.open(os.path.abspath(reduce.output_filenames[0]))


@pytest.fixture(scope="module")
def reduced(lmi_night, tmp_path_factory):
    """The products of the night, reduced in a fresh working directory."""
    from recipe_system import cal_service

    # a configuration set by another test module must not leak into this reduction
    cal_service.clear_calservice()
    path, truth = lmi_night
    work = tmp_path_factory.mktemp("lmi-work")
    home = tmp_path_factory.mktemp("lmi-home")
    previous = os.getcwd(), os.environ.get("HOME"), os.environ.pop("DRAGONSRC", None)
    os.chdir(work)
    os.environ["HOME"] = str(home)
    try:
        raw = sorted(str(p) for p in path.glob("lmi.*.fits"))
        products = {"bias": _reduce(dataselect.select_data(raw, ["BIAS"]))}
        products["dark"] = _reduce(dataselect.select_data(raw, ["DARK"]))
        for band in ("r", "g"):
            expression = dataselect.expr_parser(f"filter_name=='{band}'")
            products[f"flat_{band}"] = _reduce(dataselect.select_data(raw, ["FLAT"], [],
                                                                      expression))
        for band in ("r", "g"):
            expression = dataselect.expr_parser(f"filter_name=='{band}'")
            products[f"science_{band}"] = _reduce(dataselect.select_data(raw, ["IMAGE"],
                                                                         ["CAL"], expression))
    finally:
        os.chdir(previous[0])
        if previous[1] is not None:
            os.environ["HOME"] = previous[1]
        if previous[2] is not None:
            os.environ["DRAGONSRC"] = previous[2]
    return products


def test_processed_bias_is_the_static_bias_structure(reduced, lmi_night):
    _, truth = lmi_night
    bias = reduced["bias"]
    assert {"LMI", "BIAS", "PROCESSED", "OVERSCAN_SUBTRACTED", "OVERSCAN_TRIMMED"} <= bias.tags
    assert bias.phu["NCOMBINE"] == 7 and bias[0].shape == (385, 384)
    static = truth["bias"][0]
    # the overscan columns hold the bare level; the data columns add a ramp and a row slope
    expected = static[:, :384] - np.median(static[:, 384:])
    residual = bias[0].data - expected
    assert abs(residual.mean()) < 0.1
    assert residual.std() < 1.25 * _READ_NOISE_ADU / np.sqrt(7)


def test_processed_dark_shows_the_dark_current_and_hot_pixels(reduced, lmi_night):
    _, truth = lmi_night
    dark = reduced["dark"]
    assert {"LMI", "DARK", "PROCESSED"} <= dark.tags and "IMAGE" not in dark.tags
    assert dark.phu["NCOMBINE"] == 3 and dark[0].hdr["BUNIT"] == "electron"
    assert dark.phu["BIASIM"] == reduced["bias"].filename
    expected = truth["dark"][0][:, :384] * dark.exposure_time()
    good = truth["bpm"][0][:, :384] == 0
    hot = (expected > 300.0) & ~good
    assert hot.sum() >= 10
    data, sigma = dark[0].data, np.sqrt(dark[0].variance)
    assert np.median(data[hot] / expected[hot]) == pytest.approx(1.0, abs=0.03)
    assert np.mean(np.abs(data[hot] - expected[hot]) < 5 * sigma[hot]) > 0.9
    pulls = ((data - expected) / sigma)[good]
    assert abs(np.median(data[good])) < 1.0       # 0.6 e- of dark current in 300 s
    assert 0.8 < np.std(pulls) < 1.25
    assert np.percentile(np.abs(pulls), 99.9) < 5.0


@pytest.mark.parametrize("band,tag", [("r", "DOMEFLAT"), ("g", "TWILIGHT")])
def test_processed_flats_are_the_true_flat_field(reduced, lmi_night, band, tag):
    _, truth = lmi_night
    flat = reduced[f"flat_{band}"]
    assert {"LMI", "FLAT", "PROCESSED", tag} <= flat.tags
    assert flat.filter_name(pretty=True) == band and flat.phu["NCOMBINE"] == 5
    response = truth["flat"][0][:, :384]
    response = response / np.median(response)
    good = truth["bpm"][0][:, :384] == 0
    data, sigma = flat[0].data[good], np.sqrt(flat[0].variance[good])
    assert np.median(data / response[good]) == pytest.approx(1.0, abs=1e-3)
    pulls = (data - response[good]) / sigma
    # the variance describes the errors: no star is left in the dithered sky flats
    assert 0.7 < np.std(pulls) < 1.2
    assert np.abs(pulls).max() < 6.0


def _isolated_bright_stars(truth, band, wcs, shape, radius):
    """Pixel positions and fluxes (e-/s) of stars with no bright neighbour in the aperture."""
    catalog = truth["catalog"]
    catalog = catalog[catalog["field"] == "target"]
    flux = np.asarray(catalog[f"flux_e_per_s_{band}"])
    x, y = wcs.world_to_pixel(catalog["ra"], catalog["dec"])
    ny, nx = shape
    chosen = []
    for i in np.flatnonzero(catalog["type"] == "star"):
        if not (radius + 15 < x[i] < nx - radius - 15 and radius + 15 < y[i] < ny - radius - 15):
            continue
        distance = np.hypot(x - x[i], y - y[i])
        near = (distance < radius + 20) & (distance > 0)
        if np.any(flux[near] > 0.002 * flux[i]):
            continue
        chosen.append(i)
    return x[chosen], y[chosen], flux[chosen]


@pytest.mark.parametrize("band", ["r", "g"])
def test_stacked_science_has_the_true_fluxes_and_positions(reduced, lmi_night, role_files,
                                                           band):
    _, truth = lmi_night
    stack = reduced[f"science_{band}"]
    names = role_files(truth, "science", band)
    assert {"LMI", "IMAGE", "PROCESSED_SCIENCE"} <= stack.tags
    assert stack.phu["NCOMBINE"] == 5 and stack[0].hdr["BUNIT"] == "electron"
    # the calibrations came from the database by the LMI rules: the bias, and the flat
    # of the frame's own filter
    assert stack.phu["BIASIM"] == reduced["bias"].filename
    assert stack.phu["FLATIM"] == reduced[f"flat_{band}"].filename

    records = [truth["files"][n] for n in names]
    exposure = records[0]["total_exptime"]
    scale = 2 * truth["pixel_scale_arcsec"]
    widest = max(r["psf_fwhm_arcsec"] for r in records) / scale
    narrowest = min(r["psf_fwhm_arcsec"] for r in records) / scale
    # the PSF is truncated at 5 FWHM: this aperture holds all the flux of every frame
    radius = 5.0 * widest
    response = truth["flat"][0][:, :384]
    level = float(np.median(response))      # what normalizeFlat divided the flat by
    x, y, flux = _isolated_bright_stars(truth, band, SkyWCS(stack[0].wcs), stack[0].shape,
                                        radius)
    expected = flux * exposure * level
    peak = MoffatPSF(narrowest, truth["psf"]["beta"]).profile(0.0)
    usable = (expected > 1.0e5) & (flux * exposure * peak < 1.0e5)
    assert usable.sum() >= 3
    x, y, expected = x[usable], y[usable], expected[usable]
    result = aperture_photometry(stack[0].data, np.column_stack([x, y]), radius,
                                 variance=stack[0].variance, mask=stack[0].mask != 0,
                                 annulus=(radius + 3, radius + 15))
    assert np.all(result.n_masked == 0)
    ratio = result.flux / expected
    error = result.flux_err / expected
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)
    assert np.all(np.abs(ratio - 1.0) < np.maximum(0.02, 5 * error))
    # the registered stack puts each star where the truth WCS says
    box = int(round(2 * widest))
    offsets = []
    for xi, yi in zip(x, y, strict=True):
        cx, cy = int(round(xi)), int(round(yi))
        cut = stack[0].data[cy - box:cy + box + 1, cx - box:cx + box + 1].astype(float)
        cut = np.clip(cut - np.median(result.background), 0.0, None)
        px, py = centroid_com(cut)
        offsets.append((px + cx - box - xi, py + cy - box - yi))
    assert np.sqrt(np.mean(np.sum(np.square(offsets), axis=1))) < 0.1
