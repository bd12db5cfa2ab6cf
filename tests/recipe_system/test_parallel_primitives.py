"""The built-in per-file primitives give the same bytes in worker processes as in this one."""

import sys
from pathlib import Path

import numpy as np
import pytest

import astrodata
from primitives.f2 import F2, F2Image
from primitives.gmos import GMOS, GMOSImage
from recipe_system.executors import LocalExecutor

sys.path.insert(0, str(Path(__file__).resolve().parent / "rerun_support"))
pytest_plugins = ["rerun_fixtures"]

#: The F2 science chain up to detectSources: (primitive, parameters).
CHAIN = [
    ("prepare", {}),
    ("addDQ", {}),
    ("ADUToElectrons", {}),
    ("addVAR", {"read_noise": True, "poisson_noise": True}),
    ("nonlinearityCorrect", {}),
    ("darkCorrect", {"dark": "DARK"}),
    ("flatCorrect", {"flat": "FLAT"}),
    ("detectSources", {}),
]


def native(array):
    """Type and bytes of `array` in native byte order (a FITS file holds big-endian)."""
    if array is None:
        return None
    array = np.asarray(array)
    native_type = array.dtype.newbyteorder("=")
    return native_type.str, array.astype(native_type).tobytes()


def planes(ad):
    """Every pixel plane and table of `ad` (type and bytes), extension by extension."""
    result = []
    for ext in ad:
        nd = ext.nddata
        result += [native(nd.data), native(nd.variance), native(nd.mask)]
        objcat = getattr(ext, "OBJCAT", None)
        result.append(None if objcat is None else
                      [native(objcat[c]) for c in objcat.colnames])
        result.append(native(getattr(ext, "OBJMASK", None)))
    return result


def calibration(path, directory, kind):
    """A processed-like calibration from one raw F2 frame: dark as it is, flat normalised."""
    p = F2([astrodata.open(path)])
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    ad = p.streams["main"][0]
    if kind == "flat":
        for ext in ad:
            ext.divide(np.float32(np.nanmedian(ext.data)))
    target = str(directory / f"{kind}.fits")
    ad.write(target, overwrite=True)
    return target


@pytest.fixture
def executor():
    pool = LocalExecutor(2, min_pixels=0, shared=False)
    yield pool
    pool.close()


def test_f2_per_file_primitives_in_workers_give_the_serial_bytes(f2_raw, workdir, executor):
    dark = calibration(f2_raw["dark"][0], workdir, "dark")
    flat = calibration(f2_raw["flat_lamp_on"][0], workdir, "flat")
    files = f2_raw["science"][:3]
    serial = F2Image([astrodata.open(f) for f in files])
    parallel = F2Image([astrodata.open(f) for f in files])
    parallel.executor = executor
    for name, params in CHAIN:
        declaration = getattr(F2Image, name)._primitive
        values = {k: {"DARK": dark, "FLAT": flat}.get(v, v) for k, v in params.items()}
        assert declaration.runs_per_file(_defaults(name, values)), name
        getattr(serial, name)(**values)
        sent = len(parallel.transfer_files)
        getattr(parallel, name)(**values)
        # the outputs came back from the workers as files (one per input)
        assert len(parallel.transfer_files) >= sent + len(files), name
        for a, b in zip(serial.streams["main"], parallel.streams["main"], strict=True):
            assert a.filename == b.filename
            assert planes(a) == planes(b), f"{name}: {a.filename} differs"
    # the chain did something measurable: sources found, variance positive
    out = serial.streams["main"][0]
    assert len(out[0].OBJCAT) > 0
    assert np.nanmin(out[0].variance) > 0


def _defaults(name, values):
    """The resolved parameters of a call of `name` with `values` (defaults filled in)."""
    resolved = {par: p.default for par, p in F2Image.parameters(name).items()}
    resolved.update(values)
    return resolved


@pytest.mark.parametrize(("cls", "name", "params", "expected"), [
    (F2, "addDQ", {"latency": True}, False),        # latency: earlier frames matter
    (F2, "addDQ", {"latency": False}, True),
    (F2, "darkCorrect", {"dark": ["a.fits", "b.fits"]}, False),   # one dark per input
    (F2, "darkCorrect", {"dark": "a.fits"}, True),
    (F2, "flatCorrect", {"flat": ["a.fits", "b.fits"]}, False),
    (GMOS, "biasCorrect", {"bias": ["a.fits", "b.fits"]}, False),
    (GMOS, "biasCorrect", {"bias": None}, True),
    (GMOS, "subtractOverscan", {}, True),
    (GMOSImage, "QECorrect", {}, False),          # common factors: median over the inputs
    (GMOSImage, "QECorrect", {"common": False}, True),
    (GMOSImage, "fringeCorrect", {"scale_factor": [1.0, 2.0]}, False),
    (GMOSImage, "fringeCorrect", {}, True),
])
def test_per_file_only_where_each_output_depends_on_its_input_alone(cls, name, params,
                                                                    expected):
    resolved = {par: p.default for par, p in cls.parameters(name).items()}
    resolved.update(params)
    assert getattr(cls, name)._primitive.runs_per_file(resolved) is expected


def test_side_effect_primitives_are_never_reused():
    from primitives.core.preprocess import Preprocess

    declaration = Preprocess.subtractSky._primitive
    assert declaration.reusable({"save_sky": False}) is True
    assert declaration.reusable({"save_sky": True}) is False       # writes _sky files


def test_in_a_recorded_step_only_the_image_size_decides(tmp_path):
    """Results saved anyway: the hand-over is mostly work done in any case, cheap steps go too."""
    from primitives import base
    from recipe_system.cache import StepCache, _StepContext
    from recipe_system.executors import handover_seconds

    def frames(shape):
        result = []
        for _ in range(2):
            ad = astrodata.create({"INSTRUME": "F2"})
            ad.append(np.zeros(shape, dtype=np.float32))
            result.append(ad)
        return result

    large, small = frames((1024, 1100)), frames((64, 64))
    p = F2Image(large)
    p.executor = LocalExecutor(2, shared=False)          # default min_pixels (1e6)
    label = "test_in_a_recorded_step"
    base._SECONDS_PER_FILE[label] = 0.1 * handover_seconds(1024 * 1100)
    try:
        assert not p._parallel_worthwhile(large, label)     # cheaper than the hand-over
        cache = StepCache(tmp_path / "cache")
        p._step_context = _StepContext(cache, None)           # a step not recorded
        assert not p._parallel_worthwhile(large, label)
        p._step_context = _StepContext(cache, "k" * 40)       # results saved as checkpoints
        assert p._step_context.saves_results
        assert p._parallel_worthwhile(large, label)
        assert not p._parallel_worthwhile(small, label)     # below min_pixels: stays here
    finally:
        del base._SECONDS_PER_FILE[label]
        p.executor.close()
