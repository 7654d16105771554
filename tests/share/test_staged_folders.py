"""New data folders and new objects are written in place under hidden staged folders and moved
into place whole: nothing is visible before every file is durable, and what a killed attempt
left in a staged folder (half-written files included) is completed by the next attempt."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import tercet
from tercet import share
from tercet.share import writes
from tercet.storage import TMP_PREFIX
from tercet.storage import files as storage_files
from tests.share.machines import MachineA


def _hidden(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TMP_PREFIX)]


def _images(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*.png")
    }


def test_a_new_data_folder_appears_whole_once_its_files_are_durable(
    bundle: Path, machine_a: MachineA, machine_b: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = machine_b / "demo" / "data" / "PROJECT_DATA"
    seen: list[tuple[bool, int]] = []
    sync = storage_files.sync

    def watch(urls: list[str]) -> None:
        staged = [Path(u) for u in urls if f"/{TMP_PREFIX}" in u and u.endswith(".png")]
        seen.append((final.exists(), len(staged)))
        sync(urls)

    monkeypatch.setattr(storage_files, "sync", watch)
    share.import_bundle(str(bundle))
    # The durability pass ran on the images in their hidden folder, before it was moved.
    assert seen[0] == (False, len(_images(machine_a.data)))
    assert _images(final) == _images(machine_a.data)
    assert _hidden(machine_b) == []


def test_what_a_killed_import_left_in_its_staged_folders_is_completed_by_a_rerun(
    bundle: Path, machine_a: MachineA, machine_b: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kill right before the durability pass: no rollback runs, every file sits in a staged
    # folder and nothing is published.
    def killed(urls: list[str]) -> None:
        raise KeyboardInterrupt

    sync, rollback = storage_files.sync, writes.Writes.rollback
    monkeypatch.setattr(storage_files, "sync", killed)
    monkeypatch.setattr(writes.Writes, "rollback", lambda self, root: None)
    with pytest.raises(KeyboardInterrupt):
        share.import_bundle(str(bundle))
    left = [p for p in _hidden(machine_b) if p.is_dir()]
    assert left, "the staged folders stay, as after a SIGKILL"
    assert not (machine_b / "demo" / "data" / "PROJECT_DATA").exists()
    assert tercet.list_tables("demo") == []
    # ... one of its files half written, as when the kill came mid-write.
    image = next(p for d in left for p in d.rglob("*.png"))
    image.write_bytes(image.read_bytes()[:10])

    monkeypatch.setattr(storage_files, "sync", sync)
    monkeypatch.setattr(writes.Writes, "rollback", rollback)
    share.import_bundle(str(bundle))
    assert _images(machine_b / "demo" / "data" / "PROJECT_DATA") == _images(machine_a.data)
    tables = sorted(t.name for t in tercet.list_tables("demo"))
    assert len(tables) == 2 and tables[0] == "train"  # the source and its revision
    assert tercet.Run.open(str(machine_b / "demo" / "runs" / "baseline")).metrics("train").num_rows
    assert _hidden(machine_b) == []
