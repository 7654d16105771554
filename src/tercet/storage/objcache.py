"""A bounded cache of remote objects on local disk, shared by the processes of one machine.

The Object Service reads whole Parquet objects (table rows, metrics files) to query them. Those
objects are immutable, so a copy on local disk serves any later process (a restart, a second
replica on the same machine) without fetching them again. A copy is named by what identifies the
object's version — the store's endpoint, its canonical URL, its ETag (or modification time) and
size, read with one ``HEAD`` — and carries the xxh3 hash of its bytes in its name: a truncated or
damaged copy is detected on every read, removed and fetched again, never served.

Writes are atomic (a hidden temp file, then a rename) and the temp file takes its full size
before the first byte is written, so the folder's size, counted under a lock file by every
process that adds a copy, never exceeds the bound; least recently read copies (modification
time, touched on each read) go first. A killed writer's temp file is swept by the next writer.

Activate a cache with :func:`using`; :func:`tercet.storage.read_parquet` then reads remote files
through it. The fence is checked on the URL before the cache is looked at, so a copy of an
object outside the roots is never served under a fence that excludes it.
"""

from __future__ import annotations

import contextvars
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager, suppress
from pathlib import Path

import pyarrow as pa
import xxhash

from tercet import config
from tercet.errors import ConfigError
from tercet.localfile import TMP_PREFIX, tmp_name, tmp_writer, writer_alive
from tercet.storage.backends import filesystem
from tercet.storage.errors import endpoint_text, translate
from tercet.storage.fence import FencedExecutor, canonical, guard
from tercet.storage.paths import protocol

log = logging.getLogger("tercet.storage")

LOCK = ".lock"
SUFFIX = ".obj"
VERSION_FIELDS = ("ETag", "LastModified", "mtime", "last_modified", "created")
"""What says which version of an object ``info`` describes, by store (S3's first)."""

_active: contextvars.ContextVar[ObjectCache | None] = contextvars.ContextVar(
    "tercet_object_cache", default=None
)


def active() -> ObjectCache | None:
    """The cache reads in this context go through, if any."""
    return _active.get()


@contextmanager
def using(cache: ObjectCache | None) -> Iterator[None]:
    """Read remote objects through ``cache`` in the block (``None``: no cache)."""
    token = _active.set(cache)
    try:
        yield
    finally:
        _active.reset(token)


def from_config(cfg: config.Config) -> ObjectCache | None:
    """The cache ``service.disk_cache_dir`` and ``service.disk_cache_bytes`` describe (the
    folder defaults to :func:`tercet.config.default_disk_cache_dir`); None when the bound is 0."""
    bound = cfg.service.disk_cache_bytes
    if bound < 0:
        raise ConfigError(
            f"service.disk_cache_bytes is {bound}; give a size in bytes, or 0 for no disk cache."
        )
    if bound == 0:
        return None
    return ObjectCache(cfg.service.disk_cache_dir or config.default_disk_cache_dir(), bound)


def _hash(data: bytes | memoryview | pa.Buffer) -> str:
    return xxhash.xxh3_64_hexdigest(memoryview(data))  # type: ignore[arg-type]


class ObjectCache:
    """Copies of remote objects in ``folder``, at most ``max_bytes`` of them in all.

    ``hits``, ``misses`` and ``rejected`` (copies found damaged) count this instance's reads.
    A fetched object is written on a thread of this instance while the caller goes on with its
    bytes; :meth:`flush` waits for those writes.
    """

    def __init__(self, folder: str | Path, max_bytes: int) -> None:
        self.folder = Path(folder).expanduser()
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self.rejected = 0
        self._writer = FencedExecutor(1, thread_name_prefix="tercet-objcache")
        self._pending: list[Future[None]] = []

    # -- reading -------------------------------------------------------------------------------
    def read(self, url: str) -> pa.Buffer:
        """The bytes of the remote object at ``url``: from a verified local copy when there is
        one, else fetched with one ``GET`` and kept (unless the object alone exceeds the bound).
        """
        guard(url)
        fs, path = filesystem(url)
        s3 = protocol(url) in ("s3", "s3a")
        with translate(url, "stat"):
            info = fs.info(path, refresh=True) if s3 else fs.info(path)
        size = int(info.get("size") or 0)
        version = next((str(info[k]) for k in VERSION_FIELDS if info.get(k) is not None), "")
        key = hashlib.sha256(
            f"{endpoint_text()}\0{canonical(url)}\0{version}\0{size}".encode()
        ).hexdigest()[:40]
        found = self._lookup(key, size)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        with translate(url, "read"):
            # One GET (s3fs would send a HEAD first to choose a chunked download).
            data: bytes = fs.cat_file(path, **({"max_concurrency": 1} if s3 else {}))
        if len(data) == size and 0 < size <= self.max_bytes:
            # Kept on a thread of its own: the caller decodes the bytes meanwhile.
            self._pending.append(self._writer.submit(self._keep, key, data, url))
        return pa.py_buffer(data)

    def flush(self) -> None:
        """Wait until every copy started by this instance is on disk (or failed)."""
        pending, self._pending = self._pending, []
        wait(pending)

    def _keep(self, key: str, data: bytes, url: str) -> None:
        try:
            self._store(key, data)
        except OSError as exc:  # a full or read-only disk: the read was served, nothing kept
            log.warning("object cache %s: could not keep %s (%s)", self.folder, url, exc)

    def _lookup(self, key: str, size: int) -> pa.Buffer | None:
        self._pending = [f for f in self._pending if not f.done()]
        try:
            names = [n for n in os.listdir(self.folder) if n.startswith(key + ".")]
        except FileNotFoundError:
            return None
        for name in names:
            path = self.folder / name
            try:
                # Read, not memory-mapped: a copy changed under a mapping would kill the process
                # (SIGBUS); an open file stays readable when another process evicts it.
                data = pa.py_buffer(path.read_bytes())
            except OSError:
                continue
            want = name[len(key) + 1 : -len(SUFFIX)]
            if data.size == size and _hash(data) == want:
                with suppress(OSError):  # evicted meanwhile: the bytes read stay good
                    os.utime(path)  # most recently used
                return data
            self.rejected += 1
            log.warning("object cache %s: %s is damaged; fetching it again", self.folder, name)
            path.unlink(missing_ok=True)
        return None

    # -- writing -------------------------------------------------------------------------------
    def _store(self, key: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{key}.{_hash(data)}{SUFFIX}"
        tmp = tmp_name(str(final))
        with self._locked():
            self._make_room(len(data))
            # Full size before the first byte: other processes count it while it is written.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.ftruncate(fd, len(data))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.folder / LOCK, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _entries(self) -> list[tuple[float, int, Path]]:
        out = []
        for entry in os.scandir(self.folder):
            if entry.name == LOCK or not entry.is_file(follow_symlinks=False):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if entry.name.startswith(TMP_PREFIX):
                writer = tmp_writer(entry.name)
                if writer is None or not writer_alive(writer):  # a killed writer's leftover
                    Path(entry.path).unlink(missing_ok=True)
                    continue
                out.append((float("inf"), st.st_size, Path(entry.path)))  # never evicted
            else:
                out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return sorted(out, key=lambda e: e[0])

    def _make_room(self, size: int) -> None:
        entries = self._entries()
        total = sum(e[1] for e in entries)
        for mtime, nbytes, path in entries:
            if total + size <= self.max_bytes or mtime == float("inf"):
                break
            path.unlink(missing_ok=True)
            total -= nbytes
        if total + size > self.max_bytes:  # other processes' copies still being written
            raise OSError(f"no room for {size} bytes below {self.max_bytes}")

    def size(self) -> int:
        """Bytes held now (copies and copies being written)."""
        if not self.folder.is_dir():
            return 0
        return sum(e[1] for e in self._entries())

    def clear(self) -> int:
        """Remove every copy; the number of bytes freed."""
        if not self.folder.is_dir():
            return 0
        freed = 0
        with self._locked():
            for _, nbytes, path in self._entries():
                if not path.name.startswith(TMP_PREFIX):
                    path.unlink(missing_ok=True)
                    freed += nbytes
        return freed
