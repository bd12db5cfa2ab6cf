"""astroreduce reduction framework: recipe system (top layer)."""
