"""Two Object Service processes over one bucket serve the same answers, and a revision written
through one is served by the other after its next scan: the service holds no state of its own,
so replicas behind a proxy can share a store (``docs/scaling.md``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

import tercet
from tercet.testing.s3server import S3Server
from tests.service.test_cli import Process, free_port, wait_healthy

pytestmark = pytest.mark.s3

TOKEN = "replica-token-0123456789abcdef"


def test_two_services_on_one_bucket_serve_the_same_answers(
    s3_env: S3Server, s3_root: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    n = 2_000
    table = tercet.Table.create(
        {"x": rng.random(n), "y": rng.random(n), "label": rng.integers(0, 5, n)},
        project="p", dataset="d", name="t", root=s3_root,
    )  # fmt: skip
    with tercet.init(project="p", run="r", root=s3_root, heartbeat=False) as run:
        run.add_input(table, split="train")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    urls, procs = [], []
    try:
        for _ in range(2):
            port = free_port()
            procs.append(Process(
                "service", "--port", str(port), "--root", s3_root, "--token-file",
                str(token_file), "--scan-interval", "0.5", "--log-level", "warning",
            ))  # fmt: skip
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            wait_healthy(url, timeout=60)
        clients = [httpx.Client(base_url=u, headers={"Authorization": f"Bearer {TOKEN}"},
                                timeout=60) for u in urls]  # fmt: skip
        source = {"table": table.url}
        flt = {"column": "label", "op": "in", "values": [1, 3]}

        def answers(c: httpx.Client) -> dict[str, Any]:
            def ok(r: httpx.Response) -> httpx.Response:
                assert r.status_code == 200, r.text
                return r

            rows = {"source": source, "filter": flt, "sort": [{"column": "x", "desc": True}],
                    "limit": 50}  # fmt: skip
            dens = {"source": source, "x": "x", "y": "y", "bins": 16, "filter": flt}
            summary = {"source": source, "column": "y"}
            return {
                "tables": [t["url"] for t in ok(c.get("/api/projects/p/tables")).json()],
                "runs": [(r["url"], r["status"]) for r in ok(c.get("/api/projects/p/runs")).json()],
                "rows": ok(c.post("/api/rows", json=rows)).content,
                "count": ok(c.post("/api/count", json={"source": source, "filter": flt})).json(),
                "summary": ok(c.post("/api/summary", json=summary)).json(),
                "density": ok(c.post("/api/density", json=dens)).json(),
            }

        first, second = answers(clients[0]), answers(clients[1])
        assert first == second
        assert first["count"]["filtered"] > 0 and first["runs"] == [(run.url, "completed")]

        # A revision written through one replica is served by the other once it has scanned.
        created = clients[0].post("/api/revisions", json={
            "base": table.url, "message": "relabel",
            "edits": {"set": [{"column": "label", "example_id": 0, "value": 4}]},
        })  # fmt: skip
        assert created.status_code == 201, created.text
        new = created.json()["url"]
        deadline = time.monotonic() + 30
        seen: list[str] = []
        while time.monotonic() < deadline:
            seen = [t["url"] for t in clients[1].get("/api/projects/p/tables").json()]
            if new in seen:
                break
            time.sleep(0.25)
        assert new in seen
        by_id = {"column": "example_id", "op": "eq", "value": 0}
        edited = {"source": {"table": new}, "filter": by_id, "columns": ["label"]}
        rows = [c.post("/api/rows", json=edited).content for c in clients]
        assert rows[0] == rows[1]
        assert pa.ipc.open_stream(rows[1]).read_all()["label"].to_pylist() == [4]
    finally:
        for p in procs:
            p.stop()
