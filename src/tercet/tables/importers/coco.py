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
from tercet.dependencies import require
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
    if not isinstance(anns, list):
        raise FormatError(f"{where}: 'annotations' must be a list.")
    n = len(anns)
    try:  # one C-speed pass per field; the slow loop below only runs to say what is wrong
        rows = np.fromiter((row_of.get(a["image_id"], -1) for a in anns), np.int64, n)
        boxes = np.array([a["bbox"] for a in anns], np.float64).reshape(n, 4)
        labels = np.array([a["category_id"] for a in anns], np.int32).reshape(n)
    except (KeyError, TypeError, ValueError):
        rows, boxes, labels = _fields_one_by_one(anns, row_of, where)
    if (rows < 0).any():
        k = int(np.flatnonzero(rows < 0)[0])
        raise FormatError(
            f"{where}: annotations[{k}] (id {anns[k].get('id')}) names image_id "
            f"{anns[k]['image_id']}, which is not in 'images'."
        )
    if cats:
        unknown = ~np.isin(labels, list(cats))
        if unknown.any():
            k = int(np.flatnonzero(unknown)[0])
            raise FormatError(
                f"{where}: annotations[{k}] (id {anns[k].get('id')}) has category_id "
                f"{labels[k]}, which is not in 'categories'."
            )
    crowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), bool, n)
    masks_arr = _masks([a.get("segmentation") for a in anns], anns, where)
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
    if masks_arr is not None:
        columns["masks"] = pa.ListArray.from_arrays(off, masks_arr.take(pa.array(order)))
        roles["masks"] = "instance_masks"
        extras["masks"] = {"aligned_with": "boxes"}
    kp_cats = [c for c in cats.values() if c.get("keypoints")]
    if kp_cats:
        kp = pa.array([a.get("keypoints") or [] for a in anns], KEYPOINTS_TYPE.value_type)
        columns["keypoints"] = pa.ListArray.from_arrays(off, kp.take(pa.array(order)))
        roles["keypoints"] = "keypoints"
        first = kp_cats[0]
        extras["keypoints"] = {
            "aligned_with": "boxes",
            "names": [str(x) for x in first["keypoints"]],
            "skeleton": [[int(i) - 1, int(j) - 1] for i, j in first.get("skeleton", [])],
        }
    value_maps = {"boxes": {k: str(c.get("name", k)) for k, c in cats.items()}} if cats else {}
    return pa.table(columns), {"roles": roles, "value_maps": value_maps, "extras": extras}


def _fields_one_by_one(
    anns: list[Any], row_of: dict[int, int], where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fast path failed: find the first annotation at fault and say what is wrong."""
    for k, a in enumerate(anns):
        ident = a.get("id") if isinstance(a, dict) else None
        try:
            row_of.get(int(a["image_id"]), -1)
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{where}: annotations[{k}] (id {ident}) has no image_id.") from None
        try:
            box = [float(v) for v in a["bbox"]]
            int(a["category_id"])
            if len(box) != 4:
                raise ValueError(f"{len(box)} numbers")
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                f"{where}: annotations[{k}] (id {ident}): bbox must be [x, y, w, h] and "
                f"category_id an integer ({exc!r})."
            ) from exc
    raise FormatError(f"{where}: the annotations cannot be read.")  # pragma: no cover


def _masks(segs: list[Any], anns: list[Any], where: str) -> pa.Array | None:
    """Segmentations as one ``INSTANCE_MASK_TYPE`` array (annotation order): polygons as drawn
    (converted by Arrow in one call), RLE compressed as COCO stores it, null where there is none."""
    if not any(segs):
        return None
    n = len(segs)
    is_poly = [isinstance(seg, list) for seg in segs]
    try:
        polygons = pa.array([seg if p else None for seg, p in zip(segs, is_poly, strict=True)],
                            pa.list_(pa.list_(pa.float32())))  # fmt: skip
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        k = next(k for k, seg in enumerate(segs) if is_poly[k] and not _numeric_polygons(seg))
        raise FormatError(
            f"{where}: annotations[{k}] (id {anns[k].get('id')}): segmentation polygons must be "
            "lists of numbers."
        ) from None
    sizes: list[list[int] | None] = [None] * n
    counts: list[str | None] = [None] * n
    for k, seg in enumerate(segs):
        if seg and not is_poly[k]:
            if not (isinstance(seg, dict) and "size" in seg and "counts" in seg):
                raise FormatError(
                    f"{where}: annotations[{k}] (id {anns[k].get('id')}): segmentation must be "
                    "polygons or an RLE with 'size' and 'counts'."
                )
            sizes[k], counts[k] = _rle(seg, k, anns[k], where)
    return pa.StructArray.from_arrays(
        [pa.array(sizes, pa.list_(pa.int32())), pa.array(counts, pa.string()), polygons],
        fields=list(INSTANCE_MASK_TYPE),
        mask=pa.array([not seg for seg in segs]),
    )


def _numeric_polygons(seg: list[Any]) -> bool:
    return all(isinstance(p, list) and all(isinstance(v, int | float) for v in p) for p in seg)


def _rle(seg: dict[str, Any], k: int, ann: Any, where: str) -> tuple[list[int], str]:
    counts = seg["counts"]
    try:
        h, w = (int(v) for v in seg["size"])
    except (TypeError, ValueError):
        raise FormatError(
            f"{where}: annotations[{k}] (id {ann.get('id')}): RLE size must be [height, width]."
        ) from None
    if isinstance(counts, list):  # uncompressed RLE: compressed as COCO stores it
        mask_utils = require("pycocotools.mask", "COCO RLE masks")
        counts = mask_utils.frPyObjects(seg, h, w)["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return [h, w], str(counts)


def from_coco(annotations: str, images_dir: str, **kwargs: Any) -> str:
    """Create a table from a COCO file (boxes, crowd flags, masks, keypoints); returns its
    folder URL. Images are referenced under ``images_dir``, never copied."""
    coco = read_coco(annotations)
    data, spec = coco_to_arrow(coco, images_dir, annotations)
    return write_table(data, **spec, **kwargs)
