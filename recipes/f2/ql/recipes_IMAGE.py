"""Flamingos-2 imaging science recipes (ql): one sky pass, at most nine skies a frame."""

from recipes.f2.sq.recipes_IMAGE import alignAndStack, makeIRAFCompatible, makeSkyFlat

__all__ = ["_default", "alignAndStack", "makeIRAFCompatible", "makeSkyFlat", "recipe_tags",
           "reduce"]

recipe_tags = {"F2", "IMAGE"}


def reduce(p):
    """Quick look: dark/flat correction, one sky pass, align and stack (``_image``)."""
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.darkCorrect()
    p.flatCorrect()
    p.separateSky()
    p.associateSky(max_skies=9)
    p.skyCorrect()
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()
    p.storeProcessedScience(suffix="_image")


_default = reduce
