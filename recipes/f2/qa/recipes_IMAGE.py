"""Flamingos-2 imaging science recipes (qa): per-frame metrics, skies and stacks built up on disk.

At the telescope each new frame is reduced on its own (``reduce --qa FILE``).
The seeing, sky brightness and zero point are measured (``measureIQ``,
``measureBG``, ``measureCC``: PHU keywords and ``qa_metrics.jsonl``) before
and after sky subtraction. Sky frames come from the ``forSky`` list of the
frames reduced so far (at most nine, the nearest in time); the
sky-subtracted frames (``_skyCorrected``; the names differ from those of the
``forSky`` files) go to the ``forStack`` list, which ``stack`` combines.
A missing dark or flat only gives a warning in qa mode.
"""

recipe_tags = {"F2", "IMAGE"}


def reduce_nostack(p):
    """Calibrate one frame, measure it, subtract a sky from the earlier frames, measure again.
    """
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.darkCorrect()
    p.flatCorrect()
    p.detectSources()
    p.measureIQ(display=True)
    p.measureBG()
    p.addReferenceCatalog()
    p.determineAstrometricSolution()
    p.measureCC()
    p.addToList(purpose="forSky")
    p.getList(purpose="forSky", max_frames=9, outstream="sky")
    p.associateSky()
    p.skyCorrect(mask_objects=True)
    p.detectSources(suffix="_skyCorrected")
    p.measureIQ(display=True)
    p.determineAstrometricSolution(suffix="_skyCorrected")
    p.measureCC()
    p.addToList(purpose="forStack")


def stack(p):
    """Align and stack every frame of the ``forStack`` list so far, and measure the stack."""
    p.getList(purpose="forStack")
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()
    p.detectSources(suffix="_stack")
    p.measureIQ(display=True)
    p.writeOutputs()


def reduce(p):
    """reduce_nostack, then stack the ``forStack`` list (the new frame included)."""
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.darkCorrect()
    p.flatCorrect()
    p.detectSources()
    p.measureIQ(display=True)
    p.measureBG()
    p.addReferenceCatalog()
    p.determineAstrometricSolution()
    p.measureCC()
    p.addToList(purpose="forSky")
    p.getList(purpose="forSky", max_frames=9, outstream="sky")
    p.associateSky()
    p.skyCorrect(mask_objects=True)
    p.detectSources(suffix="_skyCorrected")
    p.measureIQ(display=True)
    p.determineAstrometricSolution(suffix="_skyCorrected")
    p.measureCC()
    p.addToList(purpose="forStack")
    p.getList(purpose="forStack")
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.scaleCountsToReference()
    p.stackFrames()
    p.detectSources(suffix="_stack")
    p.measureIQ(display=True)
    p.writeOutputs()


_default = reduce_nostack
