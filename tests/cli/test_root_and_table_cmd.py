"""The command's face: ``tercet --version`` and ``tercet table show``, run as a person runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tercet
from tercet._version import __version__

ENTRY = "from tercet.cli import main; main()"


def tercet_cli(*args: str, root: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    if root is not None:
        env["TERCET_ROOT"] = str(root)
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_version_prints_the_version_and_exits_0() -> None:
    result = tercet_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tercet {__version__}"
    assert "Missing command" not in result.stderr


def test_no_command_prints_the_help() -> None:
    result = tercet_cli()
    assert "Usage" in result.stdout + result.stderr and "table" in result.stdout + result.stderr


def test_table_show_prints_every_column_with_its_role_and_value_map(root: Path) -> None:
    t = tercet.Table.create(
        {"label": [0, 1, 2, 1], "score": [0.5, 0.25, 1.0, 0.0], "caption": ["a", "b", "c", "d"]},
        project="p", dataset="d", name="train", value_maps={"label": ["cat", "dog", "eel"]},
    )  # fmt: skip
    result = tercet_cli("table", "show", t.url, root=root)
    assert result.returncode == 0, result.stderr
    lines = [ln.strip() for ln in result.stdout.splitlines()]
    assert "label: int32 [label]" in lines
    assert "score: double [number]" in lines
    assert "example_id: int64 [id]" in lines
    assert "values: 0=cat, 1=dog, 2=eel" in lines
    assert f"train ({t.num_rows} rows) at {t.url}" in lines


def test_table_show_prints_the_display_name_and_what_the_schema_says_of_labels(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tercet.cli.table_cmd import show

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "formats" / "coco"
    t = tercet.Table.from_coco(str(fixtures / "annotations.json"), str(fixtures / "images"),
                               project="p", dataset="coco", name="train [v1]")  # fmt: skip
    monkeypatch.setenv("COLUMNS", "200")
    show(t.url)  # in this process: a second interpreter costs seconds
    lines = [ln.strip() for ln in capsys.readouterr().out.splitlines()]
    assert lines[0].startswith("train [v1] (train-v1) (3 rows) at ")
    assert "values: 1=person, 3=car" in lines
    keypoints = lines.index(next(ln for ln in lines if ln.startswith("keypoints: ")))
    assert lines[keypoints + 1 : keypoints + 4] == [
        "aligned_with: boxes", "names: ['nose', 'left_eye', 'right_eye']",
        "skeleton: [[0, 1], [0, 2]]",
    ]  # fmt: skip


def test_listings_print_bracketed_user_text_literally(root: Path) -> None:
    """rich reads ``[label]`` or ``tercet[umap]`` as markup and drops it: every listing escapes
    what users wrote (messages, parameters), whatever command prints it."""
    t = tercet.Table.create({"x": [1, 2]}, project="p", dataset="d", name="train")
    t.set_values("x", t.example_ids()[:1], [5], message="fix [label] of tercet[umap]")
    run = tercet.Run.create("p", "r", parameters={"extra": "tercet[umap]", "tag": "[bold]x"})
    run.close("completed")

    listed = tercet_cli("ls", "p", root=root)
    assert listed.returncode == 0, listed.stderr
    assert "fix [label] of tercet[umap]" in listed.stdout

    runs = tercet_cli("run", "ls", "p", root=root)
    assert runs.returncode == 0, runs.stderr
    assert "extra=tercet[umap]" in runs.stdout and "tag=[bold]x" in runs.stdout

    shown = tercet_cli("run", "show", run.url, root=root)
    assert shown.returncode == 0, shown.stderr
    assert "extra = tercet[umap]" in shown.stdout and "tag = [bold]x" in shown.stdout
