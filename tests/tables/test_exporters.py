"""Tables out: COCO and YOLO round trips with edits, CSV/JSON Lines/Parquet, and refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import tercet
from tercet.errors import ExportError
from tercet.tables.table import Table

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats"


@pytest.fixture
def coco_table() -> Table:
    return Table.from_coco(str(FIXTURES / "coco/annotations.json"), str(FIXTURES / "coco/images"),
                           project="p", dataset="coco", name="train")  # fmt: skip


def _by_id(t: Table) -> dict[int, dict[str, Any]]:
    return {r["coco_id"]: r for r in t.rows}


def test_coco_round_trip_carries_exactly_the_edits(coco_table: Table, tmp_path: Path) -> None:
    coco_mod = pytest.importorskip("pycocotools.coco")
    rows = _by_id(coco_table)
    first = rows[1]
    with coco_table.edit("drop the car of image 1, relabel; image 2 out; image 5 weight 0") as e:
        eid = first["example_id"]
        e.set_values("boxes", [eid], [[{**first["boxes"][0], "label": 3}]])
        e.set_values("iscrowd", [eid], [first["iscrowd"][:1]])
        e.set_values("masks", [eid], [first["masks"][:1]])
        e.set_values("keypoints", [eid], [first["keypoints"][:1]])
        e.delete_rows([rows[2]["example_id"]])
        e.set_weights([rows[5]["example_id"]], [0.0])
    # The original revision is exported as its latest: the edits above.
    out = coco_table.export(str(tmp_path / "out" / "ann.json"))
    coco = coco_mod.COCO(out)
    assert sorted(coco.getImgIds()) == [1]
    assert coco.loadImgs(1)[0]["file_name"] == str(FIXTURES / "coco/images/0.png")
    (ann,) = coco.loadAnns(coco.getAnnIds())
    assert ann["category_id"] == 3 and ann["bbox"] == [4.0, 5.0, 10.0, 12.0]
    assert ann["segmentation"] == [[4.0, 5.0, 14.0, 5.0, 14.0, 17.0, 4.0, 17.0]]
    assert ann["keypoints"] == [8, 7, 2, 6, 6, 2, 10, 6, 1] and ann["num_keypoints"] == 3
    assert ann["iscrowd"] == 0 and ann["area"] == 120.0
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == {1: "person", 3: "car"}
    # Asked for, the weight-0 row comes back.
    everything = coco_table.export(str(tmp_path / "all.json"), weight_threshold=None)
    assert sorted(coco_mod.COCO(everything).getImgIds()) == [1, 5]


def test_coco_unedited_round_trip_keeps_every_annotation(coco_table: Table, tmp_path: Path) -> None:
    coco_mod = pytest.importorskip("pycocotools.coco")
    source = coco_mod.COCO(str(FIXTURES / "coco/annotations.json"))
    out = coco_mod.COCO(coco_table.export(str(tmp_path / "a.json"), images="relative"))
    relative = os.path.relpath(FIXTURES / "coco/images/0.png", tmp_path)
    assert out.loadImgs(1)[0]["file_name"] == relative

    def key(a: dict[str, Any]) -> tuple[Any, ...]:
        return (a["image_id"], a["category_id"], tuple(a["bbox"]), a["iscrowd"],
                tuple(a.get("keypoints") or ()))  # fmt: skip

    assert sorted(map(key, out.loadAnns(out.getAnnIds()))) == sorted(
        map(key, source.loadAnns(source.getAnnIds()))
    )
    # Masks (polygons and RLE, the crowd's included) cover the same pixels.
    for img in source.getImgIds():
        for a, b in zip(
            sorted(source.loadAnns(source.getAnnIds(imgIds=img)), key=key),
            sorted(out.loadAnns(out.getAnnIds(imgIds=img)), key=key),
            strict=True,
        ):
            assert (source.annToMask(a) == out.annToMask(b)).all()


@pytest.mark.parametrize("task", ["detect", "segment", "pose", "obb"])
def test_yolo_round_trip_reads_back_equal(task: str, tmp_path: Path) -> None:
    data = str(FIXTURES / "yolo" / task / "data.yaml")
    hint = "obb" if task == "obb" else None
    tables = {
        s: Table.from_yolo(data, s, hint, project="p", dataset=task) for s in ("train", "val")
    }
    train = tables["train"]
    first = train.rows[0]
    edited = train.delete_rows([train.rows[1]["example_id"]])
    if task == "detect":
        edited = edited.set_values("boxes", [first["example_id"]], [first["boxes"][:1]])
    out = tmp_path / "export"
    for t in tables.values():
        t.export(str(out))
    assert sorted(p.name for p in (out / "images" / "train").iterdir()) == ["im0.png"]
    assert sorted(p.name for p in (out / "labels" / "train").iterdir()) == ["im0.txt"]
    assert sorted(p.name for p in (out / "labels" / "val").iterdir()) == ["im2.txt"]
    doc = tercet.yamlsafe.load((out / "data.yaml").read_text(), "data.yaml")
    assert doc["train"] == "images/train" and doc["val"] == "images/val"
    assert doc["path"] == str(out)
    for split, t in (("train", edited), ("val", tables["val"])):
        back = Table.from_yolo(str(out / "data.yaml"), split, hint, project="p", dataset=f"b{task}")
        a, b = t.to_pandas(), back.to_pandas()
        cols = [c for c in a.columns if c not in ("example_id", "image")]
        assert list(b.columns) == list(a.columns)
        assert _close(a[cols].to_dict("records"), b[cols].to_dict("records"))
        assert [Path(u).name for u in b["image"]] == [Path(u).name for u in a["image"]]


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if hasattr(a, "tolist"):
        a = a.tolist()
    if hasattr(b, "tolist"):
        b = b.tolist()
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) < 1e-3
    return bool(a == b)


def test_tabular_exports_name_labels_and_place_images(tmp_path: Path) -> None:
    t = Table.from_yolo(str(FIXTURES / "yolo/detect/data.yaml"), project="p", dataset="d")
    t.export(str(tmp_path / "rows.csv"))
    csv_text = (tmp_path / "rows.csv").read_text()
    assert '"label": "person"' in csv_text.replace('""', '"')
    t.export(str(tmp_path / "rows.jsonl"), images="relative")
    first = json.loads((tmp_path / "rows.jsonl").read_text().splitlines()[0])
    assert first["boxes"][1]["label"] == "car"
    assert (tmp_path / first["image"]).resolve() == FIXTURES / "yolo/detect/images/train/im0.png"
    t.export(str(tmp_path / "pq" / "rows.parquet"), images="copy")
    table = pq.read_table(tmp_path / "pq" / "rows.parquet")
    assert table.column("image").to_pylist() == ["images/im0.png", "images/im1.png"]
    assert (tmp_path / "pq" / "images" / "im1.png").exists()


def test_label_column_is_written_by_name(tmp_path: Path) -> None:
    t = tercet.Table.create({"label": [0, 1, 1]}, project="p", dataset="d", name="t",
                            value_maps={"label": ["cat", "dog"]})  # fmt: skip
    t.export(str(tmp_path / "t.parquet"))
    df = pq.read_table(tmp_path / "t.parquet").to_pandas()
    assert df["label"].tolist() == ["cat", "dog", "dog"] and df["label"].dtype == "category"


def test_bad_exports_are_refused_and_write_nothing(coco_table: Table, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="Unknown export format 'voc'; formats: coco, yolo"):
        coco_table.export(str(out / "a.xml"), format="voc")
    with pytest.raises(ExportError, match="images must be one of reference, copy, relative"):
        coco_table.export(str(out / "a.json"), images="link")
    with pytest.raises(ExportError, match="use images='copy'"):
        coco_table.export(str(out), format="yolo", images="reference")
    row = coco_table.rows[0]
    skewed = coco_table.set_values("iscrowd", [row["example_id"]], [[False]])
    with pytest.raises(ExportError, match=r"example_id=0: column 'iscrowd' has 1 entries for 2"):
        skewed.export(str(out / "a.json"), images="copy")
    assert not out.exists()
    coco_table.export(str(out / "a.json"), latest=False)
    with pytest.raises(ExportError, match="already exists; pass overwrite=True"):
        coco_table.export(str(out / "a.json"), latest=False)
    coco_table.export(str(out / "a.json"), latest=False, overwrite=True)
