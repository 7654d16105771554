"""Row sources: a table revision, or a run's metrics joined to its input revision, as Arrow.

A source names immutable objects only (a revision folder, a set of metrics files), so its rows
are materialised once and kept in a byte-bounded LRU; the key names the exact files, so a run
that gains a file for the same epoch simply becomes a new key. Each cached source also carries a
row-number column for DuckDB, which filters and sorts and hands back row numbers; the rows
themselves are then taken from the Arrow table with their exact types (embeddings, boxes …).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tercet import format, storage
from tercet.runs.metrics import MetricsFileInfo, keep_last
from tercet.schema import ID_COLUMN
from tercet.service import scores
from tercet.service.access import Access
from tercet.service.cache import ByteLRU
from tercet.service.columns import api_type as api_type  # re-exported
from tercet.service.columns import servable as servable  # re-exported
from tercet.service.errors import ApiError
from tercet.service.index import Index
from tercet.service.lookup import IdIndex
from tercet.service.models import ColumnInfo, RunSource, TableSource
from tercet.service.runs_read import RunEntry
from tercet.service.take import take_rows
from tercet.storage.objcache import ObjectCache, using
from tercet.tables.table import Table

ROW = "__tercet_row"
PROJECTION_COLUMNS = ("proj_x", "proj_y", "proj_z")
NUMERIC = ("int", "float")
SCALAR = ("int", "float", "string", "bool")


@dataclass
class SourceData:
    """One materialised source: its rows, the same rows plus :data:`ROW` for DuckDB, and its
    columns as the API describes them."""

    key: Hashable
    table: pa.Table
    columns: list[ColumnInfo]
    scan: pa.Table = field(init=False)
    by_name: dict[str, ColumnInfo] = field(init=False)
    ids: IdIndex = field(init=False)
    # Whether the rows are held in ``table`` (else a subclass reads them: :meth:`take`).
    in_memory: ClassVar[bool] = True

    def __post_init__(self) -> None:
        rows = pa.array(np.arange(self.table.num_rows, dtype=np.int64))
        self.scan = self.table.append_column(ROW, rows)
        self.by_name = {c.name: c for c in self.columns}
        self.ids = IdIndex(self.table)

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def attach(self, cur: Any) -> None:
        """Make the rows the table ``src`` of the DuckDB cursor ``cur``."""
        cur.register("src", self.scan)

    def slice(self, names: list[str], offset: int, limit: int) -> pa.Table:
        """``limit`` rows of the columns ``names`` from row ``offset`` on."""
        return self.table.select(names).slice(min(offset, self.num_rows), limit)

    def take(self, names: list[str], positions: np.ndarray) -> pa.Table:
        """The rows at ``positions`` (row numbers), in that order, columns ``names``."""
        return take_rows(self.table.select(names), positions)

    @property
    def nbytes(self) -> int:
        # Row numbers, and the id index once an id lookup builds it.
        return int(self.table.nbytes) + 24 * self.num_rows

    def column(self, name: str, what: str = "column") -> ColumnInfo:
        """The column ``name``; a 422 listing the columns when there is none."""
        try:
            return self.by_name[name]
        except KeyError:
            names = ", ".join(c.name for c in self.columns)
            raise ApiError(422, f"Unknown {what} {name!r}. Columns: {names}.") from None

    def first(self, role: str) -> ColumnInfo | None:
        """The first column with ``role``."""
        return next((c for c in self.columns if c.role == role), None)


def _match(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each id in ``left``: whether ``right`` holds it, and where. ``right`` ids are unique."""
    if len(right) == 0:
        none = np.zeros(len(left), dtype=bool)
        return none, np.zeros(len(left), dtype=np.int64), none
    order = np.argsort(right, kind="stable")
    ordered = right[order]
    pos = np.minimum(np.searchsorted(ordered, left), len(right) - 1)
    found = ordered[pos] == left
    return found, order[pos], found


def example_ids(table: pa.Table, what: str) -> np.ndarray:
    """The example ids of ``table`` (read from ``what``) as int64; a 422 that names ``what``
    when they are missing, null, not integers or beyond int64 (a planted or foreign file)."""
    if ID_COLUMN not in table.column_names:
        raise ApiError(422, f"{what} has no {ID_COLUMN!r} column; it was not written by Tercet.")
    column = table.column(ID_COLUMN)
    if not pa.types.is_integer(column.type) or column.null_count:
        raise ApiError(
            422,
            f"The {ID_COLUMN} column of {what} holds {column.type} values"
            f"{' with nulls' if column.null_count else ''}; Tercet ids are int64 without nulls.",
        )
    try:
        return np.asarray(column.cast(pa.int64()).to_numpy())  # a checked cast: no wrap-around
    except pa.ArrowInvalid as exc:
        raise ApiError(
            422, f"The {ID_COLUMN} column of {what} holds ids beyond int64 ({exc})."
        ) from None


def _keep_last(table: pa.Table, what: str) -> pa.Table:
    """Rows with unique example ids: an epoch is all its files, parts of a distributed run add
    up and a later file's row wins (the rule of :func:`tercet.runs.metrics.keep_last`)."""
    example_ids(table, what)  # ids the API can carry, else a 422 naming the files
    return keep_last(table)


# (table revision, cache key, memory budget, rows per row group) -> a source served from disk,
# or None when the rows fit the budget: tercet.service.spill.out_of_core.
OutOfCore = Callable[[Table, Hashable, int, "int | None"], "SourceData | None"]


def _loaded(t: Table) -> SourceData:
    """The rows of the table revision ``t`` read into memory, as the API serves them."""
    specs = {c.name: (c.role, c.value_map) for c in t.schema}
    stored = t.to_arrow()
    example_ids(stored, t.url)
    rows, infos = servable(stored, specs, {c.name: c.extra for c in t.schema})
    return SourceData(("table", t.url), rows, infos)


class Sources:
    """Resolves request sources to :class:`SourceData` kept in ``cache``; remote Parquet
    objects are read through ``disk`` (local copies shared by this machine's services)."""

    def __init__(
        self,
        access: Access,
        index: Index,
        cache: ByteLRU,
        index_max_age: float,
        disk: ObjectCache | None = None,
        out_of_core: OutOfCore | None = None,
    ) -> None:
        self.access = access
        self.index = index
        self.cache = cache
        self.disk = disk
        self.index_max_age = index_max_age
        self.insights = scores.Newest(index_max_age)
        # Tables whose rows would take more than the cache holds are served from a local
        # copy (tercet.service.spill.out_of_core); None: loaded whatever their size.
        self.out_of_core = out_of_core
        self.spill_row_group: int | None = None  # rows per row group of a copy (default)

    def _cached(self, key: Hashable, load: Callable[[], tuple[Any, int]]) -> Any:
        with using(self.disk):
            return self.cache.get(key, load)

    def get(self, source: TableSource | RunSource) -> SourceData:
        """The rows a request's source names (checked against the roots)."""
        if isinstance(source, TableSource):
            return self.table(self.access.object_url(source.table))
        return self.run(source)

    # -- tables ------------------------------------------------------------------------------
    def table(self, url: str, out_of_core: bool = True) -> SourceData:
        """A table revision (``url`` absolute and already checked): its rows in memory, or
        in a local copy when they would not fit the cache (:mod:`tercet.service.spill`) and
        ``out_of_core`` allows it."""
        t = Table.open(url)

        def load() -> tuple[SourceData, int]:
            key = ("table", t.url)
            data = None
            if out_of_core and self.out_of_core is not None:
                data = self.out_of_core(t, key, self.cache.max_bytes, self.spill_row_group)
            data = data or _loaded(t)
            return data, data.nbytes

        data: SourceData = self._cached(("table", t.url), load)
        return data

    def table_rows(self, url: str) -> SourceData:
        """A table revision with its rows in memory (what a run's join needs), cached only
        when it fits the cache. Not estimated for a copy first: a join needs the rows
        whatever their size, and the estimate reads the table's footers."""
        data = self.table(url, out_of_core=False)
        return data if data.in_memory else _loaded(Table.open(url))

    # -- runs --------------------------------------------------------------------------------
    def run_state(self, url: str) -> RunEntry:
        """The indexed state of the run a client names (read fresh when not indexed yet)."""
        absolute = self.access.object_url(url)
        self.index.current(self.index_max_age)
        state = self.index.run(absolute)
        if state is None:
            if not storage.exists(format.descriptor_url(absolute)):
                raise ApiError(404, f"No run at {url}: its object.json does not exist.")
            state = self.index.read_run(absolute)
        if not state.is_run:
            raise ApiError(404, f"No run at {url}: {state.error}.")
        return state

    def metrics_files(
        self, state: RunEntry, split: str, epoch: int | None
    ) -> list[MetricsFileInfo]:
        """The readable files of ``epoch`` (the latest readable one when None), footers read;
        a 404 that lists what exists and why files could not be read."""
        if split not in state.metrics:
            have = ", ".join(sorted(state.metrics)) or "none yet"
            raise ApiError(
                404, f"Run {state.name} has no metrics for split {split!r}; it has: {have}."
            )
        files: list[MetricsFileInfo] = []
        if epoch is not None:
            # Every file of the epoch: one that could not be read before is tried again.
            files = self.index.load_metrics(state, state.files_for(split, epoch))
        else:
            for latest in reversed(state.epochs(split)):
                good = [f for f in state.files_for(split, latest) if f.error is None]
                files = self.index.load_metrics(state, good)
                if files:
                    return files
        if not files:
            wanted = state.files_for(split, epoch) if epoch is not None else state.metrics[split]
            reasons = "; ".join(f.error for f in wanted if f.error)
            raise ApiError(
                404,
                f"Run {state.name} has no readable metrics for split {split!r} "
                f"epoch {epoch}; epochs: {state.epochs(split)}."
                + (f" Unreadable: {reasons}" if reasons else ""),
            )
        return files

    def metrics(self, files: list[MetricsFileInfo]) -> pa.Table:
        """The raw metrics rows of one epoch's files (later files win for repeated ids)."""
        key = ("metrics", tuple(f.url for f in files))

        def load() -> tuple[pa.Table, int]:
            table = _keep_last(
                storage.read_parquet([f.url for f in files]), ", ".join(f.url for f in files)
            )
            return table, int(table.nbytes)

        table: pa.Table = self._cached(key, load)
        return table

    def run(self, source: RunSource) -> SourceData:
        """A run's metrics for one split and epoch joined to its input revision."""
        state = self.run_state(source.run)
        try:
            files = self.metrics_files(state, source.split, source.epoch)
        except ApiError:
            # The epoch may have been written since the last scan: look at the run itself.
            state = self.index.read_run(state.url)
            files = self.metrics_files(state, source.split, source.epoch)
        table_url = files[-1].table
        assert table_url is not None  # files with errors are filtered out above
        if source.join == "latest":
            table_url = Table.open(table_url).latest().url
        projection: tuple[str, ...] = ()
        if source.projection is not None:
            by_method = state.projections.get(source.split, {})
            names = {f.name for f in files}
            projection = tuple(
                u for u in by_method.get(source.projection, []) if storage.basename(u) in names
            )
            if not projection:
                have = ", ".join(sorted(by_method)) or "none"
                raise ApiError(
                    404,
                    f"No projection {source.projection!r} for split "
                    f"{source.split!r} epoch {files[0].epoch}; available: {have}.",
                )
        newest = self.insights.url(state.url, source.split, state.insights.get(source.split, []))
        insights = (newest,) if newest else ()
        key = ("run", tuple(f.url for f in files), table_url, projection, insights)

        def load() -> tuple[SourceData, int]:
            data = self._join(key, self.table_rows(table_url), files, projection, insights)
            return data, data.nbytes

        data: SourceData = self._cached(key, load)
        return data

    def _join(
        self,
        key: Hashable,
        base: SourceData,
        files: list[MetricsFileInfo],
        projection: tuple[str, ...],
        insights: tuple[str, ...] = (),
    ) -> SourceData:
        metrics = self.metrics(files)
        label = base.first("label")
        specs: dict[str, tuple[str, Any]] = {}
        details: dict[str, Mapping[str, Any]] = {}
        for spec in files[-1].columns:
            role = spec.get("role")
            value_map = spec.get("value_map")
            if role == "prediction" and value_map is None and label and label.value_map:
                value_map = {int(k): v.model_dump() for k, v in label.value_map.items()}
            if isinstance(role, str):
                specs[str(spec["name"])] = (role, value_map)
                details[str(spec["name"])] = spec
        metrics_rows, metric_infos = servable(metrics, specs, details)
        t_ids = example_ids(base.table, str(base.key))
        m_ids = example_ids(metrics_rows, "the metrics files")
        found, where, _ = _match(t_ids, m_ids)
        rows = base.table.take(pa.array(np.flatnonzero(found)))
        m_take = pa.array(where[found])
        columns = list(base.columns)
        taken = set(rows.column_names)
        for info in metric_infos:
            if info.name == ID_COLUMN:
                continue
            name = info.name if info.name not in taken else f"metric_{info.name}"
            taken.add(name)
            rows = rows.append_column(name, metrics_rows.column(info.name).take(m_take))
            columns.append(info.model_copy(update={"name": name}))
        if projection:
            proj = _keep_last(storage.read_parquet(list(projection)), ", ".join(projection))
            hit, at, _ = _match(
                example_ids(rows, str(key)), example_ids(proj, ", ".join(projection))
            )
            take = pa.array(at, mask=~hit)
            for name in PROJECTION_COLUMNS:
                if name in proj.column_names and name not in taken:
                    col = pc.cast(proj.column(name).take(take), pa.float32())
                    rows = rows.append_column(name, col)
                    columns.append(ColumnInfo(name=name, type="float", role="projection"))
        for url in insights:
            rows, columns = scores.join(rows, columns, url, servable, example_ids)
        return SourceData(key, rows, columns)
