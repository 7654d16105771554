"""What indexing costs the store: a scan's listings do not grow with the number of runs, each JSON
object is read once, metrics footers only when a client asks for those rows, and requests to the
API do not drive scans. New runs and files still appear scan by scan.

Calls into :mod:`tercet.storage` are counted by a thin wrapper around each function (a counting
spy: every call goes through to the real function unchanged)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tercet import Table, storage
from tercet.errors import StorageError
from tercet.service.index import Index
from tercet.service.models import IndexEvent
from tests.conftest import StoragePatch
from tests.fixtures.service import (
    StartService,
    make_table,
    write_event,
    write_metrics,
    write_run,
    write_scalars,
)

LISTINGS = ("ls", "walk_files")
READS = ("read_bytes", "read_parquet_metadata", "read_parquet", "exists", "file_info")


class StorageSpy:
    """Counts calls of the storage functions the index and the service use."""

    def __init__(self, patch_storage: StoragePatch) -> None:
        self.calls: Counter[str] = Counter()
        self.walked: list[str] = []
        self._lock = threading.Lock()
        for name in (*LISTINGS, *READS, "read_many", "read_json"):
            patch_storage(name, self._wrap(name, getattr(storage, name)))

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
                if name == "walk_files":
                    self.walked.append(str(args[0]))
            return real(*args, **kwargs)

        return spy

    def take(self) -> Counter[str]:
        """The counts since the last call, and start again from zero."""
        with self._lock:
            out, self.calls = self.calls, Counter()
        return out


def listings(c: Counter[str]) -> int:
    return sum(c[n] for n in LISTINGS)


def write_project(root: str, runs: int) -> Table:
    """Project ``p`` under ``root``: one table, ``runs`` runs of three JSON objects (object.json,
    running + input events) plus a completed event, one metrics file and one scalars file each;
    the last run is still running."""
    table = Table.create({"v": np.arange(10)}, project="p", dataset="d", name="t", root=root)
    for i in range(runs):
        status = "running" if i == runs - 1 else "completed"
        run = write_run(root, "p", f"r{i:03d}", inputs={"train": table.url}, status=status)
        write_metrics(run, "train", 0, table.url, table.id, {"example_id": np.arange(10)})
        write_scalars(run, [{"step": 0, "epoch": 0, "name": "loss", "value": 1.0}])
    return table


def json_objects(runs: int) -> int:
    # object.json, running, input, (completed for all but the last run); plus the table's.
    return 3 * runs + (runs - 1) + 1


def test_scan_requests_do_not_grow_with_the_runs(
    backend_root: str, patch_storage: StoragePatch
) -> None:
    costs: dict[int, dict[str, Counter[str]]] = {}
    for n in (3, 12):
        root = storage.join(backend_root, f"n{n}")
        table = write_project(root, n)
        spy = StorageSpy(patch_storage)
        events: list[IndexEvent] = []
        index = Index([root], on_events=events.extend)
        index.scan()
        first = spy.take()
        project = index.project("p")
        assert project is not None and len(project.runs) == n and len(project.tables) == 1
        assert all(r.error is None for r in project.runs.values())
        index.scan()
        rescan = spy.take()

        # New files of a run still running, and a new run, appear with the next scan.
        running = storage.join(root, "p", "runs", f"r{n - 1:03d}")
        write_metrics(running, "train", 1, table.url, table.id, {"example_id": np.arange(10)})
        write_event(running, {"type": "status", "status": "completed"})
        fresh = write_run(root, "p", "new", inputs={"train": table.url})
        spy.take()
        index.scan()
        grown = spy.take()
        kinds = {(e.kind, e.url, e.epoch) for e in events}
        assert ("metrics", running, 1) in kinds and ("status", running, None) in kinds
        assert ("run", fresh, None) in kinds
        project = index.project("p")
        assert project is not None and len(project.runs) == n + 1
        assert project.runs[running].epochs("train") == [0, 1]
        assert project.runs[running].status == "completed"
        costs[n] = {"first": first, "rescan": rescan, "grown": grown}

        # Every JSON object read exactly once, concurrently; no metrics footer read at all.
        assert first["read_bytes"] == json_objects(n), first
        assert first["read_many"] == 2  # the tables' descriptors, the runs' objects
        assert first["read_parquet_metadata"] == first["read_parquet"] == 0
        assert sum(rescan[name] for name in READS) == 0, rescan
        assert grown["read_bytes"] == 1 + 3, grown  # the completed event; the new run's three
        assert grown["read_parquet_metadata"] == 0

    small, big = costs[3], costs[12]
    for scan in ("first", "rescan", "grown"):
        assert listings(small[scan]) == listings(big[scan]), (scan, small[scan], big[scan])
    assert listings(big["first"]) <= 4  # root, project, datasets/, runs/
    assert listings(big["rescan"]) <= 5  # ... and the run names, to find new ones


def test_finished_runs_are_not_listed_again(
    root: Path, monkeypatch: pytest.MonkeyPatch, patch_storage: StoragePatch
) -> None:
    """A rescan lists the run names, and the runs still running each on its own (or all of
    runs/ at once when that takes fewer requests: here one page holds five files)."""
    import tercet.service.index as index_module

    write_project(str(root), 6)
    index = Index([str(root)], on_events=lambda events: None)
    index.scan()
    spy = StorageSpy(patch_storage)
    monkeypatch.setattr(index_module, "LIST_PAGE", 5)
    for _ in range(3):
        index.scan()
    calls = spy.take()
    running = storage.join(str(root), "p", "runs", "r005")
    datasets = storage.join(str(root), "p", "datasets")
    assert calls["ls"] == 3 * 3  # root, project, run names
    assert spy.walked == [datasets, running] * 3
    assert sum(calls[name] for name in READS) == 0


def test_footers_are_read_when_rows_are_asked_for(
    root: Path, start_service: StartService, patch_storage: StoragePatch
) -> None:
    table = make_table(n=12)
    for i in range(5):
        run = write_run(root, "demo", f"r{i}", inputs={"train": table.url}, status="completed")
        for epoch in range(3):
            write_metrics(run, "train", epoch, table.url, table.id, {"example_id": np.arange(12)})
    spy = StorageSpy(patch_storage)
    service = start_service()
    listed = service.client.get("/api/projects/demo/runs").json()
    assert [s["epochs"] for r in listed for s in r["streams"]] == [[0, 1, 2]] * 5
    assert all(s["table"] == table.url for r in listed for s in r["streams"])
    assert spy.calls["read_parquet_metadata"] == 0
    source = {"run": listed[2]["url"], "split": "train", "epoch": 1}
    schema = service.client.post("/api/schema", json={"source": source}).raise_for_status()
    assert schema.json()["num_rows"] == 12
    assert spy.calls["read_parquet_metadata"] == 1  # that epoch's one file
    service.client.post("/api/schema", json={"source": source}).raise_for_status()
    assert spy.calls["read_parquet_metadata"] == 1  # kept


def test_a_run_without_input_events_gets_its_table_from_one_footer(
    root: Path, start_service: StartService, patch_storage: StoragePatch
) -> None:
    table = make_table(n=12)
    run = write_run(root, "demo", "legacy", status="completed")  # no input event
    for epoch in range(3):
        write_metrics(run, "train", epoch, table.url, table.id, {"example_id": np.arange(12)})
    spy = StorageSpy(patch_storage)
    service = start_service()
    (listed,) = service.client.get("/api/projects/demo/runs").json()
    assert listed["streams"] == [{"split": "train", "epochs": [0, 1, 2], "table": table.url}]
    assert spy.calls["read_parquet_metadata"] == 1  # the newest file's


def test_one_unreadable_object_does_not_hide_the_others(
    root: Path, patch_storage: StoragePatch
) -> None:
    """A read that fails for a reason other than a missing object (a store refusing one key)
    is reported on its run; the batch it was read in still serves every other run."""
    table = make_table(n=5)
    runs = [write_run(root, "demo", f"r{i}", inputs={"train": table.url}) for i in range(3)]
    refused = storage.walk_files(storage.join(runs[1], "events"))[0]
    real = storage.read_bytes

    def read_bytes(url: str) -> bytes:
        if url == refused:
            raise StorageError(f"Cannot read {url}: AccessDenied.")
        return real(url)

    patch_storage("read_bytes", read_bytes)
    index = Index([str(root)], on_events=lambda events: None)
    index.scan()
    project = index.project("demo")
    assert project is not None
    states = [project.runs[url] for url in runs]
    assert [s.error is None for s in states] == [True, False, True]
    assert "AccessDenied" in str(states[1].error) and states[1].is_run
    assert all(s.inputs == [{"table": table.url, "split": "train"}] for s in states)


def test_requests_do_not_drive_scans(root: Path, start_service: StartService) -> None:
    make_table(n=5)
    write_run(root, "demo", "r1")
    service = start_service(scan_interval=60)
    index: Index = service.app.state.ctx.index
    for _ in range(20):
        assert service.client.get("/api/projects").status_code == 200
        assert service.client.get("/api/projects/demo/runs").status_code == 200
        assert service.client.get("/api/projects/nope/runs").status_code == 404
    assert index.scans_done == 1  # the background task's first scan, nothing since


def test_a_stale_index_starts_one_scan_in_the_background(
    root: Path, patch_storage: StoragePatch
) -> None:
    write_project(str(root), 3)
    index = Index([str(root)], on_events=lambda events: None)
    index.scan()
    real = storage.walk_files

    def slow_walk(url: str, suffix: str | None = None) -> list[str]:
        time.sleep(0.2)
        return real(url, suffix)

    patch_storage("walk_files", slow_walk)
    started = time.monotonic()
    for _ in range(50):
        index.current(max_age=0.0)  # always stale: each call would like a scan
    assert time.monotonic() - started < 0.15  # none of them waited for one
    deadline = time.monotonic() + 10
    while index.scans_done < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert index.scans_done == 2  # one scan for all fifty


def test_a_failing_listing_keeps_what_was_indexed(root: Path, patch_storage: StoragePatch) -> None:
    """A store that fails for a moment leaves the entries in place with the project's error
    set, and nothing is announced again when it is back."""
    write_project(str(root), 3)
    events: list[IndexEvent] = []
    index = Index([str(root)], on_events=events.extend)
    index.scan()
    known = index.project("p")
    assert known is not None
    real_ls, real_walk = storage.ls, storage.walk_files
    down = {storage.join(str(root), "p", "datasets"), str(root)}

    def walk(url: str, suffix: str | None = None) -> list[str]:
        if url in down:
            raise StorageError(f"Cannot list {url}: the store is down.")
        return real_walk(url, suffix)

    def ls(url: str) -> list[str]:
        if url in down:
            raise StorageError(f"Cannot list {url}: the store is down.")
        return real_ls(url)

    patch_storage("walk_files", walk)
    index.scan()  # the tables' listing fails
    project = index.project("p")
    assert project is not None and "the store is down" in str(project.error)
    assert project.tables.keys() == known.tables.keys()
    assert project.runs.keys() == known.runs.keys()
    patch_storage("ls", ls)
    index.scan()  # the root's listing fails
    project = index.project("p")
    assert project is not None and "the store is down" in str(project.error)
    assert project.runs.keys() == known.runs.keys()
    assert index.root_errors and "the store is down" in index.root_errors[0]
    patch_storage("ls", real_ls)
    patch_storage("walk_files", real_walk)
    index.scan()
    project = index.project("p")
    assert project is not None and project.error is None
    assert events == []  # nothing vanished, so nothing is new
