"""``IdGuard``: the rule that ``example_id`` values are unique within a table, held across every
batch a writer streams, at the cost of one comparison per row in the usual case.

Ids as Tercet makes them (and as most datasets number their rows) rise from row to row, and
rising ids are unique: one vectorised comparison per batch proves it, with no hash table (a hash
of every batch's ids was ~7% of a table write). When the ids stop rising, every id seen is
sorted once when the writer finishes, before anything is published. The guard keeps each
batch's ids until then (8 bytes a row; views of the caller's data when it passes a whole table).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tercet.errors import SchemaError


class IdGuard:
    """Collects the ids of a streamed table; :meth:`check` raises on a duplicate."""

    def __init__(self) -> None:
        self._ids: list[np.ndarray] = []
        self._last: int | None = None
        self._rising = True

    def add(self, ids: pa.ChunkedArray | pa.Array) -> None:
        """Take one batch's ids (int64, no nulls)."""
        values = np.asarray(ids.to_numpy())
        if not len(values):
            return
        self._ids.append(values)
        if self._rising:
            self._rising = bool(np.all(values[1:] > values[:-1])) and (
                self._last is None or values[0] > self._last
            )
            self._last = int(values[-1])

    def check(self) -> None:
        """Raise :class:`~tercet.errors.SchemaError` naming an id seen twice."""
        if self._rising:
            return
        ordered = np.sort(np.concatenate(self._ids))
        same = np.flatnonzero(ordered[1:] == ordered[:-1])
        if len(same):
            raise SchemaError(
                f"example_id values must be unique within a table: {int(ordered[same[0]])} "
                "appears more than once."
            )
