"""GMOS bias recipes (ql): the sq recipes."""

from recipes.gmos.sq.recipes_BIAS import _default, makeProcessedBias, recipe_tags

__all__ = ["_default", "makeProcessedBias", "recipe_tags"]
