"""YOLO in (the Ultralytics dataset layout): detection, segmentation, pose and oriented boxes.

``data.yaml`` names the splits (``train``/``val``/``test``: a folder of images, a ``.txt`` list
of images, or a list of either; relative to ``path``), the classes (``names``) and for pose
``kpt_shape``. Each image ``…/images/<split>/x.jpg`` has its labels in
``…/labels/<split>/x.txt`` (no file: no objects), one object a line in coordinates normalised
to the image size. One table per split, one row per image; coordinates are stored in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tercet import storage, yamlsafe
from tercet.errors import FormatError
from tercet.schema import BOX_TYPE, INSTANCE_MASK_TYPE, ORIENTED_BOX_TYPE
from tercet.tables.importers.common import (
    IMAGE_SUFFIXES,
    in_chunks,
    read_if_exists,
    write_table,
)
from tercet.tables.importers.yolo_files import (
    Objects,
    label_url,
    local_images,
    parse_labels,
    read_split,
)

TASKS = ("detect", "segment", "pose", "obb")
SPLITS = ("train", "val", "test")


@dataclass
class DataYaml:
    """What a ``data.yaml`` says."""

    url: str
    root: str
    splits: dict[str, list[str]]
    names: dict[int, str]
    kpt_shape: tuple[int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def read_data_yaml(url: str) -> DataYaml:
    """Parse ``data.yaml``; :class:`FormatError` naming the file and key when it is malformed."""
    url = storage.normalize(url)
    doc = yamlsafe.load(storage.read_bytes(url), url, FormatError)
    if not isinstance(doc, dict):
        raise FormatError(f"{url}: a YOLO data.yaml is a mapping with path, train, val, names.")
    here = storage.parent(url)
    root = storage.resolve(str(doc["path"]), here) if doc.get("path") else here
    splits: dict[str, list[str]] = {}
    for split in SPLITS:
        value = doc.get(split)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in items):
            raise FormatError(f"{url}: '{split}' must be a path or a list of paths; got {value!r}.")
        splits[split] = [storage.resolve(v, root) for v in items]
    if not splits:
        raise FormatError(f"{url}: names no split; add 'train: images/train' (and 'val').")
    raw = doc.get("names")
    if isinstance(raw, list):
        names = {i: str(n) for i, n in enumerate(raw)}
    elif isinstance(raw, dict):
        try:
            names = {int(k): str(v) for k, v in raw.items()}
        except ValueError:
            raise FormatError(f"{url}: 'names' keys must be class indices (0, 1, …).") from None
    else:
        raise FormatError(f"{url}: 'names' must list the classes (a list or {{0: name}}).")
    kpt = doc.get("kpt_shape")
    kpt_shape = None
    if kpt is not None:
        if not (isinstance(kpt, list) and len(kpt) == 2 and kpt[1] in (2, 3) and int(kpt[0]) > 0):
            raise FormatError(f"{url}: 'kpt_shape' must be [keypoints, 2 or 3]; got {kpt!r}.")
        kpt_shape = (int(kpt[0]), int(kpt[1]))
    extra = {k: doc[k] for k in ("flip_idx", "kpt_names", "skeleton", "task") if k in doc}
    return DataYaml(url, root, splits, names, kpt_shape, extra)


def list_images(sources: Sequence[str]) -> list[str]:
    """Image URLs of a split: every image below each folder, or the lines of a ``.txt`` list."""
    out: list[str] = []
    for src in sources:
        if src.endswith(".txt"):
            base = storage.parent(src)
            lines = storage.read_bytes(src).decode("utf-8").splitlines()
            out += [storage.resolve(ln.strip(), base) for ln in lines if ln.strip()]
        elif storage.is_local(src):
            storage.guard(src, "list")
            out += local_images(storage.normalize(src))
        else:
            files = storage.walk_files(src)
            out += sorted(f for f in files if f.lower().endswith(IMAGE_SUFFIXES))
    return out


def _fail(objects: Objects, bad: np.ndarray, images: Sequence[str], why: Any) -> None:
    obj = int(np.flatnonzero(bad)[0])
    img = int(np.searchsorted(np.cumsum(objects.counts), obj, side="right"))
    where = f"{label_url(images[img])}:{objects.lines[obj]}"
    raise FormatError(f"{where}: {why(obj) if callable(why) else why}")


def infer_task(dy: DataYaml, arity: np.ndarray) -> str:
    if dy.extra.get("task") in TASKS:  # written by Tercet's export; Ultralytics ignores it
        return str(dy.extra["task"])
    if dy.kpt_shape is not None:
        return "pose"
    if len(arity) == 0 or bool((arity < 7).all()):
        return "detect"  # a wrong line among boxes is reported as a wrong box line
    if bool((arity == 9).all()):
        raise FormatError(
            f"{dy.url}: every label line has 9 values, which is an oriented box or a 4-point "
            "polygon; pass task='obb' or task='segment'."
        )
    return "segment"


def yolo_to_arrow(dy: DataYaml, split: str, task: str | None) -> tuple[pa.Table, dict[str, Any]]:
    """Rows and ``(roles, value_maps, extras)`` of one split."""
    if split not in dy.splits:
        raise FormatError(f"{dy.url}: no split {split!r}; it names {', '.join(dy.splits)}.")
    if task is not None and task not in TASKS:
        raise FormatError(f"Unknown YOLO task {task!r}; tasks: {', '.join(TASKS)}.")
    images = list_images(dy.splits[split])
    objects, sizes = read_split(images)
    if task is None:
        task = infer_task(dy, objects.arity)
        if len(objects.arity) == 0:  # nothing to tell by here: the other splits say it
            task = _task_from_other_splits(dy, split) or task
    ar = objects.arity
    if task in ("detect", "obb"):
        want = 5 if task == "detect" else 9
        shape = "class cx cy w h" if want == 5 else "class x1 y1 … x4 y4"
        why = f"a {task} line has {want} values ({shape})"
        _check(objects, ar != want, images, lambda o: f"{ar[o]} values; {why}.")
    elif task == "segment":
        why = "a segment line is a class and at least 3 x y points"
        _check(objects, (ar < 7) | (ar % 2 == 0), images, lambda o: f"{ar[o]} values; {why}.")
    else:
        k, d = dy.kpt_shape or (0, 0)
        if dy.kpt_shape is None:
            raise FormatError(f"{dy.url}: task 'pose' needs kpt_shape: [keypoints, 2 or 3].")
        why = f"with kpt_shape [{k}, {d}] a pose line has {5 + k * d} values"
        _check(objects, ar != 5 + k * d, images, lambda o: f"{ar[o]} values; {why}.")
    vals, starts = objects.values, objects.starts
    cls = vals[starts] if len(starts) else np.empty(0)
    bad_cls = (cls != np.round(cls)) | ~np.isin(cls, list(dy.names))
    n_cls = len(dy.names)
    _check(objects, bad_cls, images,
           lambda o: f"class {vals[starts[o]]:g} is not in names ({n_cls} classes).")  # fmt: skip
    n_img = len(images)
    obj_img = np.repeat(np.arange(n_img), objects.counts)
    w = sizes[obj_img, 0] if len(obj_img) else np.empty(0)
    h = sizes[obj_img, 1] if len(obj_img) else np.empty(0)
    offsets = np.zeros(n_img + 1, np.int32)
    np.cumsum(objects.counts, out=offsets[1:])
    off = pa.array(offsets)
    label = cls.astype(np.int32)
    columns: dict[str, Any] = {
        "image": pa.array(images, pa.string()),
        "width": pa.array(sizes[:, 0].astype(np.int32)),
        "height": pa.array(sizes[:, 1].astype(np.int32)),
    }
    roles = {"image": "image", "boxes": "boxes"}
    extras: dict[str, dict[str, Any]] = {"boxes": {"yolo_task": task}}
    if task in ("detect", "pose"):
        cx, cy = vals[starts + 1] * w, vals[starts + 2] * h
        bw, bh = vals[starts + 3] * w, vals[starts + 4] * h
        x0, y0, x1, y1 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
    if task == "pose":
        k, d = dy.kpt_shape or (0, 0)
        idx = starts[:, None] + 5 + np.arange(k * d)[None, :]
        kp = vals[idx].reshape(-1, k, d) if len(starts) else np.empty((0, k, d))
        kp[:, :, 0] *= w[:, None]
        kp[:, :, 1] *= h[:, None]
        flat = pa.array(kp.reshape(-1).astype(np.float32))
        per_obj = pa.ListArray.from_arrays(
            pa.array(np.arange(len(starts) + 1) * k * d, pa.int32()), flat
        )
        columns["keypoints"] = pa.ListArray.from_arrays(off, per_obj)
        roles["keypoints"] = "keypoints"
        names = dy.extra.get("kpt_names")
        if isinstance(names, dict):  # Ultralytics keys them by class; one set per table here
            names = next(iter(names.values()), None)
        extras["keypoints"] = {
            "aligned_with": "boxes", "kpt_shape": [k, d],
            "names": [str(n) for n in names] if isinstance(names, list) else [
                str(i) for i in range(k)
            ],
            "skeleton": dy.extra.get("skeleton", []),
            **({"flip_idx": dy.extra["flip_idx"]} if "flip_idx" in dy.extra else {}),
        }  # fmt: skip
    if task == "obb":
        idx = starts[:, None] + 1 + np.arange(8)[None, :]
        pts = vals[idx].reshape(-1, 4, 2) if len(starts) else np.empty((0, 4, 2))
        pts[:, :, 0] *= w[:, None]
        pts[:, :, 1] *= h[:, None]
        x0, y0 = pts[:, :, 0].min(axis=1), pts[:, :, 1].min(axis=1)
        x1, y1 = pts[:, :, 0].max(axis=1), pts[:, :, 1].max(axis=1)
        corners = [pa.array(pts[:, i // 2, i % 2], pa.float32()) for i in range(8)]
        obb = pa.StructArray.from_arrays(
            [*corners, pa.array(label)], fields=list(ORIENTED_BOX_TYPE)
        )
        columns["obb"] = pa.ListArray.from_arrays(off, obb)
        roles["obb"] = "oriented_boxes"
        extras["obb"] = {"aligned_with": "boxes"}
    if task == "segment":
        keep = np.ones(len(vals), bool)
        keep[starts] = False
        coords = vals[keep]
        npts = (ar - 1) // 2
        pt_obj = np.repeat(np.arange(len(starts)), npts)
        xs, ys = coords[0::2] * w[pt_obj], coords[1::2] * h[pt_obj]
        pt_start = np.zeros(len(starts), np.int64)
        np.cumsum(npts[:-1], out=pt_start[1:]) if len(npts) > 1 else None
        if len(starts):
            x0, x1 = np.minimum.reduceat(xs, pt_start), np.maximum.reduceat(xs, pt_start)
            y0, y1 = np.minimum.reduceat(ys, pt_start), np.maximum.reduceat(ys, pt_start)
        else:
            x0 = x1 = y0 = y1 = np.empty(0)
        xy = np.empty(2 * len(xs), np.float32)
        xy[0::2], xy[1::2] = xs, ys
        poly_off = np.zeros(len(starts) + 1, np.int32)
        np.cumsum(2 * npts, out=poly_off[1:])
        polygon = pa.ListArray.from_arrays(pa.array(poly_off), pa.array(xy))
        polygons = pa.ListArray.from_arrays(
            pa.array(np.arange(len(starts) + 1, dtype=np.int32)), polygon
        )
        n = len(starts)
        masks = pa.StructArray.from_arrays(
            [pa.nulls(n, pa.list_(pa.int32())), pa.nulls(n, pa.string()), polygons],
            fields=list(INSTANCE_MASK_TYPE),
        )
        columns["masks"] = pa.ListArray.from_arrays(off, masks)
        roles["masks"] = "instance_masks"
        extras["masks"] = {"aligned_with": "boxes"}
    box = pa.StructArray.from_arrays(
        [pa.array(v, pa.float32()) for v in (x0, y0, x1, y1)] + [pa.array(label)],
        fields=list(BOX_TYPE),
    )
    columns["boxes"] = pa.ListArray.from_arrays(off, box)
    order = ["image", "width", "height", "boxes", "masks", "keypoints", "obb"]
    table = pa.table({k: columns[k] for k in order if k in columns})
    value_maps = {c: dict(dy.names) for c in ("boxes", "obb") if c in columns}
    return table, {"roles": roles, "value_maps": value_maps, "extras": extras}


def _task_from_other_splits(dy: DataYaml, split: str) -> str | None:
    for other in dy.splits:
        if other != split:
            images = list_images(dy.splits[other])
            labels = [label_url(u) for u in images]
            arity = parse_labels(in_chunks(read_if_exists, labels), images).arity
            if len(arity):
                return infer_task(dy, arity)
    return None


def _check(objects: Objects, bad: np.ndarray, images: Sequence[str], why: Any) -> None:
    if len(bad) and bool(bad.any()):
        _fail(objects, bad, images, why)


def from_yolo(
    data_yaml: str,
    split: str = "train",
    task: str | None = None,
    *,
    project: str,
    dataset: str,
    name: str | None = None,
    **kwargs: Any,
) -> str:
    """Create the table of one split of a YOLO dataset; returns its folder URL."""
    dy = read_data_yaml(data_yaml)
    data, spec = yolo_to_arrow(dy, split, task)
    return write_table(data, project, dataset, name or split, **spec, **kwargs)
