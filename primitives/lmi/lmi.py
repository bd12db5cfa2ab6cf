"""Class LMI: primitives for every LMI frame ({LMI}): biases, darks, flats and science."""

from typing import Any

from primitives.core.bookkeeping import Bookkeeping
from primitives.core.calibdb import CalibDB
from primitives.core.ccd import CCD
from primitives.core.detector import DetectorCalibration
from primitives.core.preprocess import Preprocess
from primitives.core.stack import Stack
from primitives.core.standardize import Standardize


class LMI(Standardize, DetectorCalibration, Bookkeeping, Preprocess, Stack, CalibDB, CCD):
    """LMI primitives: the core mix-ins of a single-CCD imager, no Gemini class.

    Only two things are LMI's own: a raw file has exactly one image
    extension, and ``prepare`` writes the data label derived from the file
    name to ``DATALAB`` (the raw files have none), so that stacks and
    processed calibrations get labels of their own.
    """

    tagset = frozenset({"LMI"})

    # -- hooks of prepare ---------------------------------------------------------
    def _valid_extension_counts(self, ad: Any) -> frozenset[int]:
        """One CCD read through one amplifier: one image extension."""
        return frozenset({1})

    def _standardize_instrument_headers(self, ad: Any) -> None:
        """The core's detector levels and sections, plus ``DATALAB`` from the file name."""
        super()._standardize_instrument_headers(ad)
        if "DATALAB" not in ad.phu:
            label = ad.data_label()
            if label is not None:
                ad.phu["DATALAB"] = (label, "Data label (raw file name root)")
