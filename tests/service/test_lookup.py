"""Rows by example id through the id index: the same answer as the scan, found without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tercet import Table
from tercet.service import query
from tercet.service.lookup import IdIndex, id_values
from tercet.service.models import EqFilter, InFilter, RangeFilter
from tests.fixtures.service import RunningService, make_table, write_metrics, write_run

N = 200


def arrow(response: Any) -> pa.Table:
    assert response.status_code == 200, response.text
    return pa.ipc.open_stream(response.content).read_all()


def rows(service: RunningService, source: dict[str, Any], **body: Any) -> pa.Table:
    return arrow(service.client.post("/api/rows", json={"source": source, **body}))


def test_index_finds_each_row_of_shuffled_ids_once() -> None:
    ids = np.random.default_rng(1).permutation(1000).astype(np.int64) * 3
    index = IdIndex(pa.table({"example_id": ids, "v": np.arange(1000)}))
    where = {int(i): p for p, i in enumerate(ids)}
    asked = np.array([ids[7], ids[3], 1, ids[7], -5, 10**12, ids[999]], dtype=np.int64)
    assert index.positions(asked).tolist() == sorted({where[int(ids[i])] for i in (7, 3, 999)})
    assert index.positions(np.array([], dtype=np.int64)).tolist() == []
    # A repeated id (never written by Tercet) gives every row, as the SQL would.
    dup = IdIndex(pa.table({"example_id": np.array([4, 2, 4, 9], dtype=np.int64)}))
    assert dup.positions(np.array([4])).tolist() == [0, 2]


def ids(node: Any) -> list[int] | None:
    found = id_values(node)
    return None if found is None else [int(i) for i in found]


def test_only_bare_id_filters_take_the_lookup() -> None:
    assert ids(EqFilter(column="example_id", op="eq", value=3)) == [3]
    assert ids(EqFilter(column="example_id", op="eq", value=3.0)) == [3]
    assert ids(EqFilter(column="example_id", op="eq", value=2.5)) == []
    assert ids(InFilter(column="example_id", op="in", values=[1, 2])) == [1, 2]
    assert ids(EqFilter(column="label", op="eq", value=3)) is None
    assert ids(RangeFilter(column="example_id", op="range", min=1, max=2)) is None
    assert ids(None) is None


@pytest.fixture
def run(root: Path) -> tuple[Table, str]:
    table = make_table(n=N)
    run = write_run(root, "demo", "r1", inputs={"train": table.url})
    ids = np.arange(N)
    # Metrics rows in another order than the table's: the join, not the position, aligns them.
    write_metrics(
        run,
        "train",
        0,
        table.url,
        table.id,
        {"example_id": ids[::-1], "loss": (ids[::-1] * 10).astype(np.float32)},
        roles={"loss": "loss"},
    )
    return table, run


CASES: list[dict[str, Any]] = [
    {"filter": {"column": "example_id", "op": "eq", "value": 17}},
    {"filter": {"column": "example_id", "op": "eq", "value": 17.0}},
    {"filter": {"column": "example_id", "op": "eq", "value": 10**9}},
    {"filter": {"column": "example_id", "op": "in", "values": [150, 3, 77, 3, -1]}},
    {"filter": {"column": "example_id", "op": "in", "values": [150, 3, 77]}, "offset": 1},
    {"filter": {"column": "example_id", "op": "in", "values": [150, 3, 77]}, "limit": 2},
]


@pytest.mark.parametrize("case", CASES)
def test_id_lookup_answers_as_the_scan_does(
    service: RunningService, run: tuple[Table, str], case: dict[str, Any]
) -> None:
    source = {"run": run[1], "split": "train", "epoch": 0}
    body = {"columns": ["label", "loss"], **case}
    fast = service.client.post("/api/rows", json={"source": source, **body})
    # The same filter under an `and` goes through DuckDB.
    slow = service.client.post(
        "/api/rows", json={"source": source, **body, "filter": {"and": [case["filter"]]}}
    )
    assert fast.headers["X-Total-Count"] == slow.headers["X-Total-Count"]
    assert arrow(fast).to_pylist() == arrow(slow).to_pylist()


def test_id_lookup_returns_the_row_asked_for_without_a_scan(
    service: RunningService, run: tuple[Table, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table, run_url = run
    source = {"run": run_url, "split": "train", "epoch": 0}

    def no_scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an id lookup scanned the source")

    monkeypatch.setattr(query, "rows", no_scan)
    labels = table.to_pandas().set_index("example_id").label
    for i in (0, 42, 199):
        page = rows(service, source, columns=["label", "loss"], filter={
            "column": "example_id", "op": "eq", "value": i})  # fmt: skip
        assert page.to_pylist() == [{"example_id": i, "label": labels[i], "loss": i * 10.0}]


def test_id_lookup_follows_an_edit(service: RunningService, run: tuple[Table, str]) -> None:
    table, run_url = run
    before = {"table": table.url}
    ask = {"column": "example_id", "op": "in", "values": [4, 5, 6]}
    assert rows(service, before, columns=["label"], filter=ask).column("label").to_pylist() == [
        1, 2, 0]  # fmt: skip
    response = service.client.post(
        "/api/revisions",
        json={
            "base": table.url,
            "message": "fix",
            "edits": {"set": [{"column": "label", "example_id": 4, "value": 0}], "delete": [5]},
        },
    )
    assert response.status_code == 201, response.text
    after = {"table": response.json()["url"]}
    page = rows(service, after, columns=["label"], filter=ask)
    assert page.to_pylist() == [{"example_id": 4, "label": 0}, {"example_id": 6, "label": 0}]
    latest = {"run": run_url, "split": "train", "epoch": 0, "join": "latest"}
    page = rows(service, latest, columns=["label", "loss"], filter=ask)
    assert page.column("example_id").to_pylist() == [4, 6]
    assert page.column("label").to_pylist() == [0, 0]
    # The revision the run trained on still answers with its own values.
    assert rows(service, before, columns=["label"], filter=ask).column("label").to_pylist() == [
        1, 2, 0]  # fmt: skip
