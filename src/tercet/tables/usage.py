"""Who reads a revision as training data: listeners told when a table becomes a dataset.

The torch bridge (:mod:`tercet.torch`) tells; runs listen, to record the revision as an input of
the active run. The listeners live here, below both, so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[object, str | None], None]
"""Called with the revision (a :class:`~tercet.tables.table.Table`) and the split it serves as."""

_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Call ``listener`` for every revision made into training data from now on."""
    if listener not in _listeners:
        _listeners.append(listener)


def notify(revision: object, split: str | None) -> None:
    """Tell every listener that ``revision`` is read as training data for ``split``."""
    for listener in list(_listeners):
        listener(revision, split)
