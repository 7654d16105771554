"""BoxCollector: predicted boxes matched to the labelled ones, true and false positives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch
from torch import nn

import tercet
from tercet.runs import metrics as metrics_mod
from tercet.runs.collectors import box_iou, match_boxes
from tercet.schema import BOXES_TYPE


def test_box_iou_and_greedy_matching() -> None:
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    b = np.array([[0, 0, 10, 5]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[0.5], [0.0]])
    truth = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], np.float32)
    tp, missed = match_boxes(
        boxes, np.array([1, 1, 2]), np.array([0.6, 0.9, 0.5]), truth, np.array([1, 1]), 0.5
    )
    assert tp.tolist() == [False, True, False]  # the higher score takes the box; wrong label
    assert missed == 1


class FakeDetector(nn.Module):
    """Predicts each sample's ground-truth boxes shifted by its ``shift`` input."""

    def forward(self, batch: dict[str, Any]) -> list[dict[str, torch.Tensor]]:
        out = []
        for boxes, shift in zip(batch["boxes"], batch["shift"], strict=True):
            out.append(
                {"boxes": boxes[:, :4] + shift, "labels": boxes[:, 4].long(),
                 "scores": torch.full((len(boxes),), 0.9)}
            )  # fmt: skip
        return out


def detection_sample(row: dict[str, Any]) -> dict[str, Any]:
    boxes = torch.tensor(
        [[b["x0"], b["y0"], b["x1"], b["y1"], b["label"]] for b in row["boxes"]],
        dtype=torch.float32,
    ).reshape(-1, 5)
    return {"boxes": boxes, "shift": float(row["shift"])}


def test_box_collector_counts_true_and_false_positives() -> None:
    box = {"x0": 0.0, "y0": 0.0, "x1": 10.0, "y1": 10.0, "label": 1}
    table = tercet.Table.create(
        pa.table({"boxes": pa.array([[box], [box, {**box, "x0": 20.0, "x1": 30.0}], []],
                                    type=BOXES_TYPE),
                  "shift": pa.array([0.0, 8.0, 0.0])}),
        "p", "d", "det", value_maps=None,
    )  # fmt: skip
    run = tercet.init(project="p")
    result = tercet.collect_metrics(
        table.map(detection_sample), [tercet.BoxCollector(iou_threshold=0.5)], FakeDetector(),
        inputs=lambda b: b, collate_fn=lambda items: {
            "boxes": [i["boxes"] for i in items], "shift": [i["shift"] for i in items]},
    )  # fmt: skip
    metrics = run.metrics("det", epoch=0)
    assert metrics.column("box_tp").to_pylist() == [1, 0, 0]
    assert metrics.column("box_fp").to_pylist() == [0, 2, 0]
    assert metrics.column("box_fn").to_pylist() == [0, 2, 0]
    first = metrics.column("pred_boxes")[0].as_py()
    assert first == [{"x0": 0.0, "y0": 0.0, "x1": 10.0, "y1": 10.0, "label": 1,
                      "score": pytest.approx(0.9), "tp": True, "iou": 1.0}]  # fmt: skip
    # One of 3 ground-truth boxes found first, at every IoU threshold: precision 1 up to recall
    # 1/3, i.e. at 34 of COCO's 101 recall points.
    ap = pytest.approx(34 / 101)
    assert result["aggregates"] == {
        "box_precision": pytest.approx(1 / 3), "box_recall": 1 / 3,
        "box_map": ap, "box_map50": ap, "box_map75": ap, "box_ap/1": ap,
    }  # fmt: skip
    run.wait()
    roles = {c["name"]: c["role"] for c in metrics_mod.read_header(result["url"])["columns"]}
    assert roles["pred_boxes"] == "boxes"
