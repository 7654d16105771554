"""What a page and a histogram cost on a source read row group by row group (many chunks):
a page of rows is taken chunk by chunk without copying whole columns, with the rows and their
order exactly what ``pa.Table.take`` gives; a histogram asked again scans once, not twice, and
answers the same."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from tercet.service.filters import Where, compile_filter
from tercet.service.models import Filter, HistogramSummary, SortKey
from tercet.service.query import Database, rows, summary
from tercet.service.sources import SourceData, servable
from tercet.service.take import take_rows

FILTER: TypeAdapter[Any] = TypeAdapter(Filter)
COUNTED = pa.proxy_memory_pool(pa.default_memory_pool())
"""A pool of its own, to read a high-water mark of one call (kept for the process: Arrow
frees buffers into the pool that made them)."""


def _chunked(n: int, chunk: int) -> pa.Table:
    """``n`` rows in chunks of ``chunk`` (as a row-group read gives), one column chunked
    differently, with nulls, text, a nested and a dictionary column."""
    rng = np.random.default_rng(3)
    whole = pa.table(
        {
            "example_id": pa.array(np.arange(n, dtype=np.int64) * 7),
            "score": pa.array(rng.random(n), mask=rng.random(n) < 0.1),
            "text": pa.array([f"row {i}" for i in range(n)]),
            "emb": pa.FixedSizeListArray.from_arrays(pa.array(rng.random(n * 2)), 2),
            "kind": pa.array([["a", "b", "c"][i % 3] for i in range(n)]).dictionary_encode(),
        }
    )
    table = pa.concat_tables([whole.slice(i, chunk) for i in range(0, n, chunk)])
    odd = pa.chunked_array([table.column("text").combine_chunks()[i : i + 333]
                            for i in range(0, n, 333)])  # fmt: skip
    return table.set_column(2, "text", odd)


@pytest.mark.parametrize(
    "positions",
    [
        [5, 0, 2999, 1000, 999, 1001, 5, 1500],  # unordered, repeated, at chunk edges
        list(range(990, 1010)),  # in order, across one edge
        [2999],
        [],
    ],
    ids=["unordered", "ordered", "last", "none"],
)
def test_take_rows_gives_what_arrow_take_gives(positions: list[int]) -> None:
    table = _chunked(3000, 1000)
    got = take_rows(table, np.array(positions, dtype=np.int64))
    want = table.take(pa.array(positions, type=pa.int64()))
    assert got.schema == table.schema
    assert got.to_pylist() == want.to_pylist()
    assert take_rows(table.combine_chunks(), np.array(positions, dtype=np.int64)).equals(got)


def test_take_rows_out_of_range_is_refused() -> None:
    with pytest.raises(IndexError, match="out of range for 3000 rows"):
        take_rows(_chunked(3000, 1000), np.array([3000]))


def test_a_page_does_not_copy_whole_columns() -> None:
    """``pa.Table.take`` combines a column's chunks first; a page of 3 rows of an 8 MB column
    must allocate next to nothing."""
    table = pa.table({"x": pa.chunked_array([np.arange(125_000, dtype=np.float64)] * 8)})
    default = pa.default_memory_pool()
    pa.set_memory_pool(COUNTED)
    try:
        before = COUNTED.max_memory()
        page = take_rows(table, np.array([999_999, 3, 500_000]))
        taken = page.column("x").to_pylist()
        del page  # freed into the pool it came from
        peak = COUNTED.max_memory() - before
    finally:
        pa.set_memory_pool(default)
    assert taken == [124_999.0, 3.0, 0.0]
    assert peak < 100_000, f"{peak} bytes allocated for 3 rows"


def _source(n: int = 3000) -> SourceData:
    table, infos = servable(_chunked(n, 1000), {})
    return SourceData(("page-cost", n), table, infos)


def test_a_filtered_sorted_page_over_chunks_is_the_right_rows() -> None:
    source = _source()
    db = Database(threads=1)
    try:
        where = compile_filter(source, FILTER.validate_python({"column": "kind", "op": "in",
                                                               "values": ["b"]}))  # fmt: skip
        page, total = rows(db, source, where, ["score", "text"], [SortKey(column="score",
                           desc=True)], 10, 25)  # fmt: skip
    finally:
        db.close()
    data = source.table.to_pydict()
    kept = [i for i in range(3000) if data["kind"][i] == "b"]
    # Nulls last, ties by row number: the order the service promises.
    kept.sort(key=lambda i: (data["score"][i] is None, -(data["score"][i] or 0.0), i))
    assert total == len(kept) == 1000
    assert page.column_names == ["example_id", "score", "text"]
    assert page.column("example_id").to_pylist() == [data["example_id"][i] for i in kept[10:35]]
    assert page.column("text").to_pylist() == [data["text"][i] for i in kept[10:35]]


class _Spy:
    """A DuckDB cursor that notes each statement it runs."""

    def __init__(self, cur: Any, seen: list[str]) -> None:
        self._cur, self._seen = cur, seen

    def execute(self, sql: str, params: Any = None) -> Any:
        self._seen.append(sql)
        return self._cur.execute(sql, params)


class CountingDatabase(Database):
    def __init__(self) -> None:
        super().__init__(threads=1)
        self.seen: list[str] = []

    @contextmanager
    def query(self, source: SourceData, where: Where) -> Iterator[Any]:
        with super().query(source, where) as cur:
            yield _Spy(cur, self.seen)


def test_a_histogram_asked_again_is_not_scanned_again_and_answers_the_same() -> None:
    source = _source()
    db = CountingDatabase()
    flt = compile_filter(source, FILTER.validate_python({"column": "kind", "op": "in",
                                                         "values": ["a", "c"]}))  # fmt: skip
    try:
        first = summary(db, source, flt, "score", 20)
        assert len(db.seen) == 2  # the extent, then the bins
        again = summary(db, source, flt, "score", 20)
        assert len(db.seen) == 2 and again == first  # the same answer is kept
        other_bins = summary(db, source, flt, "score", 7)
        assert len(db.seen) == 3  # the extent is kept: the bins only
        other_filter = summary(db, source, Where(), "score", 20)
        assert len(db.seen) == 5  # a new filter: its own extent
    finally:
        db.close()
    values = [
        v for v, k in zip(source.table.column("score").to_pylist(),
                          source.table.column("kind").to_pylist(), strict=True)
        if v is not None and k in ("a", "c")
    ]  # fmt: skip
    assert isinstance(first, HistogramSummary) and isinstance(other_bins, HistogramSummary)
    assert (first.min, first.max) == (min(values), max(values))
    assert sum(first.counts) == sum(other_bins.counts) == len(values)
    assert isinstance(other_filter, HistogramSummary)
    assert sum(other_filter.counts) == source.table.column("score").drop_null().__len__()
