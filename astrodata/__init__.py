"""astrodata package."""
