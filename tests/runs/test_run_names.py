"""Runs take any printable name, like tables: the folder is its slug, the descriptor keeps the
name, lookup works with either, and the listing (CLI and service) shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

import tercet
from tercet.errors import InvalidNameError, ObjectNotFoundError
from tercet.runs import list_runs
from tests.fixtures.service import RunningService

PROJECT = "3LC Tutorials - MNIST"


def test_a_display_name_is_kept_and_found_by_either_name(root: Path) -> None:
    run = tercet.init(project=PROJECT, run="baseline (lr 0.1)")
    run.close()
    assert run.url == str(root / "3LC-Tutorials-MNIST" / "runs" / "baseline-lr-0.1")
    assert (run.name, run.display_name) == ("baseline-lr-0.1", "baseline (lr 0.1)")
    assert run.descriptor["display_names"] == {"project": PROJECT, "run": "baseline (lr 0.1)"}
    by_display = tercet.Run.open(project=PROJECT, name="baseline (lr 0.1)")
    by_folder = tercet.Run.open(project="3LC-Tutorials-MNIST", name="baseline-lr-0.1")
    assert by_display.url == by_folder.url == run.url
    assert by_folder.display_name == "baseline (lr 0.1)"
    again = tercet.init(project=PROJECT, run="baseline (lr 0.1)")  # a re-run: a new run
    again.close()
    assert (again.name, again.display_name) == ("baseline-lr-0.1-2", "baseline (lr 0.1)-2")
    listed = {r.name: r.display_name for r in list_runs(PROJECT)}
    assert listed == {
        "baseline-lr-0.1": "baseline (lr 0.1)",
        "baseline-lr-0.1-2": "baseline (lr 0.1)-2",
    }


def test_a_folder_name_stores_no_display_name() -> None:
    run = tercet.Run.create("p", "plain-name")
    run.close()
    assert "display_names" not in run.descriptor and run.display_name == "plain-name"


def test_another_name_with_the_same_folder_is_not_opened() -> None:
    tercet.Run.create(PROJECT, "My run").close()
    with pytest.raises(ObjectNotFoundError, match=r"its folder 'My-run' holds the run 'My run'"):
        tercet.Run.open(project=PROJECT, name="My  run")


def test_a_name_that_cannot_be_a_display_name_writes_nothing(root: Path) -> None:
    for bad in ("a/b", ".hidden", "tab\there", ""):
        with pytest.raises(InvalidNameError, match="Run name"):
            tercet.Run.create(PROJECT, bad)
    assert not (root / "3LC-Tutorials-MNIST").exists()


def test_service_and_cli_list_the_display_name(
    service: RunningService, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tercet.Run.create(PROJECT, "[bold]first[red] run").close()
    tercet.Run.create(PROJECT, "second").close()
    service.scan()
    runs = service.client.get("/api/projects/3LC-Tutorials-MNIST/runs").json()
    assert {r["name"]: r["display_name"] for r in runs} == {
        "bold-first-red-run": "[bold]first[red] run", "second": None,
    }  # fmt: skip
    from tercet.cli.demo_cmd import run_ls

    monkeypatch.setenv("COLUMNS", "200")  # one line a run
    run_ls(PROJECT, root=None)  # type: ignore[arg-type]  # typer fills the default
    out = capsys.readouterr().out
    assert "[bold]first[red] run (bold-first-red-run)" in out  # shown as text, not as rich markup
