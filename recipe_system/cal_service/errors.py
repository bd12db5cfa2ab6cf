"""Errors of the calibration service, all :class:`recipe_system.ReduceError` subclasses."""

from __future__ import annotations

from recipe_system.errors import CalibrationDatabaseError

__all__ = [
    "CalibrationRefused",
    "DatabaseNotInitialised",
    "NotInDatabase",
    "UserCalibrationError",
]


class CalibrationRefused(CalibrationDatabaseError):
    """A file cannot be added to a calibration database.

    Attributes
    ----------
    path : str
        The file refused.
    reason : str
        Why, in a few words (the message is ``"<path>: <reason>"``).
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DatabaseNotInitialised(CalibrationDatabaseError):
    """The calibration database does not exist yet (``caldb init`` creates it)."""


class NotInDatabase(CalibrationDatabaseError):
    """A file name asked for is not in the calibration database."""


class UserCalibrationError(CalibrationDatabaseError):
    """A ``--user_cal``/``ucals`` entry is malformed or names a missing file."""
