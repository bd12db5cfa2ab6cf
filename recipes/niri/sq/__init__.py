"""NIRI science-quality (sq) recipe libraries."""
