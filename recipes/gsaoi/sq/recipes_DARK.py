"""GSAOI dark recipes (sq): combine raw darks into a processed dark."""

recipe_tags = {"GSAOI", "CAL", "DARK"}


def makeProcessedDark(p):
    """Stack raw darks of one exposure time into a processed dark (``_dark``)."""
    p.prepare()
    p.addDQ(add_illum_mask=False)
    p.nonlinearityCorrect()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.stackDarks()
    p.storeProcessedDark()


_default = makeProcessedDark
