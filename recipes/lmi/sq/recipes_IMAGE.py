"""LMI imaging science recipes (sq): calibration, alignment and stacking."""

recipe_tags = {"LMI", "IMAGE"}


def reduce(p):
    """Overscan-, bias- and flat-correct, align and stack the frames (``_image``)."""
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.flagCosmicRaysByStacking()
    p.scaleCountsToReference()
    p.stackFrames(zero=True)
    p.storeProcessedScience(suffix="_image")


def reduce_nostack(p):
    """Calibrate each frame and align the WCSs, without stacking (``_wcsCorrected``)."""
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.detectSources()
    p.adjustWCSToReference()
    p.writeOutputs()


def alignAndStack(p):
    """Align and stack frames already calibrated."""
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.flagCosmicRaysByStacking()
    p.scaleCountsToReference()
    p.stackFrames(zero=True)


_default = reduce
