"""Flamingos-2 quicklook (ql) recipe libraries."""
