"""``tercet export``: a table revision written as COCO, YOLO, CSV, JSON Lines or Parquet."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from tercet.tables.exporters import FORMATS, IMAGE_MODES
from tercet.tables.table import Table


def export(
    table: str = typer.Argument(..., help="URL of a table revision (its latest is exported)."),
    dest: str = typer.Argument(
        ..., help="Where to write: a .json file (COCO), a folder (YOLO), .csv, .jsonl, .parquet."
    ),
    fmt: str = typer.Option(
        None,
        "--format",
        "-f",
        help=f"One of {', '.join(FORMATS)}; guessed from DEST's suffix when left out.",
    ),
    images: str = typer.Option(
        None,
        "--images",
        help=f"{'|'.join(IMAGE_MODES)}: absolute image URLs, paths relative to DEST, or copies "
        "beside it (YOLO needs copy, its default; reference for the others).",
    ),
    weight_threshold: float = typer.Option(
        0.0, "--weight-threshold", help="Rows whose weight is not above it stay out."
    ),
    all_rows: bool = typer.Option(
        False, "--all-rows", help="Keep every row, weight 0 included (ignores --weight-threshold)."
    ),
    split: str = typer.Option(None, "--split", help="YOLO: the split the table becomes."),
    this_revision: bool = typer.Option(
        False, "--this-revision", help="Export TABLE itself, not its latest revision."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace files that exist."),
) -> None:
    """Export a table's latest edits: deleted rows and rows of weight 0 stay out, labels are
    written by their names."""
    t = Table.open(table)
    source = t if this_revision else t.latest()
    written = source.export(
        dest, fmt, None if all_rows else weight_threshold, images, latest=False, split=split,
        overwrite=overwrite, progress=True,
    )  # fmt: skip
    Console().print(
        f"Exported {escape(source.name)} ({source.num_rows} rows before the weight rule) to "
        f"{escape(written)}",
        highlight=False, soft_wrap=True,
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("export")(export)
