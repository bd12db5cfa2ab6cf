"""gempy .scripts package."""
