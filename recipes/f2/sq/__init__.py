"""Flamingos-2 science-quality (sq) recipe libraries."""
