"""Files published on one writer thread while training goes on, in order per key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from tercet.storage import FencedExecutor


class BackgroundWrites:
    """One writer thread; a task waits for the previous task with the same key."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._writes: dict[str, Future[Any]] = {}
        self._pool: FencedExecutor | None = None

    def submit(self, key: str, task: Callable[[], Any]) -> None:
        """Run ``task`` after the previous task of ``key`` finished (re-raising its error)."""
        self.wait(key)
        with self._lock:
            if self._pool is None:
                self._pool = FencedExecutor(1, thread_name_prefix=f"tercet-writer-{self._name}")
            self._writes[key] = self._pool.submit(task)

    def wait(self, key: str | None = None) -> None:
        """Block until the tasks (all, or those of ``key``) are done; raise the first error."""
        with self._lock:
            keys = list(self._writes) if key is None else [key]
            pending = [self._writes.pop(k) for k in keys if k in self._writes]
        errors = []
        for future in pending:
            try:
                future.result()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def shutdown(self) -> None:
        """Let the thread end once idle (call after :meth:`wait`)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
