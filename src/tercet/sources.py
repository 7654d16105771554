"""Deprecated: the importers are ``Table.from_parquet`` and its siblings
(:mod:`tercet.tables.ingest`)."""

from __future__ import annotations

from tercet._deprecated import forward
from tercet.tables import ingest as _ingest
from tercet.tables.table import Table as _Table

__getattr__ = forward(
    __name__,
    {
        "IMAGE_SUFFIXES": (_ingest.IMAGE_SUFFIXES, "tercet.tables.ingest.IMAGE_SUFFIXES"),
        "from_parquet": (_Table.from_parquet, "tercet.Table.from_parquet"),
        "from_csv": (_Table.from_csv, "tercet.Table.from_csv"),
        "from_image_folder": (_Table.from_image_folder, "tercet.Table.from_image_folder"),
        "from_coco": (_Table.from_coco, "tercet.Table.from_coco"),
        "from_torch_dataset": (_Table.from_torch_dataset, "tercet.Table.from_torch_dataset"),
    },
)
