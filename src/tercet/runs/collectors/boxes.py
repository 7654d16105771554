"""Object detection: predicted boxes matched to the labelled ones by IoU."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tercet.errors import RunError
from tercet.runs.collectors.average_precision import AveragePrecision, box_iou_coco
from tercet.runs.collectors.base import (
    Batch,
    CollectContext,
    Collector,
    only_column,
    to_numpy,
)
from tercet.runs.metrics import MetricSpec
from tercet.schema import ValueMap

PRED_BOX_TYPE = pa.struct(
    [("x0", pa.float32()), ("y0", pa.float32()), ("x1", pa.float32()), ("y1", pa.float32()),
     ("label", pa.int32()), ("score", pa.float32()), ("tp", pa.bool_()), ("iou", pa.float32())]
)  # fmt: skip


class BoxCollector(Collector):
    """Predicted boxes of a detector, matched against ground truth (TP/FP/FN per sample).

    The model (or ``outputs``) gives one mapping per sample with ``boxes`` (N×4, xyxy pixels),
    ``labels`` (N) and ``scores`` (N), as torchvision detectors do. Predictions are matched
    greedily by score to unmatched ground-truth boxes of the same label with IoU ≥
    ``iou_threshold``.

    Writes ``pred_boxes`` (list of x0, y0, x1, y1, label, score, tp, and ``iou``: the best IoU
    with a labelled box of the same class) and ``box_tp``, ``box_fp``, ``box_fn`` counts; logs
    ``box_precision``, ``box_recall``, and COCO's ``box_map`` (IoU .50:.95), ``box_map50``,
    ``box_map75`` and ``box_ap/<class>``, computed as pycocotools does
    (:mod:`~tercet.runs.collectors.average_precision`).

    Crowd regions (an ``iscrowd`` list aligned with the boxes, as ``from_coco`` writes) are left
    out of the counts: never a missed box, and a prediction on one is neither TP nor FP.

    Parameters
    ----------
    boxes
        Ground-truth column (role ``boxes``); by default the table's only one.
    iou_threshold, score_threshold
        Match threshold, and predictions below this score are dropped.
    outputs
        Picks the per-sample predictions from the model outputs.
    name
        Column name of the predicted boxes.
    crowd
        Column of crowd flags aligned with ``boxes``; by default ``iscrowd`` when the table has it.
    max_dets
        Predictions per sample and class that count for AP (COCO: 100).
    """

    def __init__(
        self,
        boxes: str | None = None,
        *,
        iou_threshold: float = 0.5,
        score_threshold: float = 0.0,
        outputs: Callable[[Any], Any] | None = None,
        name: str = "pred_boxes",
        crowd: str | None = None,
        max_dets: int = 100,
    ) -> None:
        self.boxes = boxes
        self.crowd = crowd
        self.max_dets = max_dets
        self._crowd: str | None = None
        self._ap = AveragePrecision(max_dets)
        self.iou_threshold = iou_threshold
        self.score_threshold = score_threshold
        self.outputs = outputs
        self.name = name
        self._column: str | None = None
        self._value_map: ValueMap | None = None
        self._tp = self._fp = self._fn = 0

    def start(self, context: CollectContext) -> None:
        self._column = only_column(context.table, "boxes", "BoxCollector", self.boxes)
        if self._column is None:
            raise RunError(f"{context.table.name} has no boxes column; pass boxes='<column>'.")
        self._value_map = context.table.schema[self._column].value_map
        self._tp = self._fp = self._fn = 0
        self._ap = AveragePrecision(self.max_dets)
        schema = context.table.schema
        self._crowd = self.crowd or ("iscrowd" if "iscrowd" in schema else None)
        if self._crowd is not None:
            schema[self._crowd]  # raises naming the columns there are

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        assert self._column is not None
        predictions = select_predictions(outputs, self.outputs)
        truths = batch.column(self._column)
        crowds = batch.column(self._crowd) if self._crowd else [None] * len(batch)
        if len(predictions) != len(batch):
            raise RunError(
                f"{len(predictions)} box predictions for a batch of {len(batch)} samples."
            )
        rows: list[list[dict[str, Any]]] = []
        tps, fps, fns = (np.zeros(len(batch), np.int32) for _ in range(3))
        for i, (pred, truth, crowd) in enumerate(zip(predictions, truths, crowds, strict=True)):
            p_boxes = (
                to_numpy(pred.get("boxes", np.zeros((0, 4)))).reshape(-1, 4).astype(np.float32)
            )
            p_labels = (
                to_numpy(pred.get("labels", np.zeros(len(p_boxes)))).reshape(-1).astype(np.int32)
            )
            p_scores = (
                to_numpy(pred.get("scores", np.ones(len(p_boxes)))).reshape(-1).astype(np.float32)
            )
            keep = p_scores >= self.score_threshold
            p_boxes, p_labels, p_scores = p_boxes[keep], p_labels[keep], p_scores[keep]
            truth = truth or []
            g_boxes = np.array([[b["x0"], b["y0"], b["x1"], b["y1"]] for b in truth], np.float32)
            g_boxes = g_boxes.reshape(-1, 4)
            g_labels = np.array([b["label"] for b in truth], np.int32)
            g_crowd = np.zeros(len(truth), bool)
            if crowd:
                g_crowd[: len(crowd)] = np.asarray(crowd[: len(truth)], bool)
            real = ~g_crowd
            tp, missed = match_boxes(
                p_boxes, p_labels, p_scores, g_boxes[real], g_labels[real], self.iou_threshold
            )
            ious = box_iou_coco(p_boxes, g_boxes, g_crowd)
            same = p_labels[:, None] == g_labels[None, :]
            on_crowd = (np.where(same & g_crowd[None, :], ious, 0.0) >= self.iou_threshold).any(1)
            best = np.where(same & real[None, :], ious, 0.0).max(1) if real.any() else np.zeros(
                len(p_boxes)
            )  # fmt: skip
            self._ap.add(ious, p_labels, p_scores, g_labels, g_crowd)
            fp = ~tp & ~on_crowd
            tps[i], fps[i], fns[i] = int(tp.sum()), int(fp.sum()), missed
            rows.append(
                [
                    {
                        "x0": float(b[0]),
                        "y0": float(b[1]),
                        "x1": float(b[2]),
                        "y1": float(b[3]),
                        "label": int(lab),
                        "score": float(s),
                        "tp": bool(t),
                        "iou": float(o),
                    }
                    for b, lab, s, t, o in zip(p_boxes, p_labels, p_scores, tp, best, strict=True)
                ]
            )
        self._tp += int(tps.sum())
        self._fp += int(fps.sum())
        self._fn += int(fns.sum())
        return {
            self.name: pa.array(rows, type=pa.list_(PRED_BOX_TYPE)),
            "box_tp": tps,
            "box_fp": fps,
            "box_fn": fns,
        }

    def specs(self) -> dict[str, MetricSpec]:
        extra = {"target": self._column} if self._column else {}
        return {
            self.name: MetricSpec("boxes", self._value_map, extra),
            "box_tp": MetricSpec("number"),
            "box_fp": MetricSpec("number"),
            "box_fn": MetricSpec("number"),
        }

    def aggregates(self) -> dict[str, float]:
        out = {}
        if self._tp + self._fp:
            out["box_precision"] = self._tp / (self._tp + self._fp)
        if self._tp + self._fn:
            out["box_recall"] = self._tp / (self._tp + self._fn)
        names = {k: v["name"] for k, v in (self._value_map or {}).items()}
        out.update(self._ap.summary(names, "box"))
        return out


def select_predictions(
    outputs: Any, selector: Callable[[Any], Any] | None
) -> list[Mapping[str, Any]]:
    found = selector(outputs) if selector is not None else outputs
    if isinstance(found, Mapping):
        found = [found]
    if not isinstance(found, Sequence) or not all(isinstance(p, Mapping) for p in found):
        raise RunError(
            "BoxCollector expects one {'boxes', 'labels', 'scores'} mapping per sample; pass "
            "outputs=lambda out: ... to pick them from the model's outputs."
        )
    return list(found)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: (N, 4) × (M, 4) → (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0).astype(np.float32)


def match_boxes(
    boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
    truth: np.ndarray, truth_labels: np.ndarray, threshold: float,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """Greedy matching by descending score; returns per-prediction TP flags and the FN count."""
    tp = np.zeros(len(boxes), bool)
    if len(boxes) == 0 or len(truth) == 0:
        return tp, len(truth)
    iou = box_iou(boxes, truth)
    iou[labels[:, None] != truth_labels[None, :]] = -1.0
    taken = np.zeros(len(truth), bool)
    for p in np.argsort(-scores, kind="stable"):
        candidates = np.where(taken, -1.0, iou[p])
        g = int(np.argmax(candidates))
        if candidates[g] >= threshold:
            tp[p] = True
            taken[g] = True
    return tp, int((~taken).sum())
