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
from typing import Any, NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tercet import storage, yamlsafe
from tercet.errors import FormatError
from tercet.schema import BOX_TYPE, INSTANCE_MASK_TYPE, ORIENTED_BOX_TYPE
from tercet.tables.importers.common import (
    IMAGE_SUFFIXES,
    image_size,
    in_chunks,
    read_if_exists,
    write_table,
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
        else:
            files = storage.walk_files(src)
            out += sorted(f for f in files if f.lower().endswith(IMAGE_SUFFIXES))
    return out


def label_url(image: str) -> str:
    """Where Ultralytics looks for an image's labels: the last ``/images/`` becomes ``/labels/``."""
    head, sep, tail = image.rpartition("/images/")
    stem = (head + "/labels/" + tail) if sep else image
    return stem.rsplit(".", 1)[0] + ".txt"


@dataclass
class Objects:
    """Every object of a split: per-object arity, source line and image; all values flat."""

    counts: np.ndarray
    arity: np.ndarray
    lines: np.ndarray
    values: np.ndarray
    starts: np.ndarray


# The bytes ``bytes.split()`` splits on: ASCII whitespace. Token boundaries are found with this
# table on the whole split at once, so they agree exactly with the tokens converted to floats.
_SPACE = np.zeros(256, bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True


def parse_labels(texts: Sequence[bytes | None], urls: Sequence[str]) -> Objects:
    """All label files of a split parsed at once: one buffer, token and line boundaries found
    with numpy, one float conversion for every value (no Python loop over lines or tokens).

    Lines end at ``\n``, ``\r\n`` or ``\r``; blank lines are skipped."""
    # Line ends as str.splitlines (which Ultralytics uses) knows them: \r\n and a bare \r too.
    present = [(t.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in t else t) if t else b""
               for t in texts]  # fmt: skip
    if not present:
        empty = np.zeros(0, np.int64)
        return Objects(empty, empty, empty, np.empty(0), empty)
    # Each file is followed by one "\n", so a file's last line never runs into the next file.
    blob = b"\n".join(present) + b"\n"
    data = np.frombuffer(blob, np.uint8)
    space = _SPACE[data]
    first = ~space
    first[1:] &= space[:-1]  # a token starts after whitespace (or at the very start)
    token_at = np.flatnonzero(first)
    newline_at = np.flatnonzero(data == 10)
    # Tokens before each line's end, differenced: tokens per line (one search per line, not
    # per token).
    per_line = np.diff(np.searchsorted(token_at, newline_at), prepend=0)
    lines_per_file = np.fromiter((t.count(b"\n") + 1 for t in present), np.int64, len(present))
    file_of_line = np.repeat(np.arange(len(present)), lines_per_file)
    first_line = np.zeros(len(present), np.int64)
    np.cumsum(lines_per_file[:-1], out=first_line[1:]) if len(present) > 1 else None
    line_no = np.arange(len(newline_at)) - first_line[file_of_line] + 1
    used = per_line > 0
    ar = per_line[used].astype(np.int64)
    counts = np.bincount(file_of_line[used], minlength=len(present)).astype(np.int64)
    starts = np.zeros(len(ar), np.int64)
    np.cumsum(ar[:-1], out=starts[1:]) if len(ar) > 1 else None
    objects = Objects(counts, ar, line_no[used].astype(np.int64), np.empty(0), starts)
    # Each token with the whitespace after it, cut from the buffer by offsets alone: an Arrow
    # string array built without a Python object per token, trimmed and cast to float64 in C++
    # (~20x a per-token parse).
    begin = int(token_at[0]) if len(token_at) else 0
    offsets = np.append(token_at - begin, len(data) - begin).astype(np.int64)
    buffer = pa.py_buffer(data[begin:])
    strings = pa.LargeStringArray.from_buffers(len(token_at), pa.py_buffer(offsets), buffer)
    try:
        trimmed = pc.ascii_rtrim_whitespace(strings)
        objects.values = pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        _not_a_number(objects, blob.split(), urls)
    return objects


def _not_a_number(objects: Objects, tokens: list[bytes], urls: Sequence[str]) -> NoReturn:
    """Raise for the first token Arrow's cast cannot read as a number, naming its file and line
    (the same cast as the fast path, so both agree on what a number is)."""
    step = 4096
    for base in range(0, len(tokens), step):
        chunk = tokens[base : base + step]
        if _floats(chunk):
            continue
        k = base + next(i for i, tok in enumerate(chunk) if not _floats([tok]))
        obj = int(np.searchsorted(objects.starts, k, side="right")) - 1
        img = int(np.searchsorted(np.cumsum(objects.counts), obj, side="right"))
        text = tokens[k].decode("utf-8", "replace")
        raise FormatError(f"{urls[img]}:{objects.lines[obj]}: {text!r} is not a number.")
    raise FormatError("YOLO labels: a value is not a number.")  # unreachable: a chunk failed


def _floats(tokens: list[bytes]) -> bool:
    try:
        pc.cast(pa.array(tokens, pa.binary()), pa.float64())
    except pa.ArrowInvalid:
        return False
    return True


def _fail(objects: Objects, bad: np.ndarray, urls: Sequence[str], why: str) -> None:
    obj = int(np.flatnonzero(bad)[0])
    img = int(np.searchsorted(np.cumsum(objects.counts), obj, side="right"))
    raise FormatError(f"{urls[img]}:{objects.lines[obj]}: {why(obj) if callable(why) else why}")


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
    labels = [label_url(u) for u in images]
    # One task per image reads its label file and its header: one pass over the files.
    read = in_chunks(_label_and_size, images)
    objects = parse_labels([r[0] for r in read], labels)
    if task is None:
        task = infer_task(dy, objects.arity)
        if len(objects.arity) == 0:  # nothing to tell by here: the other splits say it
            task = _task_from_other_splits(dy, split) or task
    ar = objects.arity
    if task in ("detect", "obb"):
        want = 5 if task == "detect" else 9
        shape = "class cx cy w h" if want == 5 else "class x1 y1 … x4 y4"
        why = f"a {task} line has {want} values ({shape})"
        _check(objects, ar != want, labels, lambda o: f"{ar[o]} values; {why}.")
    elif task == "segment":
        why = "a segment line is a class and at least 3 x y points"
        _check(objects, (ar < 7) | (ar % 2 == 0), labels, lambda o: f"{ar[o]} values; {why}.")
    else:
        k, d = dy.kpt_shape or (0, 0)
        if dy.kpt_shape is None:
            raise FormatError(f"{dy.url}: task 'pose' needs kpt_shape: [keypoints, 2 or 3].")
        why = f"with kpt_shape [{k}, {d}] a pose line has {5 + k * d} values"
        _check(objects, ar != 5 + k * d, labels, lambda o: f"{ar[o]} values; {why}.")
    vals, starts = objects.values, objects.starts
    cls = vals[starts] if len(starts) else np.empty(0)
    bad_cls = (cls != np.round(cls)) | ~np.isin(cls, list(dy.names))
    n_cls = len(dy.names)
    _check(objects, bad_cls, labels,
           lambda o: f"class {vals[starts[o]]:g} is not in names ({n_cls} classes).")  # fmt: skip
    sizes = np.asarray([r[1] for r in read], np.float64).reshape(-1, 2)
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


def _label_and_size(image: str) -> tuple[bytes | None, tuple[int, int]]:
    return read_if_exists(label_url(image)), image_size(image)


def _task_from_other_splits(dy: DataYaml, split: str) -> str | None:
    for other in dy.splits:
        if other != split:
            labels = [label_url(u) for u in list_images(dy.splits[other])]
            arity = parse_labels(in_chunks(read_if_exists, labels), labels).arity
            if len(arity):
                return infer_task(dy, arity)
    return None


def _check(objects: Objects, bad: np.ndarray, urls: Sequence[str], why: Any) -> None:
    if len(bad) and bool(bad.any()):
        _fail(objects, bad, urls, why)


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
