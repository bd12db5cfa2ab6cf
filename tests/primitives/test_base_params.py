"""Parameter declaration, inheritance, instrument defaults, typing, validation and precedence."""

import logging

import pytest

from primitives.base import PrimitivesBASE
from primitives.errors import ParameterError
from primitives.params import (
    Param,
    UnknownParameterError,
    check_declarations,
    default_values,
    normalize_user_params,
    primitive,
    primitive_names,
    resolve_params,
)


class StackMixin(PrimitivesBASE):
    """A toy mix-in with a stacking-like parameter set."""

    @primitive(
        suffix=Param(str, "_stack", "Filename suffix"),
        operation=Param(str, "mean", "Combining operation",
                        choices=("mean", "wtmean", "median", "lmedian")),
        hsigma=Param(float, 3.0, "High rejection threshold", min=0.0),
        nlow=Param(int, 0, "Low pixels rejected", min=0),
        memory=Param(float, 1.0, "Memory budget in GB", optional=True),
        scale=Param(bool, False, "Scale the inputs"),
        tags=Param(list, None, "Tags", item=str),
    )
    def stackFrames(self, adinputs=None, **params):
        """Record the parameters received (so tests can inspect them)."""
        self.received = dict(params)
        return adinputs

    @primitive(inherit="stackFrames", exclude="tags",
               suffix=Param(str, "_skyStacked", "Filename suffix"),
               dilation=Param(float, 2.0, "Object mask dilation", min=0.0))
    def stackSkyFrames(self, adinputs=None, **params):
        """Nested call with an explicit value."""
        self.sky_received = dict(params)
        return self.stackFrames(adinputs, operation="median")

    @primitive(params_from=("stackSkyFrames",), exclude=("suffix",),
               suffix=Param(str, "_skyCorrected", "Filename suffix"),
               scale_sky=Param(bool, True, "Scale the sky"),
               offset_sky=Param(bool, False, "Offset the sky"))
    def skyCorrect(self, adinputs=None, **params):
        """Inherits stackSkyFrames (and therefore stackFrames)."""
        self.sky_correct_received = dict(params)
        return adinputs


class Instrument(StackMixin):
    tagset = frozenset({"GEMINI", "TOY"})
    param_defaults = {
        "stackFrames": {"hsigma": 5},
        "stackSkyFrames": {"dilation": 6},
        "skyCorrect": {"scale_sky": False, "offset_sky": True},
    }


class InstrumentImage(Instrument):
    tagset = frozenset({"GEMINI", "TOY", "IMAGE"})
    param_defaults = {"stackFrames": {"hsigma": 7.5, "operation": "median"}}

    @primitive(inherit="stackFrames", lsigma=Param(float, 3.0, "Low threshold"))
    def stackFrames(self, adinputs=None, **params):
        """Override of the parent's stackFrames adding one parameter."""
        self.received = dict(params)
        return adinputs


# -- declaration and inheritance ---------------------------------------------------

def test_declared_defaults_and_docs():
    params = resolve_params(StackMixin, "stackFrames")
    assert list(params) == ["suffix", "operation", "hsigma", "nlow", "memory", "scale", "tags"]
    assert params["operation"].doc == "Combining operation"
    assert params["operation"].choices == ("mean", "wtmean", "median", "lmedian")
    assert "one of 'mean'" in params["operation"].describe()
    assert params["memory"].optional and params["tags"].optional


def test_inherit_replace_and_exclude():
    sky = resolve_params(StackMixin, "stackSkyFrames")
    assert sky["suffix"].default == "_skyStacked"
    assert sky["operation"].default == "mean"
    assert "tags" not in sky and sky["dilation"].default == 2.0
    corr = resolve_params(StackMixin, "skyCorrect")
    assert corr["suffix"].default == "_skyCorrected"
    assert {"dilation", "hsigma", "scale_sky", "offset_sky"} <= set(corr)


def test_instrument_defaults_merge_along_mro_and_reach_inheritors():
    assert default_values(Instrument, "stackFrames")["hsigma"] == 5.0
    # the class override of stackFrames/stackSkyFrames reaches skyCorrect
    corr = default_values(Instrument, "skyCorrect")
    assert corr["hsigma"] == 5.0 and corr["dilation"] == 6.0
    assert corr["scale_sky"] is False and corr["offset_sky"] is True
    # most derived class wins, base class entries for other primitives kept
    image = default_values(InstrumentImage, "stackFrames")
    assert image["hsigma"] == 7.5 and image["operation"] == "median"
    assert image["lsigma"] == 3.0                      # override inherits its own name
    assert default_values(InstrumentImage, "skyCorrect")["offset_sky"] is True
    # the mix-in itself is unchanged
    assert default_values(StackMixin, "stackFrames")["hsigma"] == 3.0


def test_bad_param_defaults_are_reported():
    class Broken(StackMixin):
        param_defaults = {"stackFrames": {"hsigmaa": 2.0}}

    with pytest.raises(TypeError, match="hsigmaa"):
        check_declarations(Broken)

    class BadValue(StackMixin):
        param_defaults = {"stackFrames": {"operation": "average"}}

    with pytest.raises(TypeError, match="operation"):
        resolve_params(BadValue, "stackFrames")


def test_bad_declarations_fail_at_import_time():
    with pytest.raises(TypeError, match="default"):
        Param(int, "three", "bad default")
    with pytest.raises(TypeError, match="reserved"):
        primitive(skip_primitive=Param(bool, False, "x"))
    with pytest.raises(TypeError, match="Param"):
        primitive(x=3)


def test_primitive_names_include_inherited():
    assert primitive_names(InstrumentImage) == ["skyCorrect", "stackFrames", "stackSkyFrames"]


# -- typing and validation --------------------------------------------------------

@pytest.mark.parametrize("dtype,text,expected", [
    (int, "3", 3), (int, "3.0", 3), (float, "2.5", 2.5), (float, "4", 4.0),
    (bool, "True", True), (bool, "false", False), (bool, "yes", True), (bool, "0", False),
    (str, "'median'", "median"), (str, '"a b"', "a b"), ((str, float), "1.5", 1.5),
    ((str, float), "sky", "sky"), (object, "S001.fits", "S001.fits"),
])
def test_user_strings_are_typed(dtype, text, expected):
    value = Param(dtype, None, "x").convert(text, "prim", "par")
    assert value == expected and type(value) is type(expected)


def test_list_and_none_typing():
    tags = Param(list, None, "tags", item=str)
    assert tags.convert("DARK, FLAT", "p", "tags") == ["DARK", "FLAT"]
    assert tags.convert("DARK", "p", "tags") == ["DARK"]
    assert tags.convert("None", "p", "tags") is None
    nums = Param(list, [1.0], "n", item=float, min=0)
    assert nums.convert("1,2.5", "p", "n") == [1.0, 2.5]
    with pytest.raises(ParameterError, match=">= 0"):
        nums.convert("1,-2", "p", "n")


@pytest.mark.parametrize("param,value,fragment", [
    (Param(int, 0, "n"), "x", "expected int"),
    (Param(int, 0, "n"), 2.5, "expected int"),
    (Param(float, 1.0, "f", min=0.0), "-1", ">= 0.0"),
    (Param(float, 1.0, "f", max=2.0), 3, "<= 2.0"),
    (Param(str, "mean", "o", choices=("mean", "median")), "average", "one of 'mean'"),
    (Param(bool, False, "b"), "maybe", "expected bool"),
    (Param(str, "a", "s"), "None", "None is not allowed"),
    (Param(float, 1.0, "f"), True, "boolean"),
])
def test_invalid_values_name_primitive_parameter_and_value(param, value, fragment):
    with pytest.raises(ParameterError) as info:
        param.convert(value, "stackFrames", "hsigma")
    message = str(info.value)
    assert "stackFrames" in message and "hsigma" in message and fragment in message
    assert repr(value) in message or str(value) in message


def test_normalize_user_params_forms():
    assert normalize_user_params(None) == {}
    assert normalize_user_params({"a:b": 1}) == {"a:b": 1}
    assert normalize_user_params([("addDQ:user_bpm", "bpm.fits")]) == {"addDQ:user_bpm": "bpm.fits"}
    assert normalize_user_params(["x=1", "p:y='two'"]) == {"x": "1", "p:y": "two"}
    assert normalize_user_params("hsigma=4") == {"hsigma": "4"}
    assert normalize_user_params(["x=1", "x=2"]) == {"x": "2"}
    with pytest.raises(ParameterError, match="form"):
        normalize_user_params(["novalue"])


# -- user parameters at construction -----------------------------------------------

def test_unknown_primitive_or_parameter_did_you_mean():
    with pytest.raises(UnknownParameterError) as info:
        Instrument([], uparms={"stackFrame:hsigma": 1})
    assert "did you mean 'stackFrames'" in str(info.value)
    assert info.value.suggestions[0] == "stackFrames"
    with pytest.raises(UnknownParameterError, match="did you mean 'hsigma'"):
        Instrument([], uparms=["stackFrames:hsigm=1"])
    with pytest.raises(UnknownParameterError, match="did you mean 'offset_sky'"):
        Instrument([], uparms=["Offset_Sky=1"])
    with pytest.raises(UnknownParameterError, match="no primitive of Instrument"):
        Instrument([], uparms=["zzzz=1"])


def test_user_values_are_validated_at_construction():
    with pytest.raises(ParameterError, match=r"(skyCorrect|stackFrames|stackSkyFrames): nlow='x'"):
        Instrument([], uparms=["nlow=x"])
    with pytest.raises(ParameterError, match="stream keywords"):
        Instrument([], uparms=["stackFrames:outstream=x"])
    with pytest.raises(ParameterError, match="mode"):
        Instrument([], mode="fast")


def test_params_view_applies_user_values():
    p = Instrument([], uparms=[("stackFrames:hsigma", "2"), ("nlow", "3"),
                               ("operation", "median"), ("stackSkyFrames:operation", "lmedian")])
    sf = p.params["stackFrames"]
    assert sf["hsigma"] == 2.0 and sf["nlow"] == 3 and sf["operation"] == "median"
    # a prim:par key beats a bare par key
    assert p.params["stackSkyFrames"]["operation"] == "lmedian"
    assert p.params["skyCorrect"]["hsigma"] == 5.0      # not addressed to skyCorrect
    assert set(p.params) == {"skyCorrect", "stackFrames", "stackSkyFrames"}


# -- precedence during calls ---------------------------------------------------------

def test_recipe_kwargs_beat_defaults():
    p = Instrument([])
    p.stackFrames(operation="wtmean", hsigma=4)
    assert p.received["operation"] == "wtmean" and p.received["hsigma"] == 4.0
    assert p.received["memory"] == 1.0
    assert "skip_primitive" not in p.received and "write_outputs" not in p.received


def test_user_value_beats_recipe_value_and_is_logged(caplog):
    p = Instrument([], uparms=["skyCorrect:offset_sky=False", "scale=True"])
    with caplog.at_level(logging.DEBUG):
        p.skyCorrect(offset_sky=True, scale_sky=True)
    assert p.sky_correct_received["offset_sky"] is False
    assert p.sky_correct_received["scale_sky"] is True
    assert p.sky_correct_received["scale"] is True
    notes = [r.getMessage() for r in caplog.records
             if "replaces the recipe value" in r.getMessage()]
    assert notes == ["User value offset_sky=False replaces the recipe value offset_sky=True"]


def test_nested_call_keeps_the_callers_value():
    p = Instrument([], uparms=["operation=wtmean"])
    p.stackSkyFrames()
    assert p.sky_received["operation"] == "wtmean"      # top level: user wins over default
    assert p.received["operation"] == "median"          # nested: the caller's explicit value


def test_unknown_recipe_kwarg_is_an_error():
    p = Instrument([])
    with pytest.raises(UnknownParameterError, match="did you mean 'hsigma'"):
        p.stackFrames(hsigmaa=3)
    with pytest.raises(ParameterError, match="operation='average'"):
        p.stackFrames(operation="average")
