"""Primitive mix-in Stack: Stacking of frames (stackFrames and its bias/dark/flat/sky variants)."""

from primitives.base import PrimitivesBASE


class Stack(PrimitivesBASE):
    """Stacking of frames (stackFrames and its bias/dark/flat/sky variants)."""

    tagset = None
