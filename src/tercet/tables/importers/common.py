"""What every importer shares: writing the table with schema extras (keypoint names, skeletons),
image sizes read from headers, and the image-file suffixes."""

from __future__ import annotations

import contextlib
import io
import os
import struct
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
    if storage.is_local(url):
        storage.guard(url)
        path = url if os.path.isabs(url) else storage.normalize(url)
        size = _local_header_size(path)
        if size is not None:
            return size
    if imagesize is not None and storage.is_local(url):
        # Given a path, imagesize reads the header itself; given bytes (a BytesIO) it runs a
        # runtime Protocol check per file that costs about as much as the read.
        w, h = imagesize.get(path)
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


FAST_HEAD = 4096
_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG markers without a length field (RST0-7, SOI, TEM), and the SOF markers that carry the size
# (C0-CF except DHT C4, JPG C8, DAC CC).
_JPEG_BARE = frozenset([0x01, 0xD8, *range(0xD0, 0xD8)])
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _local_header_size(path: str) -> tuple[int, int] | None:
    """``(width, height)`` of a local PNG, or of a JPEG without EXIF, from one unbuffered read of
    its first 4 KiB; None for anything else (then imagesize or Pillow decide).

    Why not imagesize for these too: it costs ~37 µs a PNG and ~80 µs a JPEG (a buffered file
    object, a format probe and a read per JPEG segment), against ~7 µs for the bare read, and a
    YOLO import reads one header per image. The fields are the ones imagesize reads; a JPEG with
    an EXIF block (which may rotate it) goes to imagesize, which applies the orientation."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None  # the slower readers say what went wrong
    try:
        head = os.read(fd, FAST_HEAD)
    except OSError:
        return None
    finally:
        os.close(fd)
    if head[:8] == _PNG and head[12:16] == b"IHDR" and len(head) >= 24:
        w, h = struct.unpack(">LL", head[16:24])
    elif head[:2] == b"\xff\xd8":
        found = _jpeg_sof_size(head)
        if found is None:
            return None
        w, h = found
    else:
        return None
    return (int(w), int(h)) if w > 0 and h > 0 else None


def _jpeg_sof_size(head: bytes) -> tuple[int, int] | None:
    """The frame size from the first SOF segment in ``head``; None at an EXIF block, a damaged
    segment chain or a SOF beyond ``head``."""
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in _JPEG_BARE:
            i += 2
            continue
        if marker == 0xE1 and head[i + 4 : i + 10] == b"Exif\x00\x00":
            return None
        if marker in _JPEG_SOF:
            if i + 9 > len(head):
                return None
            h, w = struct.unpack(">HH", head[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + int.from_bytes(head[i + 2 : i + 4], "big")
    return None


def preload_image_readers() -> None:
    """Import imagesize now if it is installed (before forking workers that read sizes)."""
    with contextlib.suppress(ImportError):  # installed with tercet[formats]
        import imagesize  # type: ignore[import-untyped]  # noqa: F401


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
