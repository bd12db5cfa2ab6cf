"""Flamingos-2 dark recipes (sq): combine raw darks into a processed dark."""

recipe_tags = {"F2", "CAL", "DARK"}


def makeProcessedDark(p):
    """Stack raw darks of one exposure time into a processed dark (``_dark``)."""
    p.prepare()
    p.addDQ(add_illum_mask=False)
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.nonlinearityCorrect()
    p.stackDarks()
    p.storeProcessedDark()


_default = makeProcessedDark
