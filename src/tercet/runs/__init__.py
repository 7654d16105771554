"""Runs: training runs with parameters, status, logged scalars and per-sample metrics.

The three lines a training script adds::

    run = tercet.init(project="digits", parameters={"lr": 0.01})
    tercet.log({"loss": loss}, epoch=epoch)
    tercet.collect_metrics(val.map(to_tensor), [ClassificationCollector()], model, epoch=epoch)

Nothing here imports torch until it is used. The modules, from the bottom up: ``folder`` (the
run-folder grammar), ``state`` (events folded), ``metrics`` and ``scalars`` (the files),
``run`` (:class:`Run`), ``collectors``/``collect`` and ``reduce`` (what writes metrics and
projections), ``lifecycle`` (the active run).
"""

from __future__ import annotations

from tercet.runs.collect import CollectResult
from tercet.runs.collectors import (
    Batch,
    BoxCollector,
    ClassificationCollector,
    CollectContext,
    Collector,
    EmbeddingCollector,
    FunctionCollector,
    MaskCollector,
)
from tercet.runs.folder import MetricsFile
from tercet.runs.lifecycle import active_run, collect_metrics, init, log
from tercet.runs.metrics import MetricSpec
from tercet.runs.reduce import ReductionJob
from tercet.runs.run import Run, list_runs
from tercet.runs.state import RunInput, RunState
from tercet.runs.table_reduce import reduce_embeddings

__all__ = [
    "Batch",
    "BoxCollector",
    "ClassificationCollector",
    "CollectContext",
    "CollectResult",
    "Collector",
    "EmbeddingCollector",
    "FunctionCollector",
    "MaskCollector",
    "MetricSpec",
    "MetricsFile",
    "ReductionJob",
    "Run",
    "RunInput",
    "RunState",
    "active_run",
    "collect_metrics",
    "init",
    "list_runs",
    "log",
    "reduce_embeddings",
]
