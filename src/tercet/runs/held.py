"""A pass's batches as the collectors produced them, with the columns a classifier's collector
holds back computed once for many batches.

Loss, prediction, probabilities … of a 64-sample batch cost nearly as much to compute as those of
4,096 samples (a dozen NumPy calls either way), and each batch's columns turned into Arrow cost a
few more: the per-batch form of both was a third of what collection added to an evaluation on a
small model. :class:`HeldRows` keeps each batch's scores as they come and computes the columns of
all of them, end to end, when the rows are written (:func:`release`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

import numpy as np
import pyarrow as pa

from tercet.errors import RunError
from tercet.runs.collectors import Batch, ClassificationCollector, Collector
from tercet.runs.collectors.classification import Held
from tercet.schema import ID_COLUMN

HELD_VALUES = 1 << 22
"""Values kept before the rows are released (16 MB of float32): a pass over many rows, with many
classes or a wide embedding, is written in parts of at most about this many values. Embeddings
count too: a pass of 40,000 rows with a 256-d embedding held all 41 MB until its end, then
joined them into one more array of that size."""


class HeldRows:
    """The rows of the batches added so far, classification columns held back until
    :meth:`release`. ``add`` raises what the collectors raise (a shape they cannot read)."""

    def __init__(self, collectors: Sequence[Collector]) -> None:
        self.collectors = list(collectors)
        self.rows: list[dict[str, Any]] = []
        self.held: list[dict[int, Held]] = []  # per batch, by collector
        self.names: dict[int, list[str]] = {}  # the columns of each collector not held back
        self.count = 0
        self.values = 0

    def add(self, view: Batch, outputs: Any) -> None:
        row: dict[str, Any] = {ID_COLUMN: view.example_ids}
        held: dict[int, Held] = {}
        for i, collector in enumerate(self.collectors):
            if holds(collector):
                held[i] = collector.hold(view, outputs)
                self.values += held[i].values.size
            else:
                produced = collector.collect(view, outputs)
                self.names.setdefault(i, list(produced))
                add_columns(row, produced)
                self.values += sum(values_in(v) for v in produced.values())
        self.rows.append(row)
        self.held.append(held)
        self.count += len(view.example_ids)

    @property
    def full(self) -> bool:
        """Whether the rows should be released now (memory stays bounded)."""
        return self.values >= HELD_VALUES

    def release(self) -> list[dict[str, Any]]:
        """The rows added so far, complete, and an empty buffer for the next ones."""
        rows, held = self.rows, self.held
        self.rows, self.held, self.count, self.values = [], [], 0, 0
        return release(rows, held, self.collectors, self.names)


def release(
    rows: list[dict[str, Any]],
    held: list[dict[int, Held]],
    collectors: Sequence[Collector],
    names: Mapping[int, list[str]],
) -> list[dict[str, Any]]:
    """The batches' rows with the columns the collectors held back computed, in collector
    order: joined into one row (one computation over the batches), or batch by batch when the
    other columns do not join."""
    if not rows:
        return []
    try:
        joined, batches_of = [joined_rows(rows, None)], [held]
    except (pa.ArrowException, TypeError, ValueError, IndexError):
        joined, batches_of = rows, [[h] for h in held]
    if not any(held):
        return joined
    out = []
    for row, batches in zip(joined, batches_of, strict=True):
        ordered: dict[str, Any] = {ID_COLUMN: row[ID_COLUMN]}
        for i, collector in enumerate(collectors):
            if i in batches[0]:
                assert isinstance(collector, ClassificationCollector)
                add_columns(ordered, collector.release([b[i] for b in batches]))
            else:
                ordered.update({name: row[name] for name in names.get(i, [])})
        out.append(ordered)
    return out


def holds(collector: Collector) -> TypeGuard[ClassificationCollector]:
    """Whether ``collector`` computes its columns for many batches at once (its ``collect``
    not overridden by a subclass, which then sees every batch)."""
    return (
        isinstance(collector, ClassificationCollector)
        and type(collector).collect is ClassificationCollector.collect
    )


def joined_rows(rows: list[dict[str, Any]], picked: np.ndarray | None) -> dict[str, Any]:
    """The batches' columns end to end, only the rows ``picked`` (all when None)."""
    out: dict[str, Any] = {}
    for name in rows[0]:
        parts = [row[name] for row in rows]
        if all(isinstance(p, pa.Array | pa.ChunkedArray) for p in parts):
            chunks = [
                c for p in parts for c in (p.chunks if isinstance(p, pa.ChunkedArray) else (p,))
            ]
            column: Any = pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]
            out[name] = column if picked is None else column.take(pa.array(picked))
        elif all(isinstance(p, list) for p in parts):
            joined = [v for p in parts for v in p]
            out[name] = joined if picked is None else [joined[i] for i in picked]
        else:
            column = np.concatenate([host(p) for p in parts])
            out[name] = column if picked is None else column[picked]
    return out


def values_in(column: Any) -> int:
    """How many numbers a batch's column holds (a tensor's elements, an array's size, a list's
    length)."""
    numel = getattr(column, "numel", None)
    if callable(numel):
        return int(numel())
    size = getattr(column, "size", None)
    if isinstance(size, int):
        return size
    try:
        return len(column)
    except TypeError:
        return 1


def host(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def add_columns(row: dict[str, Any], produced: Mapping[str, Any]) -> None:
    clash = set(produced) & set(row)
    if clash:
        raise RunError(
            f"Two collectors (or a collector and a constant) write the column(s) {sorted(clash)};"
            " give one a different name or prefix."
        )
    row.update(produced)
