"""Encoded row answers kept for reuse: a scatter's points (every row of a source, a few columns)
cost the service ~100-300 ms to slice, narrow and write as Arrow IPC at 1M rows, and a dashboard
asks the same answer again at each reload, tab or colour change back. Sources are immutable
(:class:`tercet.service.cache.ByteLRU`), so the bytes of an unfiltered, unsorted answer never go
stale; they live in the service's one memory cache and leave it when memory is needed."""

from __future__ import annotations

from collections.abc import Callable

from tercet.service.cache import ByteLRU
from tercet.service.sources import SourceData

CACHED_FROM = 10_000
"""Answers of fewer rows than this are not kept: a grid page is cheaper to encode again than to
hold (and would crowd the cache with one entry per offset)."""


def whole(
    cache: ByteLRU,
    source: SourceData,
    columns: list[str] | None,
    compact: bool,
    offset: int,
    limit: int,
    encode: Callable[[], tuple[memoryview, int]],
) -> tuple[memoryview, int]:
    """The encoded answer to an unfiltered, unsorted rows request and its total, from ``cache``
    when it was asked before, else ``encode()`` (kept when it holds ``CACHED_FROM`` rows or
    more)."""
    if min(limit, source.num_rows - offset) < CACHED_FROM:
        return encode()
    names = None if columns is None else tuple(columns)
    key = ("rows-answer", source.key, names, compact, offset, limit)

    def load() -> tuple[tuple[memoryview, int], int]:
        body, total = encode()
        return (body, total), body.nbytes

    answer: tuple[memoryview, int] = cache.get(key, load)
    return answer
