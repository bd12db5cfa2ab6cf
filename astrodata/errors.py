"""Exception hierarchy of the astrodata layer (the bottom of the stack).

Every error raised by astrodata derives from :class:`AstroDataError`, so a
caller (a CLI, the recipe system) can catch one class and print one line.
Some subclasses also derive from the builtin exception a Python programmer
would expect (``KeyError``, ``IndexError``) so existing ``except`` clauses keep
working.
"""


class AstroDataError(Exception):
    """Base class of every astrodata error; messages name the file concerned."""


class FileFormatError(AstroDataError):
    """A file is not FITS, is truncated or is otherwise unreadable."""


class NoMatchingClass(AstroDataError):
    """No registered AstroData class accepts the file (or several do, ambiguously)."""


class DescriptorLengthError(AstroDataError, IndexError):
    """A per-extension descriptor returned a list whose length is not the number of extensions."""


class UnknownTimestampError(AstroDataError, KeyError):
    """A primitive has no timestamp keyword and none was given to ``mark_history``."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""
