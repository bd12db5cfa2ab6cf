"""GMOS dark recipes (qa): the sq recipe (darks are taken as daytime series)."""

from recipes.gmos.sq.recipes_DARK import _default, makeProcessedDark, recipe_tags

__all__ = ["_default", "makeProcessedDark", "recipe_tags"]
