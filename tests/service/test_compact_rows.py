"""``compact`` rows, what the scatter asks for: ints in the narrowest type that holds the page,
float64 as float32, values unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tercet import Table
from tercet.service.wire import ipc_stream
from tests.fixtures.service import RunningService, make_table
from tests.service.test_rows import rows

N = 300


@pytest.fixture
def table(root: Path) -> Table:
    return make_table(n=N)


def test_compact_rows_narrow_ints_and_floats_without_changing_values(
    service: RunningService, table: Table
) -> None:
    """What the scatter asks for: ids and labels in the narrowest ints, float64 as float32."""
    cols = ["x", "label", "score", "caption"]
    plain = rows(service, {"table": table.url}, columns=cols, limit=N)
    small = rows(service, {"table": table.url}, columns=cols, limit=N, compact=True)
    assert small.schema.field("example_id").type == pa.int16()  # ids 0..299
    assert small.schema.field("label").type == pa.int8()  # labels 0..2
    assert small.schema.field("x").type == pa.float32()  # already float32: as it is
    assert small.schema.field("score").type == pa.float32()  # float64, nulls kept
    assert small.schema.field("caption").type == plain.schema.field("caption").type
    assert small["example_id"].to_pylist() == plain["example_id"].to_pylist()
    assert small["label"].to_pylist() == plain["label"].to_pylist()
    assert small["score"].null_count == plain["score"].null_count > 0
    np.testing.assert_allclose(
        small["score"].to_numpy(zero_copy_only=False),
        plain["score"].to_numpy(zero_copy_only=False),
        rtol=1e-6,
    )
    assert len(ipc_stream(small)) < len(ipc_stream(plain))


def test_compact_rows_keep_ids_that_need_64_bits(root: Path, service: RunningService) -> None:
    ids = np.array([0, 2**40, 5], dtype=np.int64)
    t = Table.create(
        {"example_id": ids, "v": np.array([-1, 70_000, 3], dtype=np.int64)},
        project="demo",
        dataset="wide",
        name="ids",
    )
    page = rows(service, {"table": t.url}, columns=["v"], limit=10, compact=True)
    assert page.schema.field("example_id").type == pa.int64()
    assert page.schema.field("v").type == pa.int32()
    assert sorted(page["example_id"].to_pylist()) == sorted(ids.tolist())
    assert sorted(page["v"].to_pylist()) == [-1, 3, 70_000]
