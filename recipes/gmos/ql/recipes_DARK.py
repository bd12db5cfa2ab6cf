"""GMOS dark recipes (ql): the sq recipes."""

from recipes.gmos.sq.recipes_DARK import _default, makeProcessedDark, recipe_tags

__all__ = ["_default", "makeProcessedDark", "recipe_tags"]
