"""The row numbers of a page of a filtered, sorted view, kept per view so paging is slicing."""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np

from tercet.service.cache import ByteLRU

ORDER_WINDOW = 1024  # rows of a sorted view kept on its first page: the next pages are slices
MAX_WINDOW = 1 << 20  # deeper pages are asked of DuckDB one by one


def ordered(
    kept: ByteLRU,
    view: Hashable | None,
    scan: Callable[[int, int], np.ndarray],
    offset: int,
    limit: int,
) -> np.ndarray:
    """The row numbers of rows ``offset`` to ``offset + limit`` of a filtered, sorted view.

    ``scan(n, skip)`` returns ``n`` row numbers of the view from ``skip`` on (a top-N scan).
    A client pages through one view (the same source, filter and sort: ``view``, None when it
    cannot be kept): its first :data:`ORDER_WINDOW` row numbers (doubled until the page is in
    them) are found by one scan and kept in ``kept`` (sources never change), so the next pages
    are slices of them.
    """
    stop = offset + limit
    window = ORDER_WINDOW
    while window < stop:
        window *= 2
    if view is None or window > MAX_WINDOW:
        return scan(limit, offset)

    def first() -> tuple[np.ndarray, int]:
        rows = scan(window, 0)
        return rows, int(rows.nbytes) + 64

    rows: np.ndarray = kept.get((view, window), first)
    return rows[offset:stop]
