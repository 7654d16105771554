"""Rewriting the URLs stored inside objects, for the copies that travel in a bundle.

Objects are immutable, so nothing here touches an original: export writes rewritten *copies* into
the bundle, import writes rewritten copies into the target root. Only the URL-bearing parts
change; row data is re-encoded row group by row group, never held whole in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tercet.runs.eventlog import SUMMARY
from tercet.runs.metrics import METADATA_KEY, parse_header
from tercet.schema import URL_ROLES
from tercet.share.datarefs import image_columns

UrlMap = Callable[[str], str]


@dataclass
class Edit:
    """What to change in one file of an object.

    ``fields`` sets top-level keys of an ``object.json``; ``ref`` maps stored references to table
    revisions (``parent``, input events, the metrics header); ``urls`` maps image URLs.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    ref: UrlMap | None = None
    urls: UrlMap | None = None

    def __bool__(self) -> bool:
        return bool(self.fields) or self.ref is not None or self.urls is not None


def dump_json(obj: Any) -> bytes:
    """The serialisation :func:`tercet.storage.write_json` uses."""
    return json.dumps(obj, indent=1, sort_keys=False, default=str).encode("utf-8")


def edit_json(raw: bytes, edit: Edit) -> bytes:
    """Apply ``edit`` to a table or run ``object.json`` or a run event; unchanged bytes when
    nothing changes (so checksums of untouched files stay valid)."""
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        return raw
    new = _edit_doc(doc, edit)
    summary = doc.get(SUMMARY)
    if isinstance(summary, dict):
        # A final event's copies of object.json and the other events change as they do.
        copies = dict(summary)
        if isinstance(copies.get("object"), dict):
            copies["object"] = _edit_doc(copies["object"], edit)
        if isinstance(copies.get("events"), dict):
            copies["events"] = {
                k: _edit_doc(v, edit) if isinstance(v, dict) else v
                for k, v in copies["events"].items()
            }
        new[SUMMARY] = copies
    return raw if new == doc else dump_json(new)


def _edit_doc(doc: dict[str, Any], edit: Edit) -> dict[str, Any]:
    new = dict(doc)
    if "format" in new:  # descriptors only: an event's keys are not the object's identity
        for key, value in edit.fields.items():
            if key in new:
                new[key] = value
    if edit.ref is not None:
        if new.get("format") == "tercet.table" and isinstance(new.get("parent"), str):
            new["parent"] = edit.ref(new["parent"])
        elif new.get("type") == "input" and isinstance(new.get("table"), str):
            new["table"] = edit.ref(new["table"])
    if edit.urls is not None and new.get("format") == "tercet.table" and new.get("delta"):
        new["delta"] = _edit_inline_delta(new["delta"], image_columns(new), edit.urls)
    return new


def _edit_inline_delta(delta: dict[str, Any], columns: list[str], fn: UrlMap) -> dict[str, Any]:
    out = dict(delta)
    if isinstance(delta.get("set"), dict):
        out["set"] = dict(delta["set"])
        for col in columns:
            spec = delta["set"].get(col)
            if isinstance(spec, dict) and isinstance(spec.get("value"), list):
                values = [fn(v) if isinstance(v, str) else v for v in spec["value"]]
                out["set"][col] = {**spec, "value": values}
    if isinstance(delta.get("added_columns"), list):
        out["added_columns"] = [
            {**s, "default": fn(s["default"])}
            if isinstance(s, dict)
            and s.get("role") in URL_ROLES
            and isinstance(s.get("default"), str)
            else s
            for s in delta["added_columns"]
        ]
    return out


def map_strings(array: pa.ChunkedArray | pa.Array, fn: UrlMap) -> pa.ChunkedArray:
    """Apply ``fn`` to every distinct non-null string of ``array`` (once each), vectorised."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    out = []
    for chunk in chunks:
        encoded = chunk.dictionary_encode()
        mapped = pa.array(
            [None if v is None else fn(v) for v in encoded.dictionary.to_pylist()], type=chunk.type
        )
        out.append(mapped.take(encoded.indices))
    return pa.chunked_array(out, type=array.type)


def edit_parquet(src: IO[bytes], dst: IO[bytes], edit: Edit, columns: list[str]) -> None:
    """Copy the Parquet file ``src`` to ``dst``, mapping image ``columns`` through ``edit.urls``
    and the ``tercet`` header's table reference through ``edit.ref``."""
    pf = pq.ParquetFile(src)
    schema = pf.schema_arrow
    meta = dict(schema.metadata or {})
    header = parse_header(meta, "a bundled metrics file", strict=False)
    if edit.ref is not None and isinstance(header.get("table"), str):
        header["table"] = edit.ref(header["table"])
        meta[METADATA_KEY] = json.dumps(header, default=str).encode("utf-8")
        schema = schema.with_metadata(meta)
    targets = [c for c in columns if c in schema.names] if edit.urls is not None else []
    with pq.ParquetWriter(dst, schema, compression="zstd") as writer:
        for i in range(pf.num_row_groups):
            table = pf.read_row_group(i)
            for name in targets:
                assert edit.urls is not None
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, map_strings(table.column(name), edit.urls))
            writer.write_table(table.replace_schema_metadata(meta), row_group_size=table.num_rows)
        if pf.num_row_groups == 0:
            writer.write_table(schema.empty_table())
