"""Recipe libraries: structure, plainness (one primitive call a line) and primitive sequences."""

import ast
import importlib
import inspect
from collections import defaultdict

import pytest

from recipe_system import registry

INSTRUMENTS = ("f2", "gsaoi", "gmos", "niri")


def libraries(mode):
    for inst in INSTRUMENTS:
        for module in registry.recipe_modules(inst, mode):
            yield inst, module


def recipes_of(module):
    return {name: fn for name, fn in vars(module).items()
            if inspect.isfunction(fn) and not name.startswith("_")}


class Recorder:
    """Stands in for a primitive object: records the calls a recipe makes, in order."""

    def __init__(self):
        self.calls = []
        self.streams = defaultdict(lambda: ["<stream item>"])

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, kwargs))
            return []
        return record


def run(recipe):
    p = Recorder()
    recipe(p)
    return p.calls


@pytest.mark.parametrize("mode", ["sq", "ql"])
def test_every_library_is_well_formed(mode):
    found = list(libraries(mode))
    assert len(found) == 13                 # f2 3, gsaoi 3, gmos 4, niri 3
    for inst, module in found:
        tags = module.recipe_tags
        assert isinstance(tags, set) and tags and all(t.isupper() for t in tags)
        assert inst.upper() in tags or (inst == "f2" and "F2" in tags)
        assert isinstance(getattr(module, "blocked_tags", set()), set)
        recipes = recipes_of(module)
        assert module._default in recipes.values(), module.__name__
        for name, fn in recipes.items():
            assert fn.__doc__, f"{module.__name__}.{name} has no docstring"


def test_ql_libraries_mirror_sq():
    sq = {m.__name__.replace(".sq.", ".X."): m for _, m in libraries("sq")}
    ql = {m.__name__.replace(".ql.", ".X."): m for _, m in libraries("ql")}
    assert sq.keys() == ql.keys()
    for key, module in sq.items():
        assert ql[key].recipe_tags == module.recipe_tags
        assert getattr(ql[key], "blocked_tags", None) == getattr(module, "blocked_tags", None)
    f2_ql = importlib.import_module("recipes.f2.ql.recipes_IMAGE")
    calls = run(f2_ql.reduce)
    assert ("associateSky", {"max_skies": 9}) in calls           # one sky pass, 9 skies max
    assert [c for c, _ in calls].count("skyCorrect") == 1


def test_recipes_are_plain_one_primitive_call_a_line():
    for mode in ("sq", "ql"):
        for _, module in libraries(mode):
            source = inspect.getsource(module)
            tree = ast.parse(source)
            for node in tree.body:
                if not isinstance(node, ast.FunctionDef):
                    continue
                assert [a.arg for a in node.args.args] == ["p"], node.name
                body = node.body[1:] if isinstance(node.body[0].value, ast.Constant) else node.body
                lines = set()
                for statement in body:
                    assert isinstance(statement, ast.Expr), f"{module.__name__}.{node.name}"
                    call = statement.value
                    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    assert isinstance(call.func.value, ast.Name) and call.func.value.id == "p"
                    assert not call.args, f"{node.name}: {call.func.attr} positional args"
                    assert statement.lineno not in lines
                    lines.add(statement.lineno)


def names(calls):
    return [name for name, _ in calls]


def test_f2_recipes_follow_dragons():
    dark = importlib.import_module("recipes.f2.sq.recipes_DARK")
    assert run(dark.makeProcessedDark) == [
        ("prepare", {}), ("addDQ", {"add_illum_mask": False}), ("ADUToElectrons", {}),
        ("addVAR", {"read_noise": True, "poisson_noise": True}), ("nonlinearityCorrect", {}),
        ("stackDarks", {}), ("storeProcessedDark", {})]
    flat = importlib.import_module("recipes.f2.sq.recipes_FLAT_IMAGE")
    bpm = run(flat.makeProcessedBPM)
    assert bpm[4:7] == [("selectFromInputs", {"tags": "DARK", "outstream": "darks"}),
                        ("selectFromInputs", {"tags": "FLAT"}),
                        ("stackFrames", {"stream": "darks"})]
    assert names(bpm)[-1] == "makeBPM"
    image = importlib.import_module("recipes.f2.sq.recipes_IMAGE")
    reduce_calls = run(image.reduce)
    assert ("skyCorrect", {"instream": "sky", "mask_objects": False,
                           "outstream": "skysub"}) in reduce_calls
    assert ("transferAttribute", {"stream": "sky", "source": "skysub",
                                  "attribute": "OBJMASK"}) in reduce_calls
    assert ("clearStream", {"stream": "skysub"}) in reduce_calls
    assert reduce_calls[-1] == ("storeProcessedScience", {"suffix": "_image"})
    assert names(reduce_calls)[:8] == ["prepare", "addDQ", "ADUToElectrons", "addVAR",
                                       "nonlinearityCorrect", "darkCorrect", "flatCorrect",
                                       "flushPixels"]
    sky_flat = run(image.makeSkyFlat)
    assert ("stackFrames", {"operation": "median", "scale": True,
                            "outstream": "fastsky"}) in sky_flat
    assert sky_flat[-1] == ("storeProcessedFlat", {"force": True})


def test_gsaoi_default_keeps_sky_subtracted_frames():
    image = importlib.import_module("recipes.gsaoi.sq.recipes_IMAGE")
    assert image._default is image.reduce_nostack
    calls = names(run(image.reduce_nostack))
    assert "darkCorrect" not in calls and calls[-1] == "skyCorrect"
    full = names(run(image.reduce))
    assert full.index("addReferenceCatalog") < full.index("determineAstrometricSolution") \
        < full.index("adjustWCSToReference") < full.index("stackFrames")


def test_gmos_and_niri_recipes():
    bias = importlib.import_module("recipes.gmos.sq.recipes_BIAS")
    assert run(bias.makeProcessedBias) == [
        ("prepare", {"require_wcs": False}), ("addDQ", {"add_illum_mask": False}),
        ("addVAR", {"read_noise": True}), ("overscanCorrect", {}), ("stackBiases", {}),
        ("storeProcessedBias", {})]
    dark = importlib.import_module("recipes.gmos.sq.recipes_DARK")
    assert ("stackDarks", {"reject_method": "varclip"}) in run(dark.makeProcessedDark)
    image = importlib.import_module("recipes.gmos.sq.recipes_IMAGE")
    assert image.blocked_tags == {"THRUSLIT"}
    assert ("stackFrames", {"zero": True}) in run(image.reduce)
    ccds = run(image.reduceSeparateCCDs)
    assert ("sliceIntoStreams", {"root_stream_name": "ccd"}) in ccds
    assert names(ccds)[-2:] == ["mergeInputs", "storeProcessedScience"]
    niri = importlib.import_module("recipes.niri.sq.recipes_IMAGE")
    assert names(run(niri.reduce))[2] == "removeFirstFrame"
    niri_bpm = importlib.import_module("recipes.niri.sq.recipes_FLAT_IMAGE")
    assert names(run(niri_bpm.makeProcessedBPM))[:2] == ["prepare", "ADUToElectrons"]
