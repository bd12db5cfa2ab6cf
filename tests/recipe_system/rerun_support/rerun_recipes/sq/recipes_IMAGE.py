"""Science frames of the re-run tests: dark subtraction from the database, then scaling."""

recipe_tags = {"F2", "IMAGE"}


def reduce(p):
    p.addNoiseModel()
    p.subtractDark()
    p.scaleData(factor=0.5, suffix="_reduced")


_default = reduce
