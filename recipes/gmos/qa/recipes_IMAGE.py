"""GMOS imaging science recipes (qa): per-frame metrics and a stack built up on disk.

Each new frame is calibrated (a missing bias, flat or fringe frame only gives
a warning in qa mode), mosaicked and measured (``measureIQ``, ``measureBG``,
``measureCC``: PHU keywords and ``qa_metrics.jsonl``), then added to the
``forStack`` list that ``stack`` combines.

DRAGONS's ``makeFringeForQA`` (a fringe frame made on the fly from the
night's frames) is not used: the fringe frame comes from the calibration
database as in sq mode (``makeProcessedFringe``). A fringe frame made from
the few dithered frames of one target at the start of a qa sequence keeps
part of the sources the median should remove and adds noise to the frames
it corrects.
"""

recipe_tags = {"GMOS", "IMAGE"}
blocked_tags = {"THRUSLIT"}


def reduce_nostack(p):
    """Calibrate, mosaic and measure one frame, and add it to the ``forStack`` list."""
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.fringeCorrect()
    p.mosaicDetectors()
    p.detectSources()
    p.measureIQ(display=True)
    p.measureBG()
    p.addReferenceCatalog()
    p.determineAstrometricSolution()
    p.measureCC()
    p.addToList(purpose="forStack")


def stack(p):
    """Align and stack every frame of the ``forStack`` list so far, and measure the stack."""
    p.getList(purpose="forStack")
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.stackFrames(zero=True)
    p.detectSources(suffix="_stack")
    p.measureIQ(display=True)
    p.writeOutputs()


def reduce(p):
    """reduce_nostack, then stack the ``forStack`` list (the new frame included)."""
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.flatCorrect()
    p.fringeCorrect()
    p.mosaicDetectors()
    p.detectSources()
    p.measureIQ(display=True)
    p.measureBG()
    p.addReferenceCatalog()
    p.determineAstrometricSolution()
    p.measureCC()
    p.addToList(purpose="forStack")
    p.getList(purpose="forStack")
    p.adjustWCSToReference()
    p.resampleToCommonFrame()
    p.stackFrames(zero=True)
    p.detectSources(suffix="_stack")
    p.measureIQ(display=True)
    p.writeOutputs()


_default = reduce_nostack
