"""What every importer shares: writing the table with schema extras (keypoint names, skeletons),
image sizes read from headers, and the image-file suffixes."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pyarrow as pa

from tercet import layout, storage
from tercet.storage import files as storage_files
from tercet.tables import source

T = TypeVar("T")
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


CHUNK = 512


HEAD = 64 * 1024
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def image_size(url: str) -> tuple[int, int]:
    """``(width, height)`` of an image as shown (EXIF rotation applied, as Ultralytics measures
    it), read from its first 64 KiB: ``imagesize`` (the ``formats`` extra) when it knows the
    format, else Pillow (~3x slower a file), which reads the whole file when the header is
    longer (a JPEG with a large EXIF thumbnail)."""
    try:
        import imagesize  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - installed with tercet[formats]
        imagesize = None
    if imagesize is not None and storage.is_local(url):
        # Given a path, imagesize reads the header itself; given bytes (a BytesIO) it runs a
        # runtime Protocol check per file that costs about as much as the read.
        storage.guard(url)
        w, h = imagesize.get(url if os.path.isabs(url) else storage.normalize(url))
        if w > 0 and h > 0:
            return int(w), int(h)
    head = storage_files.read_head(url, HEAD)
    if imagesize is not None:
        w, h = imagesize.get(io.BytesIO(head))
        if w > 0 and h > 0:
            return int(w), int(h)
    from PIL import Image

    for data in (head, storage.read_bytes(url)):
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if im.getexif().get(0x0112) in (5, 6, 7, 8):  # rotated a quarter turn
                    w, h = h, w
                return int(w), int(h)
        except (OSError, SyntaxError):
            if len(data) < HEAD:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def in_chunks(fn: Callable[[str], T], urls: Sequence[str], workers: int = 4) -> list[T]:
    """``fn`` of each URL, on a few threads in chunks (a task per URL costs more than a small
    file's read)."""
    if len(urls) <= CHUNK:
        return [fn(u) for u in urls]
    chunks = [urls[i : i + CHUNK] for i in range(0, len(urls), CHUNK)]
    with storage.FencedExecutor(workers) as pool:
        return [x for part in pool.map(lambda c: [fn(u) for u in c], chunks) for x in part]


def image_sizes(urls: Sequence[str]) -> list[tuple[int, int]]:
    """``(width, height)`` of each image (:func:`image_size`)."""
    return in_chunks(image_size, urls)


def read_if_exists(url: str) -> bytes | None:
    """The bytes at ``url``, None when there is no such file."""
    if storage.is_local(url):
        # Unbuffered reads on a descriptor: a label file is a few hundred bytes, where the
        # buffered file object's own set-up is a third of the cost (100,000 files per split).
        storage.guard(url)
        try:
            fd = os.open(url if os.path.isabs(url) else storage.normalize(url), _READ_FLAGS)
        except FileNotFoundError:
            return None
        except OSError:
            fd = -1  # read below through storage, which says what went wrong
        if fd >= 0:
            try:
                chunks = []
                while chunk := os.read(fd, 1 << 16):
                    chunks.append(chunk)
                return b"".join(chunks)
            except OSError:
                pass
            finally:
                os.close(fd)
    try:
        return storage.read_bytes(url)
    except FileNotFoundError:
        return None
