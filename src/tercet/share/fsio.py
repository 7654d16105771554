"""The few storage operations sharing needs beyond :mod:`tercet.storage`'s whole-file API.

Bundles and data files can be far larger than memory, so they are read as streams; an interrupted
import must delete what it wrote. All of it goes through :func:`tercet.storage.filesystem`, so the
rule "one storage layer" holds and S3 and local disk behave alike.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any, Protocol

from tercet import storage
from tercet.errors import ObjectNotFoundError, StorageError

CHUNK = 1 << 20


class Progress(Protocol):
    """Receives progress of a long export or import (the CLI draws it with rich)."""

    def start(self, description: str, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class NoProgress:
    """A :class:`Progress` that shows nothing."""

    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


@contextmanager
def open_read(url: str) -> Iterator[IO[bytes]]:
    """A binary stream over the file at ``url``."""
    url = storage.normalize(url)
    try:
        if storage.is_local(url):
            # fsspec's local opener costs ~10 µs a file more: it shows on 10,000 images. A large
            # buffer spares tarfile's 10 KiB reads a system call (and a GIL hand-over) each.
            fh: Any = open(url, "rb", buffering=CHUNK)  # noqa: SIM115
        else:
            fs, path = storage.filesystem(url)
            fh = fs.open(path, "rb", block_size=8 * CHUNK)
    except FileNotFoundError as exc:
        raise ObjectNotFoundError(f"No file at {url}.") from exc
    except IsADirectoryError as exc:
        raise StorageError(f"{url} is a folder, not a file.") from exc
    except OSError as exc:
        raise StorageError(f"Cannot read {url}: {exc}") from exc
    try:
        yield fh
    finally:
        fh.close()


def size(url: str) -> int:
    """Size in bytes of the file at ``url``."""
    url = storage.normalize(url)
    if storage.is_local(url):
        try:
            return os.stat(url).st_size
        except FileNotFoundError as exc:
            raise ObjectNotFoundError(f"No file at {url}.") from exc
    return int(storage.file_info(url)["size"])


def read_if_small(url: str, limit: int) -> bytes | None:
    """The bytes of the file at ``url`` when it holds at most ``limit`` bytes, else None."""
    if not storage.is_local(url):
        with open_read(url) as fh:
            if int(getattr(fh, "size", limit + 1)) > limit:
                return None
            data: bytes = fh.read()
            return data
    # Four system calls a file, as tar makes: a buffered open() makes seven, and on 10,000
    # small images the difference is most of the time spent.
    try:
        path = url if os.path.isabs(url) else storage.normalize(url)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise ObjectNotFoundError(f"No file at {url}.") from exc
    except OSError as exc:
        raise StorageError(f"Cannot read {url}: {exc}") from exc
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            return None
        parts = []
        while size > 0 and (part := os.read(fd, size)):
            parts.append(part)
            size -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


def sha256_of(url: str) -> str:
    """Checksum of the file at ``url``, read as a stream."""
    digest = hashlib.sha256()
    with open_read(url) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def remove_file(url: str) -> None:
    """Delete one file; a file that is already gone is fine."""
    fs, path = storage.filesystem(url)
    with suppress(FileNotFoundError):
        fs.rm_file(path)


def prune_empty_folders(url: str, stop: str) -> None:
    """Remove ``url``'s folder and its parents while they are empty, up to (not including) ``stop``.

    Object stores have no folders, so there is nothing to do there.
    """
    if not storage.is_local(url):
        return
    stop = storage.normalize(stop)
    folder = storage.parent(storage.normalize(url))
    fs, _ = storage.filesystem(folder)
    while folder.startswith(stop.rstrip("/") + "/"):
        try:
            fs.rmdir(folder)
        except OSError:
            return  # not empty, or already gone
        folder = storage.parent(folder)


class HashingReader:
    """Wraps a binary stream and checksums every byte read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.count += len(data)
        return data

    def hexdigest(self) -> str:
        return self.digest.hexdigest()
