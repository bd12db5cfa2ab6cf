"""The dataselect expression language: what it accepts, what it refuses, how it compares."""

import datetime as dt

import pytest

from gempy.adlibrary.selection_expression import (
    AllOf,
    AnyOf,
    Comparison,
    DescriptorRef,
    ExpressionError,
    Literal,
    Negation,
    evaluate_tree,
    parse_expression,
    tree_descriptor_names,
)

KNOWN = {
    "exposure_time", "observation_class", "filter_name", "object", "ut_date", "ut_time",
    "local_time", "ut_datetime", "airmass", "dec", "central_wavelength", "is_ao", "gain",
}


def parse(text):
    return parse_expression(text, KNOWN)


def holds(text, strict=False, **values):
    """Evaluate ``text`` on a file whose descriptors have ``values`` (others None)."""
    return evaluate_tree(parse(text), lambda name: values.get(name), strict=strict)


# ---------------------------------------------------------------- grammar
@pytest.mark.parametrize("text", [
    "exposure_time==60.",
    "exposure_time == 60.",
    'filter_name=="Kshort"',
    "filter_name=='Kshort'",
    '(observation_class=="science" and exposure_time==60.)',
    "observation_class=='science' or not object=='9132'",
    "1 < airmass <= 1.5",
    "dec < -30.5",
    "True",
    "exposure_time==60.\nand object=='NGC5128'",
    "  exposure_time==60.  ",
])
def test_dragons_style_expressions_parse(text):
    tree = parse(text)
    assert isinstance(tree, (Comparison, AllOf, AnyOf, Negation, Literal))


def test_tree_shape_of_a_tutorial_expression():
    tree = parse('(observation_class=="science" and exposure_time==60.)')
    assert isinstance(tree, AllOf)
    first, second = tree.terms
    assert first.operands == (DescriptorRef("observation_class", "observation_class"),
                              Literal("science", '"science"'))
    assert second.ops == ("==",) and second.operands[1].value == 60.0
    assert tree_descriptor_names(tree) == {"observation_class", "exposure_time"}


def test_negative_numbers_are_literals():
    tree = parse("dec < -30")
    assert tree.operands[1].value == -30


# --------------------------------------------------------------- refusals
@pytest.mark.parametrize("text, reason, piece", [
    ("__import__('os').system('touch X')", "calls are not allowed", "__import__('os')"),
    ("ad.__class__", "attribute access is not allowed", "ad.__class__"),
    ("().__class__", "attribute access is not allowed", "().__class__"),
    ("exposure_time.__add__", "attribute access is not allowed", "exposure_time.__add__"),
    ("exposure_time.__add__(1) > 2", "calls are not allowed", "exposure_time.__add__(1)"),
    ("[x for x in ()]", "comprehensions are not allowed", "[x for x in ()]"),
    ("lambda: 1", "lambda functions are not allowed", "lambda: 1"),
    ("a[0]", "subscripts are not allowed", "a[0]"),
    ("exposure_time + 1 > 2", "operators are not allowed", "exposure_time + 1"),
    ("f'{exposure_time}' == '60'", "f-strings are not allowed", "f'{exposure_time}'"),
    ("exposure_time == (1 if True else 2)", "conditional expressions", "1 if True else 2"),
    ("(y := 3) == 3", "assignment expressions", "y := 3"),
    ("exposure_time in (1, 2)", "operator 'in' is not allowed", "exposure_time in (1, 2)"),
    ("exposure_time is None", "operator 'is' is not allowed", "exposure_time is None"),
    ("exposure_time() == 60", "calls are not allowed", "exposure_time()"),
    ("-exposure_time < 3", "unary operators are only allowed on numbers", "-exposure_time"),
])
def test_forbidden_constructs_are_refused_with_the_offending_piece(text, reason, piece):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    message = str(info.value)
    assert reason in message
    assert piece in message
    assert "\n" not in message


@pytest.mark.parametrize("text, fragment", [
    ("exposure_time", "not a condition"),
    ("not exposure_time", "not a condition"),
    ("exposure_time and object=='x'", "not a condition"),
    ("'science'", "literal is not a condition"),
    ("exposure_time > None", "None can only be compared with == or !="),
    ("(exposure_time==1) == True", "conditions cannot be compared"),
    ("filter_name='Kshort'", "use == to test equality"),
    ("exposure_time==1 && object=='x'", "use 'and' / 'or'"),
    ("", "empty expression"),
    ("ut_date > 2013-11-21", "quote dates and times"),
    ("ut_date >= '2013-13-45'", "is not a date"),
    ("ut_time < '25:00:00'", "is not a time"),
    ("exposure_time == b'60'", "not allowed"),
    ("exposure_time == 1j", "not allowed"),
])
def test_malformed_expressions_give_a_clear_error(text, fragment):
    with pytest.raises(ExpressionError, match=None) as info:
        parse(text)
    assert fragment in str(info.value)


def test_unknown_descriptor_suggests_close_names():
    with pytest.raises(ExpressionError) as info:
        parse("exposure_tim==60")
    assert "unknown descriptor 'exposure_tim'" in str(info.value)
    assert "exposure_time" in str(info.value)


def test_unquoted_text_is_reported_as_a_name_to_quote():
    with pytest.raises(ExpressionError) as info:
        parse("filter_name==Kshort")
    assert "quote it: 'Kshort'" in str(info.value)


def test_absurd_nesting_is_refused_not_crashing():
    with pytest.raises(ExpressionError):
        parse("(" * 300 + "exposure_time==1" + ")" * 300)
    with pytest.raises(ExpressionError):
        parse("not " * 200 + "exposure_time==1")


def test_overlong_expression_is_refused():
    with pytest.raises(ExpressionError, match="longer than"):
        parse(" or ".join(["exposure_time==1"] * 1000))


# -------------------------------------------------------------- semantics
def test_exposure_time_equality_has_one_percent_tolerance_unless_strict():
    assert holds("exposure_time==60", exposure_time=60.4)
    assert not holds("exposure_time==60", exposure_time=61.0)
    assert not holds("exposure_time!=60", exposure_time=60.4)
    assert not holds("exposure_time==60", strict=True, exposure_time=60.4)
    assert holds("exposure_time==60", strict=True, exposure_time=60.0)
    # the tolerance applies to equality only, not to ordering
    assert not holds("exposure_time<60", exposure_time=60.4)


def test_central_wavelength_tolerance_is_1e_5():
    assert holds("central_wavelength==2.15", central_wavelength=2.150002)
    assert not holds("central_wavelength==2.15", central_wavelength=2.1501)


def test_other_floats_compare_exactly():
    assert not holds("airmass==1.0", airmass=1.001)
    assert holds("1 < airmass <= 1.5", airmass=1.5)
    assert not holds("1 < airmass <= 1.5", airmass=1.0)


def test_none_compares_false_except_equality_with_none():
    assert not holds("exposure_time==60")
    assert not holds("exposure_time!=60")
    assert not holds("exposure_time<60")
    assert holds("exposure_time==None")
    assert not holds("exposure_time!=None")
    assert holds("exposure_time!=None", exposure_time=3.0)
    assert not holds("exposure_time==None", exposure_time=3.0)
    assert holds("not exposure_time==60")


def test_dates_times_and_datetimes():
    date = dt.date(2013, 11, 21)
    assert holds("ut_date=='2013-11-21'", ut_date=date)
    assert holds("ut_date>='2013-11-20' and ut_date<'2013-11-22'", ut_date=date)
    assert not holds("ut_date>'2013-11-21'", ut_date=date)
    assert holds("ut_time<'06:00:00'", ut_time=dt.time(5, 59, 59, 500000))
    assert holds("local_time>='18:30:00'", local_time=dt.time(19, 0))
    moment = dt.datetime(2013, 11, 21, 5, 0, 0)
    assert holds("ut_datetime>'2013-11-21 04:59:59'", ut_datetime=moment)
    assert holds("ut_datetime=='2013-11-21T05:00:00'", ut_datetime=moment)
    # a descriptor giving a datetime where a date is expected still compares as a date
    assert holds("ut_date=='2013-11-21'", ut_date=moment)


def test_numbers_and_numeric_strings_compare_numerically():
    assert holds("object==9132", object="9132")
    assert holds('object=="9132"', object="9132")
    assert not holds("object==9132", object="NGC5128")
    assert holds("object!=9132", object="NGC5128")
    assert not holds("object>3", object="NGC5128")
    assert holds('exposure_time=="60"', exposure_time=60.0)


def test_strings_compare_exactly_and_case_sensitively():
    assert holds("observation_class=='science'", observation_class="science")
    assert not holds("observation_class=='Science'", observation_class="science")


def test_booleans():
    assert holds("is_ao==True", is_ao=True)
    assert not holds("is_ao==True", is_ao=False)
    assert holds("True")
    assert not holds("False or not True")


def test_per_extension_lists_must_all_satisfy():
    assert holds("gain>2", gain=[2.4, 2.1, 2.6])
    assert not holds("gain>2.2", gain=[2.4, 2.1, 2.6])
    assert not holds("gain==2.4", gain=[2.4, 2.1])
    assert not holds("gain>1", gain=[])


def test_and_or_short_circuit_lookups():
    looked_up = []

    def lookup(name):
        looked_up.append(name)
        return {"observation_class": "dayCal"}.get(name)

    tree = parse("observation_class=='science' and exposure_time==60")
    assert evaluate_tree(tree, lookup) is False
    assert looked_up == ["observation_class"]
