"""Flamingos-2 imaging flat recipes (qa): lamp flats accumulated one file at a time."""

recipe_tags = {"F2", "IMAGE", "CAL", "FLAT"}


def makeProcessedFlat(p):
    """Add each new lamp flat to the ``forFlat`` list and make the flat from all of them
    (``_qa_flat``); it needs lamp-on and lamp-off frames in the list.
    """
    p.prepare()
    p.addDQ()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.addToList(purpose="forFlat")
    p.getList(purpose="forFlat")
    p.makeLampFlat()
    p.normalizeFlat()
    p.thresholdFlatfield()
    p.storeProcessedFlat()


_default = makeProcessedFlat
