"""Answers for a table not loaded yet: its schema and counts straight from its Parquet files.

A source is served from Arrow held in memory (:mod:`tercet.service.sources`), and loading a
10M-row table takes seconds. The first requests a client makes of a table — its schema, the
number of rows, a filtered count — need none of that: the schema and row count are in the
descriptor, and DuckDB counts over the Parquet files themselves, reading only the filtered
columns and skipping row groups by their statistics. So while the table is not in the cache,
those requests are answered that way and the full load starts in the background; once it is
in, every request is served from memory as before.

Only a source revision on local disk whose columns the API serves with their stored types
qualifies: then SQL over the files sees exactly the values it would see over the loaded rows.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from tercet import format, storage
from tercet.errors import CorruptObjectError
from tercet.service.models import RunSource, TableSource
from tercet.service.sources import ROW, SourceData, Sources, servable
from tercet.storage.fence import canonical, carry, guard_all
from tercet.tables.table import Table

log = logging.getLogger(__name__)


@dataclass
class ColdSource(SourceData):
    """A table revision's columns and row count, its rows left in its Parquet files.

    ``table`` holds no rows: only what needs no rows (the schema, counts, summaries, which
    DuckDB runs over ``files``) may be asked of a cold source.
    """

    files: list[str] = field(default_factory=list)
    rows: int = 0

    def __post_init__(self) -> None:
        self.scan = self.table
        self.by_name = {c.name: c for c in self.columns}

    @property
    def num_rows(self) -> int:
        return self.rows

    def attach(self, cur: Any) -> None:
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in self.files)
        cur.execute(f"CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM read_parquet([{listed}])")


def cold_table(t: Table) -> ColdSource | None:
    """The cold stand-in for the table revision ``t``; None when it does not qualify."""
    if not t.is_source:
        return None
    listed = t.descriptor.get("rows")
    if not isinstance(listed, list):
        return None  # damaged: the load says how
    try:
        files = [format.check_reference(f, t.url, "table", "rows") for f in listed]
    except CorruptObjectError:
        return None
    if not files or not all(storage.is_local(f) for f in files):
        return None
    stored = t.schema.to_arrow()
    # DuckDB opens these files itself, past the storage fence: each is checked here (symlinks
    # resolved) and handed over resolved, and its footer must hold exactly the stored columns,
    # else the load reads it and says what is wrong with it.
    guard_all(files)
    files = [canonical(f) for f in files]
    for f in files:
        found = storage.read_parquet_metadata(f).schema.to_arrow_schema()
        if not found.remove_metadata().equals(stored.remove_metadata()):
            return None
    specs = {c.name: (c.role, c.value_map) for c in t.schema}
    empty, infos = servable(stored.empty_table(), specs, {c.name: c.extra for c in t.schema})
    served = [(f.name, f.type) for f in empty.schema]
    if served != [(f.name, f.type) for f in stored] or ROW in stored.names:
        return None  # a column served with another type, or left out: load it instead
    return ColdSource(("cold", t.url), empty, infos, files=files, rows=t.num_rows)


_loading = threading.Semaphore(1)
_pending: set[str] = set()
_pending_lock = threading.Lock()


def load_in_background(load: Any, url: str) -> None:
    """Run ``load(url)`` on a daemon thread, under the caller's storage fence.

    Background loads run one at a time and once per table, so a client asking for the schemas
    of many tables does not load them all at once (each still waits its turn in the cache);
    a request that needs the rows loads them itself, without waiting for this queue.
    """
    with _pending_lock:
        if url in _pending:
            return
        _pending.add(url)

    def run() -> None:
        try:
            with _loading:
                load(url)
        except Exception:  # the request that needs the rows reports it
            log.debug("background load of %s failed", url, exc_info=True)
        finally:
            with _pending_lock:
                _pending.discard(url)

    threading.Thread(target=carry(run), name="tercet-source-load", daemon=True).start()


def source(sources: Sources, wanted: TableSource | RunSource) -> SourceData:
    """What :meth:`Sources.get` returns once the rows are loaded; before, for a table that
    qualifies, its :class:`ColdSource`, the load started in the background."""
    if not isinstance(wanted, TableSource):
        return sources.get(wanted)
    url = sources.access.object_url(wanted.table)
    t = Table.open(url)
    if ("table", t.url) in sources.cache:
        return sources.table(url)
    stand_in = cold_table(t)
    if stand_in is None:
        return sources.table(url)
    load_in_background(sources.table, url)
    return stand_in
