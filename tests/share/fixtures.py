"""The share fixtures both the share tests and the security tests start from: a run trained on
machine A, its bundle, and machine B's root with a project of its own that a failed import must
leave as it was. Modules outside ``tests/share`` import them by name."""

from __future__ import annotations

from pathlib import Path

import pytest

import tercet
from tercet import share
from tests.share.machines import MachineA, train_on_a, use_machine


@pytest.fixture
def machine_a(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MachineA:
    return train_on_a(tmp_path / "A", monkeypatch)


@pytest.fixture
def bundle(machine_a: MachineA, tmp_path: Path) -> Path:
    path = tmp_path / "b.tercet"
    share.export_bundle([machine_a.run], str(path), include_data=True)
    return path


@pytest.fixture
def machine_b(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Machine B's root, holding a project of its own that a failed import must not disturb."""
    root = use_machine(monkeypatch, tmp_path / "B")
    tercet.Table.create({"x": [1, 2]}, project="mine", dataset="d", name="t")
    return root


def snapshot(folder: Path) -> list[tuple[str, bytes]]:
    """Every path under ``folder`` with its bytes (folders with none): equal before and after
    means nothing was written, removed or changed."""
    return sorted(
        (str(p.relative_to(folder)), p.read_bytes() if p.is_file() else b"")
        for p in folder.rglob("*")
    )
