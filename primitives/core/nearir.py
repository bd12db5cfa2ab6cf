"""Primitive mix-in NearIR: near-infrared detectors (lamp flats, BPMs, readout cleaning)."""

from primitives.core.bookkeeping import Bookkeeping


class NearIR(Bookkeeping):
    """Near-infrared detector primitives (makeLampFlat, makeBPM, cleanReadout...)."""

    tagset = None
