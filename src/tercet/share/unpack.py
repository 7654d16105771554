"""The writing pass of an import: stream a verified bundle into the root, resumably.

Every file is staged under a temp name and renamed into place (:func:`storage_files.open_staged`),
checksummed again on the way (the bundle could change between the two passes), and not synced
one by one: one :func:`storage_files.sync` makes them all durable at the end. Only then is each
object published — its ``object.json`` written, table revisions parents first, runs after their
inputs — because a folder without its ``object.json`` is invisible to every reader.

So an import that stops at any point — an error, Ctrl-C, SIGTERM, or a SIGKILL that gives it no
chance to clean up — never leaves a half object visible, and running it again completes it: a
file already in place with the content the bundle declares counts as done (a different one is an
error), and a temp file a killed attempt left is replaced, since its name derives from the
member's checksum. When the import can still act (an error, an interrupt), it also deletes every
file it wrote and the folders it created.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import IO, Any

from tercet import format, storage
from tercet.errors import ShareError, TercetError
from tercet.share import checksums, limits, rewrite, verify
from tercet.share.datarefs import image_columns
from tercet.share.manifest import (
    HEADER_NAME,
    MANIFEST_NAME,
    ObjectEntry,
    member_name,
    root_path,
)
from tercet.share.plan import Plan
from tercet.share.progress import Progress
from tercet.storage import files as storage_files

SPOOL_LIMIT = 64 << 20
READ_WHOLE = 4 << 20  # members up to this size are read whole and written by the thread pool

Written = bool  # True: this import wrote the file; False: the same content was already there


def apply(the_plan: Plan, progress: Progress) -> int:
    """Write the planned members into the root; return how many files were written."""
    url = the_plan.scan.url
    listed = {f["name"]: f for f in the_plan.scan.manifest["files"]}
    objects = {e["path"]: e for e in the_plan.objects()}
    edits = {path: the_plan.edit(e) for path, e in objects.items()}
    descriptors = {p: json.loads(raw) for p, raw in the_plan.scan.descriptors.items()}
    writes = _Writes()
    deferred: list[tuple[ObjectEntry, str, bytes]] = []
    staging = _staging(the_plan, listed)
    progress.start("Importing", len(listed))
    try:
        with verify.open_tar(url) as tar:
            for info, stream in verify.members(tar, url):
                if info.name in (HEADER_NAME, MANIFEST_NAME):
                    continue
                progress.advance()
                if info.name not in listed or info.size != listed[info.name]["size"]:
                    raise _changed(info.name)  # before reading a byte of it
                path = root_path(info.name)
                target = the_plan.target_url(path)
                expected = listed[info.name]["sha256"]
                if info.name in the_plan.skip or stream is None:
                    storage_files.discard_staged(target, _tag(expected))
                    continue
                entry = the_plan.owner(path)
                if entry is not None and the_plan.status[entry["path"]] == "present":
                    continue
                if entry is not None and entry["path"] in staging:
                    staged, final = staging[entry["path"]]
                    target = staged + target[len(final) :]
                file = path[len(entry["path"]) + 1 :] if entry is not None else ""
                edit = edits[entry["path"]] if entry is not None else rewrite.Edit()
                if file == format.OBJECT_JSON:
                    assert entry is not None
                    raw = _read_checked(stream, expected, info.name, limits.DESCRIPTOR)
                    deferred.append((entry, target, rewrite.edit_json(raw, edit)))
                elif _verbatim(file, edit, descriptors.get(entry["path"] if entry else "", {})):
                    if info.size <= READ_WHOLE:
                        data = verify.read_all(stream, info.size, info.name)
                        writes.submit(target, data, expected, info.name)
                    else:
                        writes.run(target, _copy, stream, target, expected, info.name)
                else:
                    assert entry is not None
                    writes.run(
                        target,
                        _write_edited,
                        stream,
                        target,
                        expected,
                        info.name,
                        file,
                        edit,
                        descriptors[entry["path"]],
                    )
        writes.drain()
        # Every file durable before any object that names it becomes visible.
        storage_files.sync(writes.written)
        deferred.sort(key=lambda d: (d[0]["kind"] == "run", _created(descriptors[d[0]["path"]])))
        for entry, target, data in deferred:
            if entry["path"] not in staging:
                writes.run(target, _publish, target, data)
                continue
            # A new object on local disk: built in a hidden folder, moved into place whole.
            staged, final = staging[entry["path"]]  # target lies in the staged folder
            sha = hashlib.sha256(data).hexdigest()
            writes.run(target, _write_bytes, target, data, sha, target)
            storage_files.sync([target])
            writes.published.append(final)  # first: an interrupt right after the move is undone
            try:
                storage_files.publish_folder(staged, final)
            except FileExistsError:
                writes.published.pop()  # not ours to remove
                raise ShareError(
                    f"Another object appeared at {final} while importing. Nothing of this import "
                    "stays; import again to see it reported as a clash."
                ) from None
    except BaseException as exc:
        writes.rollback(the_plan.root)
        if isinstance(exc, TercetError) or not isinstance(exc, Exception):
            raise
        raise ShareError(
            f"Importing {url} failed ({type(exc).__name__}: {exc}). Everything it had written "
            "was removed; fix the cause and import again."
        ) from exc
    finally:
        writes.close()
    return len(writes.written)


class _Writes:
    """Tracks every file the import writes, so that a failure can take them all back.

    Small files are written by a few threads, which overlap their system calls with the main
    thread reading the bundle.
    """

    def __init__(self, workers: int = 4, window: int = 128) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tercet-import")
        self.window = window
        self.pending: deque[tuple[str, Future[Written]]] = deque()
        self.written: list[str] = []
        self.failed: list[str] = []  # targets whose write failed: their new folders may be empty
        self.published: list[str] = []  # object folders moved into place whole

    def submit(self, target: str, data: bytes, expected: str, name: str) -> None:
        self.pending.append((target, self.pool.submit(_write_bytes, target, data, expected, name)))
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
        target, future = self.pending[0]
        try:
            wrote = future.result()
        except BaseException:
            if not future.done():
                raise  # interrupted while waiting: the write stays pending for rollback
            if future.exception() is not None:
                self.failed.append(target)
            elif future.result():
                self.written.append(target)
            self.pending.popleft()
            raise
        if wrote:
            self.written.append(target)
        self.pending.popleft()

    def drain(self) -> None:
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
        self.written.clear()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _staging(the_plan: Plan, listed: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Object path -> (hidden folder it is built in, its folder) for each new object on local
    disk. Named from the descriptor's checksum, so a re-run after a kill finds it again."""
    out: dict[str, tuple[str, str]] = {}
    for entry in the_plan.objects():
        if the_plan.status[entry["path"]] != "imported":
            continue
        final = the_plan.target_url(entry["path"])
        descriptor = listed[member_name(f"{entry['path']}/{format.OBJECT_JSON}")]["sha256"]
        staged = storage_files.staged_folder(final, _tag(descriptor))
        if staged is not None:
            out[entry["path"]] = (staged, storage.normalize(final))
    return out


def _tag(expected: str) -> str:
    """The temp-name tag of a member: the same on every attempt, so leftovers are found."""
    return expected[:16]


def _staged(target: str, expected: str, write: Callable[[IO[bytes]], str]) -> Written:
    """Stage ``write``'s output at ``target`` (it returns the sha256 of what it wrote).

    A file already at ``target`` with that content is a finished earlier attempt: done. One with
    other content is an error: it is not ours to replace.
    """
    digest: str | None = None
    try:
        with storage_files.open_staged(target, _tag(expected)) as out:
            digest = write(out)
    except FileExistsError:
        if digest is None:  # refused before writing (stores that check first): count it here
            digest = write(_Sink())  # type: ignore[arg-type]
        if checksums.sha256_of(target) == digest:
            storage_files.discard_staged(target, _tag(expected))
            return False
        raise ShareError(
            f"A different file already exists at {target} (not the content the bundle holds). "
            "Nothing of this import stays; remove that file if it is a leftover, or import "
            "into another project with --project."
        ) from None
    return True


def _write_bytes(target: str, data: bytes, expected: str, name: str) -> Written:
    if hashlib.sha256(data).hexdigest() != expected:
        raise _changed(name)

    def write(out: IO[bytes]) -> str:
        out.write(data)
        return expected

    return _staged(target, expected, write)


def _publish(target: str, data: bytes) -> Written:
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


def _verbatim(file: str, edit: rewrite.Edit, descriptor: dict[str, Any]) -> bool:
    """Whether a file of an object (or a data file, ``file == ""``) is copied byte for byte."""
    if not file:
        return True
    if file.endswith(".json"):
        return edit.ref is None
    return _parquet_edit(file, edit, descriptor) is None


def _created(descriptor: dict[str, Any]) -> str:
    return str(descriptor.get("created") or "")


class _Checked:
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
            raise _changed(self.name)


def _changed(name: str) -> ShareError:
    return ShareError(
        f"{name} changed since the bundle was verified (checksum mismatch): the bundle is being "
        "modified. Import again once it is complete."
    )


def _read_checked(stream: IO[bytes], expected: str, name: str, limit: int) -> bytes:
    reader = _Checked(stream, expected, name)
    data = reader.read(limit + 1)
    if len(data) > limit:
        raise _changed(name)
    reader.verify()
    return data


def _copy(stream: IO[bytes], target: str, expected: str, name: str) -> Written:
    def write(out: IO[bytes]) -> str:
        reader = _Checked(stream, expected, name)
        while chunk := reader.read(storage_files.CHUNK):
            out.write(chunk)
        reader.verify()  # raising here discards the temp file: nothing unverified is published
        return expected

    return _staged(target, expected, write)


class _Sink:
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


class _Hashing:
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


def _write_edited(
    stream: IO[bytes],
    target: str,
    expected: str,
    name: str,
    file: str,
    edit: rewrite.Edit,
    descriptor: dict[str, Any],
) -> Written:
    if file.endswith(".json"):
        data = rewrite.edit_json(_read_checked(stream, expected, name, limits.EVENT), edit)

        def write_json(out: IO[bytes]) -> str:
            out.write(data)
            return hashlib.sha256(data).hexdigest()

        return _staged(target, expected, write_json)
    parquet_edit = _parquet_edit(file, edit, descriptor)
    assert parquet_edit is not None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT) as spool:
        reader = _Checked(stream, expected, name)
        while chunk := reader.read(storage_files.CHUNK):
            spool.write(chunk)
        reader.verify()

        def write_parquet(out: IO[bytes]) -> str:
            spool.seek(0)
            hashing = _Hashing(out)
            rewrite.edit_parquet(spool, hashing, parquet_edit[0], parquet_edit[1])  # type: ignore[arg-type]
            return hashing.digest.hexdigest()

        return _staged(target, expected, write_parquet)


def _parquet_edit(
    file: str, edit: rewrite.Edit, descriptor: dict[str, Any]
) -> tuple[rewrite.Edit, list[str]] | None:
    """The edit a Parquet file of an object needs, or None to copy it byte for byte."""
    if not file.endswith(".parquet"):
        return None
    if descriptor.get("format") == "tercet.run":
        if edit.ref is not None and file.startswith("metrics/"):
            return rewrite.Edit(ref=edit.ref), []
        return None
    delta = descriptor.get("delta") or {}
    carriers = [*(descriptor.get("rows") or []), *([delta["file"]] if delta.get("file") else [])]
    columns = image_columns(descriptor)
    if edit.urls is not None and columns and file in carriers:
        return rewrite.Edit(urls=edit.urls), columns
    return None
