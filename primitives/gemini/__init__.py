"""Gemini primitive classes: the base of every Gemini instrument (entry point ``gemini``)."""

from primitives.gemini.gemini import Gemini

__all__ = ["Gemini"]
