"""What every importer shares: writing the table with schema extras (keypoint names, skeletons),
image sizes read from headers, and the image-file suffixes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from tercet import layout, storage
from tercet.storage import files as storage_files
from tercet.tables import source

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def write_table(
    data: pa.Table,
    project: str,
    dataset: str,
    name: str,
    roles: Mapping[str, str],
    value_maps: Mapping[str, Any] | None = None,
    extras: Mapping[str, Mapping[str, Any]] | None = None,
    root: str | None = None,
    **kwargs: Any,
) -> str:
    """Write ``data`` as a source table whose columns carry ``extras`` in the schema (for example
    ``{"keypoints": {"names": [...], "skeleton": [...]}}``); returns its folder URL."""
    roles = {**roles, **kwargs.pop("roles", {})}
    value_maps = {**(value_maps or {}), **kwargs.pop("value_maps", {})}
    schema = kwargs.pop("schema", None)
    if extras and schema is None:
        # Inferred as create() would, then the extras are added to the columns they describe.
        _, schema = source.prepare(
            data.slice(0, 0), roles, value_maps, None, 0, layout.project_url(project, root)
        )
        for column, extra in extras.items():
            if column in schema:
                schema[column].extra.update(extra)
    return source.create(
        data, project, dataset, name, schema=schema, roles=roles, value_maps=value_maps,
        root=root, **kwargs,
    )  # fmt: skip


def image_sizes(urls: Sequence[str], workers: int = 8) -> list[tuple[int, int]]:
    """``(width, height)`` of each image, read from its header only (not decoded)."""
    from PIL import Image

    def one(url: str) -> tuple[int, int]:
        with storage_files.open_read(url) as fh, Image.open(fh) as im:
            return int(im.width), int(im.height)

    if len(urls) < 64:
        return [one(u) for u in urls]
    with storage.FencedExecutor(workers) as pool:
        return list(pool.map(one, urls, chunksize=256))
