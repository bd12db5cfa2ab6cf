"""NIRI imaging science recipes (sq): sky subtraction, alignment and stacking."""

recipe_tags = {"NIRI", "IMAGE"}


def reduce(p):
    """Dark- and flat-correct, subtract the sky in two passes, align and stack (``_image``)."""
    p.prepare()
    p.addDQ()
    p.removeFirstFrame()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.darkCorrect()
    p.flatCorrect()
    p.separateSky()
    p.associateSky(stream="sky")
    p.skyCorrect(instream="sky", mask_objects=False, outstream="skysub")
    p.detectSources(stream="skysub")
    p.transferAttribute(stream="sky", source="skysub", attribute="OBJMASK")
    p.clearStream(stream="skysub")
    p.associateSky()
    p.skyCorrect(mask_objects=True)
    p.cleanReadout()
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()
    p.storeProcessedScience(suffix="_image")


def ultradeep(p):
    """Like reduce, then a second sky pass masking the objects found on the first stack."""
    p.prepare()
    p.addDQ()
    p.removeFirstFrame()
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


def ultradeep_part1(p):
    """Ultradeep, part 1 of 3: remove the instrumental signatures (``_flatCorrected`` files).

    Run parts 2 and 3 on its outputs; the split lets a failed sky or stack
    step be redone without repeating the calibration.
    """
    p.prepare()
    p.addDQ()
    p.removeFirstFrame()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.darkCorrect()
    p.flatCorrect()


def ultradeep_part2(p):
    """Ultradeep, part 2 of 3: from the ``_flatCorrected`` frames, a first stack (``_stack``).

    Sources found on that stack are mapped back onto each flat-corrected frame
    (aligned WCS and OBJMASK), written as ``_objmaskTransferred`` for part 3.
    """
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
    p.detectSources(suffix="_stack")
    p.writeOutputs()
    p.transferObjectMask(instream="flat_corrected", outstream="main", source="main")
    p.clearStream(stream="flat_corrected")


def ultradeep_part3(p):
    """Ultradeep, part 3 of 3: from the ``_objmaskTransferred`` frames, the final stack.

    The sky is subtracted again with the objects of the deep stack masked.
    """
    p.dilateObjectMask(dilation=2)
    p.separateSky()
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


def alignAndStack(p):
    """Align and stack frames already reduced (e.g. several partial stacks)."""
    p.detectSources()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()


_default = reduce
