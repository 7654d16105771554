from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import tercet
from tercet.errors import CorruptObjectError, ObjectNotFoundError


def test_from_parquet_streams_batches(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"x": np.arange(300_000), "y": np.ones(300_000)}), path)
    t = tercet.Table.from_parquet(str(path), project="p", dataset="d", name="t")
    arrow = t.to_arrow()
    assert arrow.num_rows == 300_000
    assert arrow.column("example_id").to_pylist()[-3:] == [299_997, 299_998, 299_999]


def test_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("name,score\na,1.5\nb,2.5\n")
    t = tercet.Table.from_csv(str(path), project="p", dataset="d", name="t")
    assert t.to_pandas()[["name", "score"]].values.tolist() == [["a", 1.5], ["b", 2.5]]


def test_from_csv_errors_say_where(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError):
        tercet.Table.from_csv(str(tmp_path / "missing.csv"), project="p", dataset="d", name="t")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3\n")
    with pytest.raises(CorruptObjectError, match="bad.csv: cannot parse as CSV"):
        tercet.Table.from_csv(str(bad), project="p", dataset="d", name="t")
    assert tercet.list_tables("p") == []


def test_from_image_folder_labels_by_subfolder(tmp_path: Path) -> None:
    for cls, color in [("cat", "red"), ("dog", "blue")]:
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 6), color).save(tmp_path / "imgs" / cls / f"{i}.png")
    tercet.aliases.set("IMGS", str(tmp_path / "imgs"))
    t = tercet.Table.from_image_folder(str(tmp_path / "imgs"), project="p", dataset="d", name="t")
    assert t.schema["label"].value_map is not None
    assert [v["name"] for v in t.schema["label"].value_map.values()] == ["cat", "dog"]
    rows = t.rows
    assert rows[0]["image"] == "<IMGS>/cat/0.png" and rows[0]["label"] == 0
    assert rows[-1]["image"] == "<IMGS>/dog/2.png" and rows[-1]["label"] == 1
    assert t[4]["image"].getpixel((0, 0)) == (0, 0, 255)


def test_from_coco_boxes_xyxy(tmp_path: Path) -> None:
    Image.new("RGB", (20, 10)).save(tmp_path / "a.jpg")
    coco = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 20, "height": 10}],
        "annotations": [{"image_id": 7, "bbox": [1, 2, 3, 4], "category_id": 3}],
        "categories": [{"id": 3, "name": "car"}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    t = tercet.Table.from_coco(
        str(tmp_path / "ann.json"), str(tmp_path), project="p", dataset="d", name="t"
    )
    row = t.rows[0]
    assert row["boxes"] == [{"x0": 1.0, "y0": 2.0, "x1": 4.0, "y1": 6.0, "label": 3}]
    assert t.schema["boxes"].role == "boxes"
    assert t.schema["boxes"].value_map == {3: {"name": "car", "color": "#d62728"}}
    (tmp_path / "broken.json").write_text('{"images": 5}')
    with pytest.raises(CorruptObjectError, match="not a COCO detection file"):
        tercet.Table.from_coco(str(tmp_path / "broken.json"), str(tmp_path), project="p",
                               dataset="d", name="t2")  # fmt: skip


def test_from_torch_dataset_writes_png_files() -> None:
    torch = pytest.importorskip("torch")

    class Toy:  # map-style: __len__ and __getitem__ are all a torch Dataset needs
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> tuple[object, int]:
            return torch.full((1, 5, 5), i / 4.0), i % 2

    t = tercet.Table.from_torch_dataset(
        Toy(), project="p", dataset="d", name="toy", class_names=["even", "odd"]
    )
    assert t.rows[1]["image"] == "../../files/toy/0000001.png"
    assert t.rows[1]["label"] == 1
    image = t[2]["image"]
    assert image.size == (5, 5) and image.getpixel((0, 0)) == 127
