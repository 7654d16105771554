"""Importers that turn common dataset forms into source tables, streaming where they can.

Each returns the new table's folder URL; ``Table.from_parquet`` and its siblings open it. The
dataset formats (COCO, YOLO, Hugging Face, PyTorch datasets) live in
:mod:`tercet.tables.importers`; their functions are re-exported here for old callers.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tercet import storage
from tercet.errors import CorruptObjectError, SchemaError
from tercet.storage.errors import not_found
from tercet.tables.importers.coco import from_coco
from tercet.tables.importers.common import IMAGE_SUFFIXES
from tercet.tables.importers.torch_dataset import from_torch_dataset
from tercet.tables.source import ROW_GROUP, SourceWriter, create

__all__ = [
    "IMAGE_SUFFIXES", "from_coco", "from_csv", "from_image_folder", "from_parquet",
    "from_torch_dataset",
]  # fmt: skip


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
