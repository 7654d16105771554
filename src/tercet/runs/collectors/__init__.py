"""Collectors turn one batch of model outputs into per-sample metric columns.

:func:`tercet.collect_metrics` runs the model over a table and hands every batch to each collector:
``collect(batch, outputs)`` returns ``{column: one value or vector per sample}``. Collectors also
say what their columns mean (roles, for the dashboard) and which epoch-level aggregates to log.

Torch is imported only inside methods, so ``import tercet`` stays light.
"""

from __future__ import annotations

from tercet.runs.collectors.average_precision import AveragePrecision
from tercet.runs.collectors.base import (
    Batch,
    CollectContext,
    Collector,
    FunctionCollector,
    RunTarget,
    TableColumns,
    as_collectors,
    to_numpy,
)
from tercet.runs.collectors.boxes import PRED_BOX_TYPE, BoxCollector, box_iou, match_boxes
from tercet.runs.collectors.classification import ClassificationCollector
from tercet.runs.collectors.embedding import EmbeddingCollector
from tercet.runs.collectors.masks import PRED_MASK_TYPE, MaskCollector

__all__ = [
    "PRED_BOX_TYPE",
    "PRED_MASK_TYPE",
    "AveragePrecision",
    "Batch",
    "BoxCollector",
    "ClassificationCollector",
    "CollectContext",
    "Collector",
    "EmbeddingCollector",
    "FunctionCollector",
    "MaskCollector",
    "RunTarget",
    "TableColumns",
    "as_collectors",
    "box_iou",
    "match_boxes",
    "to_numpy",
]
