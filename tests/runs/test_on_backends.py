"""Runs with metrics on local disk and on S3, through the public runs API only."""

from __future__ import annotations

import numpy as np
import pytest

import tercet
from tercet import storage


@pytest.fixture
def table(local_or_s3_root: str) -> tercet.Table:
    rng = np.random.default_rng(0)
    return tercet.Table.create(
        {"label": np.arange(40) % 4, "emb": rng.random((40, 8)).astype(np.float32)},
        project="p", dataset="d", name="train", value_maps={"label": ["a", "b", "c", "d"]},
    )  # fmt: skip


def test_a_run_with_scalars_and_metrics_reads_back(
    table: tercet.Table, local_or_s3_root: str
) -> None:
    run = tercet.init(project="p", run="baseline", parameters={"lr": 0.1}, heartbeat=False)
    assert run.url == storage.join(local_or_s3_root, "p", "runs", "baseline")
    for epoch in range(2):
        tercet.log({"loss": 1.0 / (epoch + 1), "acc": 0.5 + epoch / 4}, step=epoch, epoch=epoch)
        run.write_metrics(
            table,
            {"example_id": table.example_ids(), "loss": np.full(40, epoch, np.float32)},
            epoch=epoch, split="train", roles={"loss": "loss"},
        )  # fmt: skip
    run.close()

    again = tercet.Run.open(run.url)
    assert again.status == "completed"
    assert again.parameters == {"lr": 0.1}
    assert [i["table"] for i in again.inputs] == [table.url]
    assert again.metrics("train", epoch=1).column("loss").to_pylist() == [1.0] * 40
    scalars = again.aggregates()
    assert sorted(set(scalars.column("name").to_pylist())) == ["acc", "loss"]
    assert [r.url for r in tercet.list_runs("p")] == [run.url]


def test_a_second_run_of_the_same_name_gets_the_next_one(local_or_s3_root: str) -> None:
    first = tercet.Run.create("p", "nightly")
    second = tercet.Run.create("p", "nightly")
    assert (first.name, second.name) == ("nightly", "nightly-2")


def test_embeddings_are_projected_into_the_run(table: tercet.Table) -> None:
    run = tercet.init(project="p", run="emb", heartbeat=False)
    run.write_metrics(
        table, {"example_id": table.example_ids(), "embedding": table.to_arrow(["emb"])["emb"]},
        epoch=0, split="train", roles={"embedding": "embedding"},
    )  # fmt: skip
    run.reduce_embeddings(method="pca", dims=2).wait(timeout=120)
    points = run.projections("train", method="pca", dims=2, epoch=0)
    assert points.num_rows == 40 and {"proj_x", "proj_y"} <= set(points.column_names)
    run.close()


def test_a_failed_run_says_why(local_or_s3_root: str) -> None:
    run = tercet.init(project="p", run="broken", heartbeat=False)
    run.close("failed", error="CUDA out of memory")
    again = tercet.Run.open(run.url)
    assert again.status == "failed"
