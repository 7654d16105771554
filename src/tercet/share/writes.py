"""How an import writes each file, and takes its writes back when it stops.

Every file is staged under a temp name derived from its checksum and moved into place
(:func:`tercet.storage.files.open_staged`), checksummed on the way. A file already in place with
the content the bundle declares counts as done; one with other content is an error. The
:class:`Writes` log records what this import wrote — and only that — so that a failure or an
interrupt removes exactly it.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import IO, Any

from tercet import storage
from tercet.errors import ShareError
from tercet.share import checksums
from tercet.storage import files as storage_files

Written = bool  # True: this import wrote the file; False: the same content was already there


class Writes:
    """Tracks every file the import writes, so that a failure can take them all back.

    Small files are written by one thread, which overlaps their system calls with the main
    thread reading and checksumming the bundle. They are handed over in batches (up to
    ``batch_files`` files or ``batch_bytes`` bytes): one hand-over per file made the wake-ups
    and GIL exchanges (500,000 futex calls for 10,000 files) cost more than the writes they
    overlapped, and several threads creating files in one folder contend in the kernel (on a
    loaded machine, 4 threads spent 9 s of system time where one spent 1 s).
    """

    def __init__(
        self,
        workers: int = 1,
        window: int = 8,
        batch_files: int = 64,
        batch_bytes: int = 1 << 20,
    ) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tercet-import")
        self.window = window  # batches in flight
        self.batch_files, self.batch_bytes = batch_files, batch_bytes
        self.batch = _Batch()
        self.pending: deque[tuple[_Batch, Future[None]]] = deque()
        self.written: list[str] = []
        self.failed: list[str] = []  # targets whose write failed: their new folders may be empty
        self.published: list[str] = []  # object folders moved into place whole
        self.made: set[str] = set()  # folders made in staged folders (local disk)

    def make_folder(self, folder: str) -> None:
        """Create a folder in a staged folder, once per import rather than once per file."""
        if folder not in self.made:
            self.made.add(folder)  # first: a folder half made is pruned too
            os.makedirs(folder, exist_ok=True)

    def submit(
        self, target: str, data: bytes, expected: str, name: str, owned: bool = False
    ) -> None:
        """Write a file on a thread of the pool, with the next ones of its batch."""
        self.batch.items.append((target, data, expected, name, owned))
        self.batch.size += len(data)
        if len(self.batch.items) >= self.batch_files or self.batch.size >= self.batch_bytes:
            self.flush()

    def flush(self) -> None:
        """Hand the batch being filled to the pool."""
        if not self.batch.items:
            return
        batch, self.batch = self.batch, _Batch()
        self.pending.append((batch, self.pool.submit(batch.write)))
        while len(self.pending) > self.window:
            self._finish_one()

    def run(self, target: str, fn: Callable[..., Written], *args: Any) -> None:
        """Write one file on this thread."""
        try:
            wrote = fn(*args)
        except BaseException:
            self.failed.append(target)
            raise
        if wrote:
            self.written.append(target)

    def _finish_one(self) -> None:
        batch, future = self.pending[0]
        try:
            future.result()
        except BaseException:
            if not future.done():
                raise  # interrupted while waiting: the batch stays pending for rollback
            self._record(batch)
            if future.exception() is not None:
                self.failed.append(batch.items[len(batch.done)][0])
            self.pending.popleft()
            raise
        self._record(batch)
        self.pending.popleft()

    def _record(self, batch: _Batch) -> None:
        self.written.extend(target for target, wrote in batch.done if wrote)

    def drain(self) -> None:
        self.flush()
        while self.pending:
            self._finish_one()

    def rollback(self, root: str) -> None:
        """Wait for writes in flight, then delete every file written and prune empty folders."""
        while self.pending:
            # Already recorded as failed (even a KeyboardInterrupt): collect all the others.
            with suppress(BaseException):
                self._finish_one()
        for folder in reversed(self.published):  # whole new objects first: nothing stays visible
            storage_files.remove_folder(folder)
            storage_files.prune_empty_folders(folder, root)
        for target in reversed(self.written):  # then object.json files, then the rest
            try:
                storage_files.remove_file(target)
                storage_files.prune_empty_folders(target, root)
            except OSError:
                pass  # best effort: keep removing the rest
        # A failed write published nothing (writes are atomic), and the file there now may be
        # another writer's: never delete it, only the empty folders the attempt created.
        for target in self.failed:
            storage_files.prune_empty_folders(target, root)
        for folder in sorted(self.made, reverse=True):  # made for a file never written
            storage_files.prune_empty_folders(os.path.join(folder, "-"), root)
        self.written.clear()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class _Batch:
    """Files handed to one thread together; ``done`` grows as each is written."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes, str, str, bool]] = []
        self.size = 0
        self.done: list[tuple[str, Written]] = []

    def write(self) -> None:
        for target, data, expected, name, owned in self.items:
            self.done.append((target, write_bytes(target, data, expected, name, owned)))


def tag(expected: str) -> str:
    """The temp-name tag of a member: the same on every attempt, so leftovers are found."""
    return expected[:16]


def staged(
    target: str, expected: str, write: Callable[[IO[bytes]], str], owned: bool = False
) -> Written:
    """Stage ``write``'s output at ``target`` (it returns the sha256 of what it wrote).

    A file already at ``target`` with that content is a finished earlier attempt: done. One with
    other content is an error: it is not ours to replace. ``owned``: ``target`` lies in a staged
    folder of this import, hidden until it is moved into place whole, so the file is written in
    place (:func:`~tercet.storage.files.open_owned`), replacing what a killed attempt left.
    """
    if owned:
        with storage_files.open_owned(target) as out:
            write(out)
        return True
    digest: str | None = None
    try:
        with storage_files.open_staged(target, tag(expected)) as out:
            digest = write(out)
    except FileExistsError:
        if digest is None:  # refused before writing (stores that check first): count it here
            digest = write(Sink())  # type: ignore[arg-type]
        if checksums.sha256_of(target) == digest:
            storage_files.discard_staged(target, tag(expected))
            return False
        raise ShareError(
            f"A different file already exists at {target} (not the content the bundle holds). "
            "Nothing of this import stays; remove that file if it is a leftover, or import "
            "into another project with --project."
        ) from None
    return True


def write_bytes(target: str, data: bytes, expected: str, name: str, owned: bool = False) -> Written:
    if hashlib.sha256(data).hexdigest() != expected:
        raise changed(name)
    if owned:
        storage_files.write_owned(target, data)
        return True

    def write(out: IO[bytes]) -> str:
        out.write(data)
        return expected

    return staged(target, expected, write)


def publish(target: str, data: bytes) -> Written:
    """Make an object visible: its ``object.json``, durable and never overwritten."""
    try:
        storage.write_bytes(target, data)
    except FileExistsError:
        if storage.read_bytes(target) == data:
            return False  # published by an earlier attempt of this import
        raise ShareError(
            f"A different object was published at {storage.parent(target)} while importing. "
            "Import again: it will be reported as a clash."
        ) from None
    return True


class Checked:
    """Reads a member, checksumming it; :meth:`verify` compares with the manifest."""

    def __init__(self, stream: IO[bytes], expected: str, name: str) -> None:
        self.stream, self.expected, self.name = stream, expected, name
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.digest.update(data)
        return data

    def verify(self) -> None:
        if self.digest.hexdigest() != self.expected:
            raise changed(self.name)


def changed(name: str) -> ShareError:
    return ShareError(
        f"{name} changed since the bundle was verified (checksum mismatch): the bundle is being "
        "modified. Import again once it is complete."
    )


def read_checked(stream: IO[bytes], expected: str, name: str, limit: int) -> bytes:
    reader = Checked(stream, expected, name)
    data = reader.read(limit + 1)
    if len(data) > limit:
        raise changed(name)
    reader.verify()
    return data


def copy(stream: IO[bytes], target: str, expected: str, name: str, owned: bool = False) -> Written:
    def write(out: IO[bytes]) -> str:
        reader = Checked(stream, expected, name)
        while chunk := reader.read(storage_files.CHUNK):
            out.write(chunk)
        reader.verify()  # raising here discards the temp file: nothing unverified is published
        return expected

    return staged(target, expected, write, owned)


class Sink:
    """A stream that drops what is written to it."""

    def __init__(self) -> None:
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    closed = False

    def writable(self) -> bool:
        return True


class Hashing:
    """A write-only stream that checksums what goes through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.out.write(data)

    def tell(self) -> int:
        return self.out.tell()

    def flush(self) -> None:
        self.out.flush()

    @property
    def closed(self) -> bool:
        return bool(self.out.closed)

    def writable(self) -> bool:
        return True
