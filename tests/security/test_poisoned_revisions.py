"""Poisoned revisions: a delta that Tercet's edits would refuse (planted by a bundle or written by
hand into the root) stops every reader with the revision's name, instead of handing ``inf`` or a
negative weight to the samplers that train on it or a value that does not fit to the service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tercet import Table, format, storage
from tercet.errors import CorruptObjectError
from tests.fixtures.service import RunningService

N = 10


@pytest.fixture
def table(root: Path) -> Table:
    return Table.create(
        {"score": np.linspace(0, 1, N).astype(np.float32), "count": np.arange(N)},
        project="demo",
        dataset="d",
        name="t",
    )


def plant(table: Table, column: str, values: list[Any]) -> str:
    """A child revision of ``table`` whose inline delta sets ``column`` of the first rows: the
    attack itself, written as a file, not through the edit API (which refuses these values)."""
    folder = storage.join(storage.parent(table.url), format.revision_name(table.table_name))
    descriptor = {
        key: value for key, value in table.descriptor.items() if key not in ("rows", "num_rows")
    }
    ids = [int(i) for i in table.example_ids()[: len(values)]]
    descriptor.update(
        id="e" * 32,
        name=storage.basename(folder),
        parent=f"../{storage.basename(table.url)}",
        num_rows=N,
        created=format.stamp(format.now()),
        delta={
            "deleted": [],
            "set": {column: {"example_id": ids, "value": values}},
            "added_columns": [],
        },
    )
    Path(folder).mkdir()
    Path(format.descriptor_url(folder)).write_text(json.dumps(descriptor))
    return folder


@pytest.mark.parametrize(
    ("column", "values", "says"),
    [
        ("weight", [1e39], "weights training cannot use"),  # float32 inf once stored
        ("weight", [1e300, 1.0], "weights training cannot use"),
        ("weight", [-1.0], "weights training cannot use"),
        ("weight", [None], "weights training cannot use"),
        ("count", [2**70], "delta"),
        ("count", ["1"], "delta"),
    ],
)
def test_a_planted_delta_stops_every_reader_with_its_name(
    table: Table, service: RunningService, column: str, values: list[Any], says: str
) -> None:
    planted = plant(table, column, values)
    revision = Table.open(planted)

    with pytest.raises(CorruptObjectError, match=says) as raised:
        revision.to_arrow()
    assert planted in str(raised.value)
    with pytest.raises(CorruptObjectError, match=says):
        list(revision.sampler(latest=False))  # what training draws by

    response = service.client.post("/api/count", json={"source": {"table": planted}})
    assert 400 <= response.status_code < 500, response.text
    assert says in response.json()["detail"]
    # The honest parent is read as before.
    assert Table.open(table.url).to_arrow().column("weight").to_pylist() == [1.0] * N


def test_sound_weights_in_a_planted_delta_still_read(table: Table) -> None:
    """The check refuses what training cannot use, not deltas written by hand as such."""
    planted = plant(table, "weight", [0.0, 2.5])
    weights = Table.open(planted).to_arrow().column("weight")
    assert weights.type == pa.float32()
    assert weights.to_pylist()[:3] == [0.0, 2.5, 1.0]
