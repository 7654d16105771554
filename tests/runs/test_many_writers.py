"""Many machines, one store: 8 writer processes (simulated training VMs, spawned like fresh
machines) each write 5 runs with metrics and 5 table revisions into one root at the same time,
while the Object Service indexes it by listing and a reader reads every object as it appears.
Nothing may be lost, and no read may see a partial object."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

import tercet
from tercet import storage
from tercet.errors import TercetError

if TYPE_CHECKING:  # the writer processes import this module: keep it light
    from tests.fixtures.service import RunningService, StartService

WRITERS = 8
RUNS_EACH = 5
ROWS = 64


def _vm(worker: int, table_url: str, barrier: Any, results: Any) -> None:
    """One training VM: every run logs scalars, writes per-sample metrics and edits the table."""
    try:
        table = tercet.Table.open(table_url)
        rng = np.random.default_rng(worker)
        barrier.wait(timeout=120)
        urls = []
        for j in range(RUNS_EACH):
            run = tercet.init(
                project="fleet", run=f"vm{worker}-run{j}",
                parameters={"vm": worker, "run": j}, heartbeat=False,
            )  # fmt: skip
            for step in range(3):
                tercet.log({"loss": 1.0 / (step + 1)}, step=step, epoch=0)
            run.write_metrics(
                table,
                {"example_id": np.arange(ROWS), "loss": rng.random(ROWS).astype(np.float32)},
                epoch=0, split="train", roles={"loss": "loss"},
            )  # fmt: skip
            table.set_values("score", [worker], [float(worker * 100 + j)], message=f"{worker}/{j}")
            run.close()
            urls.append(run.url)
        results.put((worker, urls, None))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put((worker, [], f"{type(exc).__name__}: {exc}"))


class _Reader(threading.Thread):
    """Reads every object and Parquet file under the root as soon as a listing shows it, and
    notes how many runs the service lists meanwhile."""

    def __init__(self, root: str, service: RunningService) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.service = service
        self.seen: set[str] = set()
        self.errors: list[str] = []
        self.listed: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.sweep()
            response = self.service.client.get("/api/projects/fleet/runs")
            if response.status_code == 200:
                self.listed.append(len(response.json()))
            time.sleep(0.5)

    def sweep(self) -> None:
        try:
            found = storage.walk_files(self.root)
        except TercetError as exc:
            self.errors.append(f"listing: {exc}")
            return
        for url in found:
            if url in self.seen:
                continue
            try:
                if url.endswith(".parquet"):
                    storage.read_parquet(url)
                elif url.endswith(".json"):
                    storage.read_json(url)
            except TercetError as exc:
                self.errors.append(f"{url}: {exc}")
            self.seen.add(url)


def test_eight_vms_write_forty_runs_and_nothing_is_lost(
    local_or_s3_root: str, start_service: StartService
) -> None:
    table = tercet.Table.create(
        {"score": np.zeros(ROWS)}, project="fleet", dataset="data", name="train"
    )
    service: RunningService = start_service(scan_interval=1.0)
    reader = _Reader(local_or_s3_root, service)
    reader.start()

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_vm, args=(w, table.url, barrier, results)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    reader.stop.set()
    reader.join(timeout=60)
    reader.sweep()

    failures = [f"vm{w}: {err}" for w, _, err in outcomes if err]
    assert failures == []
    written = sorted(u for _, urls, _ in outcomes for u in urls)
    assert len(written) == WRITERS * RUNS_EACH

    # Storage: every run complete and readable, every revision kept.
    runs = tercet.list_runs("fleet")
    assert sorted(r.url for r in runs) == written
    for run in runs:
        assert run.status == "completed"
        assert run.metrics("train", epoch=0).num_rows == ROWS
    children = table.children()
    assert len(children) == WRITERS * RUNS_EACH
    assert len({tercet.Table.open(table.url).latest().url for _ in range(2)}) == 1
    assert reader.errors == []
    assert len([u for u in reader.seen if u.endswith("object.json")]) >= 2 * WRITERS * RUNS_EACH

    # The service found all of it by listing, incrementally, while it was being written.
    assert any(0 < n < WRITERS * RUNS_EACH for n in reader.listed), reader.listed
    service.app.state.ctx.index.scan()
    listed = service.client.get("/api/projects/fleet/runs").raise_for_status().json()
    assert sorted(r["url"] for r in listed) == written
    assert {r["status"] for r in listed} == {"completed"}
    assert all(r["error"] is None for r in listed)
    assert all([s["epochs"] for s in r["streams"]] == [[0]] for r in listed)
    tables = service.client.get("/api/projects/fleet/tables").raise_for_status().json()
    assert len(tables) == 1 + WRITERS * RUNS_EACH
    assert all(t["error"] is None for t in tables)


@pytest.mark.parametrize("writers", [4])
def test_racing_for_one_run_name_exactly_one_process_wins_each(
    local_or_s3_root: str, writers: int
) -> None:
    ctx = mp.get_context("spawn")
    with ctx.Pool(writers) as pool:
        names = pool.map(_claim_name, range(writers * 2))
    expected = ["shared", *(f"shared-{i}" for i in range(2, 2 * writers + 1))]
    assert sorted(names) == sorted(expected)
    assert len(tercet.list_runs("race")) == 2 * writers


def _claim_name(i: int) -> str:
    run = tercet.Run.create("race", "shared", {"claimant": i})
    return run.name
