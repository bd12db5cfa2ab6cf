"""gempy .sim package."""
