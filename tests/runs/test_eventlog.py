"""Event names carry their kind and a finished run's final event copies the rest, so reading a
finished run's state costs one object read whatever its number of heartbeats, with the same fold
as reading every file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tercet
from tercet import format, storage
from tercet.runs import eventlog, folder
from tercet.runs import state as state_mod
from tests.conftest import StoragePatch


def _counting_reads(patch_storage: StoragePatch) -> Counter[str]:
    reads: Counter[str] = Counter()
    real = storage.read_json

    def spy(url: str, *args: Any, **kwargs: Any) -> Any:
        reads[storage.basename(url)] += 1
        return real(url, *args, **kwargs)

    patch_storage("read_json", spy)
    return reads


def _fold_of_every_file(run: tercet.Run) -> state_mod.RunState:
    events_url = folder.events_folder(run.url)
    names = sorted(storage.ls(events_url))
    events = [state_mod.with_time(n, storage.read_json(storage.join(events_url, n))) for n in names]
    descriptor = storage.read_json(storage.join(run.url, "object.json"))
    return state_mod.fold(descriptor, events, run_url=run.url, check_process=False)


@pytest.mark.parametrize("status", ["completed", "failed"])
def test_a_finished_run_is_read_with_one_object(
    root: Path, patch_storage: StoragePatch, status: str
) -> None:
    table = tercet.Table.create({"v": np.arange(3)}, project="p", dataset="d", name="t")
    run = tercet.init(project="p", run="r", parameters={"lr": 0.1}, heartbeat=False)
    run.set_parameters({"layers": 3})
    run.add_input(table, split="train")
    for _ in range(5):
        run._event("heartbeat")
    run.close(status, error="boom" if status == "failed" else None)

    names = sorted(storage.ls(folder.events_folder(run.url)))
    kinds = Counter(eventlog.kind_of(n) for n in names)
    assert kinds == {"running": 1, "parameters": 1, "input": 1, "heartbeat": 5, status: 1}

    reads = _counting_reads(patch_storage)
    got = tercet.Run.open(run.url).state(check_process=False)
    opened = reads.pop("object.json")  # Run.open reads the descriptor itself
    assert opened == 1 and sum(reads.values()) == 1, reads
    assert eventlog.kind_of(next(iter(reads))) == status

    expected = _fold_of_every_file(run)
    assert got == expected
    assert got["status"] == status and got["parameters"] == {"lr": 0.1, "layers": 3}
    assert [i["split"] for i in got["inputs"]] == ["train"]
    assert got["error"] == ("boom" if status == "failed" else None)
    heartbeat_times = [storage.basename(n) for n in names if eventlog.kind_of(n) == "heartbeat"]
    assert got["last_seen"] > state_mod.with_time(heartbeat_times[-1], {})["time"]


def test_a_running_run_reads_all_but_its_heartbeats(
    root: Path, patch_storage: StoragePatch
) -> None:
    run = tercet.init(project="p", run="r", parameters={"lr": 0.1}, heartbeat=False)
    run.set_parameters({"layers": 3})
    for _ in range(4):
        run._event("heartbeat")
    reads = _counting_reads(patch_storage)
    got = state_mod.read_events(run.url)
    assert sum(reads.values()) == 2, reads  # the running status and the parameters
    assert [e["type"] for e in got] == ["status", "parameters", *["heartbeat"] * 4]
    assert got[-1]["time"] == state_mod.with_time(storage.basename(
        sorted(storage.ls(folder.events_folder(run.url)))[-1]), {})["time"]  # fmt: skip


def test_events_another_process_wrote_are_read_and_old_names_still_fold(
    root: Path, patch_storage: StoragePatch
) -> None:
    run = tercet.init(project="p", run="r", heartbeat=False)
    run.close()
    # Written after the final event by someone else, and in the old name form (no kind).
    name, when = folder.event_name()
    storage.write_json(
        storage.join(folder.events_folder(run.url), name),
        {"type": "parameters", "time": when.isoformat(), "parameters": {"late": True}},
    )
    reads = _counting_reads(patch_storage)
    got = tercet.Run.open(run.url).state(check_process=False)
    assert got["parameters"] == {"late": True}
    assert reads[name] == 1
    assert got == _fold_of_every_file(run)


def test_unknown_kinds_are_refused_when_naming() -> None:
    with pytest.raises(ValueError, match="unknown event kind 'bogus'"):
        eventlog.file_name("bogus", format.now())
