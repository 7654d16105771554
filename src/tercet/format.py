# Over 400 lines: every rule of the on-disk format in one place, on purpose.
"""The on-disk format in one place: names of folders and files, descriptor fields and versions,
revision naming, and the rule that says which revision is the latest. Pure rules, no I/O.

A project (``docs/format.md``)::

    <project>/aliases.yaml
    <project>/datasets/<dataset>/tables/<table>/object.json          a source table
    <project>/datasets/<dataset>/tables/<table>.<time>-<id>/…        a revision of it
    <project>/runs/<run>/object.json                                  a run (runs/folder.py: inside)
    <project>/data/…                                                  files brought by share import

Every reader (the library, the service, ``tercet share``, the dashboard through the API) asks this
module, so a rule changes in one place.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, NotRequired, TypedDict

from tercet.errors import CorruptObjectError, InvalidNameError, TercetError
from tercet.storage.paths import basename, is_absolute, is_under, join, normalize, parent, resolve

__all__ = [
    "CACHE",
    "DATA",
    "DATASETS",
    "DELTA_FILE",
    "DEPTH",
    "DISPLAY_KEYS",
    "METRICS_FORMAT",
    "METRICS_FORMAT_VERSION",
    "NAME",
    "OBJECT_JSON",
    "PROJECT_ALIASES",
    "REFERENCES",
    "REVISION_SEPARATOR",
    "ROWS",
    "RUNS",
    "RUN_FORMAT",
    "RUN_FORMAT_VERSION",
    "SKEW_TOLERANCE",
    "TABLES",
    "TABLE_FORMAT",
    "TABLE_FORMAT_VERSION",
    "ObjectKind",
    "ReferenceField",
    "Revision",
    "RunDescriptor",
    "TableDescriptor",
    "check_descriptor",
    "check_display_name",
    "check_format",
    "check_name",
    "check_reference",
    "claimed_time",
    "containing_object",
    "dataset_of",
    "derived_from",
    "descriptor_url",
    "is_from_future",
    "is_revision_of",
    "latest_leaf",
    "latest_of_each",
    "newest",
    "newest_leaf",
    "now",
    "object_folder",
    "object_kind",
    "project_of",
    "rank",
    "revision_name",
    "run_descriptor",
    "runs_folder",
    "slug",
    "stamp",
    "table_descriptor",
    "table_of",
    "tables_folder",
    "time_of_name",
    "unique_suffix",
]

# -- names of folders and files ------------------------------------------------------------------
OBJECT_JSON = "object.json"
"""Every object (table revision, run) is a folder holding this descriptor."""
PROJECT_ALIASES = "aliases.yaml"
DATASETS = "datasets"
TABLES = "tables"
RUNS = "runs"
DATA = "data"
"""``<project>/data``: data files brought in by ``tercet share import``."""
ROWS = "rows"
"""A source table's Parquet files: ``rows/part-….parquet``."""
DELTA_FILE = "delta.parquet"
"""A revision's edits when too many to hold inline in its descriptor."""
CACHE = "cache"
"""A revision's materialised rows (derived data, never shipped in a bundle)."""

TABLE_FORMAT, TABLE_FORMAT_VERSION = "tercet.table", 1
RUN_FORMAT, RUN_FORMAT_VERSION = "tercet.run", 1
METRICS_FORMAT, METRICS_FORMAT_VERSION = "tercet.metrics", 1

ObjectKind = Literal["table", "run"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
REVISION_SEPARATOR = "."
"""Between a table's name and a revision's unique suffix: ``train.20261130T090000123456-1a2b3c``."""


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is one safe path segment, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str) or not NAME.match(name) or ".." in name:
        raise InvalidNameError(
            f"{what.capitalize()} {name!r} is not valid: use 1–128 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit (it becomes a folder name)."
        )
    return name


# -- display names and their folder names -------------------------------------------------------
_NOT_IN_NAME = r"[^A-Za-z0-9._-]"
_UNSAFE_RUN = re.compile(rf"-*{_NOT_IN_NAME}(?:{_NOT_IN_NAME}|-)*")


def check_display_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it can name a project, dataset, table or run, else
    :class:`InvalidNameError`.

    Any printable text of 1–128 characters is a display name, except that it may not contain
    ``/`` or ``\\`` (they separate the levels of a name) nor start with ``.`` (hidden files,
    ``..``). Its folder is :func:`slug` of it.
    """
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= 128
        or not name.isprintable()
        or not name.strip()
        or "/" in name
        or "\\" in name
        or name.startswith(".")
    ):
        raise InvalidNameError(
            f"{what.capitalize()} {name!r} is not valid: use 1–128 printable characters without "
            "'/' or '\\', not starting with '.'."
        )
    return name


def slug(name: str, what: str = "name") -> str:
    """The folder name of the display name ``name``: deterministic, and ``name`` itself when it
    is already a valid folder name (:func:`check_name`), so every name Tercet accepted before
    keeps its folder.

    Otherwise accents are dropped, each run of other characters (with the dashes around it)
    becomes one ``-``, ``..`` becomes ``.``, and leading or trailing ``-``/``.`` go; a name with
    nothing left (``"数据"``) becomes ``n-<8 hex of its hash>``. Two names can share a slug
    (``"My table"`` and ``"My-table"``): the descriptor keeps the display name, so a writer sees
    the clash and reports it.
    """
    if isinstance(name, str) and NAME.match(name) and ".." not in name:
        return name
    check_display_name(name, what)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    out = _UNSAFE_RUN.sub("-", ascii_name)
    out = re.sub(r"\.{2,}", ".", out)[:128].strip("-.")
    if not out or not out[0].isalnum():
        out = "n-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return check_name(out, what)


# -- time stamps in names ------------------------------------------------------------------------
_STAMP = "%Y%m%dT%H%M%S%f"
_STAMP_LENGTH = len("20261130T090000123456")


def now() -> datetime:
    """The current time in UTC (descriptors and names record UTC)."""
    return datetime.now(UTC)


def stamp(when: datetime | None = None) -> str:
    """Sortable, filesystem-safe UTC timestamp with microseconds."""
    return (when or now()).strftime(_STAMP)


def unique_suffix(when: datetime | None = None) -> str:
    """``<stamp>-<6 hex>``: names that sort by time and do not clash between writers."""
    return f"{stamp(when)}-{secrets.token_hex(3)}"


def time_of_name(name: str) -> str | None:
    """The ISO time of a name that starts with a :func:`stamp`, else None."""
    try:
        return datetime.strptime(name[:_STAMP_LENGTH], _STAMP).replace(tzinfo=UTC).isoformat()
    except ValueError:
        return None


# -- objects and where they live -----------------------------------------------------------------
def object_folder(url: str) -> str:
    """The folder of an object named by its folder or by its ``object.json``."""
    if basename(url) == OBJECT_JSON:
        return parent(url)
    return url


def descriptor_url(folder: str) -> str:
    """The ``object.json`` of the object in ``folder``."""
    return join(folder, OBJECT_JSON)


def tables_folder(project_url: str, dataset: str) -> str:
    """Where the revisions of a dataset's tables live (``dataset``: a display name, see
    :func:`slug`)."""
    return join(project_url, DATASETS, slug(dataset, "dataset"), TABLES)


def runs_folder(project_url: str) -> str:
    """Where the runs of a project live."""
    return join(project_url, RUNS)


def _shape(parts: list[str]) -> ObjectKind | None:
    """What the first segments of a project-relative path are shaped like, names unchecked."""
    if len(parts) >= 5 and parts[1] == DATASETS and parts[3] == TABLES:
        return "table"
    if len(parts) >= 3 and parts[1] == RUNS:
        return "run"
    return None


def object_kind(path: str) -> ObjectKind | None:
    """``table`` or ``run`` when ``path`` (``/``-separated, relative to the project root) is an
    object folder, else None."""
    parts = path.split("/")
    kind = _shape(parts)
    if kind is None or len(parts) != DEPTH[kind] + 1:
        return None
    names = parts[::2]  # project, dataset, revision / project, run
    if not all(NAME.match(n) and ".." not in n for n in names):
        return None
    return kind


def containing_object(path: str) -> str | None:
    """The object folder (relative to the project root) that holds the file at ``path``, by the
    shape of the path alone; None for a file outside every object folder."""
    parts = path.split("/")
    kind = _shape(parts)
    if kind is None or len(parts) <= DEPTH[kind] + 1:
        return None
    return "/".join(parts[: DEPTH[kind] + 1])


DEPTH: dict[ObjectKind, int] = {"table": 4, "run": 2}
"""Folders between an object and its project: ``datasets/<d>/tables/<rev>``, ``runs/<run>``."""


def project_of(object_url: str, kind: ObjectKind) -> str:
    """The project folder of the object folder ``object_url``."""
    url = object_url
    for _ in range(DEPTH[kind]):
        url = parent(url)
    return url


def dataset_of(revision_url: str) -> str:
    """The dataset name of a table revision folder."""
    return basename(parent(parent(revision_url)))


# -- references stored inside objects ------------------------------------------------------------
ReferenceField = Literal["rows", "delta", "parent", "table", "derived_from"]

REFERENCES: dict[ReferenceField, tuple[Literal["object", "project"], bool]] = {
    "rows": ("object", False),
    "delta": ("object", False),
    "parent": ("project", False),
    "table": ("project", True),
    "derived_from": ("project", False),
}
"""Where each stored reference may lead, and whether it may be aliased or absolute.

- ``rows`` (a source's Parquet files) and ``delta`` (``delta.file``): relative, inside the
  revision's own folder;
- ``parent`` (a revision's parent) and ``derived_from.revision`` (what a split, subset or join
  was made from): relative, inside the revision's project;
- ``table`` (a run's input revision, in an input event or a metrics or projection file's
  footer): relative inside the run's project, else ``<ALIAS>/…`` or absolute (a table of another
  project); where those lead is for the reader's fence (:mod:`tercet.storage.fence`) to allow.
"""


def check_reference(
    stored: Any, object_url: str, kind: ObjectKind, field: ReferenceField, where: str | None = None
) -> str:
    """The URL a reader may follow for the reference ``stored`` in the ``field`` of the object
    in ``object_url``, or :class:`CorruptObjectError` naming ``where`` (the file that holds it:
    the object's descriptor by default) and the field.

    A relative reference comes back resolved against ``object_url``; an aliased or absolute one
    (only where :data:`REFERENCES` allows it) comes back as stored, for the caller to expand.
    Tercet writes no reference that this refuses, in this version or any before; one that is
    refused was made by hand or crafted to lead a reader elsewhere. No I/O: share import asks
    the same rule of a bundle's objects before writing them.
    """
    within, may_leave = REFERENCES[field]
    holder = where or descriptor_url(object_url)
    if not isinstance(stored, str) or not stored.strip() or "\x00" in stored:
        raise CorruptObjectError(f"{holder}: '{field}' is {stored!r}, not a URL.")
    if stored.startswith("<") or is_absolute(stored):
        if may_leave:
            return stored
        raise CorruptObjectError(
            f"{holder}: '{field}' is {stored!r}, but it must be a path relative to "
            f"{'the object' if within == 'object' else 'the object in its project'}. Tercet never "
            "writes such a reference: the object was made by hand or tampered with; remove it "
            "or restore it from a copy."
        )
    folder = normalize(object_url)
    resolved = resolve(stored, folder)
    fence = folder if within == "object" else normalize(project_of(folder, kind))
    if not is_under(resolved, fence) or (within == "object" and resolved == fence):
        place = "its object's folder" if within == "object" else f"its project {fence}"
        raise CorruptObjectError(
            f"{holder}: '{field}' is {stored!r}, which leads to {resolved}, outside {place}. "
            "Tercet never writes such a reference: the object was made by hand or tampered "
            "with; remove it or restore it from a copy."
        )
    return resolved


# -- revision naming -----------------------------------------------------------------------------
def revision_name(table: str, when: datetime | None = None) -> str:
    """The folder name of a new revision of ``table``."""
    return f"{table}{REVISION_SEPARATOR}{unique_suffix(when)}"


def table_of(folder_name: str) -> str:
    """The table a revision folder belongs to (a source table's folder is the table's name)."""
    return folder_name.split(REVISION_SEPARATOR, 1)[0]


def is_revision_of(folder_name: str, table: str) -> bool:
    """True for the folder of ``table``'s source and of each of its revisions."""
    return folder_name == table or folder_name.startswith(table + REVISION_SEPARATOR)


# -- descriptors ---------------------------------------------------------------------------------
class TableDescriptor(TypedDict):
    """``object.json`` of a table revision (``docs/format.md``)."""

    format: str
    format_version: int
    id: str
    table: str  # the table's name: the same for its source and all its revisions
    name: str  # the revision's folder name
    project: str
    dataset: str
    created: str  # ISO 8601, UTC
    parent: str | None  # relative to this folder, inside its project; None for a source
    message: str
    num_rows: int
    schema: dict[str, Any]
    rows: NotRequired[list[str]]  # a source's Parquet files, relative to its folder
    delta: NotRequired[dict[str, Any]]  # a revision's edits: inline, or {"file": DELTA_FILE, …}
    metadata: NotRequired[dict[str, Any]]
    display_names: NotRequired[dict[str, str]]  # {"project"|"dataset"|"table": shown name}
    derived_from: NotRequired[dict[str, Any]]  # a split, subset or join: see derived_from()


class RunDescriptor(TypedDict):
    """``object.json`` of a run: written once; everything after is an event."""

    format: str
    format_version: int
    id: str
    name: str
    project: str
    created: str
    parameters: dict[str, Any]
    display_names: NotRequired[dict[str, str]]  # {"project"|"run": shown name}, when not the folder


_TABLE_KEYS = ("id", "name", "table", "created", "schema", "num_rows")


def check_format(
    data: Any,
    where: str,
    kind: str,
    fmt: str,
    newest: int,
    error: type[TercetError] = CorruptObjectError,
    damaged: str = "",
) -> dict[str, Any]:
    """Return ``data`` if it is a ``kind`` descriptor of format ``fmt`` at a version this Tercet
    reads; else raise ``error`` saying where (``damaged`` is added to the message of a
    descriptor that is not one at all)."""
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise error(f"{where} is not a Tercet {kind} descriptor (no 'format': '{fmt}').{damaged}")
    version = data.get("format_version")
    if not isinstance(version, int) or version > newest:
        raise error(
            f"{where} has {kind} format_version {version!r}; this Tercet reads up to {newest}. "
            "Upgrade Tercet (`pip install -U tercet`)."
        )
    checked: dict[str, Any] = data
    return checked


def check_descriptor(
    kind: ObjectKind, data: Any, where: str, error: type[TercetError] = CorruptObjectError
) -> dict[str, Any]:
    """``data`` if it is a readable ``kind`` descriptor (read from ``where``), else ``error``."""
    if kind == "run":
        return check_format(data, where, "run", RUN_FORMAT, RUN_FORMAT_VERSION, error)
    checked = check_format(data, where, "table", TABLE_FORMAT, TABLE_FORMAT_VERSION, error)
    missing = [k for k in _TABLE_KEYS if k not in checked]
    if missing:
        raise error(f"{where} lacks the keys {missing}.")
    return checked


def table_descriptor(
    *,
    id: str,
    table: str,
    name: str,
    project: str,
    dataset: str,
    created: datetime,
    parent: str | None,
    message: str,
    num_rows: int,
    schema: dict[str, Any],
) -> TableDescriptor:
    """A new table descriptor; the caller adds ``rows`` (a source) or ``delta`` (an edit)."""
    return {
        "format": TABLE_FORMAT,
        "format_version": TABLE_FORMAT_VERSION,
        "id": id,
        "table": table,
        "name": name,
        "project": project,
        "dataset": dataset,
        "created": created.isoformat(),
        "parent": parent,
        "message": message,
        "num_rows": num_rows,
        "schema": schema,
    }


def run_descriptor(
    *, id: str, name: str, project: str, created: datetime, parameters: Mapping[str, Any]
) -> RunDescriptor:
    """A new run descriptor (written once; everything after is an event)."""
    return {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "id": id,
        "name": name,
        "project": project,
        "created": created.isoformat(),
        "parameters": dict(parameters),
    }


def derived_from(source: str, rule: Mapping[str, Any]) -> dict[str, Any]:
    """The ``derived_from`` field of a table made from another by a split, subset or join.

    ``source`` is the revision it was made from, relative to the new table's folder (inside its
    project, like ``parent``), ``rule`` what was done (``{"op": "split", "by": "random", …}``).
    Optional: readers that predate it ignore it. Unlike ``parent`` it is no edge of the revision
    tree, so :func:`latest_leaf` never leads from the source into such a table.
    """
    return {"revision": source, "rule": dict(rule)}


DISPLAY_KEYS = ("project", "dataset", "table")
"""The keys of a descriptor's optional ``display_names``: the names as the user wrote them, kept
only where they differ from the folder names (:func:`slug`)."""


# -- which revision is the latest ----------------------------------------------------------------
SKEW_TOLERANCE = timedelta(minutes=5)
"""How far a revision's ``created`` may lie after the time the storage recorded its descriptor
(the clocks of writers and stores differ a little) before the storage's time counts instead."""


class Revision(NamedTuple):
    """What the latest rule looks at: a revision folder, its parent's folder (absolute), its
    creation time and id from its descriptor, and when the storage recorded its descriptor
    (seconds since the epoch, as the store reports it; None when unknown)."""

    url: str
    parent: str | None
    created: str
    id: str
    stored: float | None = None


def newest(revisions: Iterable[Revision]) -> Revision:
    """The revision created last by :func:`rank` (its claimed time, checked against when the
    storage recorded it); ties (one clock tick) broken by id, so every reader agrees."""
    when = now()
    return max(revisions, key=lambda r: rank(r, when))


def latest_leaf(start: Revision, revisions: Iterable[Revision]) -> Revision:
    """The latest revision below ``start``: the newest of its descendants without children
    (``start`` itself when it has none). Derived from the immutable revisions alone."""
    by_url = {r.url: r for r in revisions}
    by_url.setdefault(start.url, start)
    return by_url[latest_of_each(by_url.values())[start.url]]


def latest_of_each(revisions: Iterable[Revision]) -> dict[str, str]:
    """For every revision, the URL of :func:`latest_leaf` below it (one pass over them all)."""
    revs = {r.url: r for r in revisions}
    children: dict[str, list[Revision]] = {}
    for r in revs.values():
        if r.parent and r.parent in revs:
            children.setdefault(r.parent, []).append(r)
    best: dict[str, Revision] = {}
    visiting: set[str] = set()
    for root in revs.values():
        # Depth-first, children before parents, without recursion (chains can be long).
        stack: list[tuple[Revision, bool]] = [(root, False)]
        while stack:
            r, expanded = stack.pop()
            if r.url in best:
                continue
            if expanded:
                done = [best[k.url] for k in children.get(r.url, []) if k.url in best]
                best[r.url] = newest(done) if done else r
                continue
            if r.url in visiting:
                continue  # the parent links loop (a damaged table): stop following them
            visiting.add(r.url)
            stack.append((r, True))
            stack.extend((k, False) for k in children.get(r.url, []) if k.url not in best)
    return {url: r.url for url, r in best.items()}


def newest_leaf(revisions: Iterable[Revision]) -> Revision | None:
    """Among ``revisions`` (those of one table), the newest that no other has as its parent."""
    revs = list(revisions)
    parents = {r.parent for r in revs if r.parent}
    leaves = [r for r in revs if r.url not in parents]
    return newest(leaves) if leaves else None


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def is_from_future(
    created: str | datetime, at: datetime | None = None, tolerance: timedelta = SKEW_TOLERANCE
) -> bool:
    """True when ``created`` lies more than ``tolerance`` after ``at`` (default: this machine's
    clock, :func:`now`): a time no honest writer can have recorded yet. An unreadable time is
    not from the future.

    ``tercet share import`` and anything else that takes descriptors from elsewhere can refuse
    such a revision; the latest rule (:func:`rank`) never lets one win.
    """
    when = created if isinstance(created, datetime) else _parse_time(created)
    if when is None:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when > (at or now()) + tolerance


def claimed_time(revision: Revision) -> str:
    """The creation time a revision ranks by: its ``created`` when that lies at most
    :data:`SKEW_TOLERANCE` after the time the storage recorded it, else the storage's time. A
    writer whose clock runs ahead, or a descriptor planted with a time in the far future, ranks
    by when it was really stored, so the next honest revision is the latest again."""
    if revision.stored is None:
        return revision.created
    stored = datetime.fromtimestamp(revision.stored, UTC)
    created = _parse_time(revision.created)
    if created is not None and created <= stored + SKEW_TOLERANCE:
        return revision.created
    return stored.isoformat()


def rank(revision: Revision, at: datetime) -> tuple[bool, str, str]:
    """The latest rule's order: the greatest is the latest.

    1. A revision still from the future after :func:`claimed_time` (its storage time too lies
       after ``at`` plus the tolerance: a planted modification time) ranks below all others;
    2. then by :func:`claimed_time`;
    3. ties (one clock tick) by id.
    """
    claimed = claimed_time(revision)
    return (not is_from_future(claimed, at), claimed, revision.id)
