"""GMOS imaging flat recipes (qa): twilight flats checked and accumulated one at a time."""

recipe_tags = {"GMOS", "IMAGE", "CAL", "FLAT"}


def makeProcessedFlat(p):
    """Check the counts of each twilight, add it to the ``forFlat`` list and stack all
    twilights so far into a normalized flat (``_qa_flat``).
    """
    p.prepare(require_wcs=False)
    p.addDQ()
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.biasCorrect()
    p.ADUToElectrons()
    p.addVAR(poisson_noise=True)
    p.checkFlatCounts()
    p.addToList(purpose="forFlat")
    p.getList(purpose="forFlat")
    p.stackFlats()
    p.normalizeFlat()
    p.storeProcessedFlat()


_default = makeProcessedFlat
