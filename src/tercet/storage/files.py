"""Large files as streams, staged writes, and removing files: what sharing needs beyond
whole-object reads.

Bundles and data files can be far larger than memory, so they are read as streams. An import
writes thousands of files: each is staged under a temp name derived from its content's checksum
(so a re-run after a kill finds and replaces the leftovers), published without an fsync of its
own, and made durable by one :func:`sync` at the end; an interrupted import deletes what it wrote.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

from tercet.localfile import TMP_PREFIX
from tercet.storage.atomic import open_atomic
from tercet.storage.backends import filesystem
from tercet.storage.errors import exists_error, translate
from tercet.storage.fence import FencedExecutor, guard, guard_all
from tercet.storage.paths import is_local, normalize, parent
from tercet.storage.read import file_info

CHUNK = 1 << 20


@contextmanager
def open_read(url: str) -> Iterator[IO[bytes]]:
    """A binary stream over the file at ``url``."""
    url = normalize(url)
    guard(url)
    with translate(url, "read"):
        if is_local(url):
            # fsspec's local opener costs ~10 µs a file more: it shows on 10,000 images. A large
            # buffer spares tarfile's 10 KiB reads a system call (and a GIL hand-over) each.
            fh: Any = open(url, "rb", buffering=CHUNK)  # noqa: SIM115
        else:
            fs, path = filesystem(url)
            fh = fs.open(path, "rb", block_size=8 * CHUNK)
    try:
        yield fh
    finally:
        fh.close()


def size(url: str) -> int:
    """Size in bytes of the file at ``url``."""
    url = normalize(url)
    guard(url, "stat")
    if is_local(url):
        with translate(url, "stat"):
            return os.stat(url).st_size
    return int(file_info(url)["size"])


def read_head(url: str, size: int) -> bytes:
    """The first ``size`` bytes of the file at ``url`` (fewer when it is shorter): an image's
    header, read in three system calls on local disk, one ranged GET elsewhere."""
    guard(url)
    if not is_local(url):
        with open_read(url) as fh:
            head: bytes = fh.read(size)
            return head
    path = url if os.path.isabs(url) else normalize(url)
    with translate(url, "read"):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def read_if_small(url: str, limit: int) -> bytes | None:
    """The bytes of the file at ``url`` when it holds at most ``limit`` bytes, else None."""
    guard(url)
    if not is_local(url):
        with open_read(url) as fh:
            if int(getattr(fh, "size", limit + 1)) > limit:
                return None
            data: bytes = fh.read()
            return data
    # Four system calls a file, as tar makes: a buffered open() makes seven, and on 10,000
    # small images the difference is most of the time spent.
    path = url if os.path.isabs(url) else normalize(url)
    with translate(url, "read"):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        remaining = os.fstat(fd).st_size
        if remaining > limit:
            return None
        parts = []
        while remaining > 0 and (part := os.read(fd, remaining)):
            parts.append(part)
            remaining -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


def _staged_name(url: str, tag: str) -> str:
    folder, name = os.path.split(url)
    return os.path.join(folder, f"{TMP_PREFIX}{tag}-{name}")


@contextmanager
def open_staged(url: str, tag: str) -> Iterator[IO[bytes]]:
    """A writable file that appears at ``url`` only when the block exits cleanly, not synced.

    Like :func:`~tercet.storage.open_atomic` with ``durable=False``, but on local disk the temp
    name is ``.tmp-<tag>-<name>`` (hidden from every listing): a writer killed mid-way leaves a
    file the next attempt with the same ``tag`` replaces or :func:`discard_staged` removes. Raises
    :class:`~tercet.errors.ObjectExistsError` when ``url`` exists. Call :func:`sync` before
    relying on the data surviving a crash.
    """
    url = normalize(url)
    guard(url, "write")
    if not is_local(url):
        with open_atomic(url, durable=False) as fh:
            yield fh
        return
    os.makedirs(os.path.dirname(url), exist_ok=True)
    tmp = _staged_name(url, tag)
    try:
        with open(tmp, "wb") as fh:  # truncates a leftover of an earlier, killed attempt
            yield fh
        try:
            os.link(tmp, url)
        except FileExistsError:
            raise exists_error(url) from None
        except OSError:  # no hard links here: exclusive check, then rename
            if os.path.exists(url):
                raise exists_error(url) from None
            os.rename(tmp, url)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)


@contextmanager
def open_owned(url: str) -> Iterator[IO[bytes]]:
    """A local file written in place in a folder only this writer uses: a staged folder, hidden
    until :func:`publish_folder` moves it into place whole.

    No temp name and no link: what a killed attempt left is truncated, and a block that fails
    removes the file again. The folder must exist (create each once, not once per file).
    """
    url = normalize(url)
    guard(url, "write")
    fh = open(url, "wb", buffering=CHUNK)  # noqa: SIM115
    try:
        with fh:
            yield fh
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(url)
        raise


def write_owned(url: str, data: bytes) -> None:
    """:func:`open_owned` for bytes in hand: open, write, close — three system calls, as
    ``tar -x`` makes (a buffered ``open`` adds an fstat, an ioctl and an lseek)."""
    url = normalize(url)
    guard(url, "write")
    fd = os.open(url, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        with suppress(FileNotFoundError):
            os.unlink(url)
        raise
    os.close(fd)


def discard_staged(url: str, tag: str) -> None:
    """Remove what a killed :func:`open_staged` with this ``tag`` may have left beside ``url``."""
    url = normalize(url)
    guard(url, "remove")
    if is_local(url):
        with suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(_staged_name(url, tag))


def staged_folder(url: str, tag: str) -> str | None:
    """Where a new folder for ``url`` is built before :func:`publish_folder` moves it into
    place: a hidden sibling named from ``tag``. None on object stores, which have no folders
    to rename (there an object appears when its descriptor does)."""
    url = normalize(url)
    return _staged_name(url, tag) if is_local(url) else None


def publish_folder(staged: str, url: str) -> None:
    """Move the finished folder ``staged`` to ``url`` in one rename; an existing ``url`` that
    holds anything is an :class:`~tercet.errors.ObjectExistsError`."""
    url = normalize(url)
    guard_all([staged, url], "write")
    try:
        os.rename(staged, url)  # replaces an empty folder, fails on one with files
    except OSError as exc:
        if os.path.isdir(url) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise exists_error(url) from None
        raise
    sync_folder(os.path.dirname(url))


def sync_folder(path: str) -> None:
    with suppress(OSError):  # some filesystems cannot fsync a folder
        _fsync(path)


def remove_folder(url: str) -> None:
    """Delete a local folder and everything in it (what a failed import had published)."""
    url = normalize(url)
    guard(url, "remove")
    if is_local(url):
        shutil.rmtree(url, ignore_errors=True)


SYNCFS_FILES = 64
"""From this many files on one filesystem, :func:`sync` flushes the filesystem with one
``syncfs`` instead of one ``fsync`` per file and folder."""


def sync(urls: list[str]) -> None:
    """Make the local files at ``urls``, and the folders that name them, durable in one pass.

    One pass at the end instead of an fsync inside every write. With many files on one
    filesystem (Linux), one ``syncfs(2)`` commits all of them, their folder entries included:
    the same guarantee as an fsync of each file and folder, in one call instead of thousands
    (importing 2,000 small images one fsync after another waits for 2,000 journal commits).
    Otherwise the files, then their folders, are flushed side by side on a few threads.
    Object stores are durable once a write returns.
    """
    local = sorted({normalize(u) for u in urls if is_local(u)})
    if not local:
        return
    device: dict[str, int] = {}
    for folder in {os.path.dirname(p) for p in local}:
        with suppress(OSError):
            device[folder] = os.stat(folder).st_dev
    count = Counter(device.get(os.path.dirname(p)) for p in local)
    synced = {dev for dev, n in count.items() if dev is not None and n >= SYNCFS_FILES
              and _syncfs(next(f for f, d in device.items() if d == dev))}  # fmt: skip
    done = {folder for folder, dev in device.items() if dev in synced}
    rest = [p for p in local if os.path.dirname(p) not in done]
    if not rest:
        return
    with FencedExecutor(max_workers=16, thread_name_prefix="tercet-sync") as pool:
        list(pool.map(_fsync_file, rest, chunksize=64))
        list(pool.map(sync_folder, sorted({os.path.dirname(p) for p in rest})))


def sync_here(urls: list[str]) -> None:
    """:func:`sync` of a few files in the calling thread, each file then each folder: no thread
    pool, so it also works while the interpreter exits (a run's final barrier at exit)."""
    local = sorted({normalize(u) for u in urls if is_local(u)})
    for path in local:
        _fsync_file(path)
    for folder in sorted({os.path.dirname(p) for p in local}):
        sync_folder(folder)


def _syncfs(folder: str) -> bool:
    """``syncfs(2)`` of the filesystem holding ``folder``; False where there is none."""
    libc = _libc()
    if libc is None:
        return False
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        return int(libc.syncfs(fd)) == 0
    finally:
        os.close(fd)


@functools.cache
def _libc() -> Any:
    """The C library when it has ``syncfs`` (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "syncfs") else None
    except OSError:
        return None


def _fsync_file(path: str) -> None:
    with suppress(FileNotFoundError):
        _fsync(path)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_file(url: str) -> None:
    """Delete one file; a file that is already gone is fine."""
    guard(url, "remove")
    fs, path = filesystem(url)
    with suppress(FileNotFoundError):
        fs.rm_file(path)


def prune_empty_folders(url: str, stop: str) -> None:
    """Remove ``url``'s folder and its parents while they are empty, up to (not including) ``stop``.

    Object stores have no folders, so there is nothing to do there.
    """
    if not is_local(url):
        return
    stop = normalize(stop)
    folder = parent(normalize(url))
    guard(folder, "remove")
    fs, _ = filesystem(folder)
    while folder.startswith(stop.rstrip("/") + "/"):
        try:
            fs.rmdir(folder)
        except OSError:
            return  # not empty, or already gone
        folder = parent(folder)
