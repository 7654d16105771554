"""A minimal streaming tar writer, and a read-ahead that checksums files on a worker thread.

:mod:`tarfile` spends ~50 µs building each pax header; a bundle of 10,000 images then spends
more time on headers than on bytes. Names that fit the classic ustar header (nearly all) get one
built directly here; others fall back to :mod:`tarfile`'s pax header, so any name still works
and every tar reader (``tar``, :mod:`tarfile`) reads the result.
"""

from __future__ import annotations

import functools
import os
import tarfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, TypeVar

BLOCK = 512
RECORD = 20 * BLOCK  # what tar and tarfile pad an archive to
_MAX_SIZE = 8**11 - 1
_NUL = b"\0"

T = TypeVar("T")
R = TypeVar("R")


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for a ustar header, or None when the name does not fit one."""
    if len(name) <= 100:
        return b"", name
    cut = name.rfind(b"/", 0, 156)
    while cut > 0:
        if len(name) - cut - 1 <= 100:
            return name[:cut], name[cut + 1 :]
        cut = name.rfind(b"/", 0, cut)
    return None


@functools.lru_cache(maxsize=16)
def _template(mode: int, mtime: int) -> tuple[bytes, int]:
    """A ustar header with every field but name, prefix, size and checksum filled in, and the
    byte sum of it (the checksum is summed with its own field as spaces)."""
    block = bytearray(BLOCK)
    block[100:108] = _octal(mode, 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[136:148] = _octal(mtime, 12)
    block[148:156] = b" " * 8
    block[156:157] = tarfile.REGTYPE
    block[257:265] = tarfile.POSIX_MAGIC
    return bytes(block), sum(block)


def header(name: str, size: int, mtime: int, mode: int = 0o644) -> bytes:
    """The header block(s) of a regular file member."""
    raw = name.encode("utf-8")
    split = _split_ustar(raw) if raw.isascii() and 0 <= size <= _MAX_SIZE else None
    if split is None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, mtime, mode
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    prefix, short = split
    template, base = _template(mode, mtime)
    size_field = _octal(size, 12)
    checksum = b"%06o\0 " % (base + sum(short) + sum(prefix) + sum(size_field))
    return b"".join(
        (
            short,
            template[len(short) : 124],
            size_field,
            template[136:148],
            checksum,
            template[156:345],
            prefix,
            template[345 + len(prefix) :],
        )
    )


class TarWriter:
    """Writes regular-file members to a binary stream, one after another."""

    def __init__(self, out: IO[bytes], mtime: float, buffer: int = 1 << 20) -> None:
        self.out = out
        self.mtime = int(mtime)
        self.offset = 0
        # Small members would cost three write calls each; gather them into large writes.
        self._buffer = bytearray()
        self._limit = buffer

    def _write(self, data: bytes | memoryview) -> None:
        self.offset += len(data)
        if len(data) >= self._limit:
            self.flush()
            self.out.write(data)
            return
        self._buffer += data
        if len(self._buffer) >= self._limit:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self.out.write(self._buffer)
            self._buffer.clear()

    def add_framed(self, member: bytes) -> None:
        """Append a member made by :func:`framed` (built off this thread)."""
        self._write(member)

    def add_bytes(self, name: str, data: bytes) -> None:
        self._write(header(name, len(data), self.mtime))
        self._write(data)
        self._pad()

    def add_stream(self, name: str, size: int, stream: IO[bytes], chunk: int) -> None:
        """Copy exactly ``size`` bytes of ``stream``; fail if it ends early."""
        self._write(header(name, size, self.mtime))
        left = size
        while left:
            data = stream.read(min(chunk, left))
            if not data:
                raise OSError(f"{name}: the file ended {left} bytes early (it changed meanwhile)")
            self._write(data)
            left -= len(data)
        self._pad()

    def _pad(self) -> None:
        rest = self.offset % BLOCK
        if rest:
            self._write(_NUL * (BLOCK - rest))

    def close(self) -> None:
        self._write(_NUL * (2 * BLOCK))
        rest = self.offset % RECORD
        if rest:
            self._write(_NUL * (RECORD - rest))
        self.flush()


def read_ahead(
    items: Iterable[T],
    work: Callable[[T], R],
    batch: int = 64,
    window: int = 4,
    workers: int | None = None,
) -> Iterator[R]:
    """``work(item)`` for every item, run ahead on worker threads, yielded in order.

    File reads and SHA-256 release the GIL, so on other cores they overlap with writing the
    archive. Work goes out in batches of ``batch`` items (a future per file would cost as much
    as reading a small one), at most ``window`` batches per worker ahead, which bounds the
    memory in flight. By default one worker per core beyond the caller's own.
    """
    workers = workers or max(1, min(4, (os.cpu_count() or 2) - 1))

    def run(chunk: list[T]) -> list[R]:
        return [work(item) for item in chunk]

    pending: deque[Future[list[R]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tercet-share") as pool:
        try:
            chunk: list[T] = []
            for item in items:
                chunk.append(item)
                if len(chunk) == batch:
                    pending.append(pool.submit(run, chunk))
                    chunk = []
                    if len(pending) >= window * workers:
                        yield from pending.popleft().result()
            if chunk:
                pending.append(pool.submit(run, chunk))
            while pending:
                yield from pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def framed(name: str, data: bytes, mtime: int) -> bytes:
    """A whole member — header, data, padding — ready for :meth:`TarWriter.add_framed`."""
    pad = -len(data) % BLOCK
    return b"".join((header(name, len(data), mtime), data, _NUL * pad))
