"""LMI imaging flat recipes (sq): dome or sky flats into a processed flat."""

recipe_tags = {"LMI", "IMAGE", "CAL", "FLAT"}


def makeProcessedFlat(p):
    """Overscan- and bias-correct dome or sky flats, stack, normalize, flag dead pixels (``_flat``).

    ``thresholdFlatfield`` flags pixels that hardly respond to light (DQ 64)
    and sets the flat to 1 there, so dividing by the flat never blows up
    noise; ``flatCorrect`` carries the flags to the science frames.
    """
    p.prepare(require_wcs=False)
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.stackFlats()
    p.normalizeFlat()
    p.thresholdFlatfield()
    p.storeProcessedFlat()


_default = makeProcessedFlat
