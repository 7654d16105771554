"""Old import paths that keep working for one release, with a ``DeprecationWarning``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any


def forward(old: str, moved: Mapping[str, tuple[Any, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the old module ``old``: each name in ``moved`` maps to its
    object and its new dotted path; using it warns once per call site."""

    def __getattr__(name: str) -> Any:
        try:
            value, new = moved[name]
        except KeyError:
            raise AttributeError(f"module {old!r} has no attribute {name!r}") from None
        warnings.warn(
            f"{old}.{name} moved to {new}; the old path goes away in Tercet 0.3.",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__
