"""GMOS imaging science recipes (sq): calibration, mosaicking, alignment and stacking."""

recipe_tags = {"GMOS", "IMAGE"}
blocked_tags = {"THRUSLIT"}


def reduce(p):
    """Bias/flat/fringe-correct, mosaic the CCDs, align and stack (``_image``)."""
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.fringeCorrect()
    p.QECorrect()
    p.mosaicDetectors()
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.flagCosmicRaysByStacking()
    p.scaleCountsToReference()
    p.stackFrames(zero=True)
    p.storeProcessedScience(suffix="_image")


def reduce_nostack(p):
    """Calibrate and mosaic each frame, find sources and align, without stacking."""
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.fringeCorrect()
    p.QECorrect()
    p.mosaicDetectors()
    p.detectSources()
    p.adjustWCSToReference()
    p.writeOutputs()


def reducePreimage(p):
    """Like reduce, trimmed to the common area and made IRAF-compatible (MOS pre-images)."""
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.fringeCorrect()
    p.QECorrect()
    p.mosaicDetectors()
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame(trim_data=True)
    p.flagCosmicRaysByStacking()
    p.scaleCountsToReference()
    p.stackFrames(zero=True)
    p.applyDQPlane()
    p.makeIRAFCompatible()
    p.storeProcessedScience(suffix="_image")


def reduceSeparateCCDs(p):
    """Align and stack each CCD separately, then merge the three stacks (``_separateCCDs``).

    Stored under its own name, so that it never replaces the default
    recipe's ``_image`` stack in ``calibrations/processed_science``.
    """
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.fringeCorrect()
    p.tileArrays(tile_all=False)
    p.sliceIntoStreams(root_stream_name="ccd")
    p.clearStream()
    p.detectSources(stream="ccd1")
    p.adjustWCSToReference(stream="ccd1")
    p.resampleToCommonFrame(stream="ccd1")
    p.flagCosmicRaysByStacking(stream="ccd1")
    p.scaleCountsToReference(stream="ccd1")
    p.stackFrames(stream="ccd1", zero=True)
    p.appendStream(from_stream="ccd1")
    p.detectSources(stream="ccd2")
    p.adjustWCSToReference(stream="ccd2")
    p.resampleToCommonFrame(stream="ccd2")
    p.flagCosmicRaysByStacking(stream="ccd2")
    p.scaleCountsToReference(stream="ccd2")
    p.stackFrames(stream="ccd2", zero=True)
    p.appendStream(from_stream="ccd2")
    p.detectSources(stream="ccd3")
    p.adjustWCSToReference(stream="ccd3")
    p.resampleToCommonFrame(stream="ccd3")
    p.flagCosmicRaysByStacking(stream="ccd3")
    p.scaleCountsToReference(stream="ccd3")
    p.stackFrames(stream="ccd3", zero=True)
    p.appendStream(from_stream="ccd3")
    p.mergeInputs()
    p.storeProcessedScience(suffix="_separateCCDs")


def reduceSeparateCCDsCentral(p):
    """Align all CCDs with the central CCD's solution, stack each, merge (``_separateCCDsCentral``).

    Stored under its own name, as ``reduceSeparateCCDs``.
    """
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.fringeCorrect()
    p.tileArrays(tile_all=False)
    p.sliceIntoStreams(root_stream_name="ccd")
    p.detectSources(stream="ccd2")
    p.adjustWCSToReference(stream="ccd2")
    p.transferAttribute(source="ccd2", attribute="wcs")
    p.clearStream(stream="ccd2")
    p.sliceIntoStreams(root_stream_name="ccd")
    p.clearStream()
    p.resampleToCommonFrame(stream="ccd1")
    p.scaleCountsToReference(stream="ccd1")
    p.stackFrames(stream="ccd1", zero=True)
    p.appendStream(from_stream="ccd1")
    p.resampleToCommonFrame(stream="ccd2")
    p.scaleCountsToReference(stream="ccd2")
    p.stackFrames(stream="ccd2", zero=True)
    p.appendStream(from_stream="ccd2")
    p.resampleToCommonFrame(stream="ccd3")
    p.scaleCountsToReference(stream="ccd3")
    p.stackFrames(stream="ccd3", zero=True)
    p.appendStream(from_stream="ccd3")
    p.mergeInputs()
    p.storeProcessedScience(suffix="_separateCCDsCentral")


def makeProcessedFringe(p):
    """Fringe frame (``_fringe``) from bias- and flat-corrected science frames."""
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.makeFringeFrame()
    p.storeProcessedFringe()


def alignAndStack(p):
    """Align and stack frames already calibrated and mosaicked."""
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.flagCosmicRaysByStacking()
    p.scaleCountsToReference()
    p.stackFrames(zero=True)


def makeIRAFCompatible(p):
    """Rewrite processed frames so that Gemini IRAF tasks accept them."""
    p.makeIRAFCompatible()
    p.writeOutputs()


_default = reduce
