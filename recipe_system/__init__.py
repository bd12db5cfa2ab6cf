"""astroreduce reduction framework: recipe system (top layer)."""

from recipe_system.errors import (  # noqa: E402
    CalibrationDatabaseError,
    CalibrationNotFoundError,
    ConfigError,
    ModeError,
    PrimitivesNotFound,
    RecipeNotFound,
    ReduceError,
    UnrecognizedParameter,
)

__all__ = [
    "CalibrationDatabaseError",
    "CalibrationNotFoundError",
    "ConfigError",
    "ModeError",
    "PrimitivesNotFound",
    "RecipeNotFound",
    "ReduceError",
    "UnrecognizedParameter",
]
