"""Class Gemini: primitives common to every Gemini instrument ({GEMINI})."""

from primitives.core.bookkeeping import Bookkeeping
from primitives.core.calibdb import CalibDB
from primitives.core.detector import DetectorCalibration
from primitives.core.preprocess import Preprocess
from primitives.core.qa import QA
from primitives.core.stack import Stack
from primitives.core.standardize import Standardize
from primitives.core.visualize import Visualize


class Gemini(Standardize, DetectorCalibration, Bookkeeping, Preprocess, Visualize, Stack,
             QA, CalibDB):
    """Primitives for data from any Gemini instrument.

    Instrument classes subclass it and override primitives or parameter
    defaults (``param_defaults``).
    """

    tagset = frozenset({"GEMINI"})
