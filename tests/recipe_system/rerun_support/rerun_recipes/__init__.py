"""Recipes of the re-run tests (registered for f2 by ``rerun_prims``)."""
