"""Run-specific routes: confusion matrix, one example's trajectory over epochs, scalar curves."""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Query

from tercet import storage
from tercet.schema import ID_COLUMN
from tercet.service import filters, query
from tercet.service.context import ServiceContext, get_ctx
from tercet.service.errors import ApiError
from tercet.service.models import (
    ConfusionLabel,
    ConfusionRequest,
    ConfusionResult,
    RunSource,
    ScalarSeries,
    ScalarsResult,
    TrajectoryRequest,
    TrajectoryResult,
)
from tercet.service.sources import example_ids

router = APIRouter(tags=["runs"])
Ctx = Annotated[ServiceContext, Depends(get_ctx)]


def _plain(value: Any) -> Any:
    """A JSON-safe value: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@router.post("/api/confusion", response_model=ConfusionResult)
def confusion(request: ConfusionRequest, ctx: Ctx) -> ConfusionResult:
    """Ground-truth label against prediction for one epoch, under an optional filter."""
    source = ctx.sources.run(
        RunSource(run=request.run, split=request.split, epoch=request.epoch, join=request.join)
    )
    label, prediction = source.first("label"), source.first("prediction")
    if label is None or prediction is None:
        missing = "a label column in the table" if label is None else "a prediction metric"
        raise ApiError(422, f"No confusion matrix for this run: it needs {missing}.")
    where = filters.compile_filter(source, request.filter)
    values, matrix = query.confusion(ctx.db, source, where, label.name, prediction.name)
    names = {**(prediction.value_map or {}), **(label.value_map or {})}
    labels = [
        ConfusionLabel(value=v, name=names[str(v)].name if str(v) in names else str(v))
        for v in values
    ]
    return ConfusionResult(labels=labels, matrix=matrix)


@router.post("/api/trajectory", response_model=TrajectoryResult)
def trajectory(request: TrajectoryRequest, ctx: Ctx) -> TrajectoryResult:
    """One example's metric values across the epochs of a split."""
    state = ctx.sources.run_state(request.run)
    if request.split not in state.metrics:
        have = ", ".join(sorted(state.metrics)) or "none yet"
        raise ApiError(
            404, f"Run {state.name} has no metrics for split {request.split!r}; it has: {have}."
        )
    epochs: list[int] = []
    values: dict[str, list[Any]] = {c: [] for c in request.columns}
    seen_columns: set[str] = set()
    # Every footer of the split at once (concurrently), so unreadable files are left out.
    readable = [f for f in state.metrics[request.split] if f.error is None]
    files = ctx.index.load_metrics(state, readable)
    for epoch in sorted({f.epoch for f in files}):
        table = ctx.sources.metrics([f for f in files if f.epoch == epoch])
        seen_columns.update(table.column_names)
        ids = example_ids(table, f"the metrics of epoch {epoch}")
        hits = np.flatnonzero(ids == request.example_id)
        if not len(hits):
            continue
        row = int(hits[-1])
        epochs.append(epoch)
        for name in request.columns:
            if name in table.column_names and name != ID_COLUMN:
                values[name].append(_plain(table.column(name)[row].as_py()))
            else:
                values[name].append(None)
    unknown = [c for c in request.columns if c not in seen_columns]
    if unknown and seen_columns:
        raise ApiError(
            422,
            f"Unknown metric columns {unknown}. Metrics: "
            f"{', '.join(sorted(seen_columns - {ID_COLUMN}))}.",
        )
    if not epochs:
        raise ApiError(
            404,
            f"Example {request.example_id} has no metrics in split "
            f"{request.split!r} of run {state.name}.",
        )
    return TrajectoryResult(epochs=epochs, values=values)


@router.get("/api/scalars", response_model=ScalarsResult)
def scalars(ctx: Ctx, run: Annotated[str, Query(min_length=1, max_length=4096)]) -> ScalarsResult:
    """Every scalar logged with ``tercet.log()``, one series per name, in step order."""
    state = ctx.sources.run_state(run)
    if not state.aggregates:
        return ScalarsResult(series={})
    files = tuple(state.aggregates)

    def load() -> tuple[pa.Table, int]:
        table = storage.read_parquet(list(files))
        return table, int(table.nbytes)

    table: pa.Table = ctx.sources.cache.get(("aggregates", files), load)
    missing = {"step", "name", "value"} - set(table.column_names)
    if missing:
        raise ApiError(422, f"The scalar files of run {state.name} lack {sorted(missing)}.")
    keys = [("name", "ascending"), ("step", "ascending")]
    if "time" in table.column_names:
        keys.append(("time", "ascending"))
    table = table.sort_by(keys)
    series: dict[str, ScalarSeries] = {}
    for name in pc.unique(table.column("name")).to_pylist():
        if name is None:
            continue
        part = table.filter(pc.equal(table.column("name"), name))
        epochs = part.column("epoch").to_pylist() if "epoch" in part.column_names else None
        series[str(name)] = ScalarSeries(
            step=[int(s) if s is not None else 0 for s in part.column("step").to_pylist()],
            epoch=epochs if epochs is not None else [None] * part.num_rows,
            value=[_plain(v) for v in pc.cast(part.column("value"), pa.float64()).to_pylist()],
        )
    return ScalarsResult(series=series)
