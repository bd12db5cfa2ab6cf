"""GMOS quicklook (ql) recipe libraries."""
