"""Share tests start from a run trained on machine A (see machines.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.share.machines import MachineA, train_on_a


@pytest.fixture
def machine_a(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MachineA:
    return train_on_a(tmp_path / "A", monkeypatch)
