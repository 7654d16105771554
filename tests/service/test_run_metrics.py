"""Which metrics file of a run the library and the service read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tercet import Table
from tests.fixtures.service import RunningService, make_table

N = 300


@pytest.fixture
def table(root: Path) -> Table:
    return make_table(n=N)


def rows(service: RunningService, source: dict[str, Any], **body: Any) -> pa.Table:
    response = service.client.post("/api/rows", json={"source": source, **body})
    assert response.status_code == 200, response.text
    return pa.ipc.open_stream(response.content).read_all()


def test_an_epoch_collected_twice_reads_its_newest_file(
    service: RunningService, table: Table
) -> None:
    """Both the library (``Run.metrics``) and the service read the newest file of an epoch."""
    import tercet

    run = tercet.init(project="demo", run="twice", heartbeat=False)
    ids = table.example_ids()
    for epoch, loss in ((0, 1.0), (0, 2.0), (1, 5.0), (1, 3.0)):
        data = {"example_id": ids, "loss": np.full(len(ids), loss, np.float32)}
        run.write_metrics(table, data, epoch=epoch, split="train", roles={"loss": "loss"})
    run.close()
    files = run.metric_files("train", epoch=0)
    assert len(files) == 2 and files[0]["name"] < files[1]["name"]
    assert set(run.metrics("train", epoch=0).column("loss").to_pylist()) == {2.0}
    every = run.metrics("train").to_pandas()
    assert every.groupby("epoch").loss.agg(set).to_dict() == {0: {2.0}, 1: {3.0}}
    assert len(every) == 2 * N
    cases: list[tuple[int | None, float]] = [(0, 2.0), (1, 3.0), (None, 3.0)]
    for wanted, newest in cases:
        source = {"run": run.url, "split": "train", "epoch": wanted}
        page = rows(service, source, columns=["loss"], limit=N)
        assert page.num_rows == N
        assert set(page.column("loss").to_pylist()) == {newest}, wanted
