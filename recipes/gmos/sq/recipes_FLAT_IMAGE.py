"""GMOS imaging flat recipes (sq): twilight flats into a processed flat."""

recipe_tags = {"GMOS", "IMAGE", "CAL", "FLAT"}


def makeProcessedFlat(p):
    """Overscan- and bias-correct twilight flats, stack and normalize (``_flat``)."""
    p.prepare(require_wcs=False)
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.stackFlats()
    p.normalizeFlat()
    p.storeProcessedFlat()


_default = makeProcessedFlat
