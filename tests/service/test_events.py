"""Live updates: a client on ``/api/events`` follows a run that another process is writing."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.service import RunningService, StartService, make_table, write_run

REPO = Path(__file__).resolve().parents[2]


class EventReader:
    """Reads an SSE stream in a thread, as the dashboard does (fetch, token in the header)."""

    def __init__(self, service: RunningService) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected = threading.Event()
        self.seen: list[dict[str, Any]] = []
        self._client = httpx.Client(base_url=service.url, timeout=httpx.Timeout(5, read=None))
        self._thread = threading.Thread(target=self._read, args=(service.token,), daemon=True)
        self._thread.start()
        assert self.connected.wait(10), "the event stream did not open"

    def _read(self, token: str) -> None:
        try:
            headers = {"Authorization": f"Bearer {token}"}
            with self._client.stream("GET", "/api/events", headers=headers) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                kind = None
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        self.connected.set()
                    elif line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:") and kind == "index":
                        self.events.put(json.loads(line.split(":", 1)[1]))
        except httpx.HTTPError:
            pass  # closed by close()

    def wait_for(self, timeout: float = 15, **match: Any) -> dict[str, Any]:
        """The first event (received so far or later) whose fields match."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.seen:
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no event matching {match} in {timeout} s: {self.seen}")
            with contextlib.suppress(queue.Empty):
                self.seen.append(self.events.get(timeout=remaining))

    def close(self) -> None:
        self._client.close()


TRAINER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tercet

    table = tercet.Table.open(sys.argv[1])
    run = tercet.init(project="demo", run="live", parameters={"lr": 0.1})
    ids = table.example_ids()
    for epoch in range(2):
        if epoch:
            sys.stdin.readline()  # the test says when the next epoch may start
        loss = np.full(len(ids), 1.0 / (epoch + 1), dtype=np.float32)
        run.write_metrics(table, {"example_id": ids, "loss": loss}, epoch=epoch, split="train",
                          roles={"loss": "loss"})
        tercet.log({"train/loss": float(loss[0])}, epoch=epoch)
        run.flush()
        print(f"epoch {epoch} written", flush=True)
    """
)


def test_a_client_follows_a_training_run_live(root: Path, start_service: StartService) -> None:
    """A training script in another process writes metrics; the event stream tells the client."""
    table = make_table(n=20)
    service = start_service(scan_interval=0.3)
    reader = EventReader(service)
    run_url = str(root / "demo" / "runs" / "live")
    trainer = subprocess.Popen(
        [sys.executable, "-c", TRAINER, table.url],
        cwd=REPO,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert trainer.stdin is not None and trainer.stdout is not None
    try:
        reader.wait_for(kind="run", url=run_url, timeout=30)
        event = reader.wait_for(kind="metrics", url=run_url, epoch=0, timeout=30)
        assert event == {
            "kind": "metrics",
            "project": "demo",
            "url": run_url,
            "split": "train",
            "epoch": 0,
        }
        # What the event announces is already readable by the client that reacts to it.
        source = {"run": run_url, "split": "train"}
        schema = service.client.post("/api/schema", json={"source": source}).json()
        assert {c["name"]: c["role"] for c in schema["columns"]}["loss"] == "loss"
        (state,) = service.client.get("/api/projects/demo/runs").json()
        assert state["status"] == "running" and state["parameters"] == {"lr": 0.1}
        assert state["inputs"] == [{"table": table.url, "split": "train"}]

        trainer.stdin.write("next\n")
        trainer.stdin.flush()
        reader.wait_for(kind="metrics", url=run_url, epoch=1, timeout=30)
        assert trainer.wait(30) == 0
        reader.wait_for(kind="status", url=run_url, timeout=30)
        (state,) = service.client.get("/api/projects/demo/runs").json()
        assert state["status"] == "completed"
        assert state["streams"] == [{"split": "train", "epochs": [0, 1], "table": table.url}]
        scalars = service.client.get("/api/scalars", params={"run": run_url}).json()
        assert scalars["series"]["train/loss"]["value"] == [1.0, 0.5]
    finally:
        reader.close()
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait(10)


def test_new_runs_and_revisions_are_announced(root: Path, start_service: StartService) -> None:
    table = make_table(n=10)
    service = start_service(scan_interval=0.3)
    reader = EventReader(service)
    try:
        created = service.client.post(
            "/api/revisions", json={"base": table.url, "edits": {"delete": [1]}}
        ).json()
        reader.wait_for(kind="revision", url=created["url"], project="demo")
        child = table.set_values("label", [2], [1])  # written by a Python session, not the API
        reader.wait_for(kind="revision", url=child.url)
        run = write_run(root, "demo", "fresh", inputs={"train": table.url})
        reader.wait_for(kind="run", url=run)
    finally:
        reader.close()


def test_streams_end_when_the_service_stops(root: Path, start_service: StartService) -> None:
    service = start_service()
    reader = EventReader(service)
    started = time.monotonic()
    service.server.stop()
    reader._thread.join(10)
    assert not reader._thread.is_alive()
    assert time.monotonic() - started < 5
    reader.close()
