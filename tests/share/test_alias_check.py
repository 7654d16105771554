"""`tercet alias check`: the aliases a run or a bundle needs, and whether each is set here."""

from __future__ import annotations

from pathlib import Path

import pytest

import tercet
from tercet import share
from tercet.errors import ShareError
from tests.share.machines import MachineA, use_machine


def test_alias_check_lists_set_missing_and_unreachable(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (status,) = share.check_aliases([machine_a.run])
    assert status["name"] == "PROJECT_DATA" and status["status"] == "ok"
    assert status["files"] == 6 and status["value"] == str(machine_a.data)
    monkeypatch.setenv("TERCET_ALIAS_PROJECT_DATA", str(tmp_path / "nowhere"))
    (status,) = share.check_aliases([machine_a.run])
    assert status["status"] == "unreachable" and "does not exist" in status["detail"]
    bundle = str(tmp_path / "b.tercet")
    monkeypatch.delenv("TERCET_ALIAS_PROJECT_DATA")
    share.export_bundle([machine_a.run], bundle)
    use_machine(monkeypatch, tmp_path / "B")
    (status,) = share.check_aliases([bundle])
    assert status["status"] == "missing" and "tercet alias set PROJECT_DATA" in status["detail"]


def test_alias_check_reports_references_through_unset_aliases(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tercet.aliases.set("TEAM", str(machine_a.home / "root"))
    other = tercet.Run.create(project="x", name="r", root=str(tmp_path / "elsewhere"))
    other.add_input(machine_a.revision, "train")  # stored as <TEAM>/demo/datasets/…
    other.close()
    tercet.aliases.unset("TEAM")
    statuses = {s["name"]: s for s in share.check_aliases([other.url])}
    assert statuses["TEAM"]["status"] == "missing" and statuses["TEAM"]["references"] == 1
    with pytest.raises(ShareError, match=r"alias <TEAM> is not set.*tercet alias set TEAM"):
        share.export_bundle([other.url], str(tmp_path / "x.tercet"))
