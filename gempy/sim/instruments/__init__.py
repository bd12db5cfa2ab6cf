"""Instrument descriptions for the simulator: F2, GSAOI, GMOS (Hamamatsu, e2vDD), NIRI."""

from .base import SCALE_SMALL, InstrumentModel
from .f2 import F2
from .gmos import GMOS, GMOS_N_E2V, GMOS_S_HAMAMATSU
from .gsaoi import GSAOI
from .niri import NIRI

__all__ = ["InstrumentModel", "SCALE_SMALL", "F2", "GSAOI", "GMOS", "GMOS_S_HAMAMATSU",
           "GMOS_N_E2V", "NIRI"]
