"""Filters compiled to SQL (service/filters.py), checked on their bounds through the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tercet import Table
from tests.fixtures.service import RunningService


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
