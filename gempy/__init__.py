"""gempy: library layer (stacking, selection, logging, helper CLIs, simulator)."""
