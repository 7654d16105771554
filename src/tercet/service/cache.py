"""A least-recently-used cache bounded by bytes, loading each key once however many ask at once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from tercet.storage import fence


class ByteLRU:
    """Maps immutable keys to values, evicting the least recently used beyond ``max_bytes``.

    Sources are immutable, so an entry never goes stale; it only leaves when memory is needed.
    The most recent entry is kept even when it alone exceeds the budget, or a too-big table would
    be read again for every page. Entries are kept per fence (:mod:`tercet.storage.fence`): a
    value loaded without the service's fence, or under another, is never served under it.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._loading: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, load: Callable[[], tuple[Any, int]]) -> Any:
        """The value for ``key``; ``load()`` returns ``(value, size in bytes)`` on a miss."""
        key = (fence.active(), key)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:  # loaded by the thread this one waited for
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return self._entries[key][0]
            try:
                value, size = load()
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)
                raise
            with self._lock:
                self.misses += 1
                self._entries[key] = (value, size)
                self.bytes += size
                while self.bytes > self.max_bytes and len(self._entries) > 1:
                    _, (_, old_size) = self._entries.popitem(last=False)
                    self.bytes -= old_size
                self._loading.pop(key, None)
        return value

    def __contains__(self, key: Hashable) -> bool:
        """Whether ``key`` is loaded (under the active fence), without loading or touching it."""
        with self._lock:
            return (fence.active(), key) in self._entries

    def __len__(self) -> int:
        return len(self._entries)
