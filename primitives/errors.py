"""Errors raised by primitives, rooted in :class:`astrodata.AstroDataError`."""

from astrodata.errors import AstroDataError


class PrimitiveError(AstroDataError):
    """A primitive cannot proceed; the message names the file and the problem."""


class CalibrationNotFoundError(PrimitiveError):
    """A required calibration was not found (science-quality mode).

    The message names the calibration type, the file that needed it, the
    association rule and, when known, the nearest candidates and what differs.
    """


class ParameterError(PrimitiveError):
    """A primitive parameter has a wrong type, value or combination."""
