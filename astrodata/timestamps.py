"""Timestamp keywords: which PHU keyword records that a primitive has run.

Each primitive that changes a file writes the UT time to its own PHU keyword
(``addDQ`` -> ``ADDDQ``) and to ``GEM-TLM`` (last modification). The presence
of these keywords drives tags: ``GEM-TLM`` removes ``RAW``; any keyword
containing ``PREPAR`` gives ``PREPARED``; ``SUBOVER``/``TRIMOVER`` give
``OVERSCAN_SUBTRACTED``/``OVERSCAN_TRIMMED``; ``PROC*`` (written only by the
``storeProcessed*`` primitives) give ``PROCESSED``; ``BPMASK`` gives ``BPM``.
The keywords below are chosen so that no other primitive triggers any of
those tags by accident (a test checks this).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from astrodata.errors import UnknownTimestampError

__all__ = [
    "TIMESTAMP_KEYWORDS",
    "IMPLIED_TIMESTAMPS",
    "LAST_MODIFICATION_KEYWORD",
    "mark_history",
    "utc_timestamp",
]

#: PHU keyword of the last modification by any primitive; its absence is ``RAW``.
LAST_MODIFICATION_KEYWORD = "GEM-TLM"

#: Primitive name -> PHU timestamp keyword (at most 8 characters, all distinct).
TIMESTAMP_KEYWORDS: dict[str, str] = {
    # standardization
    "prepare": "PREPARE",
    "standardizeObservatoryHeaders": "SDZHDRSG",
    "standardizeInstrumentHeaders": "SDZHDRSI",
    "standardizeStructure": "SDZSTRUC",
    "standardizeWCS": "SDZWCS",
    "validateData": "VALDATA",
    "addDQ": "ADDDQ",
    "addIllumMaskToDQ": "ADDILMSK",
    "addLatencyToDQ": "ADDLATNC",
    "addVAR": "ADDVAR",
    # CCD and near-IR detector corrections
    "subtractOverscan": "SUBOVER",
    "trimOverscan": "TRIMOVER",
    "overscanCorrect": "OVERSCAN",
    "biasCorrect": "BIASCORR",
    "darkCorrect": "DARKCORR",
    "flatCorrect": "FLATCORR",
    "nonlinearityCorrect": "LINCORR",
    "ADUToElectrons": "ADUTOELE",
    "cleanReadout": "CLEANRDT",
    "QECorrect": "QECORR",
    "fringeCorrect": "FRNGCORR",
    "scaleByExposureTime": "EXPSCALE",
    # calibration making
    "stackFrames": "STACKFRM",
    "stackDarks": "STACKDRK",
    "stackFlats": "STACKFLT",
    "stackBiases": "STACKBIA",
    "stackSkyFrames": "STACKSKY",
    "makeBPM": "BPMASK",
    "normalizeFlat": "NORMLIZE",
    "makeLampFlat": "LAMPSTK",
    "thresholdFlatfield": "THRFLAT",
    "makeFringeFrame": "MKFRINGE",
    # geometry
    "mosaicDetectors": "MOSAIC",
    "tileArrays": "TILEARRY",
    # sky
    "separateSky": "SEPSKY",
    "associateSky": "ASSOCSKY",
    "skyCorrect": "SKYCORR",
    "subtractSky": "SUBSKY",
    "subtractSkyBackground": "SKYBKGSB",
    # sources, astrometry, registration
    "detectSources": "DETECSRC",
    "addReferenceCatalog": "ADDREFCT",
    "determineAstrometricSolution": "ASTROMET",
    "addObjectMaskToDQ": "ADDOBJMK",
    "dilateObjectMask": "DILOBJMK",
    "transferObjectMask": "TRNOBJMK",
    "adjustWCSToReference": "ALIGN",
    "resampleToCommonFrame": "RESAMPLE",
    "scaleCountsToReference": "SCALCNTS",
    "flagCosmicRaysByStacking": "FLAGCR",
    # storing processed products (the only PROC* keywords)
    "storeProcessedBias": "PROCBIAS",
    "storeProcessedDark": "PROCDARK",
    "storeProcessedFlat": "PROCFLAT",
    "storeProcessedFringe": "PROCFRNG",
    "storeProcessedBPM": "PROCBPM",
    "storeProcessedStandard": "PROCSTND",
    "storeProcessedScience": "PROCSCI",
    "storeProcessedArc": "PROCARC",
}

#: Primitives that do the work of others and therefore also write their keywords:
#: ``overscanCorrect`` both subtracts and trims the overscan.
IMPLIED_TIMESTAMPS: dict[str, tuple[str, ...]] = {
    "overscanCorrect": ("subtractOverscan", "trimOverscan"),
}


def utc_timestamp() -> str:
    """The current UT time as ``YYYY-MM-DDThh:mm:ss``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _fitting_comment(value: str, comment: str) -> str:
    """``comment`` cut so that the card holding the quoted ``value`` fits in 80 characters.

    (astropy would otherwise truncate it with a warning on every write.)
    """
    room = 80 - 10 - max(20, len(value) + 2) - 3
    return comment if len(comment) <= room else comment[:room]


def mark_history(
    ad: Any, primname: str, keyword: str | None = None, comment: str | None = None
) -> str:
    """Record in the PHU that a primitive has run; returns the timestamp written.

    Writes the UT time to the primitive's keyword (``keyword`` or
    ``TIMESTAMP_KEYWORDS[primname]``), to the keywords of the primitives it
    implies (``IMPLIED_TIMESTAMPS``) and to ``GEM-TLM``, which removes the
    ``RAW`` tag.

    Parameters
    ----------
    ad : AstroData
        Anything with a ``phu`` astropy Header.
    primname : str
        Name of the primitive.
    keyword : str, optional
        Keyword to use instead of the table's.
    comment : str, optional
        Keyword comment; default ``"UT time stamp for <primname>"``.

    Raises
    ------
    UnknownTimestampError
        (an AstroDataError and a KeyError) if ``primname`` is not in the table
        and no ``keyword`` is given.
    """
    if keyword is None:
        try:
            keyword = TIMESTAMP_KEYWORDS[primname]
        except KeyError:
            raise UnknownTimestampError(
                f"primitive {primname!r} has no timestamp keyword; pass keyword= explicitly"
            ) from None
    stamp = utc_timestamp()
    phu = ad.phu
    phu[keyword] = (stamp, _fitting_comment(stamp, comment or f"UT time stamp for {primname}"))
    for implied in IMPLIED_TIMESTAMPS.get(primname, ()):
        phu[TIMESTAMP_KEYWORDS[implied]] = (stamp, _fitting_comment(
            stamp, f"UT time stamp for {implied}"))
    phu[LAST_MODIFICATION_KEYWORD] = (stamp, "UT last modification with astroreduce")
    return stamp
