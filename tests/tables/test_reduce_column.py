"""``reduce_embeddings`` for an embedding column of a table: a revision with projection columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tercet
from tercet.errors import RunError, SchemaError


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _table() -> tercet.Table:
    rng = np.random.default_rng(0)
    # Points along one direction (plus a little noise): PCA's first axis recovers it.
    t = rng.normal(size=(40, 1))
    x = np.hstack([t, 2 * t, -t, 0.5 * t]) + rng.normal(scale=0.01, size=(40, 4))
    return tercet.Table.create(
        {"embedding": x.astype(np.float32), "other": x[:, :2].astype(np.float32)},
        project="p", dataset="d", name="t", roles={"other": "embedding"},
    )  # fmt: skip


def test_a_table_column_is_reduced_into_a_new_revision() -> None:
    t = _table()
    reduced = tercet.reduce_embeddings(t, "pca", 2, column="embedding")
    assert reduced.parent == t and t.latest() == reduced
    cols = ["embedding_pca_x", "embedding_pca_y"]
    assert [reduced.schema[c].role for c in cols] == ["projection", "projection"]
    data = reduced.to_pandas(["example_id", *cols])
    assert data["example_id"].tolist() == list(range(40))
    # The first axis is the line the points lie on: it orders them as t does.
    source = t.to_arrow(["embedding"]).column("embedding").to_pylist()
    along = np.array([row[0] for row in source])
    assert abs(np.corrcoef(along, data["embedding_pca_x"])[0, 1]) > 0.99
    assert data["embedding_pca_y"].abs().max() < 0.1


def test_reducer_options_are_checked_before_anything_is_fitted(root: Path) -> None:
    t = _table()
    before = _files(root)
    with pytest.raises(SchemaError, match="PCA does not take the option n_neighbors.*umap"):
        tercet.reduce_embeddings(t, "pca", 2, column="embedding", n_neighbors=15)
    with pytest.raises(SchemaError, match="several embedding columns"):
        tercet.reduce_embeddings(t, "pca", 2)
    with pytest.raises(SchemaError, match="dims must be 2 or 3"):
        tercet.reduce_embeddings(t, "pca", 4, column="embedding")
    with pytest.raises(SchemaError, match="Unknown reduction method 'tsne'"):
        tercet.reduce_embeddings(t, "tsne", column="embedding")
    assert _files(root) == before


def test_a_run_reduction_checks_its_options_too() -> None:
    run = tercet.Run.create(project="p", name="r")
    with pytest.raises(RunError, match="PCA does not take the option n_neighbors"):
        tercet.reduce_embeddings(run, "pca", 2, n_neighbors=15)
    run.close()
