"""A least-recently-used cache bounded by bytes, loading each key once however many ask at once."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from tercet import config
from tercet.errors import ConfigError
from tercet.storage import fence

MIN_BUDGET = 16 * 1024**2


def budget(cfg: config.Config) -> int:
    """``service.cache_bytes``, checked: at least 16 MiB and at most the machine's memory (a
    budget the machine cannot hold would let memory follow the tables again)."""
    value = cfg.service.cache_bytes
    where = cfg.sources.get("service.cache_bytes", "the default")
    most = physical_memory()
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_BUDGET <= value <= most:
        raise ConfigError(
            f"service.cache_bytes is {value!r} (from {where}); give the memory for sources in "
            f"bytes, between {MIN_BUDGET} (16 MiB) and this machine's {most} "
            f"({most / 1024**3:.1f} GiB). Tables larger than it are served from disk."
        )
    return value


def physical_memory() -> int:
    """Bytes of memory of this machine (2**62 where the platform does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 2**62


class ByteLRU:
    """Maps immutable keys to values, evicting the least recently used beyond ``max_bytes``.

    Sources are immutable, so an entry never goes stale; it only leaves when memory is needed.
    The most recent entry is kept even when it alone exceeds the budget, or a too-big source
    would be read again for every page; tables never are that entry (one bigger than the budget
    is served from disk, :mod:`tercet.service.spill`), a run joined to one may be. Entries are
    kept per fence (:mod:`tercet.storage.fence`): a value loaded without the service's fence,
    or under another, is never served under it.
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
