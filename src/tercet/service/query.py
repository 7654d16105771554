"""The queries behind the row, count, summary and confusion endpoints, run in DuckDB over a
source's Arrow rows, with filters compiled by :mod:`tercet.service.filters` (values always bound
as parameters, never in the SQL text)."""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from tercet.schema import ID_COLUMN
from tercet.service.cache import ByteLRU
from tercet.service.errors import ApiError
from tercet.service.filters import Where, quote
from tercet.service.models import (
    CategoryCount,
    CategorySummary,
    ColumnInfo,
    HistogramSummary,
    SortKey,
)
from tercet.service.order import ordered
from tercet.service.sources import NUMERIC, ROW, SCALAR, SourceData

TOP_CATEGORIES = 200
INT64 = (-(2**63), 2**63 - 1)
COUNT_CACHE = 4096
ORDER_BYTES = 64 * 1024**2  # row numbers of sorted views kept (tercet.service.order)
log = logging.getLogger("tercet.service")
SHUTTING_DOWN = "The service is shutting down: retry once it is back."


class Database:
    """One in-memory DuckDB; each query runs on its own cursor (DuckDB's unit of concurrency).

    At most ``slots`` queries run at once: on a small machine twenty concurrent scans of a
    million rows only fight over cores and memory; queued requests finish sooner in turn.
    Counts and histogram extents are remembered per source and filter, since neither ever
    changes: paging through a filtered view scans for its total once, and a histogram asked
    again (other bins, a reload) scans once instead of twice.

    Closing waits for the running queries (interrupted first): DuckDB refuses to close a
    connection while one of its cursors is busy (``ResourceInUseException``), which is what a
    service stopped in the middle of a request used to log.
    """

    def __init__(self, threads: int | None = None, slots: int | None = None) -> None:
        config: dict[str, str | bool | int | float | list[str]] = (
            {"threads": threads} if threads else {}
        )
        self._con = duckdb.connect(":memory:", config=config)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active: set[duckdb.DuckDBPyConnection] = set()
        self._closed = False
        self._slots = threading.BoundedSemaphore(slots or max(2, os.cpu_count() or 2))
        self._known: OrderedDict[Hashable, Any] = OrderedDict()
        # Row numbers of sorted views' first rows (see `rows`), bounded by bytes.
        self.orders = ByteLRU(ORDER_BYTES)

    @contextmanager
    def query(self, source: SourceData, where: Where) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor with the source registered as ``src`` (and the filter's value tables)."""
        with self._slots:
            with self._lock:
                if self._closed:
                    raise ApiError(503, SHUTTING_DOWN)
                cur = self._con.cursor()
                self._active.add(cur)
            try:
                source.attach(cur)
                for name, table in where.tables.items():
                    cur.register(name, table)
                yield cur
            except duckdb.InterruptException as e:
                if self._closed:  # stopped by close(), not a fault of the request
                    raise ApiError(503, SHUTTING_DOWN) from e
                raise
            finally:
                cur.close()
                with self._lock:
                    self._active.discard(cur)
                    self._idle.notify_all()

    def cached(self, key: Hashable) -> Any:
        """What :meth:`remember` kept under ``key`` (a count, an extent), or None."""
        with self._lock:
            return self._known.get(key)

    def remember(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._known[key] = value
            while len(self._known) > COUNT_CACHE:
                self._known.popitem(last=False)

    def close(self, timeout: float = 10.0) -> None:
        """Release the database: refuse new queries, interrupt the running ones and wait (at
        most ``timeout`` seconds) until their cursors are closed, then close the connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for cur in self._active:
                cur.interrupt()
            if not self._idle.wait_for(lambda: not self._active, timeout=timeout):
                log.warning(
                    "%d DuckDB queries still ran %.0f s after the service was stopped; "
                    "their memory is freed when the process exits.",
                    len(self._active),
                    timeout,
                )
                return
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
    if key is not None and (known := db.cached(key)) is not None:
        return int(known)
    with db.query(source, where) as cur:
        row = cur.execute(f"SELECT count(*) FROM src WHERE {where.sql}", where.params).fetchone()
    total = int(row[0]) if row else 0
    if key is not None:
        db.remember(key, total)
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
        return source.slice(names, offset, limit), source.num_rows
    # The row number breaks ties, so pages are stable and never overlap.
    order.append(quote(ROW))

    def scan(n: int, skip: int) -> np.ndarray:
        sql = (
            f"SELECT {quote(ROW)} FROM src WHERE {where.sql} ORDER BY {', '.join(order)} "
            "LIMIT ? OFFSET ?"
        )
        with db.query(source, where) as cur:
            found = cur.execute(sql, [*where.params, n, skip]).fetchnumpy()[ROW]
        return np.asarray(found, dtype=np.int64)

    # Long id lists (value tables) are not hashed into a key.
    view = None if where.tables else (source.key, where.sql, tuple(where.params), tuple(order))
    found = ordered(db.orders, view, scan, offset, limit)
    total = count(db, source, where)
    return source.take(names, found), total


def rows_by_id(
    source: SourceData, ids: np.ndarray, columns: list[str] | None, offset: int, limit: int
) -> tuple[pa.Table, int]:
    """The rows whose example id is in ``ids``, in row order (what :func:`rows` returns for an
    id filter without sort keys), found through the source's id index instead of a scan."""
    names = _columns(source, columns)
    found = source.ids.positions(ids)
    page = found[offset : offset + limit]
    return source.take(names, page), len(found)


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
    # Kept per source, filter, column and bins like the counts: the same summary asked
    # again (a reload, a second client, the filter toggled back) is not scanned again.
    key = (
        None
        if where.tables
        else ("summary", source.key, where.sql, tuple(where.params), column, bins, lo, hi)
    )
    if key is not None and (known := db.cached(key)) is not None:
        return known  # type: ignore[no-any-return]
    answer = _summary(db, source, where, col, bins, lo, hi)
    if key is not None:
        db.remember(key, answer)
    return answer


def _summary(
    db: Database,
    source: SourceData,
    where: Where,
    col: ColumnInfo,
    bins: int,
    lo: float | None,
    hi: float | None,
) -> HistogramSummary | CategorySummary:
    column = col.name
    if col.type in NUMERIC and col.role not in ("label", "prediction", "id"):
        return _histogram(db, source, where, column, col.type, bins, lo, hi)
    if col.type not in SCALAR:
        raise ApiError(422, f"No summary for {column!r}: it holds {col.type} values.")
    q = quote(column)
    # The window totals ride along on each kept row, so the cut is reported from one scan.
    sql = (
        f"SELECT v, n, count(*) OVER () AS d, sum(n) OVER () AS t FROM ("
        f"SELECT {q} AS v, count(*) AS n FROM src WHERE {where.sql} GROUP BY {q}) "
        f"ORDER BY n DESC, v ASC NULLS LAST LIMIT {TOP_CATEGORIES}"
    )
    with db.query(source, where) as cur:
        result = cur.execute(sql, where.params).fetchall()
    values = []
    vmap = col.value_map or {}
    distinct = int(result[0][2]) if result else 0
    rows = int(result[0][3]) if result else 0
    for value, n, _, _ in result:
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
    return CategorySummary(
        values=values, distinct=distinct, others=rows - sum(v.count for v in values)
    )


def _around(value: float) -> tuple[float, float]:
    """A domain around one value: unit-wide, or wider where a unit is below its precision."""
    half = max(0.5, abs(value) * 2.0**-20)
    top = sys.float_info.max
    return max(value - half, -top), min(value + half, top)


def _domain(
    column: str, bins: int, lo: float | None, hi: float | None, data: tuple[float, float] | None
) -> tuple[float, float, float] | None:
    """``(start, stop, scale)`` of the histogram, None when there is nothing to bin.

    ``scale`` (1, or 0.5 when ``stop - start`` overflows a double) is applied to every value
    before binning, so a domain as wide as all doubles still bins without infinities. A domain
    given by the client too narrow for its bins to be told apart is a 422.
    """
    start = lo if lo is not None else data[0] if data else None
    stop = hi if hi is not None else data[1] if data else None
    if start is None or stop is None:
        return None
    if lo is not None and hi is not None and lo > hi:
        raise ApiError(422, f"Histogram of {column!r}: min {lo} is above max {hi}.")
    if stop <= start:
        # One value (or a bound on the far side of all data): a domain around the bound the
        # client gave, else around the data.
        start, stop = _around(hi if hi is not None and lo is None else start)
    scale = 1.0 if math.isfinite(stop - start) else 0.5
    width = (stop * scale - start * scale) / bins
    # Bins narrower than a few units in the last place of the bounds cannot be told apart.
    ulp = math.ulp(max(abs(start), abs(stop))) * scale
    if not math.isfinite(width) or width < 4 * ulp or width <= 0:
        if lo is not None and hi is not None:
            raise ApiError(
                422,
                f"Histogram of {column!r}: min {lo} and max {hi} are too close for {bins} bins "
                "(a bin would be narrower than a double can tell apart); widen the range or "
                "ask for fewer bins.",
            )
        start, stop = _around(start)
        scale = 1.0
    return start, stop, scale


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
    x = f"CAST({quote(column)} AS DOUBLE)"
    valid = f"{x} IS NOT NULL AND isfinite({x})"
    key = None if where.tables else ("extent", source.key, where.sql, tuple(where.params), column)
    with db.query(source, where) as cur:
        if (known := db.cached(key) if key is not None else None) is not None:
            data_min, data_max = known
        else:
            row = cur.execute(
                f"SELECT min({x}), max({x}) FROM src WHERE ({where.sql}) AND {valid}",
                where.params,
            ).fetchone()
            data_min, data_max = (_finite(row[0]), _finite(row[1])) if row else (None, None)
            if key is not None:
                db.remember(key, (data_min, data_max))
        data = (data_min, data_max) if data_min is not None and data_max is not None else None
        domain = _domain(column, bins, lo, hi, data)
        if domain is None:
            edges = np.linspace(0.0, 1.0, bins + 1)
            return HistogramSummary(edges=edges.tolist(), counts=[0] * bins, min=None, max=None)
        start, stop, scale = domain
        width = (stop * scale - start * scale) / bins
        counts = np.zeros(bins, dtype=np.int64)
        # The bin index is clamped in SQL too: no value can make the cast to BIGINT overflow.
        grouped = cur.execute(
            f"SELECT CAST(least(greatest(floor(({x} * ? - ?) / ?), 0), ?) AS BIGINT) AS b, "
            f"count(*) FROM src WHERE ({where.sql}) AND {valid} AND {x} >= ? AND {x} <= ? "
            "GROUP BY 1",  # by position: the source may have a column named b
            [scale, start * scale, width, bins - 1, *where.params, start, stop],
        ).fetchall()
    for b, n in grouped:
        counts[min(max(int(b), 0), bins - 1)] += int(n)
    # Edges as weighted means of the bounds: no intermediate overflows, the last edge is stop.
    t = np.arange(bins + 1, dtype=np.float64) / bins
    edges = start * (1.0 - t) + stop * t
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
