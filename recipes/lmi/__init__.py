"""LMI recipe libraries (entry point ``lmi``), one sub-package per mode (sq)."""
