"""YOLO out, in the Ultralytics layout: ``images/<split>/``, ``labels/<split>/`` (one ``.txt``
per image, coordinates normalised to the image size) and ``data.yaml`` naming the splits and
classes. Exporting another split into the same folder adds it to ``data.yaml``.

The task follows the columns: oriented boxes → ``obb``, keypoints → ``pose``, polygon instance
masks → ``segment``, else ``detect``. Crowd objects are left out (YOLO has no crowd regions).
Class indices are the positions of the value map's keys in sorted order (0, 1, … stay as they
are), so COCO's category ids 1…90 become 0…79 with their names.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import yaml

from tercet import storage, yamlsafe
from tercet.errors import ExportError, FormatError
from tercet.schema import ID_COLUMN
from tercet.tables.exporters.common import (
    Exportable,
    first_column,
    label_names,
    plan_images,
    select_rows,
    write_all,
)
from tercet.tables.importers.common import image_sizes

TASKS = ("detect", "segment", "pose", "obb")


def task_of(table: Exportable) -> str:
    """The YOLO task the table's columns describe."""
    if first_column(table, "oriented_boxes"):
        return "obb"
    if first_column(table, "keypoints"):
        return "pose"
    if first_column(table, "instance_masks"):
        return "segment"
    return "detect"


def _num(v: float) -> str:
    return f"{min(max(v, 0.0), 1.0):.6f}".rstrip("0").rstrip(".") or "0"


def label_lines(table: Exportable, rows: pa.Table, task: str, class_index: dict[int, int],
                sizes: list[tuple[int, int]]) -> list[str]:  # fmt: skip
    """The text of each row's label file."""
    boxes_col = first_column(table, "boxes")
    obj_col = first_column(table, "oriented_boxes") if task == "obb" else boxes_col
    if obj_col is None:
        raise ExportError(f"{table.name} has no boxes to write as YOLO {task} labels.")
    objects = rows.column(obj_col).to_pylist()
    crowd = rows.column("iscrowd").to_pylist() if "iscrowd" in rows.column_names else None
    masks = kps = None
    if task == "segment":
        masks = rows.column(first_column(table, "instance_masks") or "").to_pylist()
    if task == "pose":
        kcol = first_column(table, "keypoints") or ""
        kps = rows.column(kcol).to_pylist()
        extra = table.schema[kcol].extra
        shape = extra.get("kpt_shape") or [len(extra.get("names", [])), 3]
    ids = rows.column(ID_COLUMN).to_pylist()
    out: list[str] = []
    for r, objs in enumerate(objects):
        w, h = sizes[r]
        lines: list[str] = []
        for j, o in enumerate(objs or []):
            if crowd and crowd[r] and j < len(crowd[r]) and crowd[r][j]:
                continue
            if o["label"] not in class_index:
                raise ExportError(f"Row example_id={ids[r]}: class {o['label']} has no name.")
            c = str(class_index[o["label"]])
            if task == "obb":
                xy = [o[f"{a}{i}"] / (w if a == "x" else h) for i in range(4) for a in "xy"]
                lines.append(" ".join([c, *map(_num, xy)]))
                continue
            if task == "segment":
                m = (masks[r] or [None] * len(objs))[j] if masks else None
                if not m or not m.get("polygons"):
                    raise ExportError(
                        f"Row example_id={ids[r]}, object {j}: YOLO segment labels are polygons, "
                        "and this mask is an RLE (or missing); export as COCO instead."
                    )
                poly = max(m["polygons"], key=len)  # YOLO holds one polygon an object
                xy = [v / (w if i % 2 == 0 else h) for i, v in enumerate(poly)]
                lines.append(" ".join([c, *map(_num, xy)]))
                continue
            cx, cy = (o["x0"] + o["x1"]) / 2 / w, (o["y0"] + o["y1"]) / 2 / h
            bw, bh = (o["x1"] - o["x0"]) / w, (o["y1"] - o["y0"]) / h
            parts = [c, *map(_num, (cx, cy, bw, bh))]
            if task == "pose":
                kp = ((kps[r] or []) + [[]] * len(objs))[j] if kps else []
                k, d = shape
                kp = list(kp) + [0.0] * (k * d - len(kp))
                for i in range(k):
                    parts += [_num(kp[i * d] / w), _num(kp[i * d + 1] / h)]
                    if d == 3:
                        parts.append(str(int(kp[i * d + 2])))
            lines.append(" ".join(parts))
        out.append("".join(line + "\n" for line in lines))
    return out


def export_yolo(
    table: Exportable,
    url: str,
    weight_threshold: float | None,
    images: str,
    overwrite: bool,
    progress: bool,
    split: str | None = None,
    task: str | None = None,
) -> str:
    """Write ``table`` as split ``split`` of the YOLO dataset in folder ``url``; returns the URL
    of its ``data.yaml``."""
    if images != "copy":
        raise ExportError(
            "YOLO finds each image's labels by its path (images/<split>/x.jpg → "
            "labels/<split>/x.txt), so the images must be in the exported folder: use "
            "images='copy'."
        )
    task = task or task_of(table)
    if task not in TASKS:
        raise ExportError(f"Unknown YOLO task {task!r}; tasks: {', '.join(TASKS)}.")
    split = split or (table.name if table.name in ("train", "val", "test") else "train")
    rows = select_rows(table, weight_threshold)
    obj_col = first_column(table, "oriented_boxes" if task == "obb" else "boxes")
    names = label_names(table, obj_col) if obj_col else {}
    used = {int(v) for objs in rows.column(obj_col).to_pylist() for v in
            [o["label"] for o in (objs or [])]} if obj_col else set()  # fmt: skip
    keys = sorted(set(names) | used)
    class_index = {k: i for i, k in enumerate(keys)}
    yaml_url = storage.join(url, "data.yaml")
    doc: dict[str, Any] = {}
    if storage.exists(yaml_url):
        doc = yamlsafe.load(storage.read_bytes(yaml_url), yaml_url, FormatError) or {}
        if split in doc and not overwrite:
            raise ExportError(
                f"{yaml_url} already has split {split!r}; pass overwrite=True (--overwrite) to "
                "replace it."
            )
        old = doc.get("names")
        new = {i: names.get(k, str(k)) for k, i in class_index.items()}
        old_map = dict(enumerate(old)) if isinstance(old, list) else dict(old or {})
        if old is not None and {int(k): str(v) for k, v in old_map.items()} != new:
            raise ExportError(f"{yaml_url} names other classes ({old}) than this table ({new}).")
    image_col = first_column(table, "image")
    if image_col is None:
        raise ExportError(f"{table.name} has no image column; YOLO labels belong to images.")
    image_dir = storage.join(url, "images", split)
    urls = rows.column(image_col).to_pylist()
    if None in urls:
        eid = rows.column(ID_COLUMN)[urls.index(None)].as_py()
        raise ExportError(f"Row example_id={eid} has no image; YOLO labels belong to images.")
    plan = plan_images(table, urls, rows.column(ID_COLUMN).to_pylist(), "copy", url, image_dir)
    if "width" in rows.column_names and "height" in rows.column_names:
        sizes = list(zip(rows.column("width").to_pylist(), rows.column("height").to_pylist(),
                         strict=True))  # fmt: skip
    else:
        sizes = image_sizes([s for s in plan.sources if s])
    texts = label_lines(table, rows, task, class_index, sizes)

    def copy(pair: tuple[str, str]) -> None:
        storage.write_bytes(pair[1], storage.read_bytes(pair[0]), overwrite=overwrite)

    def write(pair: tuple[str, bytes]) -> None:
        storage.write_bytes(pair[0], pair[1], overwrite=overwrite)

    writes: list[tuple[Any, Any]] = []
    for (src, dest), text in zip(plan.copies, texts, strict=True):
        stem = storage.basename(dest).rsplit(".", 1)[0]
        writes.append((copy, (src, dest)))
        writes.append((write, (storage.join(url, "labels", split, stem + ".txt"), text.encode())))
    write_all(writes, progress, f"writing {split}")
    doc["path"] = storage.normalize(url)
    doc[split] = f"images/{split}"
    doc["names"] = {i: names.get(k, str(k)) for k, i in class_index.items()}
    doc["task"] = task  # not Ultralytics' key (it ignores it): tells 4-point polygons from obb
    if task == "pose":
        kcol = first_column(table, "keypoints") or ""
        extra = table.schema[kcol].extra
        shape = extra.get("kpt_shape") or [len(extra.get("names", [])), 3]
        doc["kpt_shape"] = list(shape)
        if "flip_idx" in extra:
            doc["flip_idx"] = list(extra["flip_idx"])
    text = yaml.safe_dump(doc, sort_keys=False)
    storage.write_bytes(yaml_url, text.encode(), overwrite=True)
    return yaml_url
