"""The values in `eq` and `in` filters, checked against the column's type through the service.

Short `in` lists go to DuckDB as parameters, long ones (over ``INLINE_VALUES``) as one Arrow
array: both paths must keep exactly the rows pandas keeps, and refuse the same bad values with a
message naming the column, what it holds and what was sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tercet import Table
from tercet.service.filters import INLINE_VALUES
from tests.fixtures.service import RunningService

# The query compiler's end-to-end tests: `make mutate` keeps them among the tests that start a
# service (pyproject.toml, [tool.mutmut]).
pytestmark = pytest.mark.query_compiler

LONG = INLINE_VALUES + 6


@pytest.fixture
def typed(root: Path) -> tuple[Table, pd.DataFrame]:
    n = 200
    rng = np.random.default_rng(3)
    data = {
        "i": rng.integers(-50, 50, n).astype(np.int64),
        "f": np.round(rng.normal(size=n), 1),
        "s": np.array([f"w{k % 17}" for k in range(n)]),
        "b": np.arange(n) % 3 == 0,
    }
    t = Table.create(data, project="typed", dataset="d", name="t")
    return t, t.to_pandas()


def ids(service: RunningService, table: Table, flt: dict[str, Any]) -> list[int]:
    response = service.client.post(
        "/api/rows",
        json={
            "source": {"table": table.url},
            "columns": ["example_id"],
            "filter": flt,
            "limit": 1000,
        },
    )
    assert response.status_code == 200, response.text
    return sorted(pa.ipc.open_stream(response.content).read_all().column(0).to_pylist())


def refused(service: RunningService, table: Table, flt: dict[str, Any]) -> str:
    response = service.client.post(
        "/api/rows", json={"source": {"table": table.url}, "columns": ["example_id"], "filter": flt}
    )
    assert response.status_code == 422, response.text
    return str(response.json()["detail"])


def expect(df: pd.DataFrame, mask: Any) -> list[int]:
    return sorted(df.loc[mask, "example_id"].tolist())


@pytest.mark.parametrize("length", [3, LONG], ids=["inline", "array"])
def test_in_lists_keep_exactly_the_matching_rows_of_each_type(
    service: RunningService, typed: tuple[Table, pd.DataFrame], length: int
) -> None:
    t, df = typed
    picks: dict[str, list[Any]] = {
        "i": list(range(-3, -3 + length)),
        "f": [round(x * 0.1, 1) for x in range(-length // 2, length - length // 2)],
        "s": [f"w{k}" for k in range(length)],
        "b": [True] * length,
    }
    for column, values in picks.items():
        got = ids(service, t, {"column": column, "op": "in", "values": values})
        assert got == expect(df, df[column].isin(values)) != [], column
    # an int column matched by whole-valued floats, a float column by ints
    assert ids(service, t, {"column": "i", "op": "in", "values": [2.0] * length}) == expect(
        df, df["i"] == 2
    )
    assert ids(service, t, {"column": "f", "op": "in", "values": [0] * length}) == expect(
        df, df["f"] == 0
    )


def test_eq_keeps_the_rows_equal_to_a_value_of_each_type(
    service: RunningService, typed: tuple[Table, pd.DataFrame]
) -> None:
    t, df = typed
    for column, value in {"i": int(df["i"][7]), "f": 0.3, "s": "w5", "b": False}.items():
        got = ids(service, t, {"column": column, "op": "eq", "value": value})
        assert got == expect(df, df[column] == value) != [], column
    assert ids(service, t, {"column": "f", "op": "eq", "value": 1}) == expect(df, df["f"] == 1)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("i", "7", "must be a number (int column); received '7'"),
        ("i", True, "must be a number (int column); received True"),
        ("f", "0.3", "must be a number (float column); received '0.3'"),
        ("f", False, "must be a number (float column); received False"),
        ("s", 5, "must be a string (string column); received 5"),
        ("s", True, "must be a string (string column); received True"),
        ("b", 1, "must be true or false (bool column); received 1"),
        ("b", "true", "must be true or false (bool column); received 'true'"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_column_and_what_it_holds(
    service: RunningService, typed: tuple[Table, pd.DataFrame], column: str,
    value: Any, expected: str,
) -> None:  # fmt: skip
    t, _ = typed
    detail = refused(service, t, {"column": column, "op": "eq", "value": value})
    assert detail == f"Filter on {column!r}: value {expected}.", detail
    detail = refused(service, t, {"column": column, "op": "in", "values": ["w1", "w2", value]})
    if column != "s":
        assert detail.startswith(f"Filter on {column!r}: values[0] must be "), detail
    else:
        assert detail == f"Filter on 's': values[2] {expected}.", detail


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("i", [*range(LONG), "7"], "numbers (int column)"),
        ("i", [True] * LONG, "numbers (int column)"),
        ("f", [*range(LONG), None], "numbers (float column)"),
        ("f", ["x"] * LONG, "numbers (float column)"),
        ("s", [*map(str, range(LONG)), 5], "string values (string column)"),
        ("s", [*map(str, range(LONG)), None], "string values (string column)"),
        ("b", [True] * LONG + [1], "bool values (bool column)"),
        ("b", [True] * LONG + [None], "bool values (bool column)"),
    ],
)
def test_a_long_list_with_one_bad_value_is_refused_whole(
    service: RunningService, typed: tuple[Table, pd.DataFrame], column: str,
    values: list[Any], expected: str,
) -> None:  # fmt: skip
    t, _ = typed
    detail = refused(service, t, {"column": column, "op": "in", "values": values})
    assert detail == (
        f"Filter on {column!r}: values must all be {expected} and none may be null."
    ), detail


def test_numbers_outside_what_the_column_can_hold_are_refused(
    service: RunningService, typed: tuple[Table, pd.DataFrame]
) -> None:
    t, _ = typed
    for value in (2**63, -(2**63) - 1):
        detail = refused(service, t, {"column": "i", "op": "eq", "value": value})
        assert detail == f"Filter on 'i': value {value} is outside the 64-bit range.", detail
    assert ids(service, t, {"column": "i", "op": "eq", "value": 2**63 - 1}) == []
    assert ids(service, t, {"column": "i", "op": "eq", "value": -(2**63)}) == []


def test_non_finite_numbers_are_refused_on_both_paths(
    service: RunningService, typed: tuple[Table, pd.DataFrame]
) -> None:
    """JSON from Python clients may carry NaN and Infinity; no row equals them, so say so."""
    t, _ = typed

    def send(flt: str) -> str:
        body = '{"source": {"table": ' + json.dumps(t.url) + '}, "columns": ["example_id"]'
        response = service.client.post(
            "/api/rows", content=body + ', "filter": ' + flt + "}",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert response.status_code == 422, response.text
        return str(response.json()["detail"])

    assert send('{"column": "f", "op": "eq", "value": NaN}') == (
        "Filter on 'f': value must be a finite number."
    )
    many = ", ".join(["0.5"] * LONG + ["Infinity"])
    assert send('{"column": "f", "op": "in", "values": [' + many + "]}") == (
        "Filter on 'f': values must be finite numbers."
    )


def test_long_lists_of_the_wrong_kind_are_refused_not_converted(
    service: RunningService, typed: tuple[Table, pd.DataFrame]
) -> None:
    t, _ = typed
    for column, values, expected in [
        ("s", list(range(LONG)), "string values (string column)"),
        ("b", [0, 1] * (LONG // 2), "bool values (bool column)"),
        ("i", ["1"] * LONG, "numbers (int column)"),
    ]:
        detail = refused(service, t, {"column": column, "op": "in", "values": values})
        assert detail == (
            f"Filter on {column!r}: values must all be {expected} and none may be null."
        ), detail


def test_the_size_caps_hold_exactly_at_their_bounds(
    service: RunningService, typed: tuple[Table, pd.DataFrame]
) -> None:
    from tercet.service.filters import MAX_DEPTH, MAX_NODES

    t, df = typed
    leaf = {"column": "i", "op": "is_null"}

    def nested(levels: int) -> dict[str, Any]:
        node: dict[str, Any] = {"column": "i", "op": "range"}  # every row: i is never null
        for _ in range(levels):
            node = {"not": node}
        return node

    too_large = f"The filter is too large: at most {MAX_DEPTH} levels and {MAX_NODES} conditions."
    assert len(ids(service, t, nested(MAX_DEPTH))) == len(df)  # an even number of nots
    assert refused(service, t, nested(MAX_DEPTH + 1)) == too_large
    assert ids(service, t, {"or": [leaf] * (MAX_NODES - 1)}) == []
    assert refused(service, t, {"or": [leaf] * MAX_NODES}) == too_large
