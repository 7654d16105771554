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


def test_a_metric_spec_reaches_the_column_info_the_service_serves(
    service: RunningService, table: Table
) -> None:
    """display_name, description and hidden of a MetricSpec travel to /api/schema; a column
    stored without them gets the defaults."""
    import tercet

    run = tercet.init(project="demo", run="specs", heartbeat=False)
    ids = table.example_ids()
    data = {"example_id": ids, "loss": np.ones(len(ids), np.float32),
            "margin": np.zeros(len(ids), np.float32)}  # fmt: skip
    spec = tercet.MetricSpec("number", display_name="Margin", description="Top-1 minus top-2.",
                             hidden=True)  # fmt: skip
    run.write_metrics(table, data, epoch=0, split="train", roles={"loss": "loss", "margin": spec})
    run.close()
    source = {"run": run.url, "split": "train", "epoch": 0}
    response = service.client.post("/api/schema", json={"source": source})
    assert response.status_code == 200, response.text
    columns = {c["name"]: c for c in response.json()["columns"]}
    margin, loss = columns["margin"], columns["loss"]
    assert (margin["display_name"], margin["description"], margin["hidden"]) == (
        "Margin", "Top-1 minus top-2.", True,
    )  # fmt: skip
    assert (loss["display_name"], loss["description"], loss["hidden"]) == (None, None, False)
    assert margin["role"] == "number" and loss["role"] == "loss"
