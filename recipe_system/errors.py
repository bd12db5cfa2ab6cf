"""Exception hierarchy of the recipe system (the top layer).

Every error that ``reduce``, ``caldb`` and the ``Reduce`` API raise on purpose
derives from :class:`ReduceError`; CLIs turn it into one line on stderr and a
non-zero exit status.
"""


class ReduceError(Exception):
    """Base class of every recipe-system error."""


class RecipeNotFound(ReduceError):
    """No recipe library or recipe matches the inputs and the requested name."""


class ModeError(RecipeNotFound):
    """The requested processing mode (sq, ql, qa) has no recipe package."""


class PrimitivesNotFound(ReduceError):
    """No primitive class matches the tags of the inputs."""


class UnrecognizedParameter(ReduceError):
    """A user parameter names a primitive or a parameter that does not exist."""


class ConfigError(ReduceError):
    """The configuration file (dragonsrc / rsys.cfg) is missing or malformed."""


class CalibrationNotFoundError(ReduceError):
    """A required calibration was not found; raised by ``Reduce`` from the primitives' error."""


class CalibrationDatabaseError(ReduceError):
    """The calibration database cannot be opened, read or written."""
