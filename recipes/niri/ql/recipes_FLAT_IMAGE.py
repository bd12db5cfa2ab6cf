"""NIRI imaging flat recipes (ql): the sq recipes."""

from recipes.niri.sq.recipes_FLAT_IMAGE import (
    _default,
    makeProcessedBPM,
    makeProcessedFlat,
    recipe_tags,
)

__all__ = ["_default", "makeProcessedBPM", "makeProcessedFlat", "recipe_tags"]
