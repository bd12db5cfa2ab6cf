"""GMOS bias recipes (qa): biases accumulated one file at a time, with level checks."""

recipe_tags = {"GMOS", "CAL", "BIAS"}


def makeProcessedBias(p):
    """Check the overscan-corrected level, add the bias to the ``forBias`` list and stack
    all biases so far (``_qa_bias``).
    """
    p.prepare(require_wcs=False)
    p.addDQ(add_illum_mask=False)
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.checkBiasOSCO()
    p.addToList(purpose="forBias")
    p.getList(purpose="forBias")
    p.stackBiases()
    p.storeProcessedBias()


def checkBias(p):
    """Check a bias against its overscan and against the processed bias of the database."""
    p.prepare(require_wcs=False)
    p.addDQ(add_illum_mask=False)
    p.addVAR(read_noise=True)
    p.overscanCorrect()
    p.checkBiasOSCO()
    p.biasCorrect()
    p.checkBiasBICO()


_default = makeProcessedBias
