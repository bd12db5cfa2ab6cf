"""PrimitiveMapper: choose the primitive class whose tagset best matches a dataset."""

from __future__ import annotations

from collections.abc import Iterable

from recipe_system import registry
from recipe_system.errors import PrimitivesNotFound


class PrimitiveMapper:
    """Find the primitive class for a dataset.

    Candidates are the public classes with a non-None ``tagset`` in the
    primitive module registered for the instrument; the class whose tagset is
    a subset of the dataset's tags and has the most tags wins (on a tie, the
    first in the module's ``__all__`` order).

    Parameters
    ----------
    dtags : iterable of str
        Tags of the dataset (of its first file).
    instrument : str
        Instrument key (``f2``, ``gsaoi``, ``gmos``, ``niri``, or a plug-in).
    mode : str
        Processing mode (kept for symmetry with RecipeMapper).
    """

    def __init__(self, dtags: Iterable[str], instrument: str | None, mode: str = "sq") -> None:
        self.tags = frozenset(dtags)
        self.instrument = instrument
        self.mode = mode

    def candidates(self) -> list[type]:
        """Every candidate class of the instrument, matching or not."""
        if self.instrument is None:
            raise PrimitivesNotFound("the first input has no instrument; cannot choose "
                                     "primitives")
        return registry.primitive_classes(self.instrument)

    def get_applicable_primitives(self) -> type:
        """The best matching class.

        Raises
        ------
        PrimitivesNotFound
            If no class's tagset is contained in the dataset's tags.
        """
        best: type | None = None
        for cls in self.candidates():
            tagset = frozenset(cls.tagset)
            if tagset <= self.tags and (best is None or len(tagset) > len(best.tagset)):
                best = cls
        if best is None:
            raise PrimitivesNotFound(f"no primitive class of {self.instrument!r} matches the "
                                     f"tags {', '.join(sorted(self.tags))}")
        return best
