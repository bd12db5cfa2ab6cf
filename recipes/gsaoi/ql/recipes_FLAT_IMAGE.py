"""GSAOI imaging flat recipes (ql): the sq recipes."""

from recipes.gsaoi.sq.recipes_FLAT_IMAGE import (
    _default,
    makeProcessedBPM,
    makeProcessedFlat,
    recipe_tags,
)

__all__ = ["_default", "makeProcessedBPM", "makeProcessedFlat", "recipe_tags"]
