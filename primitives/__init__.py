"""Primitive classes per instrument, built from core mix-ins."""
