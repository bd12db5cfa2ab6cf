"""GMOS imaging science recipes (ql): the sq recipes."""

from recipes.gmos.sq.recipes_IMAGE import (
    _default,
    alignAndStack,
    blocked_tags,
    makeIRAFCompatible,
    makeProcessedFringe,
    recipe_tags,
    reduce,
    reduce_nostack,
    reducePreimage,
    reduceSeparateCCDs,
    reduceSeparateCCDsCentral,
)

__all__ = ["_default", "alignAndStack", "blocked_tags", "makeIRAFCompatible",
           "makeProcessedFringe", "recipe_tags", "reduce", "reduce_nostack", "reducePreimage",
           "reduceSeparateCCDs", "reduceSeparateCCDsCentral"]
