"""The same service flow on every storage backend: local disk, fsspec memory, and S3 (moto)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tercet import Table, storage
from tests.fixtures.service import StartService, write_metrics, write_run


def test_list_query_edit_and_serve_files_on_each_backend(
    backend_root: str, start_service: StartService
) -> None:
    n = 50
    table = Table.create(
        {"x": np.arange(n, dtype=np.float32), "label": (np.arange(n) % 2).astype(np.int32)},
        project="demo",
        dataset="d",
        name="t",
        value_maps={"label": ["even", "odd"]},
    )
    assert table.url.startswith(storage.normalize(backend_root))
    run = write_run(backend_root, "demo", "r1", inputs={"train": table.url}, status="completed")
    write_metrics(
        run,
        "train",
        0,
        table.url,
        table.id,
        {"example_id": np.arange(n), "loss": np.linspace(0, 1, n)},
        roles={"loss": "loss"},
    )
    storage.write_bytes(storage.join(backend_root, "demo", "files", "a.txt"), b"on any store")
    service = start_service()

    (project,) = service.client.get("/api/projects").json()
    assert (project["name"], project["tables"], project["runs"]) == ("demo", 1, 1)
    (listed,) = service.client.get("/api/projects/demo/runs").json()
    assert listed["status"] == "completed" and listed["streams"][0]["epochs"] == [0]

    body = {
        "source": {"run": run, "split": "train"},
        "columns": ["loss", "label"],
        "filter": {"column": "label", "op": "eq", "value": 1},
        "sort": [{"column": "loss", "desc": True}],
        "limit": 3,
    }
    response = service.client.post("/api/rows", json=body)
    assert response.status_code == 200, response.text
    page = pa.ipc.open_stream(response.content).read_all()
    assert page.column("example_id").to_pylist() == [49, 47, 45]
    assert response.headers["x-total-count"] == "25"

    created = service.client.post(
        "/api/revisions", json={"base": table.url, "edits": {"delete": [0, 1]}}
    )
    assert created.status_code == 201, created.text
    schema = service.client.post("/api/schema", json={"source": {"table": created.json()["url"]}})
    assert schema.json()["num_rows"] == n - 2

    file_url = storage.join(backend_root, "demo", "files", "a.txt")
    served = service.client.get("/api/file", params={"url": file_url})
    assert served.status_code == 200 and served.content == b"on any store"
    outside = service.client.get("/api/file", params={"url": "/etc/hostname"})
    assert outside.status_code == 403
