"""LMI science-quality (sq) recipe libraries."""
