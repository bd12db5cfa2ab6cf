"""Flamingos-2 imaging flat recipes (sq): lamp flats and bad pixel masks."""

recipe_tags = {"F2", "IMAGE", "CAL", "FLAT"}


def makeProcessedFlat(p):
    """Lamp-on minus lamp-off stacks, normalized, into a processed flat (``_flat``)."""
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.makeLampFlat()
    p.normalizeFlat()
    p.thresholdFlatfield()
    p.storeProcessedFlat()


def makeProcessedBPM(p):
    """Bad pixel mask (``_bpm``) from lamp flats and short darks (flats first in the list)."""
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
