"""GSAOI imaging science recipes (sq): sky subtraction, astrometry, alignment and stacking.

The default is ``reduce_nostack``, as in the GSAOI tutorial: the sky-subtracted
frames (``_skyCorrected``) are the products, because GSAOI's strong field
distortion is usually corrected by a dedicated stacking tool. ``reduce`` goes
on to the astrometric solution, resampling and stacking.
"""

recipe_tags = {"GSAOI", "IMAGE"}


def reduce_nostack(p):
    """Flat-correct and subtract the sky in two passes (``_skyCorrected`` frames)."""
    p.prepare()
    p.addDQ()
    p.nonlinearityCorrect()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
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


def reduce(p):
    """Flat-correct, two-pass sky, astrometry against a catalogue, align and stack."""
    p.prepare()
    p.addDQ()
    p.nonlinearityCorrect()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
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
    p.detectSources()
    p.writeOutputs()
    p.addReferenceCatalog()
    p.determineAstrometricSolution()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()
    p.storeProcessedScience(suffix="_image")


def ultradeep(p):
    """Like reduce, then a second sky pass masking the objects found on the first stack."""
    p.prepare()
    p.addDQ()
    p.nonlinearityCorrect()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
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
    p.addReferenceCatalog()
    p.determineAstrometricSolution()
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


def ultradeep_part1(p):
    """Ultradeep, part 1 of 3: remove the instrumental signatures (``_flatCorrected`` files).

    Run parts 2 and 3 on its outputs; the split lets a failed sky or stack
    step be redone without repeating the calibration.
    """
    p.prepare()
    p.addDQ()
    p.nonlinearityCorrect()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
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
    p.addReferenceCatalog()
    p.determineAstrometricSolution()
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
    """Astrometry, alignment and stacking of frames already sky-subtracted, with OBJCATs."""
    p.addReferenceCatalog()
    p.determineAstrometricSolution()
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()


_default = reduce_nostack
