"""The digits demo: what it writes, the CLI, and the example script a user reads."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pyarrow.compute as pc
import pytest
import yaml
from typer.testing import CliRunner

import tercet
from tercet import storage
from tercet.cli import app
from tercet.demo import DemoProject
from tercet.runs import metrics as metrics_mod

REPO = Path(__file__).resolve().parents[1]


def test_demo_metrics_join_the_input_tables_by_example_id(demo_project: DemoProject) -> None:
    run = tercet.Run.open(demo_project.run_url)
    files = run.metric_files()
    assert [(f["split"], f["epoch"]) for f in files] == [
        ("train", 0), ("train", 1), ("val", 0), ("val", 1)
    ]  # fmt: skip
    for f in files:
        table = tercet.Table.open(
            demo_project.train_url if f["split"] == "train" else demo_project.val_url
        )
        header = metrics_mod.read_header(f["url"])
        assert header["table_id"] == table.id
        metrics = storage.read_parquet(f["url"])
        rows = table.to_arrow(["example_id", "label"])
        joined = rows.join(metrics.drop_columns(["embedding"]), "example_id")
        assert joined.num_rows == table.num_rows == metrics.num_rows
        assert metrics.schema.field("embedding").type.list_size == 64


def test_demo_logs_aggregates_and_records_inputs(demo_project: DemoProject) -> None:
    run = tercet.Run.open(demo_project.run_url)
    state = run.state()
    assert state["status"] == "completed"
    assert {(i["split"], i["table"]) for i in state["inputs"]} == {
        ("train", demo_project.train_url), ("val", demo_project.val_url)
    }  # fmt: skip
    scalars = run.aggregates()
    names = set(scalars.column("name").to_pylist())
    assert {"loss", "train/loss", "train/accuracy", "val/loss", "val/accuracy"} <= names
    per_epoch = scalars.filter(pc.equal(scalars.column("name"), "val/accuracy"))
    assert per_epoch.column("epoch").to_pylist() == [0, 1]
    assert scalars.filter(pc.equal(scalars.column("name"), "loss")).num_rows == 6  # 2 × 3 batches


def test_demo_flips_three_percent_of_training_labels(demo_project: DemoProject) -> None:
    train = tercet.Table.open(demo_project.train_url).to_pandas()
    flipped = train[train["injected_noise"]]
    assert len(flipped) == round(0.03 * len(train)) == len(demo_project.injected)
    assert (flipped["label"] != flipped["original_label"]).all()
    clean = train[~train["injected_noise"]]
    assert (clean["label"] == clean["original_label"]).all()
    assert set(flipped["example_id"]) == set(demo_project.injected)
    assert len(train) + len(tercet.Table.open(demo_project.val_url)) == 1797


def test_demo_images_are_real_pngs_behind_an_alias(demo_project: DemoProject) -> None:
    aliases = yaml.safe_load(Path(demo_project.project_url, "aliases.yaml").read_text())
    assert aliases == {"DIGITS_DATA": demo_project.data_dir}
    val = tercet.Table.open(demo_project.val_url)
    first = val.to_arrow(["image"]).column("image")[0].as_py()
    assert first.startswith("<DIGITS_DATA>/") and first.endswith(".png")
    image = val[0]["image"]
    assert image.size == (8, 8) and image.mode == "L"
    assert np.asarray(image).max() > 100  # real ink, spread over the 8-bit range
    assert val.schema["label"].value_map is not None and len(val.schema["label"].value_map) == 10


def test_demo_embeddings_are_reduced_to_3d_for_every_file(demo_project: DemoProject) -> None:
    run = tercet.Run.open(demo_project.run_url)
    for split in ("train", "val"):
        points = run.projections(split, "pca", 3)
        assert points.column_names == ["example_id", "proj_x", "proj_y", "proj_z", "epoch"]
        assert sorted(set(points.column("epoch").to_pylist())) == [0, 1]


def _with_images(demo_project: DemoProject, root: Path) -> None:
    """Start a new root with the demo's images already there, so tests skip writing 1,797 files."""
    shutil.copytree(demo_project.data_dir, root / "demo-data" / "digits")


def test_demo_command_without_serving(demo_project: DemoProject, root: Path) -> None:
    _with_images(demo_project, root)
    runner = CliRunner()
    result = runner.invoke(
        app, ["demo", "--no-serve", "--epochs", "1", "--max-batches", "1", "--root", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert "val accuracy" in result.output and "tercet ui" in result.output
    runs = tercet.list_runs("digits-demo", str(root))
    assert len(runs) == 1 and runs[0].status == "completed"
    wide = {"COLUMNS": "200"}  # rich would otherwise fold names to fit 80 columns
    listed = runner.invoke(app, ["run", "ls", "digits-demo", "--root", str(root)], env=wide)
    assert listed.exit_code == 0 and runs[0].name in listed.output
    shown = runner.invoke(app, ["run", "show", runs[0].url], env=wide)
    assert shown.exit_code == 0 and "val/accuracy" in shown.output


def test_demo_command_serves_the_project_it_wrote(
    demo_project: DemoProject, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tercet.cli import service_cmd

    calls: list[dict[str, object]] = []

    def fake_ui(**kwargs: object) -> None:
        calls.append(kwargs)

    fake_ui.__signature__ = inspect.signature(service_cmd.ui)  # type: ignore[attr-defined]
    monkeypatch.setattr(service_cmd, "ui", fake_ui)
    _with_images(demo_project, root)
    args = ["demo", "--epochs", "1", "--max-batches", "1", "--root", str(root), "--no-browser"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(calls) == 1
    assert calls[0]["root"] == str(root) and calls[0]["no_browser"] is True
    assert calls[0]["port"] is None  # every other option keeps the command's default
    # the browser opens the new run's training split as a gallery, highest loss first
    view = parse_qs(str(calls[0]["open_view"]))
    assert view["run"] == [tercet.list_runs("digits-demo", str(root))[-1].url]
    assert view["project"] == ["digits-demo"] and view["split"] == ["train"]
    assert view["mode"] == ["gallery"] and view["gsort"] == ["loss:desc"]


def test_the_example_script_runs(demo_project: DemoProject, root: Path) -> None:
    _with_images(demo_project, root)
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "digits_demo.py"), "--root", str(root),
         "--epochs", "1", "--max-batches", "2"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = tercet.list_runs("digits-example", str(root))
    assert [r.status for r in runs] == ["completed"]
    assert {f["split"] for f in runs[0].metric_files()} == {"train", "val"}
    assert len(runs[0].projections("val", "pca", 3)) == 360


@pytest.mark.slow
def test_full_demo_trains_to_a_useful_model(root: Path, demo_project: DemoProject) -> None:
    _with_images(demo_project, root)
    from tercet.demo import build

    project = build(root=str(root), epochs=5, progress=False)
    run = tercet.Run.open(project.run_url)
    accuracy = run.metrics("val", epoch=4)
    labels = tercet.Table.open(project.val_url).to_arrow(["example_id", "label"])
    joined = labels.join(accuracy.drop_columns(["embedding"]), "example_id")
    correct = np.mean(joined.column("label").to_numpy() == joined.column("prediction").to_numpy())
    assert correct > 0.9
    # The flipped labels stand out: their loss is far above the rest.
    train = run.metrics("train", epoch=4).to_pandas().set_index("example_id")
    injected = train.loc[list(project.injected), "loss"].median()
    assert injected > 5 * train["loss"].median()
