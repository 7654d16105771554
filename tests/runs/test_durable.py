"""When a run's small files reach the disk: events and scalars parts are written without an
fsync on the training thread, synced on the run's writer thread, and every one of them is
synced before the final status event (itself synced) is written."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import tercet


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync of this process as (thread name, path), in order."""
    seen: list[tuple[str, str]] = []
    real = os.fsync

    def record(fd: int) -> None:
        seen.append((threading.current_thread().name, os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return seen


def test_events_are_synced_off_the_training_thread_and_all_before_the_final_status(
    root: Path, fsyncs: list[tuple[str, str]]
) -> None:
    run = tercet.init(project="p", parameters={"lr": 0.1}, heartbeat=False)
    run.wait()
    main = threading.current_thread().name
    # object.json is synced where it is written (it names the run); nothing else is.
    assert all(p.endswith("object.json") for t, p in fsyncs if t == main)
    before = len(fsyncs)
    run.set_parameters({"batch": 32})
    run.log({"loss": 1.0})
    run.flush()
    assert [path for thread, path in fsyncs[before:] if thread == main] == []
    run.close()
    written = {
        str(Path(folder) / name)
        for sub in ("events", "metrics/aggregate")
        for folder, _, names in os.walk(Path(run.url) / sub)
        for name in names
    }
    # The final status is synced as its temp file, before it is published under its name.
    final = next(p for p in written if p.endswith(".completed.json"))
    synced = [final if p.endswith("-" + Path(final).name) else p for _, p in fsyncs]
    assert written <= set(synced), "a file of the run was never synced"
    assert synced.index(final) == max(synced.index(p) for p in written), (
        "the final status was synced before another file of the run"
    )
