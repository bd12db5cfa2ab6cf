"""Command-line entry points of the recipe system (``reduce``, ``caldb``, ``demo``)."""
