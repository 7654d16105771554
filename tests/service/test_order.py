"""Paging through one sorted view scans once per window (tercet.service.order): the next pages
are slices of the kept row numbers, equal to what a scan per page returns."""

from __future__ import annotations

import numpy as np

from tercet.service.cache import ByteLRU
from tercet.service.order import MAX_WINDOW, ORDER_WINDOW, ordered


def test_pages_of_a_view_are_slices_of_one_scan_per_window() -> None:
    view_rows = np.random.default_rng(0).permutation(5000).astype(np.int64)
    scans: list[tuple[int, int]] = []

    def scan(n: int, skip: int) -> np.ndarray:
        scans.append((n, skip))
        return view_rows[skip : skip + n]

    kept = ByteLRU(1 << 20)
    for offset in (0, 100, ORDER_WINDOW - 50, ORDER_WINDOW + 10, 4950):
        page = ordered(kept, "view", scan, offset, 100)
        assert page.tolist() == view_rows[offset : offset + 100].tolist()
    # One scan for the first window, one for each wider window a deeper page needed.
    assert scans == [(ORDER_WINDOW, 0), (2 * ORDER_WINDOW, 0), (8 * ORDER_WINDOW, 0)]
    assert ordered(kept, "view", scan, 30, 10).tolist() == view_rows[30:40].tolist()
    assert len(scans) == 3  # kept: not scanned again
    # A view that cannot be kept, or a page past the largest window, is one scan per page.
    ordered(kept, None, scan, 5, 10)
    ordered(kept, "view", scan, MAX_WINDOW, 10)
    assert scans[3:] == [(10, 5), (10, MAX_WINDOW)]
