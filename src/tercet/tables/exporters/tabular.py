"""CSV, JSON Lines and Parquet out: every column, labels by their names.

Label columns (and the labels inside boxes) are written as their value map's names; in Parquet a
label column becomes a dictionary column, which pandas reads as a categorical. CSV has no nested
values: lists and structs are written as JSON text in their cell.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tercet import storage
from tercet.errors import ExportError
from tercet.schema import ID_COLUMN
from tercet.tables.exporters.common import Exportable, copy_files, plan_images, select_rows

TABULAR = ("csv", "jsonl", "parquet")


def named_rows(table: Exportable, rows: pa.Table, image_names: dict[str, list[str | None]],
               fmt: str) -> pa.Table:  # fmt: skip
    """``rows`` with image URLs replaced and labels named."""
    columns: dict[str, Any] = {}
    for col in table.schema:
        arr = rows.column(col.name)
        names = {int(k): str(v["name"]) for k, v in (col.value_map or {}).items()}
        if col.name in image_names:
            arr = pa.array(image_names[col.name], pa.string())
        elif col.role == "label" and names:
            keys = pa.array(sorted(names), arr.type)
            dictionary = pa.array([names[k] for k in sorted(names)], pa.string())
            idx = pc.index_in(arr, value_set=keys)
            arr = pa.DictionaryArray.from_arrays(idx.combine_chunks(), dictionary)
            if fmt != "parquet":
                arr = arr.cast(pa.string())
        elif names and fmt != "parquet" and pa.types.is_list(arr.type):
            arr = pa.array(
                [[{**o, "label": names.get(o["label"], o["label"])} if isinstance(o, dict) and
                  "label" in o else names.get(o, o) for o in v] if v is not None else None
                 for v in arr.to_pylist()]
            )  # fmt: skip
        columns[col.name] = arr
    return pa.table(columns)


def export_tabular(
    table: Exportable,
    url: str,
    fmt: str,
    weight_threshold: float | None,
    images: str,
    overwrite: bool,
    progress: bool,
) -> str:
    """Write ``table`` as one CSV, JSON Lines or Parquet file at ``url``."""
    rows = select_rows(table, weight_threshold)
    folder = storage.parent(url)
    ids = rows.column(ID_COLUMN).to_pylist()
    image_names: dict[str, list[str | None]] = {}
    copies: list[tuple[str, str]] = []
    for col in table.schema:
        if col.role in ("image", "semantic_mask"):
            dest = storage.join(folder, "images" if col.role == "image" else col.name)
            plan = plan_images(table, rows.column(col.name).to_pylist(), ids, images, folder, dest)
            image_names[col.name] = plan.names
            copies += plan.copies
    out = named_rows(table, rows, image_names, fmt)
    buf = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(out, buf)
    elif fmt == "jsonl":
        for row in out.to_pylist():
            buf.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
    else:
        flat = {
            c: pa.array([None if v is None else json.dumps(v) for v in out.column(c).to_pylist()])
            if pa.types.is_nested(out.column(c).type) else out.column(c)
            for c in out.column_names
        }  # fmt: skip
        pacsv.write_csv(pa.table(flat), buf)
    if storage.exists(url) and not overwrite:
        raise ExportError(f"{url} already exists; pass overwrite=True (--overwrite) to replace it.")
    copy_files(copies, overwrite, progress)
    storage.write_bytes(url, buf.getvalue(), overwrite=overwrite)
    return url
