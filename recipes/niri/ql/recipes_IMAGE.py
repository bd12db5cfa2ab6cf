"""NIRI imaging science recipes (ql): the sq recipes."""

from recipes.niri.sq.recipes_IMAGE import (
    _default,
    alignAndStack,
    makeSkyFlat,
    recipe_tags,
    reduce,
    ultradeep,
)

__all__ = ["_default", "alignAndStack", "makeSkyFlat", "recipe_tags", "reduce", "ultradeep"]
