"""Hugging Face ``datasets`` in: features mapped to roles.

``Image`` → role ``image`` (a URL), or ``semantic_mask`` for the second image of a row whose
name says mask, annotation, segmentation or label; ``ClassLabel`` → role ``label`` with the
class names as the value map; a list of ``ClassLabel`` → a list column with the same value
map; an object feature holding ``bbox`` (or ``bboxes``) and a ``ClassLabel`` list
(``category``, ``label``, …) → ``boxes`` (xyxy pixels); any other feature is kept as Arrow
stores it.

Where the images go: a Hugging Face dataset keeps encoded image bytes inside its Arrow files,
and the dashboard, the service and training read images by URL. Each image is therefore written
once, unchanged (no re-encoding), to ``image_dir`` — by default
``<project>/datasets/<dataset>/files/<name>/`` — under the hash of its bytes, so a re-import
writes nothing new. An image the dataset holds only as a path to an existing file is referenced
where it is, not copied.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tercet import format, layout, storage
from tercet.dependencies import require
from tercet.errors import FormatError
from tercet.schema import BOX_TYPE
from tercet.tables.importers.common import write_table

BOX_KEYS = ("bbox", "bboxes", "boxes")
CLASS_KEYS = ("category", "categories", "label", "labels", "category_id", "class", "classes")
BBOX_FORMATS = ("xywh", "xyxy", "cxcywh")
SEMANTIC_HINTS = ("mask", "annotation", "segmentation", "label")


def load(data: Any, split: str | None) -> Any:
    """A ``datasets.Dataset``: ``data`` itself, its ``split``, or loaded from a local copy
    (``save_to_disk``) or, failing that, by name through ``datasets.load_dataset``."""
    datasets = require("datasets", "Importing Hugging Face datasets")
    if isinstance(data, str):
        if storage.exists(
            storage.join(storage.resolve(data), "dataset_info.json")
        ) or storage.exists(storage.join(storage.resolve(data), "dataset_dict.json")):
            data = datasets.load_from_disk(storage.resolve(data))
        else:
            data = datasets.load_dataset(data, split=split)
    if isinstance(data, datasets.DatasetDict):
        if split is None:
            split = "train" if "train" in data else None
        if split not in data:
            raise FormatError(
                f"The dataset has splits {', '.join(data)}; pass split= with one of them."
            )
        data = data[split]
    if not isinstance(data, datasets.Dataset):
        raise FormatError(
            f"from_hugging_face takes a datasets.Dataset, DatasetDict, a save_to_disk folder or "
            f"a dataset name; received {type(data).__name__}."
        )
    return data


def _class_names(feature: Any) -> list[str] | None:
    datasets = require("datasets", "Importing Hugging Face datasets")
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    return None


def _inner(feature: Any) -> Any:
    """The item feature of a List/Sequence feature (None for anything else)."""
    datasets = require("datasets", "Importing Hugging Face datasets")
    if isinstance(feature, datasets.Sequence | datasets.List):  # type: ignore[misc,attr-defined,unused-ignore]
        return feature.feature
    if isinstance(feature, list) and len(feature) == 1:
        return feature[0]
    return None


def _objects(feature: Any) -> tuple[str, str, list[str] | None] | None:
    """``(bbox key, class key, class names)`` when ``feature`` describes objects with boxes."""
    fields = feature if isinstance(feature, Mapping) else _inner(feature)
    if not isinstance(fields, Mapping):
        return None
    box = next((k for k in BOX_KEYS if k in fields), None)
    cls = next((k for k in CLASS_KEYS if k in fields), None)
    if box is None or cls is None:
        return None
    names = _class_names(_inner(fields[cls]) or fields[cls])
    return box, cls, names


def _boxes(column: pa.ChunkedArray, box: str, cls: str, bbox_format: str, where: str) -> pa.Array:
    col = column.combine_chunks()
    if pa.types.is_struct(col.type):  # {bbox: [[…]], category: […]} per row
        bb, cc = col.field(box), col.field(cls)
        offsets = bb.offsets
        if not pc.all(pc.equal(pc.list_value_length(bb), pc.list_value_length(cc))).as_py():
            raise FormatError(f"{where}: '{box}' and '{cls}' hold different numbers of objects.")
        flat_b, flat_c = pc.list_flatten(bb), pc.list_flatten(cc)
    else:  # [{bbox: […], category: …}, …] per row
        offsets = col.offsets
        inner = pc.list_flatten(col)
        flat_b, flat_c = inner.field(box), inner.field(cls)
    coords = pc.list_flatten(flat_b).to_numpy(zero_copy_only=False).astype(np.float64)
    if coords.size != 4 * len(flat_b):
        raise FormatError(f"{where}: every '{box}' must hold 4 numbers.")
    a = coords.reshape(-1, 4)
    if bbox_format == "xywh":
        a = np.c_[a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]]
    elif bbox_format == "cxcywh":
        a = np.c_[a[:, 0] - a[:, 2] / 2, a[:, 1] - a[:, 3] / 2,
                  a[:, 0] + a[:, 2] / 2, a[:, 1] + a[:, 3] / 2]  # fmt: skip
    struct = pa.StructArray.from_arrays(
        [pa.array(a[:, i], pa.float32()) for i in range(4)] + [pc.cast(flat_c, pa.int32())],
        fields=list(BOX_TYPE),
    )
    return pa.ListArray.from_arrays(pc.cast(offsets, pa.int32()), struct)


def _images(column: pa.ChunkedArray, files: str, stored: str, where: str) -> pa.Array:
    from PIL import Image

    col = column.combine_chunks()
    raw, paths = col.field("bytes").to_pylist(), col.field("path").to_pylist()
    urls: list[str | None] = []
    for i, (data, path) in enumerate(zip(raw, paths, strict=True)):
        if data is None:
            if path and storage.exists(storage.resolve(path)):
                urls.append(storage.resolve(path))
                continue
            if path:
                raise FormatError(f"{where}: row {i} names image {path!r}, which does not exist.")
            urls.append(None)
            continue
        suffix = path.rsplit(".", 1)[-1].lower() if path and "." in path else ""
        if not suffix:
            with Image.open(io.BytesIO(data)) as im:
                suffix = (im.format or "png").lower()
        file = f"{hashlib.sha256(data).hexdigest()[:24]}.{suffix}"
        url = storage.join(files, file)
        if not storage.exists(url):
            storage.write_bytes(url, data)
        urls.append(f"{stored}/{file}")
    return pa.array(urls, pa.string())


def hugging_face_to_arrow(
    ds: Any,
    files: str,
    bbox_format: str = "xywh",
    where: str = "the dataset",
    stored: str | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """Rows and ``(roles, value_maps)`` of a ``datasets.Dataset``."""
    datasets = require("datasets", "Importing Hugging Face datasets")
    if bbox_format not in BBOX_FORMATS:
        raise FormatError(
            f"bbox_format must be one of {', '.join(BBOX_FORMATS)}; got {bbox_format!r}."
        )
    for c, feat in ds.features.items():
        if isinstance(feat, datasets.Image):
            ds = ds.cast_column(c, datasets.Image(decode=False))
    table = ds.with_format("arrow")[0 : len(ds)]
    image_count = sum(isinstance(f, datasets.Image) for f in ds.features.values())
    columns: dict[str, Any] = {}
    roles: dict[str, str] = {}
    value_maps: dict[str, list[str]] = {}
    for name, feat in ds.features.items():
        col = table.column(name)
        objects = _objects(feat)
        names = _class_names(feat)
        if isinstance(feat, datasets.Image):
            columns[name] = _images(col, files, stored or files, f"{where}, column {name!r}")
            # Segmentation datasets pair each image with a label image (ADE20k's "annotation").
            semantic = any(k in name.lower() for k in SEMANTIC_HINTS) and image_count > 1
            roles[name] = "semantic_mask" if semantic else "image"
        elif names is not None:
            columns[name] = pc.cast(col, pa.int32())
            roles[name], value_maps[name] = "label", names
        elif objects is not None:
            box, cls, cls_names = objects
            columns[name] = _boxes(col, box, cls, bbox_format, f"{where}, column {name!r}")
            roles[name] = "boxes"
            if cls_names:
                value_maps[name] = cls_names
        elif (inner := _class_names(_inner(feat))) is not None:
            columns[name] = pc.cast(col, pa.list_(pa.int32()))
            roles[name], value_maps[name] = "other", inner
        else:
            columns[name] = col
    return pa.table(columns), {"roles": roles, "value_maps": value_maps}


def from_hugging_face(
    data: Any,
    split: str | None = None,
    *,
    project: str,
    dataset: str,
    name: str | None = None,
    image_dir: str | None = None,
    bbox_format: str = "xywh",
    root: str | None = None,
    **kwargs: Any,
) -> str:
    """Create a table from a Hugging Face dataset; returns its folder URL (see module doc)."""
    ds = load(data, split)
    name = name or split or str(getattr(ds, "split", None) or "train")
    format.check_name(name, "table name")
    files = image_dir or storage.join(
        layout.project_url(project, root), format.DATASETS, dataset, "files", name
    )
    where = data if isinstance(data, str) else "the dataset"
    # The default folder sits beside the table: stored relative to it, it moves with the project.
    stored = None if image_dir else f"../../files/{name}"
    table, spec = hugging_face_to_arrow(ds, storage.resolve(files), bbox_format, where, stored)
    return write_table(table, project, dataset, name, spec["roles"], spec["value_maps"],
                       root=root, **kwargs)  # fmt: skip
