"""Average precision as pycocotools' ``COCOeval`` computes it, accumulated sample by sample.

Per sample and category, detections are sorted by score (stable) and cut at ``max_dets``; at
each IoU threshold (0.50:0.05:0.95) each detection takes the best still-free ground truth
(crowd regions never get used up, and are tried only when no real object matches), a detection
matched to a crowd region is ignored, and so is a crowd region left unmatched. Precision is made
monotone and read at 101 recall points; AP is their mean over thresholds and recall points, mAP
the mean over categories that have ground truth. IoUs come from ``pycocotools.mask.iou``, so a
crowd region's IoU is the intersection over the detection's area, as in COCO.

Only the ``all`` area range is evaluated (no small/medium/large split).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def box_iou_coco(dets: np.ndarray, gts: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU (D × G) of xyxy boxes in float64; for a crowd region the intersection over the
    detection's area, as pycocotools computes it."""
    if len(dets) == 0 or len(gts) == 0:
        return np.zeros((len(dets), len(gts)))
    d, g = dets.astype(np.float64), gts.astype(np.float64)
    w = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0])
    h = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_d = ((d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1]))[:, None]
    area_g = ((g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]))[None, :]
    union = np.where(crowd[None, :].astype(bool), area_d, area_d + area_g - inter)
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def mask_iou_coco(dets: list[dict[str, Any]], gts: list[dict[str, Any]],
                  crowd: np.ndarray) -> np.ndarray:  # fmt: skip
    """IoU (D × G) of COCO RLE masks (pycocotools), crowd regions as COCO scores them."""
    from tercet.dependencies import require

    mask_utils = require("pycocotools.mask", "Mask metrics")
    if len(dets) == 0 or len(gts) == 0:
        return np.zeros((len(dets), len(gts)))
    return np.asarray(mask_utils.iou(dets, gts, [int(c) for c in crowd]), np.float64)


@dataclass
class _Category:
    scores: list[np.ndarray] = field(default_factory=list)
    matched: list[np.ndarray] = field(default_factory=list)  # T × D each
    ignored: list[np.ndarray] = field(default_factory=list)
    positives: int = 0


class AveragePrecision:
    """Collects per-sample matches; :meth:`summary` gives per-category AP and mAP."""

    def __init__(self, max_dets: int = 100) -> None:
        self.max_dets = max_dets
        self._cats: dict[int, _Category] = {}

    def add(self, ious: np.ndarray, det_labels: np.ndarray, scores: np.ndarray,
            gt_labels: np.ndarray, crowd: np.ndarray) -> None:  # fmt: skip
        """One sample: ``ious`` between all its detections and ground truths."""
        for c in np.union1d(det_labels, gt_labels).tolist():
            d_idx = np.flatnonzero(det_labels == c)
            d_idx = d_idx[np.argsort(-scores[d_idx], kind="mergesort")][: self.max_dets]
            g_idx = np.flatnonzero(gt_labels == c)
            g_idx = g_idx[np.argsort(crowd[g_idx], kind="mergesort")]  # crowd last
            g_ig = crowd[g_idx].astype(bool)
            sub = ious[np.ix_(d_idx, g_idx)] if len(d_idx) and len(g_idx) else np.zeros(
                (len(d_idx), len(g_idx))
            )  # fmt: skip
            t_n = len(IOU_THRESHOLDS)
            matched = np.zeros((t_n, len(d_idx)), bool)
            ignored = np.zeros((t_n, len(d_idx)), bool)
            for ti, t in enumerate(IOU_THRESHOLDS):
                taken = np.zeros(len(g_idx), bool)
                for di in range(len(d_idx)):
                    best, m = min(t, 1 - 1e-10), -1
                    for gi in range(len(g_idx)):
                        if taken[gi] and not g_ig[gi]:
                            continue
                        if m > -1 and not g_ig[m] and g_ig[gi]:
                            break
                        if sub[di, gi] < best:
                            continue
                        best, m = sub[di, gi], gi
                    if m == -1:
                        continue
                    ignored[ti, di] = g_ig[m]
                    matched[ti, di] = True
                    taken[m] = True
            cat = self._cats.setdefault(int(c), _Category())
            cat.scores.append(scores[d_idx])
            cat.matched.append(matched)
            cat.ignored.append(ignored)
            cat.positives += int((~g_ig).sum())

    def precision(self, category: int) -> np.ndarray | None:
        """Precision (thresholds × recall points) of one category; None without ground truth."""
        cat = self._cats.get(category)
        if cat is None or cat.positives == 0:
            return None
        scores = np.concatenate(cat.scores) if cat.scores else np.empty(0)
        order = np.argsort(-scores, kind="mergesort")
        matched = np.concatenate(cat.matched, axis=1)[:, order]
        ignored = np.concatenate(cat.ignored, axis=1)[:, order]
        tps = np.cumsum(matched & ~ignored, axis=1, dtype=np.float64)
        fps = np.cumsum(~matched & ~ignored, axis=1, dtype=np.float64)
        out = np.zeros((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
        for t in range(len(IOU_THRESHOLDS)):
            tp, fp = tps[t], fps[t]
            recall = tp / cat.positives
            prec = tp / (fp + tp + np.spacing(1))
            prec = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
            idx = np.searchsorted(recall, RECALL_POINTS, side="left")
            ok = idx < len(prec)
            out[t, ok] = prec[idx[ok]]
        return out

    def summary(
        self, names: Mapping[int, str] | None = None, prefix: str = "box"
    ) -> dict[str, float]:
        """``<prefix>_map`` (IoU .50:.95), ``_map50``, ``_map75`` and ``<prefix>_ap/<class>``."""
        out: dict[str, float] = {}
        per: list[np.ndarray] = []
        for c in sorted(self._cats):
            p = self.precision(c)
            if p is None:
                continue
            per.append(p)
            name = (names or {}).get(c, str(c))
            out[f"{prefix}_ap/{name}"] = float(p.mean())
        if per:
            stack = np.stack(per)
            out[f"{prefix}_map"] = float(stack.mean())
            out[f"{prefix}_map50"] = float(stack[:, 0].mean())
            out[f"{prefix}_map75"] = float(stack[:, 5].mean())
        return out
