"""NIRI dark recipes (qa): darks accumulated one file at a time."""

recipe_tags = {"NIRI", "CAL", "DARK"}


def makeProcessedDark(p):
    """Add each new dark to the ``forDark`` list and stack all darks so far (``_qa_dark``).

    The list (per observation group) lives in ``.reducecache/stkindex.json``;
    with a single dark the stack is that dark.
    """
    p.prepare()
    p.addDQ(add_illum_mask=False)
    p.nonlinearityCorrect()
    p.ADUToElectrons()
    p.addVAR(read_noise=True, poisson_noise=True)
    p.addToList(purpose="forDark")
    p.getList(purpose="forDark")
    p.stackDarks()
    p.storeProcessedDark()


_default = makeProcessedDark
