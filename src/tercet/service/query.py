"""Structured filters compiled to parameterised DuckDB SQL, and the queries built on them.

SQL text is assembled only from fixed fragments and column names that were looked up in the
source's schema and quoted; every value travels as a ``?`` parameter, and long value lists
(``in`` with thousands of example ids) as a registered Arrow table. Nothing a client sends is
ever concatenated into SQL.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from tercet.schema import ID_COLUMN
from tercet.service.errors import ApiError
from tercet.service.models import (
    AndFilter,
    CategoryCount,
    CategorySummary,
    ContainsFilter,
    EqFilter,
    HistogramSummary,
    InFilter,
    IsNullFilter,
    NotFilter,
    OrFilter,
    RangeFilter,
    SortKey,
)
from tercet.service.sources import NUMERIC, ROW, SCALAR, SourceData

MAX_DEPTH = 32
MAX_NODES = 1000
INLINE_VALUES = 64  # longer `in` lists go to DuckDB as a registered Arrow table
TOP_CATEGORIES = 200
INT64 = (-(2**63), 2**63 - 1)
COUNT_CACHE = 4096

FilterNode = (
    AndFilter
    | OrFilter
    | NotFilter
    | RangeFilter
    | InFilter
    | ContainsFilter
    | EqFilter
    | IsNullFilter
)


def quote(name: str) -> str:
    """A DuckDB identifier; only ever called with names taken from the source's schema."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Where:
    """A compiled filter: a boolean SQL expression, its parameters and its value tables."""

    sql: str = "TRUE"
    params: list[Any] = field(default_factory=list)
    tables: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def is_trivial(self) -> bool:
        return self.sql == "TRUE"


class _Compiler:
    def __init__(self, source: SourceData) -> None:
        self.source = source
        self.where = Where()
        self.nodes = 0

    def compile(self, node: FilterNode, depth: int = 0) -> str:
        """SQL for ``node``; its values are appended to the parameters."""
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise ApiError(
                422,
                f"The filter is too large: at most {MAX_DEPTH} levels and {MAX_NODES} conditions.",
            )
        if isinstance(node, AndFilter):
            parts = [self.compile(f, depth + 1) for f in node.and_]
            return "(" + " AND ".join(parts) + ")" if parts else "TRUE"
        if isinstance(node, OrFilter):
            parts = [self.compile(f, depth + 1) for f in node.or_]
            return "(" + " OR ".join(parts) + ")" if parts else "FALSE"
        if isinstance(node, NotFilter):
            return f"(NOT COALESCE({self.compile(node.not_, depth + 1)}, FALSE))"
        col = self.source.column(node.column, "filter column")
        q = quote(col.name)
        if isinstance(node, IsNullFilter):
            return f"({q} IS NULL)"
        if isinstance(node, RangeFilter):
            if col.type not in NUMERIC:
                raise ApiError(
                    422, f"A range filter needs a numeric column; {col.name!r} holds {col.type}."
                )
            if node.min is not None and node.max is not None and node.min > node.max:
                raise ApiError(
                    422, f"Range on {col.name!r}: min {node.min} is above max {node.max}."
                )
            parts = []
            if node.min is not None:
                parts.append(f"{q} >= ?")
                self.where.params.append(node.min)
            if node.max is not None:
                parts.append(f"{q} <= ?")
                self.where.params.append(node.max)
            return "(" + " AND ".join(parts) + ")" if parts else f"({q} IS NOT NULL)"
        if isinstance(node, ContainsFilter):
            if col.type != "string":
                raise ApiError(
                    422, f"'contains' needs a text column; {col.name!r} holds {col.type}."
                )
            self.where.params.append(node.value)
            return f"contains(lower({q}), lower(?))"
        if col.type not in SCALAR:
            raise ApiError(
                422, f"Column {col.name!r} holds {col.type} values; only 'is_null' applies to it."
            )
        if isinstance(node, EqFilter):
            self.where.params.append(_check_value(col.name, col.type, node.value, "value"))
            return f"({q} = ?)"
        values = (
            [_check_value(col.name, col.type, v, f"values[{i}]") for i, v in enumerate(node.values)]
            if len(node.values) <= INLINE_VALUES
            else None
        )
        if values is not None:
            if not values:
                return "FALSE"
            self.where.params.extend(values)
            return f"({q} IN ({', '.join('?' * len(values))}))"
        name = f"__in_{len(self.where.tables)}"
        self.where.tables[name] = pa.table({"v": _value_array(col.name, col.type, node.values)})
        return f"({q} IN (SELECT v FROM {quote(name)}))"


def _check_value(column: str, kind: str, value: Any, where: str) -> Any:
    ok = {
        "int": isinstance(value, int | float) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "bool": isinstance(value, bool),
    }[kind]
    if not ok:
        expected = {
            "int": "a number",
            "float": "a number",
            "string": "a string",
            "bool": "true or false",
        }[kind]
        raise ApiError(
            422,
            f"Filter on {column!r}: {where} must be {expected} ({kind} column); "
            f"received {value!r}.",
        )
    if isinstance(value, int) and not isinstance(value, bool) and not INT64[0] <= value <= INT64[1]:
        raise ApiError(422, f"Filter on {column!r}: {where} {value} is outside the 64-bit range.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(422, f"Filter on {column!r}: {where} must be a finite number.")
    return value


def _value_array(column: str, kind: str, values: list[Any]) -> pa.Array:
    """The values of a long ``in`` list as one typed array, checked in one vectorised pass."""
    target = {"int": None, "float": None, "string": pa.string(), "bool": pa.bool_()}[kind]
    try:
        arr = pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        arr = None
    ok = arr is not None and (
        (kind in NUMERIC and (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)))
        or kind not in NUMERIC
    )
    if arr is None or not ok or arr.null_count:
        expected = "numbers" if kind in NUMERIC else f"{kind} values"
        raise ApiError(
            422,
            f"Filter on {column!r}: values must all be {expected} ({kind} "
            "column) and none may be null.",
        )
    if pa.types.is_floating(arr.type) and not bool(np.isfinite(arr.to_numpy()).all()):
        raise ApiError(422, f"Filter on {column!r}: values must be finite numbers.")
    return arr


def compile_filter(source: SourceData, node: FilterNode | None) -> Where:
    """Validate ``node`` against the source's columns and compile it."""
    if node is None:
        return Where()
    compiler = _Compiler(source)
    compiler.where.sql = compiler.compile(node)
    return compiler.where


class Database:
    """One in-memory DuckDB; each query runs on its own cursor (DuckDB's unit of concurrency).

    At most ``slots`` queries run at once: on a small machine twenty concurrent scans of a
    million rows only fight over cores and memory; queued requests finish sooner in turn.
    Counts are remembered per source and filter, since neither ever changes: paging through
    a filtered view scans for its total once.
    """

    def __init__(self, threads: int | None = None, slots: int | None = None) -> None:
        config: dict[str, str | bool | int | float | list[str]] = (
            {"threads": threads} if threads else {}
        )
        self._con = duckdb.connect(":memory:", config=config)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(slots or max(2, os.cpu_count() or 2))
        self._counts: OrderedDict[Hashable, int] = OrderedDict()

    @contextmanager
    def query(self, source: SourceData, where: Where) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor with the source registered as ``src`` (and the filter's value tables)."""
        with self._slots:
            with self._lock:
                cur = self._con.cursor()
            try:
                cur.register("src", source.scan)
                for name, table in where.tables.items():
                    cur.register(name, table)
                yield cur
            finally:
                cur.close()

    def cached_count(self, key: Hashable) -> int | None:
        with self._lock:
            return self._counts.get(key)

    def remember_count(self, key: Hashable, value: int) -> None:
        with self._lock:
            self._counts[key] = value
            while len(self._counts) > COUNT_CACHE:
                self._counts.popitem(last=False)

    def close(self) -> None:
        """Release the database."""
        self._con.close()


def _columns(source: SourceData, wanted: list[str] | None) -> list[str]:
    if wanted is None:
        return [c.name for c in source.columns]
    for name in wanted:
        source.column(name)
    return list(dict.fromkeys([ID_COLUMN, *wanted]))


def count(db: Database, source: SourceData, where: Where) -> int:
    """Rows of ``source`` matching ``where``."""
    if where.is_trivial:
        return source.num_rows
    # Value tables (long `in` lists) are left out of the key: hashing a million ids costs
    # about what counting does.
    key = None if where.tables else (source.key, where.sql, tuple(where.params))
    if key is not None and (known := db.cached_count(key)) is not None:
        return known
    with db.query(source, where) as cur:
        row = cur.execute(f"SELECT count(*) FROM src WHERE {where.sql}", where.params).fetchone()
    total = int(row[0]) if row else 0
    if key is not None:
        db.remember_count(key, total)
    return total


def rows(
    db: Database,
    source: SourceData,
    where: Where,
    columns: list[str] | None,
    sort: list[SortKey],
    offset: int,
    limit: int,
) -> tuple[pa.Table, int]:
    """A page of rows and the number of rows matching the filter."""
    names = _columns(source, columns)
    order = []
    for key in sort:
        col = source.column(key.column, "sort column")
        if col.type not in SCALAR:
            raise ApiError(422, f"Cannot sort by {col.name!r}: it holds {col.type} values.")
        order.append(f"{quote(col.name)} {'DESC' if key.desc else 'ASC'} NULLS LAST")
    if where.is_trivial and not order:
        page = source.table.select(names).slice(min(offset, source.num_rows), limit)
        return page, source.num_rows
    # The row number breaks ties, so pages are stable and never overlap.
    order.append(quote(ROW))
    sql = (
        f"SELECT {quote(ROW)} FROM src WHERE {where.sql} ORDER BY {', '.join(order)} "
        "LIMIT ? OFFSET ?"
    )
    with db.query(source, where) as cur:
        found = cur.execute(sql, [*where.params, limit, offset]).fetchnumpy()[ROW]
    total = count(db, source, where)
    taken = source.table.select(names).take(pa.array(np.asarray(found, dtype=np.int64)))
    return taken, total


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def summary(
    db: Database,
    source: SourceData,
    where: Where,
    column: str,
    bins: int,
    lo: float | None = None,
    hi: float | None = None,
) -> HistogramSummary | CategorySummary:
    """A histogram for numeric columns, counts per value for labels, text and bools."""
    col = source.column(column)
    if col.type in NUMERIC and col.role not in ("label", "prediction", "id"):
        return _histogram(db, source, where, column, col.type, bins, lo, hi)
    if col.type not in SCALAR:
        raise ApiError(422, f"No summary for {column!r}: it holds {col.type} values.")
    q = quote(column)
    sql = (
        f"SELECT {q} AS v, count(*) AS n FROM src WHERE {where.sql} GROUP BY {q} "
        f"ORDER BY n DESC, v ASC NULLS LAST LIMIT {TOP_CATEGORIES}"
    )
    with db.query(source, where) as cur:
        result = cur.execute(sql, where.params).fetchall()
    values = []
    vmap = col.value_map or {}
    for value, n in result:
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        entry = vmap.get(str(value)) if value is not None else None
        values.append(
            CategoryCount(
                value=value,
                count=int(n),
                name=entry.name if entry else None,
                color=entry.color if entry else None,
            )
        )
    return CategorySummary(values=values)


def _histogram(
    db: Database,
    source: SourceData,
    where: Where,
    column: str,
    kind: str,
    bins: int,
    lo: float | None,
    hi: float | None,
) -> HistogramSummary:
    if lo is not None and hi is not None and lo > hi:
        raise ApiError(422, f"Histogram of {column!r}: min {lo} is above max {hi}.")
    x = f"CAST({quote(column)} AS DOUBLE)"
    valid = f"{x} IS NOT NULL AND isfinite({x})"
    with db.query(source, where) as cur:
        row = cur.execute(
            f"SELECT min({x}), max({x}) FROM src WHERE ({where.sql}) AND {valid}", where.params
        ).fetchone()
        data_min, data_max = (_finite(row[0]), _finite(row[1])) if row else (None, None)
        start = lo if lo is not None else data_min
        stop = hi if hi is not None else data_max
        if start is None or stop is None:
            edges = np.linspace(0.0, 1.0, bins + 1)
            return HistogramSummary(edges=edges.tolist(), counts=[0] * bins, min=None, max=None)
        if stop <= start:
            start, stop = start - 0.5, start + 0.5
        width = (stop - start) / bins
        counts = np.zeros(bins, dtype=np.int64)
        grouped = cur.execute(
            f"SELECT CAST(floor(({x} - ?) / ?) AS BIGINT) AS b, count(*) FROM src "
            f"WHERE ({where.sql}) AND {valid} AND {x} >= ? AND {x} <= ? GROUP BY b",
            [start, width, *where.params, start, stop],
        ).fetchall()
    for b, n in grouped:
        counts[min(max(int(b), 0), bins - 1)] += int(n)
    edges = np.linspace(start, stop, bins + 1)
    return HistogramSummary(
        edges=[float(e) for e in edges], counts=counts.tolist(), min=data_min, max=data_max
    )


def confusion(
    db: Database, source: SourceData, where: Where, label: str, prediction: str
) -> tuple[list[int], list[list[int]]]:
    """Label values and the matrix of counts (rows: ground truth, columns: prediction)."""
    ql, qp = quote(label), quote(prediction)
    with db.query(source, where) as cur:
        pairs = cur.execute(
            f"SELECT CAST({ql} AS BIGINT), CAST({qp} AS BIGINT), count(*) FROM src "
            f"WHERE ({where.sql}) AND {ql} IS NOT NULL AND {qp} IS NOT NULL GROUP BY 1, 2",
            where.params,
        ).fetchall()
    values: set[int] = set()
    for col in (source.by_name[label], source.by_name[prediction]):
        values.update(int(k) for k in (col.value_map or {}))
    values.update(int(a) for a, _, _ in pairs)
    values.update(int(b) for _, b, _ in pairs)
    labels = sorted(values)
    if len(labels) > 1000:
        raise ApiError(422, f"{len(labels)} distinct labels: too many for a confusion matrix.")
    pos = {v: i for i, v in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for a, b, n in pairs:
        matrix[pos[int(a)]][pos[int(b)]] += int(n)
    return labels, matrix


def ipc_stream(table: pa.Table) -> bytes:
    """The Arrow IPC stream format of ``table`` (what the dashboard reads with apache-arrow)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())
