"""GMOS recipe libraries (entry point ``gmos``), one sub-package per mode (sq, ql)."""
