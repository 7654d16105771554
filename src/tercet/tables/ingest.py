"""Importers that turn common dataset forms into source tables, streaming where they can.

Each returns the new table's folder URL; ``Table.from_parquet`` and its siblings open it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tercet import format, layout, storage
from tercet.errors import CorruptObjectError, SchemaError
from tercet.schema import BOXES_TYPE
from tercet.storage.errors import not_found
from tercet.tables.source import ROW_GROUP, SourceWriter, create

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def from_parquet(path: str, **kwargs: Any) -> str:
    """Create a table from a Parquet file, batch by batch."""
    fs, p = storage.arrow_filesystem(path)
    try:
        pf = pq.ParquetFile(fs.open_input_file(p))
    except FileNotFoundError:
        raise not_found(path) from None
    except pa.ArrowInvalid as exc:
        raise CorruptObjectError(f"{path} is not a readable Parquet file ({exc}).") from exc
    with SourceWriter(**kwargs) as w:
        for batch in pf.iter_batches(batch_size=ROW_GROUP):
            w.write(batch)
    return w.folder


def from_csv(path: str, read_options: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
    """Create a table from a CSV file, streaming it in blocks."""
    fs, p = storage.arrow_filesystem(path)
    try:
        stream = fs.open_input_stream(p)
        reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(**(read_options or {})))
    except FileNotFoundError:
        raise not_found(path) from None
    except pa.ArrowInvalid as exc:
        raise CorruptObjectError(f"{path}: cannot parse as CSV ({exc}).") from exc
    with SourceWriter(**kwargs) as w:
        try:
            for batch in reader:
                w.write(batch)
        except pa.ArrowInvalid as exc:
            raise CorruptObjectError(f"{path}: cannot parse as CSV ({exc}).") from exc
    return w.folder


def from_image_folder(folder: str, **kwargs: Any) -> str:
    """One row per image; the sub-folder name is the class (``folder/cat/1.jpg``).

    Columns: ``image`` (URL, alias-contracted), ``label`` (value map from sorted class names),
    ``width``, ``height``.
    """
    from PIL import Image

    root = storage.normalize(folder)
    classes = [c for c in storage.ls(root) if not c.startswith(".")]
    classes = [c for c in classes if storage.ls(storage.join(root, c))]
    if not classes:
        raise SchemaError(
            f"{folder} has no class sub-folders with images (expected folder/<class>/x.png)."
        )
    paths: list[str] = []
    labels: list[int] = []
    for i, cls in enumerate(sorted(classes)):
        for url in storage.walk_files(storage.join(root, cls)):
            if url.lower().endswith(IMAGE_SUFFIXES):
                paths.append(url)
                labels.append(i)
    widths, heights = [], []
    for url in paths:
        with Image.open(io.BytesIO(storage.read_bytes(url))) as im:
            widths.append(im.width)
            heights.append(im.height)
    data = pa.table({
        "image": pa.array(paths, pa.string()),
        "label": pa.array(labels, pa.int32()),
        "width": pa.array(widths, pa.int32()),
        "height": pa.array(heights, pa.int32()),
    })  # fmt: skip
    roles = {"image": "image", "label": "label", **kwargs.pop("roles", {})}
    value_maps = {"label": sorted(classes), **kwargs.pop("value_maps", {})}
    return create(data, roles=roles, value_maps=value_maps, **kwargs)


def from_coco(annotations: str, images_dir: str, **kwargs: Any) -> str:
    """One row per image of a COCO detection file, with its boxes (xyxy) and labels."""
    try:
        coco = json.loads(storage.read_bytes(annotations))
        cats = {int(c["id"]): str(c["name"]) for c in coco.get("categories", [])}
        images = coco["images"]
        anns = coco.get("annotations", [])
        by_image: dict[int, list[dict[str, Any]]] = {}
        for a in anns:
            x, y, w, h = (float(v) for v in a["bbox"])
            by_image.setdefault(int(a["image_id"]), []).append(
                {"x0": x, "y0": y, "x1": x + w, "y1": y + h, "label": int(a["category_id"])}
            )
        base = storage.normalize(images_dir)
        data = pa.table({
            "image": pa.array([storage.join(base, im["file_name"]) for im in images], pa.string()),
            "coco_id": pa.array([int(im["id"]) for im in images], pa.int64()),
            "width": pa.array([int(im.get("width", 0)) for im in images], pa.int32()),
            "height": pa.array([int(im.get("height", 0)) for im in images], pa.int32()),
            "boxes": pa.array([by_image.get(int(im["id"]), []) for im in images], BOXES_TYPE),
        })  # fmt: skip
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, pa.ArrowException) as exc:
        raise CorruptObjectError(
            f"{annotations} is not a COCO detection file ({exc!r}); expected 'images', "
            "'annotations' and 'categories'."
        ) from exc
    roles = {"image": "image", "boxes": "boxes", **kwargs.pop("roles", {})}
    value_maps = (
        {"boxes": cats, **kwargs.pop("value_maps", {})} if cats else kwargs.pop("value_maps", None)
    )
    return create(data, roles=roles, value_maps=value_maps, **kwargs)


def from_torch_dataset(
    data: Any,
    project: str,
    dataset: str,
    name: str,
    class_names: list[str] | None = None,
    image_dir: str | None = None,
    root: str | None = None,
    batch_rows: int = 4096,
    **kwargs: Any,
) -> str:
    """Create a table from a map-style PyTorch dataset of ``(image, label)`` or dict samples.

    Images (PIL or CHW/HW tensors/arrays) are written as PNG files under ``image_dir`` (default
    ``<project>/datasets/<dataset>/files/<name>/``) and referenced by URL.
    """
    from PIL import Image

    project_dir = layout.project_url(project, root)
    value_maps = {"label": class_names} if class_names else None
    roles = {"image": "image", "label": "label"}
    with SourceWriter(
        project, dataset, name, root=root, roles=roles, value_maps=value_maps, **kwargs
    ) as w:
        # The writer's names: if_exists="new" may have picked another than ``name``.
        name = w.name
        files = image_dir or storage.join(project_dir, format.DATASETS, w.dataset, "files", name)
        rows: list[dict[str, Any]] = []
        for i in range(len(data)):
            sample = data[i]
            if isinstance(sample, Mapping):
                item = dict(sample)
                image = item.pop("image", None)
            else:
                image, label = sample[0], sample[1]
                item = {"label": int(label)}
            row: dict[str, Any] = {}
            if image is not None:
                pil = image if isinstance(image, Image.Image) else _to_pil(image)
                buf = io.BytesIO()
                pil.save(buf, format="PNG")
                url = storage.join(files, f"{i:07d}.png")
                if not storage.exists(url):
                    storage.write_bytes(url, buf.getvalue())
                row["image"] = url if image_dir else f"../../files/{name}/{i:07d}.png"
            for k, v in item.items():
                row[k] = v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v
            rows.append(row)
            if len(rows) >= batch_rows:
                w.write(rows)
                rows = []
        if rows:
            w.write(rows)
    return w.folder


def _to_pil(image: Any) -> Any:
    from PIL import Image

    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.transpose(arr, (1, 2, 0))
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 if hi <= 1.0 and lo >= 0.0 else 1.0
        arr = np.clip(arr * scale, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)
