"""gempy .utils package."""
