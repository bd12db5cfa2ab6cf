"""GSAOI science-quality (sq) recipe libraries."""
