"""Flamingos-2 imaging science recipes (sq): sky subtraction, alignment and stacking."""

recipe_tags = {"F2", "IMAGE"}


def reduce(p):
    """Dark- and flat-correct, subtract the sky in two passes, align and stack (``_image``)."""
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.darkCorrect()
    p.flatCorrect()
    p.flushPixels()
    p.separateSky()
    p.associateSky(stream="sky")
    p.skyCorrect(instream="sky", mask_objects=False, outstream="skysub")
    p.detectSources(stream="skysub")
    p.transferAttribute(stream="sky", source="skysub", attribute="OBJMASK")
    p.clearStream(stream="skysub")
    p.associateSky()
    p.skyCorrect(mask_objects=True)
    p.flushPixels()
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()
    p.writeOutputs()
    p.storeProcessedScience(suffix="_image")


def ultradeep(p):
    """Like reduce, then a second sky pass masking the objects found on the first stack."""
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.darkCorrect()
    p.flatCorrect()
    p.copyInputs(outstream="flat_corrected")
    p.separateSky()
    p.associateSky(stream="sky")
    p.skyCorrect(instream="sky", mask_objects=False, outstream="skysub")
    p.detectSources(stream="skysub")
    p.transferAttribute(stream="sky", source="skysub", attribute="OBJMASK")
    p.clearStream(stream="skysub")
    p.associateSky()
    p.skyCorrect(mask_objects=True)
    p.detectSources()
    p.adjustWCSToReference()
    p.transferAttribute(stream="flat_corrected", source="main", attribute="wcs")
    p.flushPixels()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()
    p.detectSources()
    p.writeOutputs()
    p.transferObjectMask(instream="flat_corrected", outstream="main", source="main")
    p.clearStream(stream="flat_corrected")
    p.dilateObjectMask(dilation=2)
    p.separateSky()
    p.associateSky()
    p.skyCorrect(mask_objects=True)
    p.flushPixels()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()
    p.writeOutputs()
    p.storeProcessedScience(suffix="_image")


def makeSkyFlat(p):
    """Flat field from the science frames themselves, objects masked (``_flat``)."""
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.darkCorrect()
    p.stackFrames(operation="median", scale=True, outstream="fastsky")
    p.normalizeFlat(stream="fastsky")
    p.thresholdFlatfield(stream="fastsky")
    p.flatCorrect(flat=p.streams["fastsky"][0], outstream="flattened")
    p.detectSources(stream="flattened")
    p.dilateObjectMask(dilation=10, stream="flattened")
    p.addObjectMaskToDQ(stream="flattened")
    p.transferAttribute(source="flattened", attribute="mask")
    p.clearStream(stream="flattened")
    p.scaleByIntensity()
    p.stackFrames(operation="mean", scale=True, reject_method="minmax", nlow=0, nhigh=1)
    p.normalizeFlat()
    p.thresholdFlatfield()
    p.storeProcessedFlat(force=True)


def alignAndStack(p):
    """Align and stack frames already reduced (e.g. several partial stacks)."""
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()


def makeIRAFCompatible(p):
    """Rewrite processed frames so that Gemini IRAF tasks accept them."""
    p.makeIRAFCompatible()
    p.writeOutputs()


_default = reduce
