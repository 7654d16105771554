"""Reading insights back: the latest file of a split, its summary, and similar samples."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tercet.errors import InsightsError
from tercet.insights import store
from tercet.insights.neighbours import VectorIndex
from tercet.insights.summary import Summary
from tercet.runs.run import Run
from tercet.schema import ID_COLUMN


def _run(run: Run | str) -> Run:
    return run if isinstance(run, Run) else Run.open(run)


def latest_url(run: Run | str, split: str = "train") -> str:
    """The newest insights file of ``split``."""
    r = _run(run)
    return store.latest(r.url, split, r.name)


def summary(run: Run | str, split: str = "train") -> Summary:
    """The summary of the latest insights of ``split`` (counts and top examples per issue type,
    classes, imbalance), read from the file's footer."""
    return store.read_summary(latest_url(run, split))


def similar_rows(
    ids: np.ndarray, vectors: np.ndarray, index: VectorIndex, example_id: int, k: int
) -> pa.Table:
    """The ``k`` rows nearest to the row of ``example_id`` (itself left out), nearest first."""
    where = np.flatnonzero(ids == example_id)
    if len(where) == 0:
        raise InsightsError(f"No example_id {example_id} among the {len(ids)} embedded samples.")
    found = index.search(vectors[where[:1]], k + 1)
    keep = (found.index[0] >= 0) & (found.index[0] != where[0])
    rows, dist = found.index[0][keep][:k], found.distance[0][keep][:k]
    return pa.table(
        {ID_COLUMN: pa.array(ids[rows], pa.int64()), "distance": pa.array(dist, pa.float32())}
    )


def similar(
    run: Run | str,
    example_id: int,
    split: str = "train",
    epoch: int | None = None,
    k: int = 10,
    column: str | None = None,
) -> pa.Table:
    """The ``k`` samples whose embeddings are nearest (cosine) to ``example_id``'s.

    Returns a table of ``example_id`` and ``distance``, nearest first.
    """
    from tercet.insights.inputs import load

    inp = load(_run(run), split, epoch)
    if inp.embeddings is None:
        raise InsightsError(f"Similar samples need embeddings: {inp.missing['embeddings']}.")
    if column is not None and inp.columns.get("embedding") != column:
        raise InsightsError(f"Split {split!r} has no embedding column {column!r}.")
    return similar_rows(
        inp.example_ids, inp.embeddings, VectorIndex(inp.embeddings), int(example_id), k
    )
