"""COCO out: one ``images`` entry per row, one annotation per object of the ``boxes`` column,
with the crowd flags, masks (polygons as drawn, RLE as stored) and keypoints aligned with it;
categories from the boxes' value map."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tercet import storage
from tercet.dependencies import require
from tercet.errors import ExportError
from tercet.schema import ID_COLUMN
from tercet.tables.exporters.common import (
    Exportable,
    copy_files,
    first_column,
    label_names,
    plan_images,
    select_rows,
)
from tercet.tables.importers.common import image_sizes


def _aligned(table: Exportable, rows: pa.Table, role: str, boxes: pa.ChunkedArray) -> Any:
    """The column with ``role`` flattened, after checking it has one entry per box."""
    name = first_column(table, role) if role != "iscrowd" else (
        "iscrowd" if "iscrowd" in rows.column_names else None
    )  # fmt: skip
    if name is None:
        return None
    col = rows.column(name)
    a, b = pc.list_value_length(col).fill_null(0), pc.list_value_length(boxes).fill_null(0)
    bad = pc.not_equal(a, b)
    if pc.any(bad).as_py():
        eid = pc.filter(rows.column(ID_COLUMN), bad)[0].as_py()
        raise ExportError(
            f"Row example_id={eid}: column {name!r} has {pc.filter(a, bad)[0].as_py()} entries "
            f"for {pc.filter(b, bad)[0].as_py()} boxes; objects must be aligned with 'boxes'."
        )
    return pc.list_flatten(col)


def _polygon_area(polygons: list[list[float]]) -> float:
    total = 0.0
    for p in polygons:
        xy = np.asarray(p, np.float64).reshape(-1, 2)
        x, y = xy[:, 0], xy[:, 1]
        total += 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return total


def to_coco(table: Exportable, rows: pa.Table, file_names: list[str | None]) -> dict[str, Any]:
    """The COCO document of ``rows`` (already selected), images named by ``file_names``."""
    boxes_col = first_column(table, "boxes")
    if boxes_col is None:
        raise ExportError(f"{table.name} has no column with role 'boxes'; COCO needs one.")
    image_col = first_column(table, "image")
    n = rows.num_rows
    ids = (
        rows.column("coco_id").to_numpy(zero_copy_only=False)
        if "coco_id" in rows.column_names and pc.count_distinct(rows.column("coco_id")).as_py() == n
        else rows.column(ID_COLUMN).to_numpy() + 1
    )
    if "width" in rows.column_names and "height" in rows.column_names:
        widths = rows.column("width").to_pylist()
        heights = rows.column("height").to_pylist()
    else:
        assert image_col is not None
        sizes = image_sizes([table.resolve_url(u) for u in rows.column(image_col).to_pylist()])
        widths, heights = [s[0] for s in sizes], [s[1] for s in sizes]
    images = [
        {"id": int(i), "file_name": f, "width": int(w or 0), "height": int(h or 0)}
        for i, f, w, h in zip(ids, file_names, widths, heights, strict=True)
    ]
    boxes = rows.column(boxes_col)
    counts = pc.list_value_length(boxes).fill_null(0).to_numpy()
    flat = (
        pc.list_flatten(boxes).combine_chunks()
        if len(boxes)
        else pa.array([], boxes.type.value_type)
    )
    x0, y0, x1, y1 = (
        flat.field(k).to_numpy(zero_copy_only=False).astype(np.float64)
        for k in ("x0", "y0", "x1", "y1")
    )
    labels = flat.field("label").to_numpy(zero_copy_only=False)
    crowd_arr = _aligned(table, rows, "iscrowd", boxes)
    crowd = (
        crowd_arr.to_numpy(zero_copy_only=False)
        if crowd_arr is not None
        else np.zeros(len(labels), bool)
    )
    masks_arr = _aligned(table, rows, "instance_masks", boxes)
    masks = masks_arr.to_pylist() if masks_arr is not None else None
    kp_arr = _aligned(table, rows, "keypoints", boxes)
    kps = kp_arr.to_pylist() if kp_arr is not None else None
    image_of = np.repeat(ids, counts)
    bw, bh = x1 - x0, y1 - y0
    areas = bw * bh
    rle_areas: dict[int, float] = {}
    if masks is not None:
        rles = [(k, m) for k, m in enumerate(masks) if m and m.get("counts") is not None]
        if rles:
            mask_utils = require("pycocotools.mask", "COCO export of RLE masks")
            found = mask_utils.area(
                [{"size": m["size"], "counts": m["counts"].encode()} for _, m in rles]
            )
            rle_areas = {k: float(a) for (k, _), a in zip(rles, found, strict=True)}
    annotations = []
    names = label_names(table, boxes_col)
    used: set[int] = set()
    for k in range(len(labels)):
        ann: dict[str, Any] = {
            "id": k + 1,
            "image_id": int(image_of[k]),
            "category_id": int(labels[k]),
            "bbox": [float(x0[k]), float(y0[k]), float(bw[k]), float(bh[k])],
            "area": float(areas[k]),
            "iscrowd": int(bool(crowd[k])),
        }
        used.add(int(labels[k]))
        m = masks[k] if masks is not None else None
        if m and m.get("counts") is not None:
            ann["segmentation"] = {"size": list(m["size"]), "counts": m["counts"]}
            ann["area"] = rle_areas[k]
        elif m and m.get("polygons"):
            ann["segmentation"] = [list(p) for p in m["polygons"]]
            ann["area"] = _polygon_area(m["polygons"])
        kp = kps[k] if kps is not None else None
        if kp:
            ann["keypoints"] = [float(v) if i % 3 != 2 else int(v) for i, v in enumerate(kp)]
            ann["num_keypoints"] = int(sum(1 for v in kp[2::3] if v > 0))
        annotations.append(ann)
    categories = [{"id": k, "name": v} for k, v in sorted(names.items())]
    categories += [{"id": k, "name": str(k)} for k in sorted(used - set(names))]
    if kps is not None:
        extra = table.schema[first_column(table, "keypoints") or ""].extra
        with_kp = {int(labels[k]) for k in range(len(labels)) if kps[k]}
        for c in categories:
            if c["id"] in with_kp:
                c["keypoints"] = list(extra.get("names", []))
                c["skeleton"] = [[int(i) + 1, int(j) + 1] for i, j in extra.get("skeleton", [])]
    return {"images": images, "annotations": annotations, "categories": categories}


def export_coco(
    table: Exportable,
    url: str,
    weight_threshold: float | None,
    images: str,
    overwrite: bool,
    progress: bool,
) -> str:
    """Write ``table`` as the COCO file ``url``; images per ``images`` (see :func:`plan_images`)."""
    rows = select_rows(table, weight_threshold)
    image_col = first_column(table, "image")
    folder = storage.parent(url)
    urls = rows.column(image_col).to_pylist() if image_col else [None] * rows.num_rows
    plan = plan_images(table, urls, rows.column(ID_COLUMN).to_pylist(), images, folder,
                       storage.join(folder, "images"))  # fmt: skip
    doc = to_coco(table, rows, plan.names)
    if storage.exists(url) and not overwrite:
        raise ExportError(f"{url} already exists; pass overwrite=True (--overwrite) to replace it.")
    copy_files(plan.copies, overwrite, progress)
    storage.write_bytes(url, json.dumps(doc).encode(), overwrite=overwrite)
    return url
