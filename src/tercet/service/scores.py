"""Insights scores joined to a run's rows like metric columns (``docs/insights.md``).

A run source of a split that has insights (``runs/<run>/insights/<split>/``) carries the newest
file's columns after its metric columns, matched by ``example_id``: ``label_issue_score``,
``is_label_issue``, ``duplicate_group`` … filter, sort, colour and histogram like any metric.
A name a metric already uses gets the prefix ``insight_``; rows the file does not score are null.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pyarrow as pa

from tercet import storage
from tercet.runs import folder
from tercet.runs.metrics import read_header
from tercet.schema import ID_COLUMN
from tercet.service.models import ColumnInfo

PREFIX = "insight_"


class Newest:
    """The newest insights file of a run's split. The index sees files a finished run gains only
    every few scans, and insights are often computed after a run finished: so the split's folder
    is also listed here, at most once per ``max_age`` seconds."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._seen: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def url(self, run_url: str, split: str, indexed: list[str]) -> str | None:
        """The newest of what the index holds and what a listing (``max_age`` old at most)
        shows."""
        key = (run_url, split)
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
        if seen is None or now - seen[0] >= self.max_age:
            seen = (now, folder.latest_insights(run_url, split))
            with self._lock:
                self._seen[key] = seen
        found = [u for u in (*indexed[-1:], seen[1]) if u]
        return max(found, key=storage.basename) if found else None


def join(
    rows: pa.Table,
    columns: list[ColumnInfo],
    url: str,
    servable: Any,
    example_ids: Any,
) -> tuple[pa.Table, list[ColumnInfo]]:
    """``rows`` with the scores of the insights file at ``url`` appended.

    ``servable`` and ``example_ids`` are :mod:`tercet.service.sources`' own (passed in, so this
    module and that one do not import each other).
    """
    header = read_header(url)
    specs = {
        str(c["name"]): (str(c["role"]), c.get("value_map"))
        for c in header.get("columns", [])
        if isinstance(c, dict) and "name" in c and "role" in c
    }
    scores, infos = servable(storage.read_parquet(url), specs)
    theirs = example_ids(scores, url)
    ours = example_ids(rows, "the run's rows")
    order = np.argsort(theirs, kind="stable")
    pos = np.clip(np.searchsorted(theirs[order], ours), 0, max(len(theirs) - 1, 0))
    found = theirs[order][pos] == ours if len(theirs) else np.zeros(len(ours), bool)
    take = pa.array(order[pos], mask=~found)
    taken = set(rows.column_names)
    out = list(columns)
    for info in infos:
        if info.name == ID_COLUMN:
            continue
        name = info.name if info.name not in taken else PREFIX + info.name
        if name in taken:
            continue
        taken.add(name)
        rows = rows.append_column(name, scores.column(info.name).take(take))
        out.append(info.model_copy(update={"name": name}))
    return rows, out
