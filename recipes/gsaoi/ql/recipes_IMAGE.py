"""GSAOI imaging science recipes (ql): the sq recipes."""

from recipes.gsaoi.sq.recipes_IMAGE import (
    _default,
    alignAndStack,
    recipe_tags,
    reduce,
    reduce_nostack,
    ultradeep,
)

__all__ = ["_default", "alignAndStack", "recipe_tags", "reduce", "reduce_nostack", "ultradeep"]
