"""Filters compiled to SQL (service/filters.py), checked on their bounds through the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from tercet import Table
from tercet.service.errors import ApiError
from tercet.service.filters import INLINE_VALUES, MAX_DEPTH, MAX_NODES, compile_filter
from tercet.service.models import Filter
from tercet.service.query import Database
from tercet.service.query import rows as query_rows
from tercet.service.sources import SourceData, servable
from tests.fixtures.service import RunningService

# The query compiler's end-to-end tests: `make mutate` keeps them among the tests that start a
# service (pyproject.toml, [tool.mutmut]).
pytestmark = pytest.mark.query_compiler


def rows(service: RunningService, source: dict[str, Any], **body: Any) -> pa.Table:
    response = service.client.post("/api/rows", json={"source": source, **body})
    assert response.status_code == 200, response.text
    return pa.ipc.open_stream(response.content).read_all()


@pytest.mark.parametrize(
    ("column", "lo", "hi", "below", "above"),
    [("n", 3, 7, 2, 8), ("f", 0.25, 1.5, 0.125, 1.625)],
    ids=["int", "float"],
)
def test_range_bounds_are_inclusive(
    service: RunningService, root: Path, column: str, lo: float, hi: float, below: float,
    above: float,
) -> None:  # fmt: skip
    """Rows equal to min and to max are in; the nearest values outside are out (docs: inclusive)."""
    n = np.arange(11, dtype=np.int64)
    f = n.astype(np.float64) / 8  # 0, 0.125, …, 1.25: exact in binary, so equality is exact
    f[10] = 1.625
    f[9] = 1.5
    t = Table.create({"n": n, "f": f}, project="bounds", dataset="d", name="train")
    values = dict(zip(t.example_ids().tolist(), t.to_pandas()[column].tolist(), strict=True))

    def ids(**rng: float | None) -> list[int]:
        flt = {"column": column, "op": "range", **rng}
        page = rows(service, {"table": t.url}, columns=["example_id"], filter=flt)
        return sorted(page.column("example_id").to_pylist())

    def expect(ok: Any) -> list[int]:
        return sorted(i for i, v in values.items() if ok(v))

    assert below in values.values() and above in values.values()
    inside = ids(min=lo, max=hi)
    assert inside == expect(lambda v: lo <= v <= hi)
    assert {values[i] for i in inside} >= {lo, hi}
    assert below not in {values[i] for i in inside} and above not in {values[i] for i in inside}
    assert ids(min=lo) == expect(lambda v: v >= lo) and lo in {values[i] for i in ids(min=lo)}
    assert ids(max=hi) == expect(lambda v: v <= hi) and hi in {values[i] for i in ids(max=hi)}
    assert ids(min=lo, max=lo) == expect(lambda v: v == lo) != []
    assert ids(min=hi, max=hi) == expect(lambda v: v == hi) != []


def test_column_names_with_quotes_are_filtered_and_sorted(service: RunningService) -> None:
    """A column name holding `"` (from a CSV header, say) reaches DuckDB as one identifier."""
    name = 'say "hi"'
    t = Table.create(
        {name: np.array([5, 1, 4, 2, 3], dtype=np.int64)}, project="q", dataset="d", name="t"
    )
    values = dict(zip(t.example_ids().tolist(), t.to_pandas()[name].tolist(), strict=True))
    flt = {"column": name, "op": "range", "min": 2, "max": 4}
    page = rows(service, {"table": t.url}, columns=["example_id", name], filter=flt,
                sort=[{"column": name, "desc": True}])  # fmt: skip
    assert page.column(name).to_pylist() == [4, 3, 2]
    assert page.column("example_id").to_pylist() == sorted(
        (i for i, v in values.items() if 2 <= v <= 4), key=lambda i: -values[i]
    )


# -- the compiler in-process: which rows each kind of node keeps, and what it refuses -------------
def _source() -> SourceData:
    """Six rows: an int, a float with a null, a text, a bool and a list column."""
    table = pa.table(
        {
            "example_id": pa.array([10, 11, 12, 13, 14, 15], pa.int64()),
            "n": pa.array([0, 1, 2, 3, 4, 5], pa.int64()),
            "f": pa.array([0.5, None, 1.5, 2.5, 3.5, 4.5], pa.float64()),
            "s": pa.array(["Cat", "dog", "CATALOG", None, "bird", "cat"]),
            "b": pa.array([True, False, True, False, True, None]),
            "tags": pa.array([[1], [2], [], [3], [4], [5]], pa.list_(pa.int64())),
        }
    )
    rows, infos = servable(table, {})
    return SourceData(("compiler",), rows, infos)


SOURCE = _source()
FILTER: TypeAdapter[Any] = TypeAdapter(Filter)


def kept(flt: dict[str, Any]) -> list[int]:
    """The example ids ``flt`` keeps, run in DuckDB as the service runs it."""
    where = compile_filter(SOURCE, FILTER.validate_python(flt))
    db = Database(threads=1)
    try:
        page, total = query_rows(db, SOURCE, where, ["example_id"], [], 0, 100)
    finally:
        db.close()
    ids = sorted(page.column("example_id").to_pylist())
    assert total == len(ids)
    return ids


def refusal(flt: dict[str, Any]) -> str:
    with pytest.raises(ApiError) as err:
        compile_filter(SOURCE, FILTER.validate_python(flt))
    assert err.value.status == 422
    return str(err.value.detail)


def test_and_or_not_keep_the_rows_their_logic_keeps() -> None:
    small = {"column": "n", "op": "range", "max": 2}
    cat = {"column": "s", "op": "contains", "value": "cAt"}
    assert kept(small) == [10, 11, 12]
    assert kept(cat) == [10, 12, 15]  # case-insensitive substring; a null text never matches
    assert kept({"and": [small, cat]}) == [10, 12]
    assert kept({"or": [small, cat]}) == [10, 11, 12, 15]
    assert kept({"and": []}) == [10, 11, 12, 13, 14, 15]  # an empty and: every row
    assert kept({"or": []}) == []  # an empty or: no row
    assert kept({"and": [{"or": []}]}) == []
    assert kept({"or": [{"and": []}]}) == [10, 11, 12, 13, 14, 15]
    # A row where the inner filter is unknown (a null) counts as not matching it.
    assert kept({"not": cat}) == [11, 13, 14]
    assert kept({"not": {"column": "f", "op": "range", "min": 2}}) == [10, 11, 12]
    assert kept({"not": {"not": cat}}) == [10, 12, 15]


def test_each_leaf_keeps_exactly_its_rows() -> None:
    assert kept({"column": "f", "op": "is_null"}) == [11]
    assert kept({"column": "s", "op": "is_null"}) == [13]
    assert kept({"column": "f", "op": "range"}) == [10, 12, 13, 14, 15]  # no bounds: not null
    assert kept({"column": "f", "op": "range", "min": 1.5, "max": 1.5}) == [12]
    assert kept({"column": "n", "op": "range", "min": 4}) == [14, 15]
    assert kept({"column": "n", "op": "eq", "value": 3}) == [13]
    assert kept({"column": "s", "op": "eq", "value": "cat"}) == [15]
    assert kept({"column": "b", "op": "eq", "value": False}) == [11, 13]
    assert kept({"column": "n", "op": "in", "values": [5, 0, 9]}) == [10, 15]
    assert kept({"column": "s", "op": "in", "values": []}) == []
    many = list(range(100, 100 + INLINE_VALUES))
    assert kept({"column": "n", "op": "in", "values": [1, *many, 4]}) == [11, 14]
    # Two long lists in one filter are two value tables.
    evens = {"column": "n", "op": "in", "values": [0, 2, 4, *many]}
    low = {"column": "n", "op": "in", "values": [0, 1, 2, *many]}
    assert kept({"and": [evens, low]}) == [10, 12]


def test_a_filter_nested_or_wide_up_to_the_caps_is_compiled_and_one_more_is_refused() -> None:
    def nested(levels: int) -> dict[str, Any]:
        node: dict[str, Any] = {"column": "n", "op": "eq", "value": 1}
        for _ in range(levels):
            node = {"not": node}
        return node

    too_large = f"The filter is too large: at most {MAX_DEPTH} levels and {MAX_NODES} conditions."
    assert kept(nested(MAX_DEPTH)) == ([11] if MAX_DEPTH % 2 == 0 else [10, 12, 13, 14, 15])
    assert refusal(nested(MAX_DEPTH + 1)) == too_large
    leaf = {"column": "n", "op": "eq", "value": 2}
    assert kept({"or": [leaf] * (MAX_NODES - 1)}) == [12]  # the or itself is a node
    assert refusal({"or": [leaf] * MAX_NODES}) == too_large


@pytest.mark.parametrize("kind", ["and", "or"])
def test_and_and_or_count_a_level_each_like_not(kind: str) -> None:
    def nested(levels: int) -> dict[str, Any]:
        node: dict[str, Any] = {"column": "n", "op": "eq", "value": 1}
        for _ in range(levels):
            node = {kind: [node]}
        return node

    too_large = f"The filter is too large: at most {MAX_DEPTH} levels and {MAX_NODES} conditions."
    assert kept(nested(MAX_DEPTH)) == [11]
    assert refusal(nested(MAX_DEPTH + 1)) == too_large


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (
            {"column": "nope", "op": "eq", "value": 1},
            "Unknown filter column 'nope'. Columns: example_id, n, f, s, b, tags.",
        ),
        (
            {"column": "s", "op": "range", "min": 1},
            "A range filter needs a numeric column; 's' holds string.",
        ),
        (
            {"column": "n", "op": "range", "min": 3, "max": 2},
            "Range on 'n': min 3.0 is above max 2.0.",
        ),
        (
            {"column": "n", "op": "contains", "value": "1"},
            "'contains' needs a text column; 'n' holds int.",
        ),
        (
            {"column": "tags", "op": "eq", "value": 1},
            "Column 'tags' holds list values; only 'is_null' applies to it.",
        ),
        (
            {"column": "tags", "op": "in", "values": [1]},
            "Column 'tags' holds list values; only 'is_null' applies to it.",
        ),
        (
            {"column": "n", "op": "eq", "value": "3"},
            "Filter on 'n': value must be a number (int column); received '3'.",
        ),
        (
            {"column": "b", "op": "in", "values": [True, 1]},
            "Filter on 'b': values[1] must be true or false (bool column); received 1.",
        ),
        (
            # exactly INLINE_VALUES values are checked one by one, each named by its position
            {"column": "s", "op": "in", "values": ["a"] * (INLINE_VALUES - 1) + [7]},
            f"Filter on 's': values[{INLINE_VALUES - 1}] must be a string (string column); "
            "received 7.",
        ),
        (
            {"column": "s", "op": "in", "values": ["a"] * INLINE_VALUES + [7]},
            "Filter on 's': values must all be string values (string column) and none may be null.",
        ),
    ],
)
def test_a_refused_filter_says_what_and_where(flt: dict[str, Any], message: str) -> None:
    assert refusal(flt) == message


def test_a_refused_node_inside_and_or_not_is_refused_whole() -> None:
    bad = {"column": "s", "op": "range", "min": 1}
    good = {"column": "n", "op": "eq", "value": 1}
    for flt in ({"and": [good, bad]}, {"or": [good, bad]}, {"not": bad}):
        assert refusal(flt) == "A range filter needs a numeric column; 's' holds string."


def test_an_in_list_at_the_inline_limit_names_its_bad_value() -> None:
    values: list[Any] = [*range(INLINE_VALUES - 1), "x"]
    assert refusal({"column": "n", "op": "in", "values": values}) == (
        f"Filter on 'n': values[{INLINE_VALUES - 1}] must be a number (int column); received 'x'."
    )
