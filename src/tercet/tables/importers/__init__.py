"""Dataset formats in: COCO, YOLO (Ultralytics layout), Hugging Face ``datasets`` and map-style
PyTorch datasets. Each importer returns the new table's folder URL, references images through
aliases, and copies no image file (Hugging Face and PyTorch images, which exist only as bytes or
tensors, are written once: see their modules). ``docs/formats.md`` is the reference."""

from __future__ import annotations

from tercet.tables.importers.coco import from_coco
from tercet.tables.importers.huggingface import from_hugging_face
from tercet.tables.importers.torch_dataset import from_torch_dataset
from tercet.tables.importers.yolo import from_yolo

__all__ = ["from_coco", "from_hugging_face", "from_torch_dataset", "from_yolo"]
