"""Box and mask mAP from the collectors against pycocotools' COCOeval on the same predictions."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tercet
from tercet.tables.table import Table

pytest.importorskip("pycocotools")
from pycocotools import mask as mask_utils  # type: ignore[import-untyped]
from pycocotools.coco import COCO  # type: ignore[import-untyped]
from pycocotools.cocoeval import COCOeval  # type: ignore[import-untyped]

H, W = 48, 64


def _scene(seed: int = 3) -> tuple[dict[str, Any], dict[int, list[dict[str, Any]]]]:
    """A COCO file (rectangles as polygons, one RLE, crowd regions) and predictions per image:
    jittered copies of most objects, some misclassified, plus spurious ones."""
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    preds: dict[int, list[dict[str, Any]]] = {}
    for img in range(1, 9):
        images.append({"id": img, "file_name": f"{img}.png", "width": W, "height": H})
        preds[img] = []
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(0, W - 20), rng.uniform(0, H - 16)
            w, h = rng.uniform(6, 20), rng.uniform(5, 16)
            cat = int(rng.integers(1, 3))
            crowd = int(rng.random() < 0.12)
            poly = [x, y, x + w, y, x + w, y + h, x, y + h]
            seg: Any = [poly]
            if crowd or rng.random() < 0.2:
                rle = mask_utils.merge(mask_utils.frPyObjects([poly], H, W))
                seg = {"size": rle["size"], "counts": rle["counts"].decode()}
            anns.append({"id": len(anns) + 1, "image_id": img, "category_id": cat,
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": crowd,
                         "segmentation": seg})  # fmt: skip
            if rng.random() < 0.85:
                dx, dy = rng.normal(0, 0.8, 2)
                pcat = cat if rng.random() < 0.85 else 3 - cat
                preds[img].append(_pred(x + dx, y + dy, w * rng.uniform(0.9, 1.1),
                                        h * rng.uniform(0.9, 1.1), pcat, rng))  # fmt: skip
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, W - 10), rng.uniform(0, H - 10)
            preds[img].append(_pred(x, y, rng.uniform(4, 10), rng.uniform(4, 10),
                                    int(rng.integers(1, 3)), rng))  # fmt: skip
    cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    return {"images": images, "annotations": anns, "categories": cats}, preds


def _pred(x: float, y: float, w: float, h: float, cat: int, rng: Any) -> dict[str, Any]:
    x, y = max(0.0, x), max(0.0, y)
    w, h = min(w, W - x), min(h, H - y)
    mask = np.zeros((H, W), np.uint8)
    mask[round(y) : round(y + h), round(x) : round(x + w)] = 1
    return {"bbox": [x, y, w, h], "category_id": cat, "score": float(rng.uniform(0.05, 1.0)),
            "mask": mask}  # fmt: skip


class Replay:
    """A "model" that returns the stored predictions of each sample's COCO image id."""

    def __init__(self, preds: dict[int, list[dict[str, Any]]]) -> None:
        self.preds = preds

    def __call__(self, ids: list[int]) -> list[dict[str, Any]]:
        out = []
        for i in ids:
            p = self.preds[i]
            out.append({
                "boxes": np.array([[d["bbox"][0], d["bbox"][1], d["bbox"][0] + d["bbox"][2],
                                    d["bbox"][1] + d["bbox"][3]] for d in p]).reshape(-1, 4),
                "labels": np.array([d["category_id"] for d in p]),
                "scores": np.array([d["score"] for d in p]),
                "masks": [d["mask"] for d in p],
            })  # fmt: skip
        return out


def coco_id(row: dict[str, Any]) -> int:
    return int(row["coco_id"])


def _cocoeval(gt: COCO, dets: list[dict[str, Any]], kind: str) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(dets), kind)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def test_box_and_mask_map_equal_cocoeval(tmp_path: Path) -> None:
    doc, preds = _scene()
    (tmp_path / "gt.json").write_text(json.dumps(doc))
    table = Table.from_coco(str(tmp_path / "gt.json"), str(tmp_path), project="p", dataset="d",
                            name="gt")  # fmt: skip
    tercet.init(project="p")
    result = tercet.collect_metrics(
        table.map(coco_id, columns=["coco_id"]),
        [tercet.BoxCollector(), tercet.MaskCollector()], Replay(preds),
        inputs=lambda b: b, collate_fn=list, batch_size=3,
    )  # fmt: skip
    got = result["aggregates"]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "gt.json"))
    dets = [{**{k: v for k, v in d.items() if k != "mask"}, "image_id": img}
            for img, ds in preds.items() for d in ds]  # fmt: skip
    segm = [{"segmentation": {**(r := mask_utils.encode(np.asfortranarray(d["mask"]))),
                              "counts": r["counts"].decode()},
             "category_id": d["category_id"], "score": d["score"], "image_id": img}
            for img, ds in preds.items() for d in ds]  # fmt: skip
    for prefix, ev in (("box", _cocoeval(gt, dets, "bbox")), ("mask", _cocoeval(gt, segm, "segm"))):
        assert 0.05 < ev.stats[0] < 0.95  # a scene where AP says something
        assert got[f"{prefix}_map"] == pytest.approx(ev.stats[0], abs=1e-9)
        assert got[f"{prefix}_map50"] == pytest.approx(ev.stats[1], abs=1e-9)
        assert got[f"{prefix}_map75"] == pytest.approx(ev.stats[2], abs=1e-9)
        for k, name in enumerate(("cat", "dog")):
            p = ev.eval["precision"][:, :, k, 0, 2]
            assert got[f"{prefix}_ap/{name}"] == pytest.approx(p[p > -1].mean(), abs=1e-9)
