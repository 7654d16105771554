"""Rows by example id without a scan: the hover card, the inspector and the strips ask for one
row (or a few) of a million-row source many times a second.

DuckDB answers ``example_id = ?`` over a registered Arrow table with two scans of every row (the
page and its count), whose cost grows with the source and with concurrent queries. A source is
immutable, so its ids are sorted once — the first id lookup on it pays an ``argsort`` (~0.1 s
per million rows) — and each later lookup is a binary search and an Arrow ``take``.
"""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa

from tercet.schema import ID_COLUMN
from tercet.service.models import EqFilter, InFilter

# Longer id lists (a lasso of thousands of points) are a scan's job: they are rare and large.
MAX_IDS = 10_000
INT64 = (-(2**63), 2**63 - 1)


class IdIndex:
    """The row positions of a source sorted by example id, built on first use."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._lock = threading.Lock()
        self._built: tuple[np.ndarray, np.ndarray] | None = None

    def _build(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._built is None:
                ids = np.asarray(self._table.column(ID_COLUMN).to_numpy(), dtype=np.int64)
                order = np.argsort(ids, kind="stable")
                self._built = (ids[order], order)
            return self._built

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Ascending row positions of the rows whose id is in ``ids`` (each row once)."""
        ordered, order = self._build()
        wanted = np.unique(ids)
        left = np.searchsorted(ordered, wanted, side="left")
        right = np.searchsorted(ordered, wanted, side="right")
        counts = right - left
        if not counts.any():
            return np.zeros(0, dtype=np.int64)
        # Ids are unique in every source Tercet builds, but a row per match keeps the answer
        # the same as the SQL's if one ever is not.
        starts = np.repeat(left, counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.sort(order[starts + offsets])


def id_values(node: object) -> np.ndarray | None:
    """The example ids a filter asks for, when it is nothing but ``eq`` or ``in`` on the id
    column (values already checked by the compiler); None for every other filter."""
    if isinstance(node, EqFilter) and node.column == ID_COLUMN:
        values = [node.value]
    elif isinstance(node, InFilter) and node.column == ID_COLUMN and len(node.values) <= MAX_IDS:
        values = list(node.values)
    else:
        return None
    # An id filter with a fractional number matches nothing; 3.0 matches 3, as in SQL.
    whole = [
        int(v)
        for v in values
        if isinstance(v, int | float)
        and not isinstance(v, bool)
        and float(v).is_integer()
        and INT64[0] <= int(v) <= INT64[1]
    ]
    return np.asarray(whole, dtype=np.int64)
