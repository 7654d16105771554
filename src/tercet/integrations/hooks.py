"""What every integration does, free of any framework: start or adopt the run, record numbers,
collect an epoch's per-sample metrics, and project embeddings once training ends.

A framework callback calls these from its own events; a loop no integration covers (Ultralytics,
detectron2) can call them from its hooks as ``docs/integrations.md`` shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tercet.runs import distributed
from tercet.runs.collect import CollectResult
from tercet.runs.collectors import ClassificationCollector, Collector, EmbeddingCollector
from tercet.runs.lifecycle import active_run, collect_metrics, init
from tercet.runs.run import Run
from tercet.tables.table import Table

_started: set[str] = set()  # runs started here rather than by the script

CollectorsArg = Collector | Callable[..., Any] | Sequence[Collector | Callable[..., Any]]


def start_run(
    project: str, name: str | None, parameters: Mapping[str, Any], root: str | None = None
) -> Run:
    """The run a script started with :func:`tercet.init`, with ``parameters`` added; else a new
    one started with them (on every rank of a distributed launch, which attaches all to one run).

    A run an integration started is not adopted by the next training: a notebook that trains
    twice gets two runs (:func:`tercet.init` closes the first as completed).
    """
    run = active_run()
    if run is None or run.url in _started:
        run = init(project=project, run=name, parameters=parameters, root=root)
        _started.add(run.url)
        return run
    run.set_parameters(parameters)
    return run


def default_collectors(
    embedding_layer: str | int | Any | None, pool: str | Callable[[Any], Any] = "mean"
) -> list[Collector]:
    """Loss, prediction, confidence and class probabilities; embeddings of ``embedding_layer``
    when one is named."""
    out: list[Collector] = [ClassificationCollector(probabilities=True)]
    if embedding_layer is not None:
        out.append(EmbeddingCollector(embedding_layer, pool=pool))
    return out


def numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a framework's log dict (strings and lists left out)."""
    out: dict[str, float] = {}
    for name, value in values.items():
        plain = value.item() if callable(getattr(value, "item", None)) else value
        if isinstance(plain, bool) or not isinstance(plain, int | float):
            continue
        if math.isfinite(float(plain)):
            out[str(name)] = float(plain)
    return out


def collect(
    run: Run,
    data: Any,
    table: Table,
    collectors: CollectorsArg,
    model: Any,
    split: str,
    **options: Any,
) -> CollectResult:
    """One pass over ``data`` into ``run`` as ``split`` (the next epoch of that split); under a
    process group each rank collects its share."""
    return collect_metrics(data, collectors, model, split=split, run=run, table=table, **options)


def has_embeddings(collectors: CollectorsArg) -> bool:
    items = collectors if isinstance(collectors, Sequence) else [collectors]
    return any(isinstance(c, EmbeddingCollector) for c in items)


def finish(run: Run, reduce: str | None, dims: int = 3) -> None:
    """Once training ends: every rank's files written, then rank 0 projects the embeddings with
    one fit (``reduce``: ``"pca"``, ``"umap"``, ``"pacmap"`` or None).

    With nothing to project in one process, it returns at once: the last files go on being
    written while the framework tears down, and closing the run waits for them."""
    if reduce is None and not distributed.world().distributed:
        return
    run.wait()
    distributed.barrier()
    if reduce is None or run.rank != 0:
        return
    run.reduce_embeddings(method=reduce, dims=dims, progress=False).wait()
