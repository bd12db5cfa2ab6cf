"""GMOS imaging flat recipes (ql): the sq recipes."""

from recipes.gmos.sq.recipes_FLAT_IMAGE import _default, makeProcessedFlat, recipe_tags

__all__ = ["_default", "makeProcessedFlat", "recipe_tags"]
