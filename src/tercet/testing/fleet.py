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

from tercet import format, storage
from tercet.runs import eventlog, folder, metrics, scalars
from tercet.tables.table import Table


def write_fleet(root: str, runs: int, first: int = 0, running: int = 0, kinds: bool = True) -> None:
    """Runs ``first``..``first + runs - 1`` of project ``fleet`` as ``tercet.init()`` and
    ``write_metrics()`` leave them: object.json; running, parameters, input and (except for the
    last ``running`` ones) completed events; one metrics file; one file of logged scalars. Written
    with 8 threads; the input table is created with the first batch. ``kinds=False`` writes
    events as Tercet did before their names carried a kind (``<time>-<uid>.json``, no summary),
    the baseline of the indexing benchmark."""
    if first == 0:
        Table.create({"v": np.arange(100)}, project="fleet", dataset="d", name="t", root=root)
    rows = pa.table({"example_id": np.arange(100), "loss": np.ones(100, np.float32)})
    logged = pa.table(
        {
            "step": pa.array([0], pa.int64()),
            "epoch": pa.array([0], pa.int64()),
            "name": ["train/loss"],
            "value": [1.0],
            "time": pa.array([datetime.now(UTC)], pa.timestamp("us", tz="UTC")),
        },
        schema=scalars.SCHEMA,
    )
    project_url = storage.join(root, "fleet")
    table_url = folder.store_url(
        storage.join(format.tables_folder(project_url, "d"), "t"),
        storage.join(format.runs_folder(project_url), "run"),
    )

    def one(i: int) -> None:
        name = f"run-{i:05d}"
        run_url = storage.join(format.runs_folder(project_url), name)
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
        descriptor = format.run_descriptor(
            id=f"{i:032x}", name=name, project="fleet", created=when, parameters={"i": i}
        )
        storage.write_json(format.descriptor_url(run_url), descriptor)
        events: list[dict[str, Any]] = [
            {"type": "status", "status": "running"},
            {"type": "parameters", "parameters": {"lr": 0.1}},
            {"type": "input", "table": table_url, "table_id": "x", "split": "train"},
        ]
        if i < first + runs - running:
            events.append({"type": "status", "status": "completed"})
        written: dict[str, Any] = {}
        for k, event in enumerate(events):
            at = when + timedelta(microseconds=k)
            kind = eventlog.kind_of_event(event)
            name = eventlog.file_name(kind, at) if kinds else folder.event_file_name(at)
            event = {"time": at.isoformat(), **event}
            if kinds and kind in eventlog.FINAL:  # as Run.close() writes it
                event[eventlog.SUMMARY] = {"object": descriptor, "events": dict(written)}
            written[name] = event
            storage.write_json(storage.join(folder.events_folder(run_url), name), event)
        header = metrics.header(
            run=name, table=table_url, table_id="x", table_name="t", dataset="d", split="train",
            epoch=0, columns=[{"name": "loss", "type": "float32", "role": "loss"}],
        )  # fmt: skip
        data = rows.replace_schema_metadata({metrics.METADATA_KEY: json.dumps(header)})
        metrics_url = storage.join(
            folder.metrics_folder(run_url, "train"), folder.metrics_file_name(0, when)
        )
        storage.write_parquet(metrics_url, data)
        storage.write_parquet(
            storage.join(folder.aggregate_folder(run_url), folder.aggregate_file_name(when)),
            logged,
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(first, first + runs)))
