"""Instrument classes for astrodata, registered by entry points."""
