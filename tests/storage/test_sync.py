"""``storage.files.sync``: many files on one filesystem made durable by one ``syncfs`` (the real
call, on this machine's disk), few files or no ``syncfs`` by an fsync of each file and folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tercet.storage import files


def _files(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"{i}.bin"
        path.write_bytes(b"x" * 10)
        out.append(str(path))
    return out


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"syncfs": [], "fsync": []}
    real_syncfs, real_fsync = files._syncfs, files._fsync

    def syncfs(folder: str) -> bool:
        seen["syncfs"].append(folder)
        return real_syncfs(folder)

    def fsync(path: str) -> None:
        seen["fsync"].append(path)
        real_fsync(path)

    monkeypatch.setattr(files, "_syncfs", syncfs)
    monkeypatch.setattr(files, "_fsync", fsync)
    return seen


def test_many_files_take_one_syncfs(tmp_path: Path, calls: dict[str, list[str]]) -> None:
    if files._libc() is None:
        pytest.skip("no syncfs(2) here")
    many = _files(tmp_path / "a", files.SYNCFS_FILES - 10) + _files(tmp_path / "b", 10)
    files.sync(many)
    assert len(calls["syncfs"]) == 1 and calls["fsync"] == []


def test_few_files_are_synced_each_with_their_folders(
    tmp_path: Path, calls: dict[str, list[str]]
) -> None:
    few = _files(tmp_path / "a", 3) + _files(tmp_path / "b", 2)
    files.sync(few)
    assert calls["syncfs"] == []
    assert sorted(calls["fsync"]) == sorted([*few, str(tmp_path / "a"), str(tmp_path / "b")])


def test_without_syncfs_every_file_and_folder_is_synced(
    tmp_path: Path, calls: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "_libc", lambda: None)
    many = _files(tmp_path / "a", files.SYNCFS_FILES)
    files.sync(many)
    assert len(calls["fsync"]) == len(many) + 1
