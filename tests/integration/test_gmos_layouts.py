"""GMOS layouts end to end through the Python API (``Reduce``): 1x1, a CCD2 ROI, GMOS-N e2vDD.

Each small dataset is reduced in its own process by the API script below
(the GMOS tutorial's API chapter: ``dataselect.select_data``, then
``Reduce`` for the biases, the twilight flats, a fringe frame when the
filter fringes, the science with the default recipe, and the science with
``reduce_nostack`` for one mosaic per frame), from a ``playground`` next to
``playdata`` with the calibration database of ``~/.geminidr/rsys.cfg``:

* ``gmos-imaging-1x1``: GMOS-S Hamamatsu unbinned, 12 amplifiers, r;
* ``gmos-imaging-ccd2``: GMOS-S Hamamatsu 2x2, the four CCD2 amplifiers
  only (region of interest), r;
* ``gmos-n-e2v``: GMOS-N e2vDD 2x2, 6 amplifiers, i, which fringes on
  these CCDs (fringe frame made and subtracted).

The products are checked against the simulator's truth as in
``test_gmos_imaging.py``: bias levels, flat response, fringe frame, sky
level, star fluxes, the mosaic geometry (each outer CCD against CCD2 in
every frame) and the astrometry of the stacks.

The small e2vDD field is sparse: its first (reference) frame holds only
a few faint sources inside the imaging field, whose centroids fix a shift
to +/-0.3-0.6 pixel only. ``adjustWCSToReference`` then keeps the header
WCS (telescope offsets, exact in the simulation) rather than apply a shift
that is not significant, or falls back to the offsets when too few sources
fit for matching remain; the default stack is held to the full accuracy
(< 0.1 pixel), as is the stack made with
``adjustWCSToReference:method=offsets``, also reduced (suffix
``_offsets``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import astrodata
from astrodata import DQ

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_gmos_support import (  # noqa: E402
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

API_SCRIPT = '''\
# The GMOS imaging reduction through the Python API, as the GMOS tutorial's API chapter.
# Arguments: the filter, then any of "fringe" (make and use a fringe frame), "offsets"
# (also stack with the telescope offsets, suffix _offsets).
import glob
import sys

from gempy.adlibrary import dataselect
from gempy.utils import logutils
from recipe_system import cal_service
from recipe_system.reduction.coreReduce import Reduce

logutils.config(file_name="gmos_data_reduction.log")

caldb = cal_service.CalibrationService()
caldb.config()
caldb.init()
cal_service.set_calservice()

band = sys.argv[1]
options = sys.argv[2:]

all_files = sorted(glob.glob("../playdata/*.fits"))
list_of_biases = dataselect.select_data(all_files, ["BIAS"], [])
list_of_flats = dataselect.select_data(
    all_files, ["FLAT"], [], dataselect.expr_parser(f'filter_name=="{band}"'))
list_of_science = dataselect.select_data(
    all_files, [], ["CAL"], dataselect.expr_parser(f'filter_name=="{band}"'))

reduce_bias = Reduce()
reduce_bias.files.extend(list_of_biases)
reduce_bias.runr()

reduce_flats = Reduce()
reduce_flats.files.extend(list_of_flats)
reduce_flats.runr()

if "fringe" in options:
    reduce_fringe = Reduce()
    reduce_fringe.files.extend(list_of_science)
    reduce_fringe.recipename = "makeProcessedFringe"
    reduce_fringe.runr()

reduce_science = Reduce()
reduce_science.files.extend(list_of_science)
reduce_science.runr()
print("science", reduce_science.output_filenames[0])

reduce_mosaics = Reduce()
reduce_mosaics.files.extend(list_of_science)
reduce_mosaics.recipename = "reduce_nostack"
reduce_mosaics.runr()
print("mosaics", " ".join(reduce_mosaics.output_filenames))

if "offsets" in options:
    reduce_offsets = Reduce()
    reduce_offsets.files.extend(list_of_science)
    reduce_offsets.uparms = [("adjustWCSToReference:method", "offsets")]
    reduce_offsets.suffix = "_offsets"
    reduce_offsets.runr()
    print("offsets", reduce_offsets.output_filenames[0])
'''


@dataclass(frozen=True)
class Layout:
    """A dataset, its filter, the API script options and what the products must look like."""

    dataset: str
    band: str
    options: tuple[str, ...]
    amplifiers: int
    ccds: int


LAYOUTS = {
    "1x1": Layout("gmos-imaging-1x1", "r", (), 12, 3),
    "ccd2": Layout("gmos-imaging-ccd2", "r", (), 4, 1),
    "e2v": Layout("gmos-n-e2v", "i", ("fringe", "offsets"), 6, 3),
}


@dataclass
class LayoutRun:
    """A reduced layout: the tutorial run and the products the script named."""

    layout: Layout
    run: object
    science: str
    mosaics: list[str]
    offsets: str | None

    def open(self, name: str):
        path = self.run.playground / name
        assert path.is_file(), f"{name} was not written"
        return astrodata.open(path)

    @property
    def truth(self) -> dict:
        return self.run.truth

    def calibration(self, caltype: str) -> str:
        found = sorted((self.run.playground / "calibrations" / f"processed_{caltype}").glob(
            "*.fits"))
        assert len(found) >= 1, f"no processed_{caltype}"
        return found[0].name


@pytest.fixture(scope="module")
def reduced(tutorial_factory):
    """``reduced(key) -> LayoutRun``: each layout simulated and reduced once."""
    done: dict[str, LayoutRun] = {}

    def get(key: str) -> LayoutRun:
        if key not in done:
            layout = LAYOUTS[key]
            run = tutorial_factory(layout.dataset, small=True)
            script = run.playground / "gmos_api_reduction.py"
            script.write_text(API_SCRIPT)
            import sys as _sys
            result = run.run(_sys.executable, str(script), layout.band, *layout.options)
            named = {}
            for line in result.stdout.splitlines():
                word, _, rest = line.partition(" ")
                if word in ("science", "mosaics", "offsets"):
                    named[word] = rest.split()
            done[key] = LayoutRun(layout, run, named["science"][0], named["mosaics"],
                                  named.get("offsets", [None])[0])
        return done[key]

    return get


KEYS = list(LAYOUTS)


# -- products and calibrations ------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS)
def test_products(reduced, key):
    layout = reduced(key)
    bias = layout.open(layout.calibration("bias"))
    flat = layout.open(layout.calibration("flat"))
    assert len(bias) == len(flat) == layout.layout.amplifiers
    image = layout.open(layout.science)
    assert len(image) == 1 and "PROCESSED_SCIENCE" in image.tags
    names = combined_names(image)
    assert len(names) == len(layout.truth["roles"]["science"]) // (
        2 if layout.layout.dataset == "gmos-n-e2v" else 1)
    assert image.phu["FLATIM"] == layout.calibration("flat")
    assert ("FRINGEIM" in image.phu) == ("fringe" in layout.layout.options)
    assert len(layout.mosaics) == len(names)
    mosaic = layout.open(layout.mosaics[0])
    assert len(mosaic) == 1
    # chip gaps between the CCDs of one frame (none for the CCD2 region of interest)
    assert len(ccd_regions(mosaic[0])) == layout.layout.ccds
    log = (layout.run.playground / "gmos_data_reduction.log").read_text()
    if layout.layout.ccds == 1:
        assert "one CCD only; no QE correction needed" in log


@pytest.mark.parametrize("key", KEYS)
def test_master_bias_levels(reduced, key):
    """The overscan level of each amplifier of the master bias is the truth's (0.1 ADU)."""
    layout = reduced(key)
    truth = layout.truth
    first = truth["roles"]["bias"][0]
    bias = layout.open(layout.calibration("bias"))
    chis = []
    for ext, static, record in zip(bias, truth["bias"], truth["files"][first]["extensions"],
                                   strict=True):
        assert ext.hdr["OVERSCAN"] == pytest.approx(record["bias_level_adu"], abs=0.1)
        columns = np.zeros(static.shape[1], dtype=bool)
        columns[data_columns(record)] = True
        diff = np.asarray(ext.data, float) - (static[:, columns]
                                              - np.median(static[:, ~columns]))
        assert abs(np.median(diff)) < 0.1
        chis.append(1.4826 * np.median(np.abs(diff - np.median(diff))
                                       / np.sqrt(np.asarray(ext.variance, float))))
    assert 0.85 < np.median(chis) < 1.15, chis


@pytest.mark.parametrize("key", KEYS)
def test_master_flat_response(reduced, key):
    layout = reduced(key)
    truth = layout.truth
    flat = layout.open(layout.calibration("flat"))
    first = flat.phu["ORIGNAME"]
    norm = flat_normalisation(truth, first)
    ratios: dict[str, list[float]] = {}
    for ext, true_flat, bpm, record in zip(flat, truth_data(truth, "flat", first),
                                           truth_data(truth, "bpm", first),
                                           truth["files"][first]["extensions"], strict=True):
        good = (ext.mask == 0) & (bpm == 0)
        if good.sum() >= 500:
            ratios.setdefault(record["array"], []).append(
                float(np.median(ext.data[good] / (true_flat[good] / norm))))
    assert len(ratios) == layout.layout.ccds
    for array, values in ratios.items():
        assert np.all(np.abs(np.asarray(values) - 1) < 0.003), (array, values)


def test_e2v_fringe_frame(reduced):
    """The i-band fringe frame of the e2vDD CCDs: the truth pattern at the mean amplitude."""
    layout = reduced("e2v")
    truth = layout.truth
    fringe = layout.open(layout.calibration("fringe"))
    names = combined_names(fringe)
    patterns = truth_data(truth, "fringe", names[0])
    bpms = truth_data(truth, "bpm", names[0])
    good = [(ext.mask == 0) & (bpm == 0) for ext, bpm in zip(fringe, bpms, strict=True)]
    amplitude = fringe_amplitude([ext.data for ext in fringe], patterns, good)
    expected = np.mean([truth["files"][n]["fringe_e_per_pix"] for n in names]) * 4 \
        * flat_normalisation(truth, names[0])
    assert expected > 0
    assert amplitude == pytest.approx(expected, rel=0.05)
    image = layout.open(layout.science)
    assert image.phu["FRINGEIM"] == fringe.filename


# -- science ------------------------------------------------------------------------------
def _stacks(layout: LayoutRun) -> list[str]:
    return [layout.science] + ([layout.offsets] if layout.offsets else [])


@pytest.mark.parametrize("key", KEYS)
def test_sky_level(reduced, key):
    layout = reduced(key)
    truth = layout.truth
    binning = truth["binning"][0] * truth["binning"][1]
    for name in _stacks(layout):
        ad = layout.open(name)
        first = combined_names(ad)[0]
        expected = truth["files"][first]["sky_e_per_pix"] * binning \
            * flat_normalisation(truth, first)
        sky = sky_statistics(ad[0])
        assert abs(sky.median - expected) < max(2.5, 1e-3 * expected), (name, sky, expected)


@pytest.mark.parametrize("key", KEYS)
def test_star_fluxes(reduced, key):
    """Isolated truth stars of S/N > 50 within 2% (or 3 sigma), their mean within 1% (or 3 sigma).

    Every stack (the e2vDD field's also with the telescope offsets); the
    fainter stars of S/N 10-50 within 3 sigma.
    """
    layout = reduced(key)
    truth = layout.truth
    for name in _stacks(layout):
        ad = layout.open(name)
        names = combined_names(ad)
        measured = star_photometry(ad[0], truth, layout.layout.band, names,
                                   flat_normalisation(truth, names[0]), min_snr=10)
        print(f"\n{name} ({layout.layout.dataset}):\n{measured.summary()}")
        bright = measured.snr > 50
        assert bright.sum() >= 1
        ratio, snr = measured.ratio[bright], measured.snr[bright]
        assert np.all(np.abs(ratio - 1) < np.maximum(0.02, 3.0 / snr)), name
        mean_error = 1.0 / np.sqrt(np.sum(snr ** 2))
        assert abs(np.average(ratio, weights=snr ** 2) - 1) < max(0.01, 3 * mean_error), name
        faint = ~bright
        assert np.all(np.abs(measured.ratio[faint] - 1) < 3.0 / measured.snr[faint]), name


@pytest.mark.parametrize("key", [k for k in KEYS if LAYOUTS[k].ccds == 3])
def test_mosaic_geometry(reduced, key):
    """In every frame's mosaic, CCD1 and CCD3 sit where the truth says relative to CCD2.

    Offsets are measured against the truth scene per CCD (see
    test_gmos_imaging); subtracting CCD2's offset of the same frame takes
    out the frame's registration error, leaving the mosaic geometry.
    """
    layout = reduced(key)
    truth = layout.truth
    relative: dict[int, list[tuple[float, float, float]]] = {0: [], 2: []}
    lines = []
    for name in layout.mosaics:
        ad = layout.open(name)
        raw = ad.phu["ORIGNAME"]
        ext = ad[0]
        norm = flat_normalisation(truth, raw)
        fits = [fit_scene(ext, truth, layout.layout.band, [raw], norm, region, margin=3)
                for region in ccd_regions(ext)]
        centre = fits[1]
        lines.append(f"{raw} CCD2: ({centre.dx:+.3f}, {centre.dy:+.3f}) +/- {centre.error:.3f}")
        for k in (0, 2):
            fit = fits[k]
            dx, dy = fit.dx - centre.dx, fit.dy - centre.dy
            error = float(np.hypot(fit.error, centre.error))
            relative[k].append((dx, dy, error))
            lines.append(f"{raw} CCD{k + 1} - CCD2: ({dx:+.3f}, {dy:+.3f}) +/- {error:.3f}")
            if error < 0.05:
                assert np.hypot(dx, dy) < 0.2, lines[-1]
    for k, values in relative.items():
        values = np.asarray(values)
        weights = 1.0 / values[:, 2] ** 2
        mean = (values[:, :2] * weights[:, None]).sum(axis=0) / weights.sum()
        error = 1.0 / np.sqrt(weights.sum())
        lines.append(f"CCD{k + 1} - CCD2 mean: ({mean[0]:+.3f}, {mean[1]:+.3f}) +/- {error:.3f}")
        assert error < 0.06 and np.hypot(*mean) < 0.1, lines[-1]
    print(f"\nmosaic geometry of {layout.layout.dataset}:\n  " + "\n  ".join(lines))


@pytest.mark.parametrize("key", KEYS)
def test_stack_astrometry(reduced, key):
    """The stack is where the truth WCS says: < 0.1 pixel, the sparse e2vDD field's too.

    For that field, no registration shift is applied that its uncertainty
    does not support (the log says when the header WCS was kept).
    """
    layout = reduced(key)
    truth = layout.truth
    for name in _stacks(layout):
        ad = layout.open(name)
        names = combined_names(ad)
        fit = fit_scene(ad[0], truth, layout.layout.band, names,
                        flat_normalisation(truth, names[0]))
        print(f"\n{name}: offset ({fit.dx:+.3f}, {fit.dy:+.3f}) +/- {fit.error:.3f} px, "
              f"flux scale {fit.scale:.3f}")
        assert fit.error < 0.03 and np.hypot(fit.dx, fit.dy) < 0.1
        # the no_data gaps of the frames are filled by the dithers
        assert np.count_nonzero(ad[0].mask & DQ.no_data) < 0.5 * ad[0].data.size
