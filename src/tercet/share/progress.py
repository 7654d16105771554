"""Progress of a long export or import, told to whoever shows it (the CLI draws it with rich)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of a long export or import."""

    def start(self, description: str, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class NoProgress:
    """A :class:`Progress` that shows nothing."""

    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass
