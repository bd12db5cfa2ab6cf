"""GSAOI recipe libraries (entry point ``gsaoi``), one sub-package per mode (sq, ql)."""
