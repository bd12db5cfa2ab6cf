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
    "ButlerError",
    "CalibrationDatabaseError",
    "CalibrationNotFoundError",
    "ConfigError",
    "ModeError",
    "PrimitivesNotFound",
    "RecipeNotFound",
    "ReduceError",
    "UnrecognizedParameter",
]


def __getattr__(name: str):
    # ButlerError lives with the Butler; imported on first use so that
    # ``import recipe_system`` stays light for the command-line tools.
    if name == "ButlerError":
        from recipe_system.butler import ButlerError

        return ButlerError
    raise AttributeError(f"module 'recipe_system' has no attribute {name!r}")
