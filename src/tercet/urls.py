"""Deprecated: aliases are :mod:`tercet.aliases`, the URL grammar is :mod:`tercet.storage.paths`."""

from __future__ import annotations

from tercet import aliases as _aliases
from tercet._deprecated import forward
from tercet.storage import paths as _paths

_MOVED_TO_ALIASES = (
    "ALIAS_NAME", "ALIAS_URL", "check_alias_name", "contract", "expand", "is_alias_url",
)  # fmt: skip
__getattr__ = forward(
    __name__,
    {
        **{name: (getattr(_aliases, name), f"tercet.aliases.{name}") for name in _MOVED_TO_ALIASES},
        "aliases": (_aliases, "tercet.aliases (a module of functions: set, list, values …)"),
        "is_absolute": (_paths.is_absolute, "tercet.storage.paths.is_absolute"),
        "relative_to": (_paths.relative_to, "tercet.storage.paths.relative_to"),
    },
)
