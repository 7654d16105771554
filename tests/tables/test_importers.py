"""COCO, YOLO, Hugging Face and torch datasets in, from the committed fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tercet
from tercet.errors import FormatError, SchemaError
from tercet.tables.table import Table

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats"


@pytest.fixture
def fx() -> Path:
    tercet.aliases.set("FX", str(FIXTURES))
    return FIXTURES


def test_coco_keeps_polygons_rle_keypoints_and_crowd(fx: Path) -> None:
    t = Table.from_coco(str(fx / "coco/annotations.json"), str(fx / "coco/images"),
                        project="p", dataset="coco", name="train")  # fmt: skip
    roles = {c.name: c.role for c in t.schema}
    assert roles["masks"] == "instance_masks" and roles["keypoints"] == "keypoints"
    kp = t.schema["keypoints"].extra
    assert kp["names"] == ["nose", "left_eye", "right_eye"] and kp["skeleton"] == [[0, 1], [0, 2]]
    assert t.schema["boxes"].value_map is not None
    assert {k: v["name"] for k, v in t.schema["boxes"].value_map.items()} == {1: "person", 3: "car"}
    rows = {r["coco_id"]: r for r in t.rows}
    assert rows[1]["image"] == "<FX>/coco/images/0.png"
    assert [b["label"] for b in rows[1]["boxes"]] == [1, 3]
    assert rows[1]["boxes"][0] == {"x0": 4.0, "y0": 5.0, "x1": 14.0, "y1": 17.0, "label": 1}
    assert rows[1]["masks"][0]["polygons"] == [[4, 5, 14, 5, 14, 17, 4, 17]]
    assert rows[1]["masks"][1]["counts"] and rows[1]["masks"][1]["size"] == [30, 40]
    assert rows[1]["keypoints"][0] == [8, 7, 2, 6, 6, 2, 10, 6, 1] and rows[1]["keypoints"][1] == []
    assert rows[2]["iscrowd"] == [True, False]
    # The crowd region came as uncompressed RLE: stored compressed, the same pixels.
    mask_utils = pytest.importorskip("pycocotools.mask")
    crowd = mask_utils.decode({"size": [30, 40], "counts": rows[2]["masks"][0]["counts"].encode()})
    assert crowd.sum() == 400 and crowd[:10].all()
    assert rows[5]["boxes"] == [] and rows[5]["masks"] == []


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            '"image_id": 2,',
            '"image_id": 99,',
            r"annotations\[2\] \(id 12\) names image_id 99, which",
        ),
        ('"category_id": 3,', '"category_id": 7,', r"annotations\[1\] \(id 11\) has category_id 7"),
        ('"bbox": [4, 5, 10, 12]', '"bbox": [4, 5]', r"annotations\[0\] \(id 10\): bbox must be"),
        ("[[4, 5, 14, 5", '[["a", 5, 14, 5', r"annotations\[0\] \(id 10\): segmentation polygons"),
    ],
)
def test_bad_coco_annotation_is_refused_naming_it(fx: Path, tmp_path: Path, old: str, new: str,
                                                  match: str) -> None:  # fmt: skip
    text = (fx / "coco/annotations.json").read_text()
    compact = json.dumps(json.loads(text))
    assert old in compact
    (tmp_path / "bad.json").write_text(compact.replace(old, new, 1))
    with pytest.raises(FormatError, match="bad.json: " + match):
        Table.from_coco(str(tmp_path / "bad.json"), str(fx / "coco/images"), project="p",
                        dataset="coco", name="train")  # fmt: skip
    assert tercet.list_tables("p") == []


def _yolo(fx: Path, task: str, split: str = "train") -> Table:
    hint = "obb" if task == "obb" else None
    return Table.from_yolo(str(fx / "yolo" / task / "data.yaml"), split, hint, project="p",
                           dataset=task)  # fmt: skip


def test_yolo_detect_boxes_in_pixels(fx: Path) -> None:
    t = _yolo(fx, "detect")
    assert t.name == "train" and t.num_rows == 2
    first = t.rows[0]
    assert first["image"] == "<FX>/yolo/detect/images/train/im0.png"
    assert (first["width"], first["height"]) == (32, 24)
    assert first["boxes"] == [
        {"x0": 12.0, "y0": 6.0, "x1": 20.0, "y1": 18.0, "label": 0},
        {"x0": 6.0, "y0": 3.0, "x1": 10.0, "y1": 9.0, "label": 1},
    ]
    assert {k: v["name"] for k, v in (t.schema["boxes"].value_map or {}).items()} == {
        0: "person", 1: "car",
    }  # fmt: skip
    val = _yolo(fx, "detect", "val")
    assert val.rows[0]["boxes"] == []  # an empty label file: no objects


def test_yolo_segment_pose_and_obb(fx: Path) -> None:
    seg = _yolo(fx, "segment")
    row = seg.rows[1]
    assert row["masks"][0]["polygons"] == [[16.0, 3.0, 28.0, 21.0, 4.0, 21.0]]
    assert row["boxes"][0] == {"x0": 4.0, "y0": 3.0, "x1": 28.0, "y1": 21.0, "label": 1}
    assert _yolo(fx, "segment", "val").rows[0]["masks"] == []  # no label file at all
    pose = _yolo(fx, "pose")
    assert pose.schema["keypoints"].extra["kpt_shape"] == [3, 3]
    assert pose.schema["keypoints"].extra["flip_idx"] == [1, 0, 2]
    assert pose.rows[0]["keypoints"] == [[12.0, 9.0, 2.0, 20.0, 9.0, 2.0, 16.0, 15.0, 1.0]]
    obb = _yolo(fx, "obb")
    assert obb.schema["obb"].role == "oriented_boxes"
    o = obb.rows[0]["obb"][0]
    assert [o[f"{a}{i}"] for i in range(4) for a in "xy"] == [8, 3, 24, 6, 20, 18, 4, 15]


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("0 0.5 0.5 0.2\n", r"im0.txt:2: 4 values; a detect line has 5 values"),
        ("7 0.5 0.5 0.2 0.2\n", r"im0.txt:2: class 7 is not in names"),
        ("0 0.5 half 0.2 0.2\n", r"im0.txt:2: 'half' is not a number"),
    ],
)
def test_yolo_bad_label_line_names_file_and_line(fx: Path, tmp_path: Path, line: str,
                                                 match: str) -> None:  # fmt: skip
    shutil.copytree(fx / "yolo/detect", tmp_path / "ds")
    (tmp_path / "ds/labels/train/im0.txt").write_text("0 0.5 0.5 0.2 0.2\n" + line)
    with pytest.raises(FormatError, match=match):
        Table.from_yolo(str(tmp_path / "ds/data.yaml"), project="p", dataset="d")
    assert tercet.list_tables("p") == []


def test_yolo_malformed_data_yaml_is_refused(fx: Path, tmp_path: Path) -> None:
    shutil.copytree(fx / "yolo/detect", tmp_path / "ds")
    yaml_path = tmp_path / "ds/data.yaml"
    yaml_path.write_text("path: .\ntrain: images/train\nnames: [a, b\n")
    with pytest.raises(FormatError, match=r"data.yaml.*invalid YAML"):
        Table.from_yolo(str(yaml_path), project="p", dataset="d")
    yaml_path.write_text("path: .\ntrain: images/train\nnames: 3\n")
    with pytest.raises(FormatError, match=r"data.yaml: 'names' must list the classes"):
        Table.from_yolo(str(yaml_path), project="p", dataset="d")
    yaml_path.write_text("path: .\nnames: [a]\n")
    with pytest.raises(FormatError, match=r"names no split"):
        Table.from_yolo(str(yaml_path), project="p", dataset="d")
    assert tercet.list_tables("p") == []


def test_hugging_face_from_save_to_disk_maps_features_to_roles(fx: Path) -> None:
    pytest.importorskip("datasets")
    t = Table.from_hugging_face(str(fx / "hf"), "train", project="p", dataset="hf")
    roles = {c.name: c.role for c in t.schema}
    assert roles["image"] == "image" and roles["label"] == "label"
    assert roles["objects"] == "boxes" and roles["caption"] == "text"
    names = {k: v["name"] for k, v in (t.schema["label"].value_map or {}).items()}
    assert names == {0: "cat", 1: "dog"}
    assert [v["name"] for v in (t.schema["objects"].value_map or {}).values()] == ["person", "car"]
    rows = t.rows
    assert rows[1]["objects"] == [
        {"x0": 0.0, "y0": 0.0, "x1": 8.0, "y1": 6.0, "label": 0},
        {"x0": 2.0, "y0": 2.0, "x1": 6.0, "y1": 6.0, "label": 1},
    ]
    assert rows[1]["tags"] == [0, 1]
    assert rows[0]["image"].startswith("../../files/train/")
    assert t[1]["image"].getpixel((0, 0)) == (0, 128, 0)
    # Re-importing writes no second copy of the images.
    files = sorted(Path(t.resolve_url(rows[0]["image"])).parent.iterdir())
    Table.from_hugging_face(str(fx / "hf"), "train", project="p", dataset="hf", name="again")
    assert sorted(Path(t.resolve_url(rows[0]["image"])).parent.iterdir()) == files
    with pytest.raises(FormatError, match="splits train, test"):
        Table.from_hugging_face(str(fx / "hf"), "validation", project="p", dataset="hf")


def test_hugging_face_by_name_goes_through_load_dataset_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that is not a ``save_to_disk`` folder is ``datasets.load_dataset``'s: here a local
    folder of Parquet files, read offline, its ClassLabel kept from the files' own features."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    ds = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]}, features)
    (tmp_path / "reviews" / "data").mkdir(parents=True)
    ds.to_parquet(str(tmp_path / "reviews" / "data" / "train-00000.parquet"))
    t = Table.from_hugging_face(str(tmp_path / "reviews"), "train", project="p", dataset="d")
    assert [(r["text"], r["label"]) for r in t.rows] == [("a", 0), ("b", 1), ("c", 0)]
    assert t.schema["label"].role == "label"
    assert {k: v["name"] for k, v in (t.schema["label"].value_map or {}).items()} == {
        0: "neg", 1: "pos",
    }  # fmt: skip


def test_hugging_face_dataset_object_with_image_paths_is_referenced(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    Image.new("RGB", (4, 4), "red").save(tmp_path / "a.png")
    ds = datasets.Dataset.from_dict({"img": [str(tmp_path / "a.png")]}).cast_column(
        "img", datasets.Image()
    )
    tercet.aliases.set("HERE", str(tmp_path))
    t = Table.from_hugging_face(ds, project="p", dataset="d", name="t")
    assert t.rows[0]["img"] == "<HERE>/a.png"


def test_torch_dataset_dict_samples_with_pil_images_and_renames() -> None:
    class Samples:
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> dict[str, object]:
            return {"pixels": Image.new("L", (3, 2), 40 * i), "target": i % 2,
                    "score": np.float32(i / 2)}  # fmt: skip

    t = Table.from_torch_dataset(
        Samples(), project="p", dataset="d", name="s", columns={"pixels": "image", "target": "y"},
        roles={"y": "label"}, class_names=["even", "odd"],
    )  # fmt: skip
    assert t.schema["image"].role == "image" and t.schema["y"].role == "label"
    assert [v["name"] for v in (t.schema["y"].value_map or {}).values()] == ["even", "odd"]
    assert t.rows[2]["y"] == 0 and t.rows[2]["score"] == 1.0
    assert t[2]["image"].getpixel((0, 0)) == 80


def test_torch_dataset_tuple_parts_named_by_columns() -> None:
    class Triples:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> tuple[object, int, str]:
            return Image.new("RGB", (2, 2)), i, f"s{i}"

    t = Table.from_torch_dataset(Triples(), project="p", dataset="d", name="t",
                                 columns=["image", "label", "source"])  # fmt: skip
    assert [r["source"] for r in t.rows] == ["s0", "s1"]
    with pytest.raises(SchemaError, match="Sample 0 has 3 parts but columns= names 2"):
        Table.from_torch_dataset(Triples(), project="p", dataset="d", name="u")
    assert [x.name for x in tercet.list_tables("p")] == ["t"]


def test_hugging_face_label_image_becomes_a_semantic_mask(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    for name, value in (("a.png", 10), ("a_mask.png", 1)):
        Image.new("L", (4, 4), value).save(tmp_path / name)
    ds = (
        datasets.Dataset.from_dict(
            {"image": [str(tmp_path / "a.png")], "annotation": [str(tmp_path / "a_mask.png")]}
        )
        .cast_column("image", datasets.Image())
        .cast_column("annotation", datasets.Image())
    )
    t = Table.from_hugging_face(ds, project="p", dataset="d", name="seg")
    assert t.schema["image"].role == "image"
    assert t.schema["annotation"].role == "semantic_mask"
    assert t.rows[0]["annotation"] == str(tmp_path / "a_mask.png")
