"""NIRI quicklook (ql) recipe libraries."""
