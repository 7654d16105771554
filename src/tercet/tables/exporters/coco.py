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
    return pc.list_flatten(col.combine_chunks())


def decimal(values: np.ndarray) -> np.ndarray:
    """float32 values as the float64 nearest their shortest decimal (7 significant digits), so
    ``123.45`` stored in float32 is written ``123.45``, not ``123.44999694824219``."""
    v = values.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        digits = 6 - np.floor(np.log10(np.abs(v)))
    digits = np.where(np.isfinite(digits), digits, 0)
    scale = 10.0**digits
    return np.asarray(np.round(v * scale) / scale)


def _nested(arr: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``list<list<float>>`` per object → flat values (shortest decimals), polygon offsets,
    per-object offsets (into the whole buffers: a slice keeps its absolute offsets)."""
    outer = arr.offsets.to_numpy()
    inner_arr = arr.values
    inner = inner_arr.offsets.to_numpy()
    values = decimal(inner_arr.values.to_numpy(zero_copy_only=False))
    return values, inner, outer


def _shoelace(xy: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Area of each polygon of a flat ``x0, y0, x1, y1, …`` buffer (``starts``: its offsets)."""
    x, y = xy[0::2], xy[1::2]
    ps, pe = starts[:-1] // 2, starts[1:] // 2
    nxt = np.arange(1, len(x) + 1)
    closed = pe > ps
    nxt[pe[closed] - 1] = ps[closed]  # each polygon's last point joins its first
    cross = x * y[nxt] - x[nxt] * y if len(x) else np.zeros(0)
    csum = np.concatenate([[0.0], np.cumsum(cross)])
    return np.asarray(np.abs(csum[pe] - csum[ps]) / 2)


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
    flat = pc.list_flatten(boxes.combine_chunks())
    x0, y0, x1, y1 = (
        decimal(flat.field(k).to_numpy(zero_copy_only=False)) for k in ["x0", "y0", "x1", "y1"]
    )
    labels = flat.field("label").to_numpy(zero_copy_only=False)
    crowd_arr = _aligned(table, rows, "iscrowd", boxes)
    crowd = (crowd_arr.to_numpy(zero_copy_only=False) if crowd_arr is not None
             else np.zeros(len(labels), bool))  # fmt: skip
    image_of = np.repeat(ids, counts).tolist()
    bw, bh = decimal(x1 - x0), decimal(y1 - y0)
    areas = (bw * bh).tolist()
    bbox = np.stack([x0, y0, bw, bh], axis=1).tolist()
    masks_arr = _aligned(table, rows, "instance_masks", boxes)
    segmentation: list[Any] = [None] * len(labels)
    if masks_arr is not None:
        masks = masks_arr
        valid = masks.is_valid().to_numpy(zero_copy_only=False)
        rle_counts = masks.field("counts").to_pylist()
        rle_sizes = masks.field("size").to_pylist()
        polygons = masks.field("polygons")
        coords, poly_off, obj_off = _nested(polygons)
        poly_area = np.concatenate([[0.0], np.cumsum(_shoelace(coords, poly_off))])
        # The polygons rebuilt on the shortest decimals, turned into lists by Arrow in one call.
        rebuilt = pa.ListArray.from_arrays(
            pa.array(obj_off, pa.int32()),
            pa.ListArray.from_arrays(pa.array(poly_off, pa.int32()), pa.array(coords)),
            mask=polygons.is_null(),
        ).to_pylist()
        obj_area = (poly_area[obj_off[1:]] - poly_area[obj_off[:-1]]).tolist()
        rles = [k for k, c in enumerate(rle_counts) if c is not None and valid[k]]
        if rles:
            mask_utils = require("pycocotools.mask", "COCO export of RLE masks")
            objs = [{"size": rle_sizes[k], "counts": rle_counts[k].encode()} for k in rles]
            # pycocotools' area() keeps its count in a uint8: more than 255 at once overflows.
            found = [
                a for i in range(0, len(objs), 255) for a in mask_utils.area(objs[i : i + 255])
            ]
            for k, a in zip(rles, found, strict=True):
                segmentation[k] = {"size": rle_sizes[k], "counts": rle_counts[k]}
                areas[k] = float(a)
        for k in range(len(labels)):
            if rebuilt[k] and segmentation[k] is None and valid[k]:
                segmentation[k] = rebuilt[k]
                areas[k] = obj_area[k]
    kp_arr = _aligned(table, rows, "keypoints", boxes)
    keypoints: list[Any] = [None] * len(labels)
    if kp_arr is not None:
        kv = kp_arr
        values = kv.values.to_numpy(zero_copy_only=False)
        off = kv.offsets.to_numpy()
        for k in range(len(labels)):
            if off[k + 1] > off[k]:
                v = values[off[k] : off[k + 1]]
                vis = v[2::3]
                pts = decimal(v).tolist()
                pts[2::3] = vis.astype(int).tolist()
                keypoints[k] = (pts, int((vis > 0).sum()))
    names = label_names(table, boxes_col)
    label_list = labels.tolist()
    crowd_list = crowd.astype(int).tolist()
    annotations = []
    for k in range(len(label_list)):
        ann: dict[str, Any] = {
            "id": k + 1, "image_id": image_of[k], "category_id": label_list[k],
            "bbox": bbox[k], "area": areas[k], "iscrowd": crowd_list[k],
        }  # fmt: skip
        if segmentation[k] is not None:
            ann["segmentation"] = segmentation[k]
        if keypoints[k] is not None:
            ann["keypoints"], ann["num_keypoints"] = keypoints[k]
        annotations.append(ann)
    used = set(label_list)
    kps = keypoints if kp_arr is not None else None
    categories = [{"id": k, "name": v} for k, v in sorted(names.items())]
    categories += [{"id": k, "name": str(k)} for k in sorted(used - set(names))]
    if kps is not None:
        extra = table.schema[first_column(table, "keypoints") or ""].extra
        with_kp = {label_list[k] for k in range(len(label_list)) if kps[k]}
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
    text = json.dumps(doc, separators=(",", ":"), check_circular=False)
    storage.write_bytes(url, text.encode(), overwrite=overwrite)
    return url
