"""``tercet share export``: one streaming tar archive holding objects, their references, and a
manifest of checksums and aliases.

Every member is streamed from storage into the archive and checksummed on the way (small files
are read and checksummed ahead on worker threads); files whose stored URLs must change
(references made relative, data URLs pointing into the bundle) are rewritten into a spooled temp
file first. The archive appears at its destination only when complete
(:func:`tercet.storage.open_atomic`), so a failed export leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import socket
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, NamedTuple

from tercet import storage
from tercet.errors import ObjectExistsError, ObjectNotFoundError, ShareError, StorageError
from tercet.share import checksums, datarefs, graph, rewrite, tarstream
from tercet.share.manifest import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_VERSION,
    HEADER_NAME,
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    ObjectEntry,
    header,
    member_name,
)
from tercet.share.progress import NoProgress, Progress
from tercet.storage import files as storage_files

SPOOL_LIMIT = 64 << 20  # rewritten files larger than this go to a temp file, not memory
READ_WHOLE = 4 << 20  # files up to this size are read whole, ahead, on a worker thread


def export_bundle(
    targets: Sequence[str],
    output: str,
    *,
    include_data: bool | Iterable[str] = False,
    relativize_under: Mapping[str, str] | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Manifest:
    """Write the runs and table revisions at ``targets``, with everything they reference, into
    one bundle at ``output``.

    Parameters
    ----------
    targets
        URLs of runs or table revisions (aliases allowed).
    output
        Where to write the bundle (a local path or any storage URL); never overwritten unless
        ``overwrite``.
    include_data
        ``True`` to copy every referenced data file (images) into the bundle, or alias names to
        copy only the files under those aliases. Their URLs are rewritten relative to the
        revision, so they resolve wherever the bundle is imported.
    relativize_under
        ``{folder: ALIAS}``: absolute data URLs under ``folder`` are stored as ``<ALIAS>/…``.
    progress
        Receives one step per archived file.

    Returns
    -------
    Manifest
        What was written: objects, files with sha256, aliases needed, absolute paths found.

    Raises
    ------
    ShareError
        A target or a referenced object is missing or unreadable, an alias needed to follow a
        reference or to copy data is not set, a data file to include is missing, or ``output``
        exists.
    """
    if not targets:
        raise ShareError("Nothing to export: name at least one run or table revision URL.")
    progress = progress or NoProgress()
    g = graph.walk(list(targets), strict=True)
    by_path = _check_paths(g)
    include: set[str] | bool = (
        include_data if isinstance(include_data, bool) else {str(a) for a in include_data}
    )
    rules = [(storage.normalize(f), a) for f, a in (relativize_under or {}).items()]
    data = datarefs.plan(g, include, rules)
    if isinstance(include, set) and include - set(data.aliases):
        unknown = ", ".join(f"<{a}>" for a in sorted(include - set(data.aliases)))
        used = ", ".join(f"<{a}>" for a in sorted(data.aliases)) or "none"
        raise ShareError(
            f"No data of these objects lies under {unknown}; the aliases they use "
            f"are: {used}. Check the names given to --include-alias."
        )
    edits = _edits(g, by_path, data)
    objects = [n for _, n in sorted(by_path.items(), key=lambda kv: (kv[1].kind == "run", kv[0]))]
    object_members = {member_name(f"{n.path}/{f}") for n in objects for f in n.files}
    included = sorted(
        (p, u) for p, u in data.include.items() if member_name(p) not in object_members
    )
    manifest: Manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(),
        "tercet_version": str(header()["tercet_version"]),
        "exported_from": {"host": socket.gethostname()},
        "roots": [g.objects[u].path for u in g.roots],
        "objects": [_entry(n, g) for n in objects],
        "files": [],
        "aliases": {k: data.aliases[k] for k in sorted(data.aliases)},
        "absolute": data.absolute,
        "remote": data.remote,
        "rewritten": {
            "relativized": {f: a for f, a in rules},
            "included_files": len(included),
        },
    }
    progress.start("Exporting", sum(len(n.files) for n in objects) + len(included))
    try:
        # A bundle can be exported again: publish atomically, but skip the fsync.
        with storage.open_atomic(output, overwrite=overwrite, durable=False) as out:
            _write(out, manifest, objects, edits, included, progress)
    except ObjectExistsError:
        raise ShareError(
            f"{output} already exists. Choose another file name, or pass --force to replace it."
        ) from None
    except StorageError as exc:
        raise ShareError(f"Cannot write the bundle {output}: {exc}") from exc
    return manifest


def _check_paths(g: graph.Graph) -> dict[str, graph.ObjectNode]:
    by_path: dict[str, graph.ObjectNode] = {}
    for node in g.objects.values():
        other = by_path.get(node.path)
        if other is not None:
            raise ShareError(
                f"{node.url} and {other.url} would both land at {node.path} in the bundle: they "
                "come from different project roots. Export them into separate bundles."
            )
        by_path[node.path] = node
    return by_path


def _entry(node: graph.ObjectNode, g: graph.Graph) -> ObjectEntry:
    d = node.descriptor
    is_table = node.kind == "table"
    return {
        "kind": node.kind,
        "path": node.path,
        "project": node.project,
        "name": str(d.get("name") or node.path.rsplit("/", 1)[-1]),
        "id": str(d["id"]) if is_table else None,
        "table": str(d["table"]) if is_table else None,
        "dataset": node.path.split("/")[2] if is_table else None,
        "origin": node.url,
        "refs": sorted({g.objects[r.target].path for r in node.refs}),
    }


def _edits(
    g: graph.Graph, by_path: dict[str, graph.ObjectNode], data: datarefs.DataPlan
) -> dict[tuple[str, str], tuple[rewrite.Edit, list[str]]]:
    """(object path, file) -> the edit its bundled copy needs, and the image columns it holds."""
    out: dict[tuple[str, str], tuple[rewrite.Edit, list[str]]] = {}
    for node in by_path.values():
        refs: dict[str, dict[str, str]] = {}
        for ref in node.refs:
            # References between bundled objects become relative: valid wherever they land.
            wanted = posixpath.relpath(g.objects[ref.target].path, node.path)
            if wanted != ref.stored:
                refs.setdefault(ref.file, {})[ref.stored] = wanted
        for name, mapping in refs.items():
            out[(node.path, name)] = (rewrite.Edit(ref=_lookup(mapping)), [])
    for carrier in data.carriers:
        if not carrier.changes:
            continue
        key = (carrier.node.path, carrier.file)
        edit, _ = out.get(key, (rewrite.Edit(), []))
        edit.urls = _lookup(carrier.changes)
        out[key] = (edit, carrier.columns)
    return out


def _lookup(mapping: dict[str, str]) -> rewrite.UrlMap:
    return lambda value: mapping.get(value, value)


class _Item(NamedTuple):
    member: str
    url: str
    owner: str | None  # the object a file belongs to (None for data files)
    edit: tuple[rewrite.Edit, list[str]] | None = None


def _write(
    out: IO[bytes],
    manifest: Manifest,
    objects: list[graph.ObjectNode],
    edits: dict[tuple[str, str], tuple[rewrite.Edit, list[str]]],
    included: list[tuple[str, str]],
    progress: Progress,
) -> None:
    items = [
        _Item(
            member_name(f"{node.path}/{name}"),
            storage.join(node.url, name),
            f"{node.kind} {node.url}",
            edits.get((node.path, name)),
        )
        for node in objects
        for name in node.files
    ]
    items += [_Item(member_name(path), url, None) for path, url in included]
    tar = tarstream.TarWriter(out, time.time())
    tar.add_bytes(HEADER_NAME, rewrite.dump_json(header()))
    files = manifest["files"]

    def load(item: _Item) -> _Loaded:
        # On a worker thread: small files whole, checksummed and framed as a tar member.
        if item.edit is not None:
            return _Loaded(item, None, 0, "")
        try:
            data = storage_files.read_if_small(item.url, READ_WHOLE)
        except ObjectNotFoundError:
            raise _missing(item) from None
        except OSError as exc:
            raise ShareError(f"Cannot read {item.url} while exporting ({exc}).") from exc
        if data is None:
            return _Loaded(item, None, 0, "")
        member = tarstream.framed(item.member, data, tar.mtime)
        return _Loaded(item, member, len(data), hashlib.sha256(data).hexdigest())

    for loaded in tarstream.read_ahead(items, load):
        item = loaded.item
        if loaded.member is not None:
            tar.add_framed(loaded.member)
            files.append({"name": item.member, "size": loaded.size, "sha256": loaded.sha256})
        elif item.edit is not None:
            files.append(_add_rewritten(tar, item, *item.edit))
        else:
            files.append(_add_large(tar, item))
        progress.advance()
    # Compact: with 10,000 files, indenting costs more than writing the files' headers.
    tar.add_bytes(MANIFEST_NAME, json.dumps(manifest, separators=(",", ":")).encode("utf-8"))
    tar.close()


class _Loaded(NamedTuple):
    item: _Item
    member: bytes | None  # the framed tar member; None when the file is streamed or rewritten
    size: int
    sha256: str


def _missing(item: _Item) -> ShareError:
    if item.owner is not None:
        return ShareError(
            f"{item.url}, a file of {item.owner}, does not exist. Restore it, or repair the "
            "object before exporting."
        )
    return ShareError(
        f"Data file {item.url} does not exist. Restore it, or export without --include-data for "
        "the alias or folder it lies in."
    )


def _add_large(tar: tarstream.TarWriter, item: _Item) -> FileEntry:
    try:
        size = storage_files.size(item.url)
        with storage_files.open_read(item.url) as fh:
            reader = checksums.HashingReader(fh)
            tar.add_stream(item.member, size, reader, storage_files.CHUNK)  # type: ignore[arg-type]
    except ObjectNotFoundError:
        raise _missing(item) from None
    except OSError as exc:
        raise ShareError(
            f"Cannot read {item.url} while exporting ({exc}); did it change during the export? "
            "Try again."
        ) from exc
    return {"name": item.member, "size": size, "sha256": reader.hexdigest()}


def _add_rewritten(
    tar: tarstream.TarWriter, item: _Item, edit: rewrite.Edit, columns: list[str]
) -> FileEntry:
    if item.member.endswith(".json"):
        data = rewrite.edit_json(storage.read_bytes(item.url), edit)
        tar.add_bytes(item.member, data)
        return {"name": item.member, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT) as spool:
        with storage_files.open_read(item.url) as src:
            rewrite.edit_parquet(src, spool, edit, columns)  # type: ignore[arg-type]
        size = spool.tell()
        spool.seek(0)
        reader = checksums.HashingReader(spool)  # type: ignore[arg-type]
        tar.add_stream(item.member, size, reader, storage_files.CHUNK)  # type: ignore[arg-type]
    return {"name": item.member, "size": size, "sha256": reader.hexdigest()}
