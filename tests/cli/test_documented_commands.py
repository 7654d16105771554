"""The documented commands that had no test: ``tercet ls``, ``tercet run reduce``, ``tercet config
path`` — run through the real entry point, asserting on what they print and what they write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tercet
from tercet import storage

ENTRY = "from tercet.cli import main; main()"


def tercet_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The autouse ``isolated`` fixture put TERCET_ROOT and TERCET_CONFIG in os.environ.
    full = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, env=full, timeout=120
    )


def test_ls_without_a_project_lists_every_project_and_only_projects(root: Path) -> None:
    tercet.Table.create({"x": [1]}, project="alpha", dataset="d", name="t")
    tercet.Table.create({"x": [1]}, project="beta_b", dataset="d", name="t")
    (root / "not-a-project.txt").write_text("stray file at the root")
    result = tercet_cli("ls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["alpha", "beta_b"]


def test_ls_on_an_empty_root_says_where_it_looked(root: Path) -> None:
    result = tercet_cli("ls")
    assert result.returncode == 0, result.stderr
    assert f"No projects under {root}" in result.stdout.replace("\n", "")


def test_ls_of_a_project_lists_each_revision_with_its_rows_and_parent(root: Path) -> None:
    t = tercet.Table.create({"x": np.arange(5)}, project="p", dataset="d", name="train")
    edited = t.delete_rows(t.example_ids()[:2], message="drop two")
    result = tercet_cli("ls", "p")
    assert result.returncode == 0, result.stderr
    rows = [ln for ln in result.stdout.splitlines() if "│" in ln]
    cells = [[c.strip() for c in ln.strip()[1:-1].split("│")] for ln in rows]
    by_revision = {c[1]: c for c in cells if len(c) == 6 and c[0] == "d"}
    assert by_revision[t.name][2] == "5" and by_revision[t.name][4] == ""
    assert by_revision[edited.name][2] == "3"
    assert by_revision[edited.name][4] == t.name
    assert by_revision[edited.name][5] == "drop two"


def _run_with_embeddings() -> tercet.Run:
    table = tercet.Table.create({"x": np.arange(40)}, "p", "d", "train")
    run = tercet.Run.create("p", "r")
    rng = np.random.default_rng(0)
    for epoch in range(2):
        run.write_metrics(
            table,
            {"example_id": table.example_ids(),
             "embedding": rng.normal(size=(40, 8)).astype(np.float32)},
            epoch=epoch,
        )  # fmt: skip
    run.close("completed")
    return run


def test_run_reduce_writes_one_projection_per_epoch_that_the_run_reads(root: Path) -> None:
    run = _run_with_embeddings()
    result = tercet_cli("run", "reduce", run.url, "--method", "pca", "--dims", "2")
    assert result.returncode == 0, result.stderr
    assert "2 projection files written." in result.stdout
    points = tercet.Run.open(run.url).projections("train", method="pca", dims=2)
    assert sorted(set(points.column("epoch").to_pylist())) == [0, 1]
    assert points.num_rows == 80
    assert "proj_z" not in points.column_names


def test_run_reduce_with_an_unknown_method_says_which_methods_exist(root: Path) -> None:
    run = _run_with_embeddings()
    result = tercet_cli("run", "reduce", run.url, "--method", "tsne")
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "tsne" in message and "pca" in message
    assert "Traceback" not in message
    with pytest.raises(tercet.RunError):
        tercet.Run.open(run.url).projections("train", method="pca", dims=3)


def test_config_path_prints_the_file_the_config_is_read_from(tmp_path: Path) -> None:
    chosen = tmp_path / "elsewhere" / "tercet.yaml"
    result = tercet_cli("config", "path", env={"TERCET_CONFIG": str(chosen)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(chosen)
    # The path printed is the one `config show` and the library read.
    chosen.parent.mkdir()
    chosen.write_text(f"root: {tmp_path / 'from-config'}\n")
    env = {k: v for k, v in os.environ.items() if k != "TERCET_ROOT"}
    shown = subprocess.run(
        [sys.executable, "-c", ENTRY, "config", "show"], capture_output=True, text=True, timeout=60,
        env={**env, "COLUMNS": "300", "TERCET_CONFIG": str(chosen)},
    )  # fmt: skip
    assert "│ root" in shown.stdout and str(tmp_path / "from-config") in shown.stdout
    assert not storage.exists(str(tmp_path / "from-config"))
