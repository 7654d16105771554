"""A fleet of finished (or still running) runs written straight to storage, fast.

Benchmarks of indexing need a thousand runs in seconds; training a thousand real runs would take
an hour. The files are exactly what ``tercet.init()`` and ``Run.write_metrics()`` leave
(docs/format.md), written with 8 threads.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from tercet import layout, storage
from tercet.table import Table


def write_fleet(root: str, runs: int, first: int = 0, running: int = 0) -> None:
    """Runs ``first``..``first + runs - 1`` of project ``fleet`` as ``tercet.init()`` and
    ``write_metrics()`` leave them: object.json; running, parameters, input and (except for the
    last ``running`` ones) completed events; one metrics file; one file of logged scalars. Written
    with 8 threads; the input table is created with the first batch."""
    if first == 0:
        Table.create({"v": np.arange(100)}, project="fleet", dataset="d", name="t", root=root)
    metrics = pa.table({"example_id": np.arange(100), "loss": np.ones(100, np.float32)})
    scalars = pa.table(
        {
            "step": pa.array([0], pa.int64()),
            "epoch": pa.array([0], pa.int64()),
            "name": ["train/loss"],
            "value": [1.0],
            "time": pa.array([datetime.now(UTC)], pa.timestamp("us", tz="UTC")),
        }
    )
    table_url = "../../datasets/d/tables/t"

    def one(i: int) -> None:
        name = f"run-{i:05d}"
        run_url = storage.join(root, "fleet", "runs", name)
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
        storage.write_json(
            storage.join(run_url, "object.json"),
            {"format": "tercet.run", "format_version": 1, "id": f"{i:032x}", "name": name,
             "project": "fleet", "created": when.isoformat(), "parameters": {"i": i}},
        )  # fmt: skip
        events: list[dict[str, Any]] = [
            {"type": "status", "status": "running"},
            {"type": "parameters", "parameters": {"lr": 0.1}},
            {"type": "input", "table": table_url, "table_id": "x", "split": "train"},
        ]
        if i < first + runs - running:
            events.append({"type": "status", "status": "completed"})
        for k, event in enumerate(events):
            stamp = layout.unique_suffix(when + timedelta(microseconds=k))
            storage.write_json(
                storage.join(run_url, "events", f"{stamp}.json"),
                {"time": (when + timedelta(microseconds=k)).isoformat(), **event},
            )
        meta = {
            "format": "tercet.metrics", "format_version": 1, "run": name, "table": table_url,
            "table_id": "x", "epoch": 0, "split": "train",
            "columns": [{"name": "loss", "type": "float32", "role": "loss"}],
        }  # fmt: skip
        data = metrics.replace_schema_metadata({"tercet": json.dumps(meta)})
        stamp = layout.unique_suffix(when)
        metrics_url = storage.join(run_url, "metrics", "train", f"epoch-0000-{stamp}.parquet")
        storage.write_parquet(metrics_url, data)
        storage.write_parquet(
            storage.join(run_url, "metrics", "aggregate", f"{stamp}.parquet"), scalars
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(first, first + runs)))
