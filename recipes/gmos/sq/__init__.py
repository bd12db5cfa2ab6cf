"""GMOS science-quality (sq) recipe libraries."""
