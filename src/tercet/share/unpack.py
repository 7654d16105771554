"""The writing pass of an import: stream a verified bundle into the root, or leave no trace.

Every file is written atomically through :mod:`tercet.storage` and checksummed again on the way
(the bundle could change between the two passes). Each object's ``object.json`` is held back and
written last — table revisions parents first, runs after their inputs — because a folder without
its ``object.json`` is invisible to every reader. On any failure, including Ctrl-C, every file
written so far is deleted again and empty folders the import created are removed.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import IO, TYPE_CHECKING, Any

from tercet import format, storage
from tercet.errors import ShareError, TercetError
from tercet.share import rewrite, verify
from tercet.share.datarefs import image_columns
from tercet.share.manifest import HEADER_NAME, MANIFEST_NAME, ObjectEntry, root_path
from tercet.share.plan import Plan
from tercet.share.progress import Progress
from tercet.storage import files as storage_files

if TYPE_CHECKING:
    pass

SPOOL_LIMIT = 64 << 20
READ_WHOLE = 4 << 20  # members up to this size are read whole and written by the thread pool


def apply(the_plan: Plan, progress: Progress) -> int:
    """Write the planned members into the root; return how many files were written."""
    url = the_plan.scan.url
    listed = {f["name"]: f["sha256"] for f in the_plan.scan.manifest["files"]}
    objects = {e["path"]: e for e in the_plan.objects()}
    edits = {path: the_plan.edit(e) for path, e in objects.items()}
    descriptors = {p: json.loads(raw) for p, raw in the_plan.scan.descriptors.items()}
    writes = _Writes()
    deferred: list[tuple[ObjectEntry, str, bytes]] = []
    progress.start("Importing", len(listed))
    try:
        with verify.open_tar(url) as tar:
            for info, stream in verify.members(tar, url):
                if info.name in (HEADER_NAME, MANIFEST_NAME):
                    continue
                progress.advance()
                if info.name in the_plan.skip or stream is None:
                    continue
                path = root_path(info.name)
                entry = the_plan.owner(path)
                if entry is not None and the_plan.status[entry["path"]] == "present":
                    continue
                target = the_plan.target_url(path)
                expected = listed[info.name]
                file = path[len(entry["path"]) + 1 :] if entry is not None else ""
                edit = edits[entry["path"]] if entry is not None else rewrite.Edit()
                if file == format.OBJECT_JSON:
                    assert entry is not None
                    raw = _read_checked(stream, expected, info.name)
                    deferred.append((entry, target, rewrite.edit_json(raw, edit)))
                elif _verbatim(file, edit, descriptors.get(entry["path"] if entry else "", {})):
                    if info.size <= READ_WHOLE:
                        writes.submit(
                            target,
                            verify.read_all(stream, info.size, info.name),
                            expected,
                            info.name,
                        )
                    else:
                        writes.run(_copy, stream, target, expected, info.name)
                else:
                    assert entry is not None
                    writes.run(
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
        deferred.sort(key=lambda d: (d[0]["kind"] == "run", _created(descriptors[d[0]["path"]])))
        for _, target, data in deferred:
            writes.run(storage.write_bytes, target, data)
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

    Small files are written by a few threads: each atomic write ends in an fsync, and waiting
    for 10,000 of them one after another would be most of the import.
    """

    def __init__(self, workers: int = 8, window: int = 128) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tercet-import")
        self.window = window
        self.pending: deque[tuple[str, Future[None]]] = deque()
        self.written: list[str] = []
        self.failed: list[str] = []  # targets whose write failed: their new folders may be empty

    def submit(self, target: str, data: bytes, expected: str, name: str) -> None:
        self.pending.append((target, self.pool.submit(_write_bytes, target, data, expected, name)))
        while len(self.pending) > self.window:
            self._finish_one()

    def run(self, fn: Callable[..., None], *args: Any) -> None:
        """Write one file on this thread; ``args[0]`` or ``args[1]`` is its target URL."""
        target = args[0] if isinstance(args[0], str) else args[1]
        try:
            fn(*args)
        except BaseException:
            self.failed.append(target)
            raise
        self.written.append(target)

    def _finish_one(self) -> None:
        target, future = self.pending.popleft()
        try:
            future.result()
        except BaseException:
            self.failed.append(target)
            raise
        self.written.append(target)

    def drain(self) -> None:
        while self.pending:
            self._finish_one()

    def rollback(self, root: str) -> None:
        """Wait for writes in flight, then delete every file written and prune empty folders."""
        while self.pending:
            # Already recorded as failed (even a KeyboardInterrupt): collect all the others.
            with suppress(BaseException):
                self._finish_one()
        for target in reversed(self.written):
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


def _write_bytes(target: str, data: bytes, expected: str, name: str) -> None:
    if hashlib.sha256(data).hexdigest() != expected:
        raise _changed(name)
    storage.write_bytes(target, data)


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


def _read_checked(stream: IO[bytes], expected: str, name: str) -> bytes:
    reader = _Checked(stream, expected, name)
    data = reader.read()
    reader.verify()
    return data


def _copy(stream: IO[bytes], target: str, expected: str, name: str) -> None:
    reader = _Checked(stream, expected, name)
    with storage.open_atomic(target) as out:
        while chunk := reader.read(storage_files.CHUNK):
            out.write(chunk)
        reader.verify()  # raising here discards the temp file: nothing unverified is published


def _write_edited(
    stream: IO[bytes],
    target: str,
    expected: str,
    name: str,
    file: str,
    edit: rewrite.Edit,
    descriptor: dict[str, Any],
) -> None:
    if file.endswith(".json"):
        storage.write_bytes(target, rewrite.edit_json(_read_checked(stream, expected, name), edit))
        return
    parquet_edit = _parquet_edit(file, edit, descriptor)
    assert parquet_edit is not None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT) as spool:
        reader = _Checked(stream, expected, name)
        while chunk := reader.read(storage_files.CHUNK):
            spool.write(chunk)
        reader.verify()
        spool.seek(0)
        with storage.open_atomic(target) as out:
            rewrite.edit_parquet(spool, out, parquet_edit[0], parquet_edit[1])  # type: ignore[arg-type]


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
