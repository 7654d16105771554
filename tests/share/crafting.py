"""Crafting bundles as an attacker would: members rewritten, added or dropped with ``tarfile``,
and the manifest's checksums made to match, so that only the rule under test can refuse them."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

Members = list[tuple[str, bytes]]


def members_of(path: Path) -> Members:
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def write_tar(path: Path, members: Members) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def craft(
    src: Path,
    dst: Path,
    edit: Callable[[str, bytes], bytes | None] = lambda n, d: d,
    add: Members = (),  # type: ignore[assignment]
    manifest: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """A copy of the bundle ``src`` with members edited (None drops one) and ``add`` appended
    before the manifest, whose file list and checksums are rewritten to match."""
    out = [(n, new) for n, d in members_of(src) if (new := edit(n, d)) is not None]
    body = [(n, d) for n, d in out if n != "MANIFEST.json"]
    body += list(add)
    doc = json.loads(dict(out)["MANIFEST.json"])
    doc["files"] = [
        {"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
        for n, d in body[1:]  # every member but bundle.json
    ]
    if manifest is not None:
        manifest(doc)
    return write_tar(dst, [*body, ("MANIFEST.json", json.dumps(doc).encode())])


def with_json(data: bytes, **changes: Any) -> bytes:
    return json.dumps({**json.loads(data), **changes}).encode()


def with_footer_table(data: bytes, table: str) -> bytes:
    """A metrics (or projection) Parquet file whose ``tercet`` header names ``table``."""
    pf = pq.read_table(io.BytesIO(data))
    meta = dict(pf.schema.metadata or {})
    header = json.loads(meta[b"tercet"])
    header["table"] = table
    meta[b"tercet"] = json.dumps(header).encode()
    buf = io.BytesIO()
    pq.write_table(pf.replace_schema_metadata(meta), buf)
    return buf.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()
