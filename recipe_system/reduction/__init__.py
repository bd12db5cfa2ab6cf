"""The reduction controller (``Reduce``) and the ``reduce`` command-line parser."""
