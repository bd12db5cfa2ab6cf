"""gempy .library package."""
