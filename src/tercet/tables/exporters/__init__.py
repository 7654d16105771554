"""Tables out: COCO, YOLO (Ultralytics layout), CSV, JSON Lines and Parquet.

:func:`export` writes a revision's rows — by default its latest revision's, without deleted rows
and without rows whose weight is 0 — with labels named by their value maps. Everything is
built and checked before the first byte is written, so a table that does not fit the format
writes nothing. ``docs/formats.md`` is the reference.
"""

from __future__ import annotations

from tercet import storage
from tercet.errors import ExportError
from tercet.tables.exporters.coco import export_coco
from tercet.tables.exporters.common import IMAGE_MODES, Exportable, check_images_mode
from tercet.tables.exporters.tabular import TABULAR, export_tabular
from tercet.tables.exporters.yolo import export_yolo

FORMATS = ("coco", "yolo", *TABULAR)
SUFFIXES = {".json": "coco", ".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}

__all__ = ["FORMATS", "IMAGE_MODES", "export", "guess_format"]


def guess_format(url: str) -> str:
    """The format a target URL's suffix names (a folder is YOLO)."""
    name = storage.basename(url).lower()
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    if "." not in name:
        return "yolo"
    raise ExportError(
        f"Cannot tell the format of {url!r} from its name; pass format= one of "
        f"{', '.join(FORMATS)}."
    )


def export(
    table: Exportable,
    url: str,
    format: str | None = None,
    weight_threshold: float | None = 0.0,
    images: str | None = None,
    *,
    split: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> str:
    """Write ``table``'s rows to ``url`` in ``format``; returns the URL of the file written
    (``data.yaml`` for YOLO). See :meth:`tercet.Table.export`."""
    fmt = (format or guess_format(url)).lower()
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {format!r}; formats: {', '.join(FORMATS)}.")
    mode = images or ("copy" if fmt == "yolo" else "reference")
    check_images_mode(mode)
    url = storage.resolve(url)
    if fmt == "coco":
        return export_coco(table, url, weight_threshold, mode, overwrite, progress)
    if fmt == "yolo":
        return export_yolo(table, url, weight_threshold, mode, overwrite, progress, split)
    return export_tabular(table, url, fmt, weight_threshold, mode, overwrite, progress)
