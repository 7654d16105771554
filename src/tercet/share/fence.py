"""The fence around references stored in a bundle: none may lead out of its object's project.

An import writes objects whose stored URLs are later resolved by every reader (the library, the
service). A crafted bundle could store ``../../../other-project/…``, ``/etc``, ``s3://elsewhere``
or ``<ALIAS>/…`` as a parent, a rows file or a metrics file's input table, and the imported
object would reach outside the project it was imported into. The rule, in :func:`reference_error`:

- a reference to an object or to a file of one (``parent``, ``rows[]``, ``delta.file``, an input
  event's ``table``, a metrics or projection footer's ``table``) is valid iff it is relative and,
  resolved against its object folder, stays inside that object's project folder;
- a data URL (an image column) may also be absolute or aliased (``<NAME>/…``); when relative,
  the same rule holds.

Object references follow :func:`tercet.format.check_reference`, the rule every reader applies
(``rows`` and ``delta.file`` inside their revision, ``parent`` and a run's input ``table`` inside
the project); a bundle is held to it before anything is written, and, stricter than a reader, may
not store a run's input table as an absolute or aliased URL either: it would name a table the
bundle does not carry.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from tercet import format
from tercet.aliases import is_alias_url
from tercet.errors import CorruptObjectError, ShareError
from tercet.runs import eventlog
from tercet.share.datarefs import image_columns, inline_values
from tercet.storage import is_absolute

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Characters no name or reference may hold: C0 and C1 controls, DEL."""
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


FIELDS: dict[str, format.ReferenceField] = {
    "parent": "parent",
    "rows[]": "rows",
    "delta.file": "delta",
    "input table": "table",
    "footer table": "table",
}
"""The format's name of each reference field a bundle's objects store."""

_BUNDLE = "/bundle"
"""Where a bundle's root-relative paths are placed for the format rule, which wants URLs."""


def reference_error(
    ref: object, object_path: str, *, data: bool = False, field: str | None = None
) -> str | None:
    """Why ``ref``, stored in ``field`` of the object at ``object_path`` (``<project>/…``,
    relative to the root), is not a valid reference; None when it is. ``data``: an image URL."""
    if not isinstance(ref, str) or not ref:
        return "is not a non-empty string"
    if CONTROL.search(ref):
        return "holds control characters"
    if "\\" in ref:
        return "holds a backslash"
    if is_alias_url(ref) or is_absolute(ref) or _SCHEME.match(ref):
        if data:
            return None
        return "is absolute or aliased; references between objects must be relative"
    kind = format.object_kind(object_path)
    if not data and field in FIELDS and kind is not None:
        try:
            format.check_reference(ref, f"{_BUNDLE}/{object_path}", kind, FIELDS[field])
        except CorruptObjectError:
            resolved = posixpath.normpath(posixpath.join(object_path, ref))
            if FIELDS[field] in ("rows", "delta"):
                place = f"its object's folder {object_path!r}"
            else:
                place = f"its project {object_path.split('/', 1)[0]!r}"
            return f"leads out of {place} (it resolves to {resolved!r})"
        return None
    project = object_path.split("/", 1)[0]
    resolved = posixpath.normpath(posixpath.join(object_path, ref))
    if resolved == project or not resolved.startswith(project + "/"):
        return f"leads out of its project {project!r} (it resolves to {resolved!r})"
    return None


def check(ref: object, object_path: str, field: str, where: str, *, data: bool = False) -> None:
    """Raise :class:`ShareError` naming ``where`` and ``field`` when ``ref`` breaks the rule."""
    why = reference_error(ref, object_path, data=data, field=field)
    if why is not None:
        raise ShareError(
            f"{where}: {field} {ref!r} {why}. A bundle's objects may only refer inside their "
            "own project; this one was crafted or damaged. Nothing was written."
        )


def check_descriptor(descriptor: dict[str, Any], object_path: str, where: str) -> None:
    """Every reference a table descriptor stores: parent, rows, delta file, inline image URLs."""
    if descriptor.get("format") != "tercet.table":
        return
    parent = descriptor.get("parent")
    if parent is not None:
        check(parent, object_path, "parent", where)
    rows = descriptor.get("rows")
    if rows is not None:
        if not isinstance(rows, list):
            raise ShareError(f"{where}: rows is not a list. The bundle is damaged.")
        for item in rows:
            check(item, object_path, "rows[]", where)
    delta = descriptor.get("delta")
    if delta is not None and not isinstance(delta, dict):
        raise ShareError(f"{where}: delta is not an object. The bundle is damaged.")
    if delta and delta.get("file") is not None:
        check(delta["file"], object_path, "delta.file", where)
    try:
        values = inline_values(descriptor, image_columns(descriptor))
    except (AttributeError, TypeError):
        raise ShareError(
            f"{where}: its inline delta is malformed. The bundle is damaged."
        ) from None
    for value in values:
        check(value, object_path, "image URL", where, data=True)


def check_event(raw: bytes, object_path: str, where: str) -> None:
    """A run event's input table, if it is an input event."""
    try:
        event = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return  # a damaged event is skipped by every reader, as the run's own reader does
    # A final event carries copies of the run's events, which readers use instead of the files.
    for one in [event, *eventlog.summary_of(event)[1].values()]:
        if isinstance(one, dict) and one.get("type") == "input" and "table" in one:
            check(one["table"], object_path, "input table", where)


def check_footer(tail: bytes, object_path: str, where: str) -> None:
    """The ``table`` a metrics or projection file's footer names, from the file's last bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tercet.runs.metrics import parse_header

    if len(tail) < 12 or tail[-4:] != b"PAR1":
        raise ShareError(f"{where} is not a Parquet file. The bundle is damaged.")
    length = int.from_bytes(tail[-8:-4], "little")
    if length + 8 > len(tail):
        raise ShareError(
            f"{where}: its Parquet footer declares {length:,} bytes, more than the "
            f"{len(tail) - 8:,} checked for references. The bundle is damaged or was crafted."
        )
    footer = b"PAR1" + tail[-(length + 8) :]
    try:
        metadata = pq.read_metadata(pa.BufferReader(footer)).metadata
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ShareError(f"{where}: its Parquet footer is unreadable ({exc}).") from None
    header = parse_header(metadata, where, strict=False)
    if "table" in header:
        check(header["table"], object_path, "footer table", where)


class Tail:
    """The last ``size`` bytes of a stream, kept while it is read in pieces."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.kept = bytearray()

    def add(self, chunk: bytes) -> None:
        self.kept += chunk
        if len(self.kept) > 2 * self.size:
            del self.kept[: len(self.kept) - self.size]

    def value(self) -> bytes:
        return bytes(self.kept[-self.size :])
