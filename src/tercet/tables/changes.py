"""What one revision changed against its parent: the project page's "5 relabels, 2 deletions".

Read from the revision's own delta (no rows are read), so listing a million-row table's
revisions costs what their descriptors cost. A revision written whole (an append, a join) has no
delta: it says so rather than comparing every row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tercet import format, storage
from tercet.tables import delta as delta_mod
from tercet.tables.table import Table


@dataclass
class RevisionChanges:
    """Example ids a revision touched, by what happened to them."""

    deleted: np.ndarray
    # column name → ids whose value in that column was set
    set: dict[str, np.ndarray] = field(default_factory=dict)
    added_columns: list[str] = field(default_factory=list)
    # A source table, or a revision written whole: nothing to compare cell by cell.
    whole: bool = False

    @property
    def touched(self) -> np.ndarray:
        """Every id this revision deleted or changed, ascending, each once."""
        return np.unique(np.concatenate([self.deleted, *self.set.values()])).astype(np.int64)


def revision_changes(table: Table) -> RevisionChanges:
    """The edits ``table`` holds relative to its parent (empty and ``whole`` for a source table
    or a revision that stores all its rows)."""
    if table.parent_url is None or "rows" in table.descriptor:
        return RevisionChanges(deleted=np.zeros(0, dtype=np.int64), whole=True)
    delta = _delta(table)
    return RevisionChanges(
        deleted=np.asarray(delta.deleted, dtype=np.int64),
        set={col: np.asarray(ids, dtype=np.int64) for col, (ids, _) in delta.set.items()},
        added_columns=[str(c.get("name")) for c in delta.added_columns],
    )


def _delta(table: Table) -> delta_mod.Delta:
    # What Table reads to apply the revision, read here through its public descriptor.
    spec = table.descriptor.get("delta") or {}
    if spec.get("file"):
        url = format.check_reference(spec["file"], table.url, "table", "delta")
        rows = storage.read_parquet(url)
        return delta_mod.Delta.from_parquet_table(rows, list(spec.get("added_columns", [])))
    return delta_mod.Delta.from_json(spec, table.schema, format.descriptor_url(table.url))
