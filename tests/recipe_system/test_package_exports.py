"""The recipe_system package re-exports its public exceptions."""

import pytest

import recipe_system
from recipe_system.butler import ButlerError
from recipe_system.errors import ReduceError


def test_butler_error_is_reexported_and_is_a_reduce_error():
    assert recipe_system.ButlerError is ButlerError
    assert issubclass(recipe_system.ButlerError, ReduceError)
    assert "ButlerError" in recipe_system.__all__


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NotAThing'"):
        recipe_system.NotAThing  # noqa: B018
