"""LMI bias recipes (sq): combine raw biases into a processed bias."""

recipe_tags = {"LMI", "CAL", "BIAS"}


def makeProcessedBias(p):
    """Overscan-correct and stack raw biases into a processed bias (``_bias``)."""
    p.prepare(require_wcs=False)
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.stackBiases()
    p.storeProcessedBias()


_default = makeProcessedBias
