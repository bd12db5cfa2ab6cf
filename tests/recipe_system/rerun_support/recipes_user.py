"""User recipes of the re-run tests (``reduce -r <dir>/recipes_user.<name>``)."""


def chain(p):
    p.scaleData(factor=2.0)
    p.addNoiseModel()
    p.combineFrames()


def interruptible(p):
    p.scaleData(factor=2.0)
    p.addNoiseModel()
    p.waitForRelease()
    p.combineFrames()


def per_file_only(p):
    p.scaleData(factor=3.0)
    p.addNoiseModel(read_noise=7.0)
    p.subtractRowMeans()


def nested(p):
    p.scaleViaNested()


def failing(p):
    p.addNoiseModel()
    p.failOn()


def distorted(p):
    p.distortWCS()
    p.scaleData(factor=2.0)


def flushed(p):
    p.scaleData(factor=2.0)
    p.flushPixels()
    p.addNoiseModel()
    p.combineFrames()
