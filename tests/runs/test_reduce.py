"""Embedding reduction: one fit for every epoch, projection files, background jobs."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pyarrow as pa
import pytest

import tercet
from tercet import storage
from tercet.errors import RunError
from tercet.runs import folder
from tercet.runs import metrics as metrics_mod


def _embeddings(n: int, epoch: int, seed: int) -> np.ndarray:
    """Clusters that drift a little each epoch, as a model's embeddings do."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16) * 5
    points = centres[np.arange(n) % 3] + rng.normal(scale=0.5, size=(n, 16))
    return (points + epoch * 0.3).astype(np.float32)


def _run_with_embeddings(epochs: int = 3) -> tuple[tercet.Run, dict[str, tercet.Table]]:
    tables = {
        name: tercet.Table.create({"x": np.arange(n)}, "p", "d", name)
        for name, n in (("train", 60), ("val", 30))
    }
    run = tercet.init(project="p")
    for epoch in range(epochs):
        for i, table in enumerate(tables.values()):
            ids = table.example_ids()
            run.write_metrics(
                table,
                {"example_id": ids, "embedding": _embeddings(len(ids), epoch, 10 * epoch + i),
                 "loss": np.zeros(len(ids), np.float32)},
                epoch=epoch, roles={"loss": "loss"},
            )  # fmt: skip
    return run, tables


def _pca(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=dims, random_state=0).fit(x)
    return pca.mean_, pca.components_


def _points(table: pa.Table, dims: int) -> np.ndarray:
    return np.stack([table.column(f"proj_{a}").to_numpy() for a in "xyz"[:dims]], axis=1)


def _read_embedding(url: str) -> np.ndarray:
    column = storage.read_parquet(url, columns=["embedding"]).column("embedding")
    return np.stack(column.to_numpy(zero_copy_only=False))


def test_pca_projects_every_epoch_with_the_first_epochs_fit() -> None:
    run, _ = _run_with_embeddings()
    job = run.reduce_embeddings(method="pca", dims=3, progress=False)
    assert job.done() and len(job.files) == 6
    fit_url = run.metric_files("train", 0)[0]["url"]
    mean, components = _pca(_read_embedding(fit_url), 3)
    for f in run.metric_files():
        projected = storage.read_parquet(folder.projection_url(f["url"], "pca", 3))
        expected = (_read_embedding(f["url"]) - mean) @ components.T
        np.testing.assert_allclose(_points(projected, 3), expected, rtol=1e-4, atol=1e-4)
        header = metrics_mod.read_header(folder.projection_url(f["url"], "pca", 3))
        assert header["fit"]["split"] == "train" and header["fit"]["epoch"] == 0
        assert (header["split"], header["epoch"]) == (f["split"], f["epoch"])


def test_projection_files_follow_the_format() -> None:
    run, tables = _run_with_embeddings(epochs=1)
    run.reduce_embeddings(method="pca", dims=2, progress=False)
    f = run.metric_files("val")[0]
    url = folder.projection_url(f["url"], "pca", 2)
    assert url == storage.join(run.url, "metrics", "val", "projections", "pca-2d", f["name"])
    table = storage.read_parquet(url)
    assert table.schema.names == ["example_id", "proj_x", "proj_y"]
    assert table.schema.field("proj_x").type == pa.float32()
    columns = {c["name"]: c for c in metrics_mod.read_header(url)["columns"]}
    assert columns["proj_y"]["role"] == "projection" and columns["proj_y"]["axis"] == "y"
    assert metrics_mod.read_header(url)["table_id"] == tables["val"].id
    both = run.projections("val", "pca", 2)
    assert both.column("epoch").to_pylist() == [0] * 30


def test_a_later_call_projects_only_new_files_with_the_same_fit() -> None:
    run, tables = _run_with_embeddings(epochs=2)
    run.reduce_embeddings(progress=False)
    train = tables["train"]
    ids = train.example_ids()
    run.write_metrics(train, {"example_id": ids, "embedding": _embeddings(60, 5, 99)}, epoch=5)
    reopened = tercet.Run.open(run.url)  # a new process: no fitted reducer in memory
    job = reopened.reduce_embeddings(progress=False)
    new = run.metric_files("train", 5)[0]["url"]
    assert job.files == [folder.projection_url(new, "pca", 3)]
    mean, components = _pca(_read_embedding(run.metric_files("train", 0)[0]["url"]), 3)
    expected = (_read_embedding(new) - mean) @ components.T
    got = _points(storage.read_parquet(job.files[0]), 3)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert reopened.reduce_embeddings(progress=False).files == []


def test_fit_split_and_epoch_can_be_chosen() -> None:
    run, _ = _run_with_embeddings(epochs=2)
    run.reduce_embeddings(dims=2, fit_split="val", fit_epoch=1, splits=["val"], progress=False)
    assert len(run.projections("val", "pca", 2)) == 60
    with pytest.raises(RunError, match="no pca-2d projections for split 'train'"):
        run.projections("train", "pca", 2)
    with pytest.raises(RunError, match="epochs: \\[0, 1\\]"):
        run.reduce_embeddings(fit_epoch=7, progress=False)


def test_background_reduction_returns_a_handle_to_wait_on() -> None:
    run, _ = _run_with_embeddings(epochs=2)
    job = run.reduce_embeddings(background=True, progress=False)
    files = job.wait(timeout=60)
    assert job.done() and len(files) == 4
    assert all(storage.exists(f) for f in files)


def test_background_errors_surface_on_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = _run_with_embeddings(epochs=1)
    from tercet.runs import reduce as reduce_mod

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(reduce_mod, "_write_projection", broken)
    job = run.reduce_embeddings(background=True, progress=False)
    with pytest.raises(RuntimeError, match="disk full"):
        job.wait(timeout=60)


def test_umap_without_its_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = _run_with_embeddings(epochs=1)
    monkeypatch.setitem(sys.modules, "umap", None)  # makes `import umap` fail
    with pytest.raises(RunError, match=r"pip install 'tercet\[umap\]'"):
        run.reduce_embeddings(method="umap")


def test_bad_arguments_are_explained() -> None:
    run, _ = _run_with_embeddings(epochs=1)
    with pytest.raises(RunError, match="dims must be 2 or 3"):
        run.reduce_embeddings(dims=4)
    with pytest.raises(RunError, match="Unknown reduction method 'tsne'"):
        run.reduce_embeddings(method="tsne")
    empty = tercet.init(project="p")
    with pytest.raises(RunError, match="no embeddings to reduce"):
        empty.reduce_embeddings()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("umap") is None, reason="umap-learn not installed")
def test_umap_projects_every_epoch() -> None:
    run, _ = _run_with_embeddings(epochs=2)
    job = run.reduce_embeddings(method="umap", dims=2, n_neighbors=10, progress=False)
    assert len(job.files) == 4
    points = _points(run.projections("train", "umap", 2, epoch=1), 2)
    assert np.isfinite(points).all()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("pacmap") is None, reason="pacmap not installed")
def test_pacmap_projects_every_epoch() -> None:
    run, _ = _run_with_embeddings(epochs=2)
    job = run.reduce_embeddings(method="pacmap", dims=3, n_neighbors=10, progress=False)
    assert len(job.files) == 4
    assert np.isfinite(_points(run.projections("val", "pacmap", 3, epoch=1), 3)).all()
