"""Tags: the TagSet record, the ``@astro_data_tag`` decorator and tag resolution.

A tag method returns a :class:`TagSet` describing the tags it wants to add,
the tags it removes or blocks, and the conditions under which it applies.
:func:`resolve_tags` combines the TagSets of all the tag methods of an object
into a frozenset of tag names, deterministically (see its docstring).
"""

from __future__ import annotations

import functools
import logging
from collections import namedtuple
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["TagSet", "astro_data_tag", "resolve_tags", "collect_tagsets", "tag_methods"]

log = logging.getLogger("astrodata")

# Exceptions a tag method raises when a header keyword is missing (KeyError)
# or malformed (ValueError, TypeError, IndexError, AttributeError on a None
# value): the tag simply does not apply.
_DEGRADING_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError)


def _as_set(value: Any) -> set[str]:
    """Turn None, a string or an iterable of strings into a set of strings."""
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    return set(value)


_TagSetBase = namedtuple("_TagSetBase", ["add", "remove", "blocked_by", "blocks", "if_present"])


class TagSet(_TagSetBase):
    """What one tag method says about an object.

    Parameters
    ----------
    add : set of str
        Tags to add.
    remove : set of str
        Tags that later (lower-priority) TagSets may no longer add.
    blocked_by : set of str
        This TagSet is ignored if any of these tags is already present.
    blocks : set of str
        Later TagSets that would add any of these tags are ignored.
    if_present : set of str
        This TagSet applies only if all of these tags are already present.

    All fields are optional and converted to sets (a single string counts as
    one tag, not as a sequence of characters).

    Examples
    --------
    >>> TagSet({'DARK', 'CAL'}, blocks={'IMAGE', 'SPECT'})
    TagSet(add={'CAL', 'DARK'}, remove=set(), blocked_by=set(), blocks={'IMAGE', 'SPECT'}, if_present=set())
    """  # noqa: E501

    __slots__ = ()

    def __new__(
        cls,
        add: Iterable[str] | str | None = None,
        remove: Iterable[str] | str | None = None,
        blocked_by: Iterable[str] | str | None = None,
        blocks: Iterable[str] | str | None = None,
        if_present: Iterable[str] | str | None = None,
    ) -> TagSet:
        return super().__new__(
            cls,
            _as_set(add),
            _as_set(remove),
            _as_set(blocked_by),
            _as_set(blocks),
            _as_set(if_present),
        )

    def __repr__(self) -> str:
        def fmt(s: set[str]) -> str:
            return "{" + ", ".join(repr(t) for t in sorted(s)) + "}" if s else "set()"

        fields = ", ".join(f"{name}={fmt(getattr(self, name))}" for name in self._fields)
        return f"TagSet({fields})"

    def is_empty(self) -> bool:
        """True when the TagSet neither adds, removes nor blocks anything."""
        return not (self.add or self.remove or self.blocks)


def astro_data_tag(fn: Callable[..., TagSet | None]) -> Callable[..., TagSet]:
    """Mark a method as a tag method and normalise what it returns.

    The wrapped method always returns a :class:`TagSet`:

    - ``None`` becomes an empty TagSet;
    - a missing or malformed header value (``KeyError``, ``ValueError``,
      ``TypeError``, ``IndexError`` or ``AttributeError`` raised *inside* the
      method) becomes an empty TagSet, logged at DEBUG level;
    - returning anything other than a TagSet or None raises ``TypeError``.
    """

    @functools.wraps(fn)
    def wrapper(self: Any) -> TagSet:
        try:
            ret = fn(self)
        except _DEGRADING_ERRORS as err:
            log.debug("tag method %s gives no tag: %s: %s", fn.__name__, type(err).__name__, err)
            return TagSet()
        if ret is None:
            return TagSet()
        if not isinstance(ret, TagSet):
            raise TypeError(
                f"tag method {fn.__qualname__} returned {type(ret).__name__}; "
                "a tag method must return a TagSet or None"
            )
        return ret

    wrapper.tag_method = True  # type: ignore[attr-defined]
    return wrapper


_TAG_METHODS: dict[type, list[str]] = {}


def tag_methods(cls: type) -> list[str]:
    """Names of the tag methods of a class, sorted alphabetically.

    A subclass that overrides a tag method under the same name replaces it,
    so it is counted once. The list is computed once per class.
    """
    cached = _TAG_METHODS.get(cls)
    if cached is not None:
        return cached
    names = []
    for name in dir(cls):
        if name.startswith("__"):
            continue
        attr = getattr(cls, name, None)
        if callable(attr) and getattr(attr, "tag_method", False):
            names.append(name)
    names.sort()
    _TAG_METHODS[cls] = names
    return names


def collect_tagsets(obj: Any) -> list[TagSet]:
    """Call every tag method of ``obj`` (alphabetical order of method names)."""
    return [getattr(obj, name)() for name in tag_methods(type(obj))]


def resolve_tags(tagsets: Iterable[TagSet]) -> frozenset[str]:
    """Combine TagSets into the final set of tags.

    The algorithm is deterministic:

    1. Drop the TagSets that neither add, remove nor block anything.
    2. Order the rest by, in decreasing priority: fewer ``if_present`` tags
       first; then fewer ``blocked_by`` tags first; then more
       ``remove`` + ``blocks`` tags first. Ties keep the input order (the
       alphabetical order of the tag-method names in :func:`collect_tagsets`).
    3. Walk the ordered list, keeping three sets: the tags, the removed tags
       and the blocked tags, all empty at the start. A TagSet is skipped if
       any of its ``if_present`` tags is not yet in the tags, if any of its
       ``blocked_by`` tags is already in the tags, or if any of its ``add``
       tags is blocked. Otherwise its ``remove`` tags join the removed set,
       its ``add`` tags that are not removed join the tags, and its
       ``blocks`` join the blocked set.

    Removing a tag only prevents later TagSets from adding it; a tag that was
    already added stays. So a TagSet that removes or blocks must sort before
    the ones it acts on, which step 2 ensures for the usual cases (e.g. a
    DARK TagSet blocking IMAGE is applied before the plain IMAGE TagSet).

    Parameters
    ----------
    tagsets : iterable of TagSet

    Returns
    -------
    frozenset of str
    """
    ordered = [ts for ts in tagsets if not ts.is_empty()]
    # Three stable sorts, least significant key first.
    ordered.sort(key=lambda ts: len(ts.remove) + len(ts.blocks), reverse=True)
    ordered.sort(key=lambda ts: len(ts.blocked_by))
    ordered.sort(key=lambda ts: len(ts.if_present))

    tags: set[str] = set()
    removed: set[str] = set()
    blocked: set[str] = set()
    for ts in ordered:
        if not ts.if_present <= tags:
            continue
        if ts.blocked_by & tags or ts.add & blocked:
            continue
        removed |= ts.remove
        tags |= ts.add - removed
        blocked |= ts.blocks
    return frozenset(tags)
