"""What training reads stays numerically sound: an edit is checked as the column stores it.

Before, finiteness was checked before the cast, so a weight of ``1e39`` became float32 ``inf``;
that revision became the latest and every weighted sampler on it raised. Integers out of range
were 500s, and strings were quietly read as numbers (``"1"`` became ``1``). Every case is tried
through the Python API and through ``POST /api/revisions``, and must write nothing.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tercet import Table
from tercet.errors import EditError, SchemaError
from tests.fixtures.service import RunningService, snapshot

# (column, value, what the error says)
BAD_VALUES: list[tuple[str, Any, str]] = [
    ("weight", 1e39, "does not fit float"),  # finite in float64, inf in float32
    ("weight", 1e300, "does not fit float"),
    ("weight", float("inf"), "Weight must be a finite number"),
    ("weight", float("nan"), "Weight must be a finite number"),
    ("weight", -1.0, "Weight must be a finite number ≥ 0"),
    ("weight", None, "Weight must be a finite number"),
    ("weight", "1", "expects float; received '1'"),
    ("score", 1e39, "does not fit float"),
    ("score", float("nan"), "not a finite number"),
    ("score", float("-inf"), "not a finite number"),
    ("score", True, "expects float; received True"),
    ("score", "0.5", "expects float; received '0.5'"),
    ("half", 70000.0, "does not fit halffloat"),
    ("count", 2**70, "holds int64 values from"),
    ("count", 2**63, "holds int64 values from"),
    ("count", "1", "expects int64; received '1'"),
    ("count", True, "expects int64; received True"),
    ("count", 1.5, "not a whole number"),
    ("count", 1e300, "holds int64 values from"),
    ("count", float("nan"), "not a whole number"),
    ("small", 300, "holds int8 values from -128 to 127"),
    ("big", 2**64, "holds uint64 values from 0 to 18446744073709551615"),
    ("big", -1, "holds uint64 values from 0"),
    ("flag", 1, "expects bool; received 1"),
    ("text", 5, "expects string; received 5"),
    ("emb", [1e39, 0.0, 0.0], "does not fit float"),
    ("emb", [math.nan, 0.0, 0.0], "does not fit float"),
    ("emb", ["1", 0.0, 0.0], "expects fixed_size_list"),
]


@pytest.fixture
def table(root: Path) -> Table:
    n = 10
    zeros = pa.array(np.zeros(3 * n), pa.float32())
    return Table.create(
        pa.table(
            {
                "score": pa.array(np.linspace(0, 1, n), pa.float32()),
                "half": pa.array(np.ones(n), pa.float16()),
                "count": pa.array(np.arange(n), pa.int64()),
                "small": pa.array(np.arange(n), pa.int8()),
                "big": pa.array(np.arange(n), pa.uint64()),
                "flag": pa.array([True] * n),
                "text": pa.array(["a"] * n),
                "emb": pa.FixedSizeListArray.from_arrays(zeros, 3),
            }
        ),
        project="demo",
        dataset="d",
        name="t",
    )


def folders(table: Table) -> set[str]:
    return {p.name for p in Path(table.url).parent.iterdir()}


@pytest.mark.parametrize(("column", "value", "says"), BAD_VALUES)
def test_bad_value_is_refused_by_the_python_api(
    table: Table, root: Path, column: str, value: Any, says: str
) -> None:
    before = snapshot(root)
    with pytest.raises(SchemaError, match="Column|Weight") as info:
        table.set_values(column, [3], [value])
    assert says in str(info.value)
    assert snapshot(root) == before


@pytest.mark.parametrize(("column", "value", "says"), BAD_VALUES)
def test_bad_value_is_refused_by_the_service(
    service: RunningService, table: Table, root: Path, column: str, value: Any, says: str
) -> None:
    before = snapshot(root)
    edits: dict[str, Any]
    if column == "weight" and isinstance(value, float):
        edits = {"weights": [{"example_id": 3, "weight": value}]}
    else:
        edits = {"set": [{"column": column, "example_id": 3, "value": value}]}
    # Plain json.dumps: NaN and Infinity go out as the literals some JSON writers emit.
    body = json.dumps({"base": table.url, "edits": edits})
    response = service.client.post(
        "/api/revisions", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    # pydantic refuses a non-finite weight before the core sees it; any other value the core
    if not (column == "weight" and isinstance(value, float) and not math.isfinite(value)):
        assert says in detail
    assert snapshot(root) == before


@pytest.mark.parametrize("ident", [2**64, 2**63, -(2**63) - 1])
def test_example_id_out_of_range_is_a_clear_error(
    service: RunningService, table: Table, root: Path, ident: int
) -> None:
    before = snapshot(root)
    with pytest.raises(EditError, match="64-bit integers"):
        table.set_values("count", [ident], [1])
    with pytest.raises(EditError, match="64-bit integers"):
        table.delete_rows([ident])
    for edits in (
        {"delete": [ident]},
        {"set": [{"column": "count", "example_id": ident, "value": 1}]},
        {"weights": [{"example_id": ident, "weight": 1.0}]},
    ):
        response = service.client.post("/api/revisions", json={"base": table.url, "edits": edits})
        assert response.status_code == 422, response.text
        # Refused at the wire (the request model's int64 bounds) or by the edit: either names why.
        detail = response.json()["detail"]
        assert re.search(r"64-bit integers|-?922337203685477580[78]", detail), detail
    assert snapshot(root) == before


@pytest.mark.parametrize("ids", [["3"], [3.0], [True], np.array([3.0]), np.array(["3"])])
def test_example_ids_that_are_not_integers_are_refused(table: Table, root: Path, ids: Any) -> None:
    before = snapshot(root)
    with pytest.raises(EditError, match="example ids are integers"):
        table.set_values("count", ids, [1])
    assert snapshot(root) == before


def test_a_new_columns_default_is_checked_the_same_way(table: Table, root: Path) -> None:
    before = snapshot(root)
    with pytest.raises(SchemaError, match="does not fit float"):
        table.add_column("w2", pa.float32(), default=1e39)
    with pytest.raises(SchemaError, match="holds int8 values"):
        table.add_column("c2", pa.int8(), default=1000)
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("weights", "says"),
    [
        ([1.0, 1e39], "does not fit float"),
        ([1.0, math.inf], "not finite numbers ≥ 0"),
        ([1.0, math.nan], "not finite numbers ≥ 0"),
        ([1.0, -2.0], "not finite numbers ≥ 0"),
        ([1.0, None], "not finite numbers ≥ 0"),
    ],
)
def test_table_create_refuses_weights_training_cannot_use(
    root: Path, weights: list[Any], says: str
) -> None:
    with pytest.raises(SchemaError, match="weight") as info:
        Table.create({"x": [1, 2], "weight": weights}, project="demo", dataset="d", name="w")
    assert says in str(info.value)
    assert not (root / "demo" / "datasets" / "d" / "tables" / "w").exists()


def test_sound_edits_still_apply_as_stored(table: Table) -> None:
    with table.edit() as e:
        e.set_values("count", [1], [2.0])  # a whole float is the integer it names
        e.set_values("big", [2], [2**64 - 1])
        e.set_values("score", [3], [3.4028234e38])  # the largest float32
        e.set_weights([4], [0.0])
        e.set_values("score", [5], [None])  # null is the missing value
    rows = {r["example_id"]: r for r in e.result.rows}
    assert rows[1]["count"] == 2 and rows[2]["big"] == 2**64 - 1
    assert math.isfinite(rows[3]["score"]) and rows[4]["weight"] == 0.0
    assert rows[5]["score"] is None
    assert e.result.latest().url == e.result.url
