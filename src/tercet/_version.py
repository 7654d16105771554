"""The version of this Tercet; the one place it is written down (``tercet --version``, the API)."""

__version__ = "0.1.0"
