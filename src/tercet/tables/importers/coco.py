"""COCO in: one row per image, its objects as lists aligned with ``boxes``.

Columns: ``image`` (URL through aliases), ``coco_id``, ``width``, ``height``, ``boxes`` (xyxy
pixels, label = category id, value map = category names), ``iscrowd``; ``masks`` (role
``instance_masks``: RLE as COCO compresses it, polygons as drawn) when any annotation has a
segmentation; ``keypoints`` (role ``keypoints``, ``[x, y, v, …]`` per object, names and 0-based
skeleton in the schema) when a category names keypoints. Lists are built columnar (offsets, not
one Python dict per object) so a train2017-sized file imports at the pace of ``json.load``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from tercet import storage
from tercet.errors import FormatError
from tercet.schema import BOX_TYPE, INSTANCE_MASK_TYPE, KEYPOINTS_TYPE
from tercet.tables.importers.common import write_table


def read_coco(annotations: str) -> dict[str, Any]:
    """The parsed COCO file; :class:`FormatError` naming the file when it is not COCO JSON."""
    raw = storage.read_bytes(annotations)
    try:
        coco = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{annotations}: not a COCO detection file ({exc}).") from exc
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise FormatError(
            f"{annotations} is not a COCO detection file: expected 'images', 'annotations' and "
            "'categories' lists at the top level."
        )
    return coco


def coco_to_arrow(
    coco: dict[str, Any], images_dir: str, where: str
) -> tuple[pa.Table, dict[str, Any]]:
    """Rows and ``(roles, value_maps, extras)`` for a parsed COCO file."""
    base = storage.normalize(images_dir)
    images = coco["images"]
    field = "images"
    try:
        ids = [int(im["id"]) for im in images]
        field = "images[].file_name"
        names = [storage.join(base, str(im["file_name"])) for im in images]
        widths = [int(im.get("width", 0)) for im in images]
        heights = [int(im.get("height", 0)) for im in images]
        field = "categories"
        cats = {int(c["id"]): c for c in coco.get("categories", [])}
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{where}: not a COCO detection file ({field}: {exc!r}).") from exc
    row_of = {image_id: i for i, image_id in enumerate(ids)}
    if len(row_of) != len(ids):
        raise FormatError(f"{where}: images[].id repeats an id; each image needs its own.")
    anns = coco.get("annotations", [])
    n = len(anns)
    rows = np.empty(n, np.int64)
    boxes = np.empty((n, 4), np.float64)
    labels = np.empty(n, np.int32)
    crowd = np.zeros(n, bool)
    segs: list[Any] = [None] * n
    kpts: list[Any] = [None] * n
    any_seg = False
    for k, a in enumerate(anns):
        try:
            rows[k] = row_of[int(a["image_id"])]
        except KeyError:
            if "image_id" not in a:
                raise FormatError(f"{where}: annotations[{k}] has no image_id.") from None
            raise FormatError(
                f"{where}: annotations[{k}] (id {a.get('id')}) names image_id {a['image_id']}, "
                "which is not in 'images'."
            ) from None
        try:
            boxes[k] = a["bbox"]
            labels[k] = a["category_id"]
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                f"{where}: annotations[{k}] (id {a.get('id')}): bbox must be [x, y, w, h] and "
                f"category_id an integer ({exc!r})."
            ) from exc
        if cats and labels[k] not in cats:
            raise FormatError(
                f"{where}: annotations[{k}] (id {a.get('id')}) has category_id {labels[k]}, "
                "which is not in 'categories'."
            )
        crowd[k] = bool(a.get("iscrowd", 0))
        seg = a.get("segmentation")
        if seg:
            segs[k] = seg
            any_seg = True
        if "keypoints" in a:
            kpts[k] = a["keypoints"]
    order = np.argsort(rows, kind="stable")
    offsets = np.zeros(len(ids) + 1, np.int32)
    np.cumsum(np.bincount(rows, minlength=len(ids)), out=offsets[1:])
    b = boxes[order]
    box_struct = pa.StructArray.from_arrays(
        [pa.array(b[:, 0], pa.float32()), pa.array(b[:, 1], pa.float32()),
         pa.array(b[:, 0] + b[:, 2], pa.float32()), pa.array(b[:, 1] + b[:, 3], pa.float32()),
         pa.array(labels[order], pa.int32())],
        fields=list(BOX_TYPE),
    )  # fmt: skip
    off = pa.array(offsets)
    columns: dict[str, Any] = {
        "image": pa.array(names, pa.string()),
        "coco_id": pa.array(ids, pa.int64()),
        "width": pa.array(widths, pa.int32()),
        "height": pa.array(heights, pa.int32()),
        "boxes": pa.ListArray.from_arrays(off, box_struct),
        "iscrowd": pa.ListArray.from_arrays(off, pa.array(crowd[order])),
    }
    roles: dict[str, str] = {"image": "image", "boxes": "boxes"}
    extras: dict[str, dict[str, Any]] = {"iscrowd": {"aligned_with": "boxes"}}
    if any_seg:
        masks = [_mask(segs[k], k, anns[k], where) for k in order.tolist()]
        columns["masks"] = pa.ListArray.from_arrays(off, pa.array(masks, INSTANCE_MASK_TYPE))
        roles["masks"] = "instance_masks"
        extras["masks"] = {"aligned_with": "boxes"}
    kp_cats = [c for c in cats.values() if c.get("keypoints")]
    if kp_cats:
        flat = [kpts[k] or [] for k in order.tolist()]
        columns["keypoints"] = pa.ListArray.from_arrays(
            off, pa.array(flat, KEYPOINTS_TYPE.value_type)
        )
        roles["keypoints"] = "keypoints"
        first = kp_cats[0]
        extras["keypoints"] = {
            "aligned_with": "boxes",
            "names": [str(x) for x in first["keypoints"]],
            "skeleton": [[int(i) - 1, int(j) - 1] for i, j in first.get("skeleton", [])],
        }
    value_maps = {"boxes": {k: str(c.get("name", k)) for k, c in cats.items()}} if cats else {}
    return pa.table(columns), {"roles": roles, "value_maps": value_maps, "extras": extras}


def _mask(seg: Any, k: int, ann: dict[str, Any], where: str) -> dict[str, Any] | None:
    if seg is None:
        return None
    if isinstance(seg, list):
        try:
            return {"size": None, "counts": None, "polygons": [[float(v) for v in p] for p in seg]}
        except (TypeError, ValueError) as exc:
            raise FormatError(
                f"{where}: annotations[{k}] (id {ann.get('id')}): segmentation polygons must be "
                f"lists of numbers ({exc!r})."
            ) from exc
    if isinstance(seg, dict) and "size" in seg and "counts" in seg:
        counts = seg["counts"]
        if isinstance(counts, list):  # uncompressed RLE: compressed as COCO stores it
            from tercet.dependencies import require

            mask_utils = require("pycocotools.mask", "COCO RLE masks")
            h, w = (int(v) for v in seg["size"])
            counts = mask_utils.frPyObjects(seg, h, w)["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        return {"size": [int(v) for v in seg["size"]], "counts": str(counts), "polygons": None}
    raise FormatError(
        f"{where}: annotations[{k}] (id {ann.get('id')}): segmentation must be polygons or an "
        "RLE with 'size' and 'counts'."
    )


def from_coco(annotations: str, images_dir: str, **kwargs: Any) -> str:
    """Create a table from a COCO file (boxes, crowd flags, masks, keypoints); returns its
    folder URL. Images are referenced under ``images_dir``, never copied."""
    coco = read_coco(annotations)
    data, spec = coco_to_arrow(coco, images_dir, annotations)
    return write_table(data, **spec, **kwargs)
