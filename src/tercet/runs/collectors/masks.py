"""Instance segmentation: predicted masks matched to the labelled ones by mask IoU."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from tercet.dependencies import require
from tercet.errors import RunError
from tercet.runs.collectors.average_precision import AveragePrecision, mask_iou_coco
from tercet.runs.collectors.base import Batch, CollectContext, Collector, only_column, to_numpy
from tercet.runs.collectors.boxes import select_predictions
from tercet.runs.metrics import MetricSpec
from tercet.schema import ValueMap

PRED_MASK_TYPE = pa.struct(
    [("size", pa.list_(pa.int32())), ("counts", pa.string()), ("label", pa.int32()),
     ("score", pa.float32()), ("tp", pa.bool_()), ("iou", pa.float32())]
)  # fmt: skip


def to_rle(mask: Any, height: int, width: int) -> dict[str, Any]:
    """A stored instance mask (RLE or polygons) or a predicted one (H×W array, or RLE) as a
    compressed COCO RLE."""
    mask_utils = require("pycocotools.mask", "Mask metrics")
    if isinstance(mask, Mapping):
        if mask.get("counts") is not None:
            counts = mask["counts"]
            return {"size": list(mask["size"]),
                    "counts": counts.encode() if isinstance(counts, str) else counts}  # fmt: skip
        polygons = [list(map(float, p)) for p in mask.get("polygons") or []]
        if not polygons:
            return mask_utils.encode(np.zeros((height, width), np.uint8, order="F"))  # type: ignore[no-any-return]
        return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))  # type: ignore[no-any-return]
    arr = np.asarray(to_numpy(mask))
    binary = (arr > 0.5) if arr.dtype.kind == "f" else arr.astype(bool)
    return mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))  # type: ignore[no-any-return]


class MaskCollector(Collector):
    """Predicted instance masks, matched against the labelled ones (TP/FP/FN per sample).

    The model (or ``outputs``) gives one mapping per sample with ``masks`` (N×H×W, probabilities
    or 0/1, or COCO RLEs), ``labels`` and ``scores``, as torchvision's Mask R-CNN does. Ground
    truth is the table's ``instance_masks`` column, its classes the labels of the ``boxes``
    column it is aligned with, crowd regions from ``iscrowd``.

    Writes ``pred_masks`` (RLE, label, score, tp, iou) and ``mask_tp``/``mask_fp``/``mask_fn``;
    logs ``mask_precision``, ``mask_recall``, ``mask_map``, ``mask_map50``, ``mask_map75`` and
    ``mask_ap/<class>`` computed as pycocotools' ``COCOeval(iouType="segm")`` does.
    """

    def __init__(
        self,
        masks: str | None = None,
        *,
        boxes: str | None = None,
        crowd: str | None = None,
        iou_threshold: float = 0.5,
        score_threshold: float = 0.0,
        outputs: Callable[[Any], Any] | None = None,
        name: str = "pred_masks",
        max_dets: int = 100,
    ) -> None:
        self.masks, self.boxes, self.crowd = masks, boxes, crowd
        self.iou_threshold = iou_threshold
        self.score_threshold = score_threshold
        self.outputs = outputs
        self.name = name
        self.max_dets = max_dets
        self._cols: tuple[str, str, str | None] | None = None
        self._value_map: ValueMap | None = None
        self._ap = AveragePrecision(max_dets)
        self._tp = self._fp = self._fn = 0
        self._size: tuple[str, str] | None = None

    def start(self, context: CollectContext) -> None:
        schema = context.table.schema
        masks = only_column(context.table, "instance_masks", "MaskCollector", self.masks)
        if masks is None:
            raise RunError(f"{context.table.name} has no instance_masks column; pass masks=.")
        boxes = self.boxes or schema[masks].extra.get("aligned_with") or only_column(
            context.table, "boxes", "MaskCollector", None
        )  # fmt: skip
        if boxes is None:
            raise RunError("MaskCollector needs the boxes column that gives each mask's class.")
        crowd = self.crowd or ("iscrowd" if "iscrowd" in schema else None)
        self._cols = (masks, str(boxes), crowd)
        self._value_map = schema[str(boxes)].value_map
        self._ap = AveragePrecision(self.max_dets)
        self._tp = self._fp = self._fn = 0
        self._size = ("height", "width") if {"height", "width"} <= set(schema.names) else None

    def collect(self, batch: Batch, outputs: Any) -> Mapping[str, Any]:
        assert self._cols is not None
        masks_col, boxes_col, crowd_col = self._cols
        preds = select_predictions(outputs, self.outputs)
        if len(preds) != len(batch):
            raise RunError(f"{len(preds)} mask predictions for a batch of {len(batch)} samples.")
        gts, boxes = batch.column(masks_col), batch.column(boxes_col)
        crowds = batch.column(crowd_col) if crowd_col else [None] * len(batch)
        sizes = (
            list(zip(batch.column(self._size[0]), batch.column(self._size[1]), strict=True))
            if self._size else [None] * len(batch)
        )  # fmt: skip
        rows: list[list[dict[str, Any]]] = []
        counts = np.zeros((3, len(batch)), np.int32)
        for i, pred in enumerate(preds):
            p_masks = pred.get("masks")
            p_masks = [] if p_masks is None else list(p_masks)
            n = len(p_masks)
            p_labels = to_numpy(pred.get("labels", np.zeros(n))).reshape(-1).astype(np.int32)
            p_scores = to_numpy(pred.get("scores", np.ones(n))).reshape(-1).astype(np.float64)
            shape = sizes[i]
            h, w = (int(shape[0]), int(shape[1])) if shape else (0, 0)
            if not shape and n:
                h, w = np.asarray(to_numpy(p_masks[0])).shape[-2:]
            d_rle = [to_rle(m.squeeze(0) if hasattr(m, "squeeze") and getattr(m, "ndim", 0) == 3
                            else m, h, w) for m in p_masks]  # fmt: skip
            keep = [k for k in range(n) if p_scores[k] >= self.score_threshold]
            d_rle = [d_rle[k] for k in keep]
            p_labels, p_scores = p_labels[keep], p_scores[keep]
            truth = boxes[i] or []
            g_rle = [to_rle(m, h, w) for m in (gts[i] or [])]
            g_labels = np.array([b["label"] for b in truth], np.int32)[: len(g_rle)]
            g_crowd = np.zeros(len(g_rle), bool)
            flags: Any = crowds[i]
            if flags:
                g_crowd[:] = np.array(list(flags)[: len(g_rle)], dtype=np.bool_)
            ious = mask_iou_coco(d_rle, g_rle, g_crowd)
            self._ap.add(ious, p_labels, p_scores, g_labels, g_crowd)
            same = p_labels[:, None] == g_labels[None, :]
            real = same & ~g_crowd[None, :]
            tp, taken = np.zeros(len(d_rle), bool), np.zeros(len(g_rle), bool)
            for d in np.argsort(-p_scores, kind="stable"):
                cand = np.where(real[d] & ~taken, ious[d], -1.0) if len(g_rle) else np.empty(0)
                if len(cand) and cand.max() >= self.iou_threshold:
                    tp[d], taken[int(cand.argmax())] = True, True
            on_crowd = (np.where(same & g_crowd[None, :], ious, 0) >= self.iou_threshold).any(1)
            best = np.where(real, ious, 0).max(1) if len(g_rle) else np.zeros(len(d_rle))
            counts[:, i] = (tp.sum(), (~tp & ~on_crowd).sum(), (~taken & ~g_crowd).sum())
            rows.append([
                {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode(),
                 "label": int(lab), "score": float(s), "tp": bool(t), "iou": float(o)}
                for r, lab, s, t, o in zip(d_rle, p_labels, p_scores, tp, best, strict=True)
            ])  # fmt: skip
        self._tp += int(counts[0].sum())
        self._fp += int(counts[1].sum())
        self._fn += int(counts[2].sum())
        return {
            self.name: pa.array(rows, type=pa.list_(PRED_MASK_TYPE)),
            "mask_tp": counts[0], "mask_fp": counts[1], "mask_fn": counts[2],
        }  # fmt: skip

    def specs(self) -> dict[str, MetricSpec]:
        extra = {"target": self._cols[0]} if self._cols else {}
        return {
            self.name: MetricSpec("instance_masks", self._value_map, extra),
            "mask_tp": MetricSpec("number"),
            "mask_fp": MetricSpec("number"),
            "mask_fn": MetricSpec("number"),
        }

    def aggregates(self) -> dict[str, float]:
        out = {}
        if self._tp + self._fp:
            out["mask_precision"] = self._tp / (self._tp + self._fp)
        if self._tp + self._fn:
            out["mask_recall"] = self._tp / (self._tp + self._fn)
        names = {k: v["name"] for k, v in (self._value_map or {}).items()}
        out.update(self._ap.summary(names, "mask"))
        return out
