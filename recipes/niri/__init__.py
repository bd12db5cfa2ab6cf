"""NIRI recipe libraries (entry point ``niri``), one sub-package per mode (sq, ql)."""
