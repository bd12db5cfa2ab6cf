"""GSAOI quicklook (ql) recipe libraries."""
