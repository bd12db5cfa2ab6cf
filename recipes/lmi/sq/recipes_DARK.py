"""LMI dark recipes (sq): combine raw darks into a processed dark."""

recipe_tags = {"LMI", "CAL", "DARK"}


def makeProcessedDark(p):
    """Overscan- and bias-correct, then stack raw darks into a processed dark (``_dark``)."""
    p.prepare(require_wcs=False)
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.stackDarks()
    p.storeProcessedDark()


_default = makeProcessedDark
