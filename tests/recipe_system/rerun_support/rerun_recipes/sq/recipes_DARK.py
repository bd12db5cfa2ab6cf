"""Darks of the re-run tests: a noise model, a mean, stored as processed darks."""

recipe_tags = {"F2", "CAL", "DARK"}


def makeProcessedDark(p):
    p.addNoiseModel()
    p.combineFrames(suffix="_dark")
    p.storeProcessedDark()


_default = makeProcessedDark
