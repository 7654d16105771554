"""What the checks read from a run: its per-epoch metrics of one split, and the input revision's
labels and image URLs, aligned to one list of example ids.

Columns are found by their role in the metrics file's footer (``loss``, ``prediction``,
``probabilities``, ``embedding``) and, for the columns :class:`ClassificationCollector` adds for
label checks, by name next to the loss (``label_probability``, ``margin``, ``top_labels``,
``top_probabilities``, with the collector's prefix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tercet import storage
from tercet.errors import InsightsError
from tercet.insights.dynamics import EpochMatrix
from tercet.runs.folder import MetricsFile
from tercet.runs.metrics import read_info
from tercet.runs.run import Run
from tercet.schema import ID_COLUMN
from tercet.tables.table import Table


@dataclass
class Inputs:
    """One split of one run, as the checks see it."""

    run: Run
    split: str
    epoch: int  # the epoch whose predictions, probabilities and embeddings are used
    epochs: list[int]  # the epochs training dynamics are taken over
    table: Table
    example_ids: np.ndarray
    columns: dict[str, str]  # role or name -> column name in the metrics files
    labels: np.ndarray | None = None  # -1 where a row has no label
    label_column: str | None = None
    value_map: dict[int, Any] | None = None
    image_urls: list[str | None] | None = None
    prediction: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    matrix: EpochMatrix | None = None
    missing: dict[str, str] = field(default_factory=dict)  # what is not there, and why it matters

    @property
    def n(self) -> int:
        return len(self.example_ids)


def _newest_per_epoch(files: list[MetricsFile], epoch: int | None) -> dict[int, str]:
    newest: dict[int, str] = {}
    for f in files:  # sorted by time within an epoch: the last one wins
        if epoch is None or f["epoch"] <= epoch:
            newest[f["epoch"]] = f["url"]
    return dict(sorted(newest.items()))


def _align(ids: np.ndarray, table: pa.Table, name: str) -> pa.ChunkedArray:
    """``table[name]`` in the order of ``ids`` (nulls where an id is missing)."""
    theirs = table.column(ID_COLUMN).to_numpy()
    order = np.argsort(theirs, kind="stable")
    pos = np.clip(np.searchsorted(theirs[order], ids), 0, max(len(theirs) - 1, 0))
    found = (theirs[order][pos] == ids) if len(theirs) else np.zeros(len(ids), bool)
    return table.column(name).take(pa.array(order[pos], mask=~found))


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def as_matrix(column: pa.ChunkedArray) -> np.ndarray:
    """A fixed-size or variable list column as an n × d float32 matrix (rows of equal length)."""
    flat = pa.concat_arrays([c.flatten() for c in column.chunks]) if column.num_chunks else None
    if flat is None or len(column) == 0:
        return np.empty((len(column), 0), np.float32)
    d = len(flat) // len(column)
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, d)


def load(run: Run, split: str, epoch: int | None) -> Inputs:
    """The inputs of ``split`` up to ``epoch`` (all epochs when None)."""
    files = run.metric_files(split)
    if not files:
        have = ", ".join(run.splits) or "none"
        raise InsightsError(
            f"Run {run.name} has no metrics for split {split!r} (splits with metrics: {have}). "
            "Collect them with tercet.collect_metrics(..., split=...) first."
        )
    by_epoch = _newest_per_epoch(files, epoch)
    if not by_epoch:
        epochs = sorted({f["epoch"] for f in files})
        raise InsightsError(
            f"Run {run.name} has no metrics for split {split!r} up to epoch "
            f"{epoch}; epochs: {epochs}."
        )
    point = max(by_epoch)
    info = read_info(by_epoch[point], split, run.url)
    if info.error or info.table is None:
        raise InsightsError(f"Cannot read the metrics file {by_epoch[point]}: {info.error}.")
    roles = {str(c["name"]): str(c.get("role")) for c in info.columns}
    columns = _find_columns(roles)
    table = Table.open(info.table)
    point_rows = storage.read_parquet(
        by_epoch[point],
        columns=[
            ID_COLUMN,
            *(
                columns[r]
                for r in (
                    "prediction",
                    "probabilities",
                    "embedding",
                    "top_labels",
                    "top_probabilities",
                )
                if r in columns
            ),
        ],
    )
    ids = np.unique(point_rows.column(ID_COLUMN).to_numpy())
    out = Inputs(run, split, point, list(by_epoch), table, ids, columns)
    _read_table(out)
    _read_point(out, point_rows)
    _read_epochs(out, by_epoch)
    return out


def _find_columns(roles: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for role in ("loss", "prediction", "probabilities", "embedding"):
        name = next((n for n, r in roles.items() if r == role), None)
        if name is not None:
            out[role] = name
    prefix = out["loss"][: -len("loss")] if out.get("loss", "").endswith("loss") else ""
    for extra in ("label_probability", "margin", "top_labels", "top_probabilities"):
        if prefix + extra in roles:
            out[extra] = prefix + extra
    return out


def _read_table(out: Inputs) -> None:
    schema = out.table.schema
    labels = [c for c in schema if c.role == "label" and pa.types.is_integer(c.type)]
    images = [c for c in schema if c.role == "image"]
    chosen = {c.name for c in labels[:1] + images[:1]}
    # In schema order: Table.to_arrow fails on columns asked for in another order.
    wanted = [c.name for c in schema if c.name in chosen and c.name != ID_COLUMN]
    rows = out.table.to_arrow([ID_COLUMN, *wanted])
    if labels:
        out.label_column = labels[0].name
        out.value_map = dict(labels[0].value_map or {}) or None
        given = _align(out.example_ids, rows, labels[0].name)
        out.labels = np.asarray(given.fill_null(-1).to_numpy(), dtype=np.int64)
    else:
        have = ", ".join(f"{c.name} ({c.role})" for c in schema)
        out.missing["labels"] = (
            f"the input table {out.table.name} has no integer label column (role 'label'); it "
            f"has {have}"
        )
    if images:
        out.image_urls = _align(out.example_ids, rows, images[0].name).to_pylist()
    else:
        out.missing["images"] = f"the input table {out.table.name} has no image column"


def _read_point(out: Inputs, rows: pa.Table) -> None:
    c = out.columns
    if "prediction" in c:
        pred = _align(out.example_ids, rows, c["prediction"]).fill_null(-1)
        out.prediction = np.asarray(pred.to_numpy(), dtype=np.int64)
    if "probabilities" in c:
        out.probabilities = as_matrix(_align(out.example_ids, rows, c["probabilities"]))
    elif "top_labels" in c and "top_probabilities" in c and out.labels is not None:
        from tercet.insights.confident import from_top_k

        top = as_matrix(_align(out.example_ids, rows, c["top_labels"])).astype(np.int64)
        probs = as_matrix(_align(out.example_ids, rows, c["top_probabilities"]))
        classes = max(int(top.max(initial=0)), int(out.labels.max(initial=0))) + 1
        if out.value_map:
            classes = max(classes, max(int(k) for k in out.value_map) + 1)
        out.probabilities = from_top_k(top, probs, classes)
    else:
        out.missing["probabilities"] = (
            "no class probabilities: collect with ClassificationCollector(probabilities=True) "
            "or top_k=5"
        )
    if "embedding" in c:
        out.embeddings = as_matrix(_align(out.example_ids, rows, c["embedding"]))
    else:
        out.missing["embeddings"] = (
            f"the metrics of split {out.split!r} have no embedding column: collect one with "
            "EmbeddingCollector(layer=...)"
        )


def _read_epochs(out: Inputs, by_epoch: dict[int, str]) -> None:
    c = out.columns
    if "prediction" not in c or ("loss" not in c and "label_probability" not in c):
        found = ", ".join(f"{k}: {v}" for k, v in c.items()) or "none of loss/prediction"
        out.missing["classification"] = (
            "no classification metrics (a 'loss' and a 'prediction' column from "
            f"ClassificationCollector); found {found}"
        )
        return
    wanted = [c[k] for k in ("loss", "prediction", "label_probability", "margin") if k in c]
    n, e = out.n, len(by_epoch)
    p = np.full((e, n), np.nan)
    margin = np.full((e, n), np.nan) if "margin" in c else None
    pred = np.full((e, n), -1, dtype=np.int64)
    for row, url in enumerate(by_epoch.values()):
        have = set(storage.read_parquet_metadata(url).schema.to_arrow_schema().names)
        t = storage.read_parquet(url, columns=[ID_COLUMN, *(w for w in wanted if w in have)])
        if "label_probability" in c and c["label_probability"] in have:
            p[row] = _floats(_align(out.example_ids, t, c["label_probability"]))
        elif "loss" in c and c["loss"] in have:
            p[row] = np.exp(-_floats(_align(out.example_ids, t, c["loss"])))
        if margin is not None and c["margin"] in have:
            margin[row] = _floats(_align(out.example_ids, t, c["margin"]))
        if c["prediction"] in have:
            pred[row] = _align(out.example_ids, t, c["prediction"]).fill_null(-1).to_numpy()
    out.matrix = EpochMatrix(list(by_epoch), p, margin, pred)


def split_embeddings(run: Run, split: str, column: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``example_id`` and the ``column`` embeddings of ``split``'s latest epoch, or None when
    that split has no such column (only the newest file of that epoch is read)."""
    by_epoch = _newest_per_epoch(run.metric_files(split), None)
    if not by_epoch:
        return None
    url = by_epoch[max(by_epoch)]
    if column not in storage.read_parquet_metadata(url).schema.to_arrow_schema().names:
        return None
    t = storage.read_parquet(url, columns=[ID_COLUMN, column])
    return t.column(ID_COLUMN).to_numpy(), as_matrix(t.column(column))


def split_images(run: Run, split: str) -> tuple[np.ndarray, list[str | None], Table] | None:
    """``example_id`` and image URLs of the rows ``split``'s latest epoch scored, with the input
    table that resolves them; None when that split's table has no image column."""
    by_epoch = _newest_per_epoch(run.metric_files(split), None)
    if not by_epoch:
        return None
    url = by_epoch[max(by_epoch)]
    info = read_info(url, split, run.url)
    if info.error or info.table is None:
        raise InsightsError(f"Cannot read the metrics file {url}: {info.error}.")
    table = Table.open(info.table)
    images = [c for c in table.schema if c.role == "image"]
    if not images:
        return None
    ids = np.unique(storage.read_parquet(url, columns=[ID_COLUMN]).column(ID_COLUMN).to_numpy())
    rows = table.to_arrow([ID_COLUMN, images[0].name])
    return ids, _align(ids, rows, images[0].name).to_pylist(), table
