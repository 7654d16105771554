"""Reading a bundle back: the first pass of an import, which checks everything and writes nothing.

It streams the whole archive once, checksums every member, and compares the result with the
manifest: a truncated copy, a changed byte, a member the manifest does not list (or the other
way round), an unsafe member name or a newer format are all refused here, before any byte reaches
the project root. So are bundle bombs (each member's declared size is checked on its tar header
against its kind's cap, :mod:`~tercet.share.limits`, before a byte of it is read), members that
would land outside the declared projects or objects (:mod:`~tercet.share.members`), and stored
references that lead out of their project (:mod:`~tercet.share.fence`).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from tercet import format, storage
from tercet.errors import ShareError, StorageError
from tercet.share import fence, limits
from tercet.share import members as layout
from tercet.share.manifest import (
    HEADER_NAME,
    MANIFEST_NAME,
    OBJECTS,
    Manifest,
    check_header,
    check_member_name,
    parse_manifest,
    root_path,
)
from tercet.share.progress import NoProgress, Progress
from tercet.storage import files as storage_files

_NOT_COMPLETE = (
    "the bundle is incomplete (truncated while copying?). Copy it again, or export it again."
)


@dataclass
class Scan:
    """A verified bundle: its manifest and the descriptors of its objects."""

    url: str
    manifest: Manifest
    descriptors: dict[str, bytes] = field(default_factory=dict)  # object path -> object.json
    sizes: dict[str, int] = field(default_factory=dict)  # member -> size
    project_aliases: list[str] = field(default_factory=list)  # <project>/aliases.yaml members
    offsets: dict[str, int] = field(default_factory=dict)  # member -> its data's offset, in order


@contextmanager
def open_tar(url: str) -> Iterator[tarfile.TarFile]:
    """The bundle as a forward-only tar stream (nothing is seeked, so any storage URL works)."""
    try:
        with (
            storage_files.open_read(url) as raw,
            # The default 10 KiB stream buffer: tarfile slices its buffer on every read, so a
            # large one makes reading thousands of small members quadratic.
            tarfile.open(fileobj=raw, mode="r|", tarinfo=limits.CappedTarInfo) as tar,
        ):
            yield tar
    except limits.TarMetadataError as exc:
        raise ShareError(f"{url}: {exc}") from None
    except FileNotFoundError:
        raise ShareError(f"No bundle at {url}: the file does not exist.") from None
    except tarfile.ReadError as exc:
        raise ShareError(f"{url} is not a readable bundle ({exc}): {_NOT_COMPLETE}") from exc
    except (tarfile.TarError, EOFError) as exc:
        raise ShareError(f"{url}: {_NOT_COMPLETE} ({exc})") from exc
    except StorageError as exc:
        raise ShareError(f"Cannot read the bundle {url}: {exc}") from exc


def members(tar: tarfile.TarFile, url: str) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """Regular-file members in archive order, with a stream of their bytes."""
    for info in tar:
        tar.members.clear()  # type: ignore[attr-defined]  # a stream needs no index of past members
        check_member_name(info.name, url)
        if not info.isfile():
            raise ShareError(
                f"{url}: member {info.name!r} is not a regular file (links and "
                "devices are never part of a bundle). Do not import it."
            )
        yield info, tar.extractfile(info)


def read_all(stream: IO[bytes] | None, limit: int, what: str) -> bytes:
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ShareError(f"{what} is larger than {limit} bytes; the bundle is damaged.")
    return data


def scan(url: str, progress: Progress | None = None) -> Scan:
    """Verify the bundle at ``url`` end to end; return its manifest and object descriptors."""
    progress = progress or NoProgress()
    url = storage.normalize(url)
    found: dict[str, tuple[int, str]] = {}
    offsets: dict[str, int] = {}
    descriptors: dict[str, bytes] = {}
    held = 0  # bytes of descriptors held for the rest of the import
    names = 0
    manifest: Manifest | None = None
    try:
        total = storage_files.size(url)
    except FileNotFoundError:
        raise ShareError(f"No bundle at {url}: the file does not exist.") from None
    progress.start("Verifying", total)
    with open_tar(url) as tar:
        for i, (info, stream) in enumerate(members(tar, url)):
            left = total - info.offset_data
            if i == 0:
                if info.name != HEADER_NAME:
                    raise ShareError(
                        f"{url} is not a Tercet bundle: it does not start with "
                        f"{HEADER_NAME}. Create bundles with `tercet share export`."
                    )
                limits.check_member(info, url, limits.HEADER, left)
                check_header(read_all(stream, limits.HEADER, HEADER_NAME), url)
                continue
            if manifest is not None:
                raise ShareError(
                    f"{url}: member {info.name!r} follows the manifest; the bundle "
                    "was altered after export. Export it again."
                )
            if info.name == MANIFEST_NAME:
                cap = limits.manifest_cap(len(found), names)
                limits.check_member(info, url, cap, left)
                manifest = parse_manifest(read_all(stream, cap, MANIFEST_NAME), url)
                continue
            if not info.name.startswith(OBJECTS + "/"):
                raise ShareError(
                    f"{url}: unexpected member {info.name!r}; the bundle is damaged "
                    "or was not made by Tercet."
                )
            limits.check_member(info, url, limits.cap(info.name), left)
            names += len(info.name)
            assert stream is not None
            found[info.name], kept = _read_member(info, stream, url)
            offsets[info.name] = info.offset_data
            if kept is not None:
                held += len(kept)
                if held > limits.DESCRIPTORS:
                    raise ShareError(
                        f"{url}: its descriptors (object.json files) add up to more than "
                        f"{limits.DESCRIPTORS:,} bytes. The bundle was crafted or damaged."
                    )
                descriptors[info.name] = kept
            progress.advance(info.size)
    if manifest is None:
        raise ShareError(f"{url} has no {MANIFEST_NAME}: {_NOT_COMPLETE}")
    layout.check_manifest(manifest, url)
    _compare(url, manifest, found)
    sizes = {name: size for name, (size, _) in found.items()}
    result = Scan(url, manifest, sizes=sizes, offsets=offsets)
    _check_objects(result, descriptors)
    return result


def _read_member(
    info: tarfile.TarInfo, stream: IO[bytes], url: str
) -> tuple[tuple[int, str], bytes | None]:
    """(size, sha256) of a member streamed in pieces; its bytes when it is a descriptor.

    Run events and the footers of metrics files are checked for references on the way: their
    object folder is known from the member's name alone.
    """
    rel = root_path(info.name)
    owner = format.containing_object(rel)
    where = f"{url}: {info.name}"
    file = rel[len(owner) + 1 :] if owner is not None else ""
    whole = file == format.OBJECT_JSON or (
        owner is not None and file.endswith(".json") and format.object_kind(owner) == "run"
    )
    footer = owner is not None and format.object_kind(owner) == "run" and file.endswith(".parquet")
    digest = hashlib.sha256()
    if whole:
        data = read_all(stream, info.size, info.name)
        digest.update(data)
        if file != format.OBJECT_JSON:
            assert owner is not None
            fence.check_event(data, owner, where)
        return (info.size, digest.hexdigest()), data if file == format.OBJECT_JSON else None
    tail = fence.Tail(limits.FOOTER) if footer else None
    while chunk := stream.read(storage_files.CHUNK):
        digest.update(chunk)
        if tail is not None:
            tail.add(chunk)
    if tail is not None and file.startswith("metrics/"):
        assert owner is not None
        fence.check_footer(tail.value(), owner, where)
    return (info.size, digest.hexdigest()), None


def _compare(url: str, manifest: Manifest, found: dict[str, tuple[int, str]]) -> None:
    listed = {f["name"]: (f["size"], f["sha256"]) for f in manifest["files"]}
    missing = sorted(set(listed) - set(found))
    if missing:
        raise ShareError(
            f"{url} lacks {len(missing)} file(s) its manifest lists, e.g. "
            f"{missing[0]}: {_NOT_COMPLETE}"
        )
    extra = sorted(set(found) - set(listed))
    if extra:
        raise ShareError(
            f"{url} holds {len(extra)} file(s) its manifest does not list, e.g. "
            f"{extra[0]}: it was altered after export. Export it again."
        )
    for name, (size, sha) in listed.items():
        if found[name] != (size, sha):
            raise ShareError(
                f"{url}: {name} does not match its checksum in the manifest (sha256 {sha[:12]}…, "
                f"found {found[name][1][:12]}…): the bundle was damaged or altered. Copy or export "
                "it again."
            )


def _check_objects(result: Scan, descriptors: dict[str, bytes]) -> None:
    url, manifest = result.url, result.manifest
    objects: dict[str, format.ObjectKind] = {}
    for entry in manifest["objects"]:
        path = entry["path"]
        kind = entry["kind"]
        raw = descriptors.get(f"{OBJECTS}/{path}/{format.OBJECT_JSON}")
        if raw is None:
            raise ShareError(
                f"{url}: object {path} has no object.json in the bundle. Export it again."
            )
        where = f"{url}: {path}/{format.OBJECT_JSON}"
        data = _check_descriptor(kind, raw, where)
        layout.check_names(data, where)
        fence.check_descriptor(data, path, where)
        result.descriptors[path] = raw
        objects[path] = kind
    for name in result.sizes:
        rel = root_path(name)
        layout.check_member(rel, objects, url)
        if layout.is_project_aliases(rel):
            result.project_aliases.append(name)


def _check_descriptor(kind: format.ObjectKind, raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ShareError(f"{where} is not valid JSON. The bundle is damaged.") from None
    fmt, newest = (
        (format.TABLE_FORMAT, format.TABLE_FORMAT_VERSION)
        if kind == "table"
        else (format.RUN_FORMAT, format.RUN_FORMAT_VERSION)
    )
    return format.check_format(
        data, where, kind, fmt, newest, error=ShareError, damaged=" The bundle is damaged."
    )
