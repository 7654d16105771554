"""The writing pass of an import: stream a verified bundle into the root, resumably.

Every file is staged under a temp name and moved into place, checksummed again on the way (the
bundle could change between the two passes), and not synced one by one: one
:func:`~tercet.storage.files.sync` makes them all durable at the end (:mod:`~tercet.share.writes`
does the writing). Only then is each object published, table revisions parents first, runs after
their inputs: on local disk a new object is built whole in a hidden folder and moved into place
in one rename; on an object store its ``object.json`` is written last, since a folder without
it is no object to any reader.

So an import that stops at any point — an error, Ctrl-C, SIGTERM, SIGHUP, or a SIGKILL that gives
it no chance to clean up — leaves no half object visible, and running it again completes it: a
file already in place with the content the bundle declares counts as done (a different one is an
error), and the temp files and hidden folders a killed attempt left are found again, since their
names derive from checksums. When the import can still act (an error, an interrupt), it also
deletes every file it wrote and the folders it created.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, cast

from tercet import format, storage
from tercet.errors import ShareError, TercetError
from tercet.share import limits, rewrite, verify, writes
from tercet.share.datarefs import image_columns
from tercet.share.manifest import (
    DATA,
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


def apply(the_plan: Plan, progress: Progress) -> int:
    """Write the planned members into the root; return how many files were written."""
    url = the_plan.scan.url
    listed = {f["name"]: f for f in the_plan.scan.manifest["files"]}
    objects = {e["path"]: e for e in the_plan.objects()}
    edits = {path: the_plan.edit(e) for path, e in objects.items()}
    descriptors = {p: json.loads(raw) for p, raw in the_plan.scan.descriptors.items()}
    log = writes.Writes()
    deferred: list[tuple[ObjectEntry, str, bytes]] = []
    staging = _staging(the_plan, listed)
    data_staging, units = _data_staging(the_plan, listed)
    progress.start("Importing", len(listed))
    try:
        with _members(the_plan.scan) as found:
            for info, stream in found:
                if info.name in (HEADER_NAME, MANIFEST_NAME):
                    continue
                progress.advance()
                if info.name not in listed or info.size != listed[info.name]["size"]:
                    raise writes.changed(info.name)  # before reading a byte of it
                path = root_path(info.name)
                target = the_plan.target_url(path)
                expected = listed[info.name]["sha256"]
                if info.name in the_plan.skip or stream is None:
                    storage_files.discard_staged(target, writes.tag(expected))
                    continue
                entry = the_plan.owner(path)
                if entry is not None and the_plan.status[entry["path"]] == "present":
                    continue
                owned = False  # in a staged folder of ours: written in place, no temp name
                if entry is not None and entry["path"] in staging:
                    staged, final = staging[entry["path"]]
                    target, owned = staged + target[len(final) :], True
                elif info.name in data_staging:
                    target, owned = data_staging[info.name], True
                if owned:
                    log.make_folder(os.path.dirname(target))
                file = path[len(entry["path"]) + 1 :] if entry is not None else ""
                edit = edits[entry["path"]] if entry is not None else rewrite.Edit()
                if file == format.OBJECT_JSON:
                    assert entry is not None
                    raw = writes.read_checked(stream, expected, info.name, limits.DESCRIPTOR)
                    deferred.append((entry, target, rewrite.edit_json(raw, edit)))
                elif _verbatim(file, edit, descriptors.get(entry["path"] if entry else "", {})):
                    if info.size <= READ_WHOLE:
                        data = verify.read_all(stream, info.size, info.name)
                        log.submit(target, data, expected, info.name, owned)
                    else:
                        log.run(target, writes.copy, stream, target, expected, info.name, owned)
                else:
                    assert entry is not None
                    log.run(
                        target,
                        _write_edited,
                        stream,
                        target,
                        expected,
                        info.name,
                        file,
                        edit,
                        descriptors[entry["path"]],
                        owned,
                    )
        log.drain()
        # Every file durable before any object that names it becomes visible.
        storage_files.sync(log.written)
        for staged, final in units.items():  # new data folders, each moved into place whole
            _publish_folder(log, staged, final, f"Another writer created {final} while "
                            "importing. Nothing of this import stays; import again to see "
                            "which files clash.")  # fmt: skip
        deferred.sort(key=lambda d: (d[0]["kind"] == "run", _created(descriptors[d[0]["path"]])))
        for entry, target, data in deferred:
            if entry["path"] not in staging:
                log.run(target, writes.publish, target, data)
                continue
            # A new object on local disk: built in a hidden folder, moved into place whole.
            staged, final = staging[entry["path"]]  # target lies in the staged folder
            sha = hashlib.sha256(data).hexdigest()
            log.run(target, writes.write_bytes, target, data, sha, target)
            storage_files.sync([target])
            _publish_folder(log, staged, final, f"Another object appeared at {final} while "
                            "importing. Nothing of this import stays; import again to see it "
                            "reported as a clash.")  # fmt: skip
    except BaseException as exc:
        log.rollback(the_plan.root)
        if isinstance(exc, TercetError) or not isinstance(exc, Exception):
            raise
        raise ShareError(
            f"Importing {url} failed ({type(exc).__name__}: {exc}). Everything it had written "
            "was removed; fix the cause and import again."
        ) from exc
    finally:
        log.close()
    return len(log.written)


@dataclass(frozen=True)
class _Member:
    name: str
    size: int


class _Slice:
    """The bytes of one member of a local bundle, read where the verifying pass found them."""

    def __init__(self, fh: IO[bytes], offset: int, size: int) -> None:
        self.fh, self.offset, self.left = fh, offset, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        if n <= 0:
            return b""
        self.fh.seek(self.offset)
        data = self.fh.read(n)
        self.offset += len(data)
        self.left -= len(data)
        return data


@contextmanager
def _members(scan: verify.Scan) -> Iterator[Iterator[tuple[Any, IO[bytes] | None]]]:
    """The bundle's object members in archive order, with a stream of each one's bytes.

    A local bundle is read at the offsets its verifying pass recorded, so the tar headers are
    parsed once per import, not twice (about a fifth of an import's CPU time on thousands of
    small files). Nothing is trusted from that pass but where to read: every byte written is
    checksummed against the manifest again, as on the forward-only tar stream used elsewhere.
    """
    if not (storage.is_local(scan.url) and scan.offsets):
        with verify.open_tar(scan.url) as tar:
            yield verify.members(tar, scan.url)
        return
    with storage_files.open_read(scan.url) as fh:
        yield (
            (_Member(name, scan.sizes[name]), cast(IO[bytes], _Slice(fh, offset, scan.sizes[name])))
            for name, offset in scan.offsets.items()
        )


def _staging(the_plan: Plan, listed: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Object path -> (hidden folder it is built in, its folder) for each new object on local
    disk. Named from the descriptor's checksum, so a re-run after a kill finds it again."""
    out: dict[str, tuple[str, str]] = {}
    for entry in the_plan.objects():
        if the_plan.status[entry["path"]] != "imported":
            continue
        final = the_plan.target_url(entry["path"])
        descriptor = listed[member_name(f"{entry['path']}/{format.OBJECT_JSON}")]["sha256"]
        staged = storage_files.staged_folder(final, writes.tag(descriptor))
        if staged is not None:
            out[entry["path"]] = (staged, storage.normalize(final))
    return out


def _data_staging(the_plan: Plan, listed: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Where the data files bound for new folders on local disk are written first.

    A data file (``<project>/data/<ALIAS>/…``) whose folder does not exist yet is written in
    place in a hidden sibling of the topmost missing folder (``<ALIAS>`` itself, or one below
    it), which is moved into place whole once every file is durable: one rename for thousands of
    images instead of a temp file, a link and an unlink each. Named from the checksums of the
    files it holds, so a re-run after a kill finds it again. Data files bound for folders that
    exist are staged one by one, as before.

    Returns member -> where it is written, and hidden folder -> the folder it becomes.
    """
    if not storage.is_local(the_plan.root):
        return {}, {}
    exists: dict[str, bool] = {}

    def missing(folder: str) -> bool:
        if folder not in exists:
            exists[folder] = os.path.isdir(folder)
        return not exists[folder]

    top: dict[str, tuple[str, str]] = {}  # member -> (its target, the topmost missing folder)
    for name in the_plan.scan.sizes:
        path = root_path(name)
        parts = path.split("/")
        if name in the_plan.skip or len(parts) < 4 or parts[1] != DATA:
            continue
        if the_plan.owner(path) is not None:
            continue
        target = storage.normalize(the_plan.target_url(path))
        # Never stage <project> or <project>/data: objects are built in them too.
        folders = target.split("/")[:-1]
        base = len(folders) - (len(parts) - 4)
        for depth in range(base, len(folders) + 1):
            folder = "/".join(folders[:depth])
            if missing(folder):
                top[name] = (target, folder)
                break
    content: dict[str, list[str]] = {}
    for name, (_, folder) in top.items():
        content.setdefault(folder, []).append(listed[name]["sha256"])
    units: dict[str, str] = {}
    for folder, shas in content.items():
        tag = writes.tag(hashlib.sha256("".join(sorted(shas)).encode()).hexdigest())
        staged = storage_files.staged_folder(folder, tag)
        if staged is not None:
            units[folder] = staged
    where = {
        name: units[folder] + target[len(folder) :]
        for name, (target, folder) in top.items()
        if folder in units
    }
    return where, {staged: final for final, staged in units.items()}


def _verbatim(file: str, edit: rewrite.Edit, descriptor: dict[str, Any]) -> bool:
    """Whether a file of an object (or a data file, ``file == ""``) is copied byte for byte."""
    if not file:
        return True
    if file.endswith(".json"):
        return edit.ref is None
    return _parquet_edit(file, edit, descriptor) is None


def _created(descriptor: dict[str, Any]) -> str:
    return str(descriptor.get("created") or "")


def _write_edited(
    stream: IO[bytes],
    target: str,
    expected: str,
    name: str,
    file: str,
    edit: rewrite.Edit,
    descriptor: dict[str, Any],
    owned: bool,
) -> writes.Written:
    if file.endswith(".json"):
        data = rewrite.edit_json(writes.read_checked(stream, expected, name, limits.EVENT), edit)

        def write_json(out: IO[bytes]) -> str:
            out.write(data)
            return hashlib.sha256(data).hexdigest()

        return writes.staged(target, expected, write_json, owned)
    parquet_edit = _parquet_edit(file, edit, descriptor)
    assert parquet_edit is not None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT) as spool:
        reader = writes.Checked(stream, expected, name)
        while chunk := reader.read(storage_files.CHUNK):
            spool.write(chunk)
        reader.verify()

        def write_parquet(out: IO[bytes]) -> str:
            spool.seek(0)
            hashing = writes.Hashing(out)
            rewrite.edit_parquet(spool, hashing, parquet_edit[0], parquet_edit[1])  # type: ignore[arg-type]
            return hashing.digest.hexdigest()

        return writes.staged(target, expected, write_parquet, owned)


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


def _publish_folder(log: writes.Writes, staged: str, final: str, clash: str) -> None:
    """Move a staged folder into place whole; another writer's folder there is a ShareError
    saying ``clash``, and stays (it is not ours to remove)."""
    log.published.append(final)  # first: an interrupt right after the move is undone
    try:
        storage_files.publish_folder(staged, final)
    except FileExistsError:
        log.published.pop()
        raise ShareError(clash) from None
