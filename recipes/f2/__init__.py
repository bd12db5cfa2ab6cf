"""Flamingos-2 recipe libraries (entry point ``f2``), one sub-package per mode (sq, ql)."""
