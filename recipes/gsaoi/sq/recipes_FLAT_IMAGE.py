"""GSAOI imaging flat recipes (sq): dome flats and bad pixel masks."""

recipe_tags = {"GSAOI", "IMAGE", "CAL", "FLAT"}


def makeProcessedFlat(p):
    """Lamp-on minus lamp-off dome flat stacks, normalized, into a processed flat (``_flat``)."""
    p.prepare()
    p.addDQ()
    p.nonlinearityCorrect()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.makeLampFlat()
    p.normalizeFlat()
    p.thresholdFlatfield()
    p.storeProcessedFlat()


def makeProcessedBPM(p):
    """Bad pixel mask (``_bpm``) from dome flats and short darks (flats first in the list)."""
    p.prepare()
    p.addDQ()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.ADUToElectrons()
    p.selectFromInputs(tags="DARK", outstream="darks")
    p.selectFromInputs(tags="FLAT")
    p.stackFrames(stream="darks")
    p.makeLampFlat()
    p.normalizeFlat()
    p.makeBPM()


_default = makeProcessedFlat
