"""Walking the object graph: a run → its input table revisions → their parents → the source.

Where references live (see docs/format.md):

- a table revision's ``object.json`` ``parent`` (relative to the revision folder);
- a run's ``events/*.json`` of type ``input``, key ``table`` (relative to the run folder);
- a run's metrics and projection Parquet files, key-value metadata ``tercet`` → ``table``
  (relative to the run folder).

Any of them may also be aliased or absolute; the walk resolves all three forms.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tercet import aliases, format, storage
from tercet.errors import (
    AliasNotSetError,
    CorruptObjectError,
    ObjectNotFoundError,
    ShareError,
    StorageError,
)
from tercet.runs import eventlog
from tercet.runs import folder as run_folder
from tercet.runs import metrics as runs_metrics

Kind = format.ObjectKind


@dataclass
class Ref:
    """A reference from one object to a table revision."""

    file: str  # object-relative name of the file holding it: object.json, events/…, metrics/…
    stored: str  # the URL exactly as stored
    target: str  # absolute folder URL of the referenced revision


@dataclass
class ObjectNode:
    """One table revision or run found by the walk."""

    kind: Kind
    url: str  # absolute folder URL
    root: str  # the project root it lives under
    path: str  # root-relative folder path, the same inside a bundle
    descriptor: dict[str, Any]
    files: list[str] = field(default_factory=list)  # object-relative names to bundle
    refs: list[Ref] = field(default_factory=list)

    @property
    def project(self) -> str:
        return self.path.split("/", 1)[0]


@dataclass
class Graph:
    """Objects reachable from the requested ones, in discovery order (requested ones first)."""

    objects: dict[str, ObjectNode]  # by folder URL
    roots: list[str]
    missing_aliases: dict[str, list[str]] = field(default_factory=dict)  # alias -> where used
    missing_objects: list[tuple[str, str]] = field(default_factory=list)  # (url, where)


def locate(url: str) -> tuple[Kind, str, str, str]:
    """Kind, folder URL, root URL and root-relative path of the object at ``url``."""
    folder = format.object_folder(aliases.expand(url))
    parts: list[str] = []
    root = folder
    for expected, depth in format.DEPTH.items():
        parts, root = [], folder
        for _ in range(depth + 1):  # the object's folders, and its project's
            parts.insert(0, storage.basename(root))
            root = storage.parent(root)
        if format.object_kind("/".join(parts)) == expected:
            return expected, folder, root, "/".join(parts)
    raise ShareError(
        f"{folder} is not a table revision or run folder: they live at "
        "<root>/<project>/datasets/<dataset>/tables/<revision> and <root>/<project>/runs/<run>. "
        "Pass the URL of one of those folders."
    )


def read_descriptor(kind: Kind, folder: str) -> dict[str, Any]:
    url = format.descriptor_url(folder)
    try:
        data = storage.read_json(url)
    except ObjectNotFoundError:
        raise ShareError(f"No {kind} at {folder}: {url} does not exist.") from None
    fmt, newest = (
        (format.TABLE_FORMAT, format.TABLE_FORMAT_VERSION)
        if kind == "table"
        else (format.RUN_FORMAT, format.RUN_FORMAT_VERSION)
    )
    return format.check_format(data, url, kind, fmt, newest, error=ShareError)


def _files(kind: Kind, folder: str) -> list[str]:
    prefix = folder.rstrip("/") + "/"
    out = []
    for url in storage.walk_files(folder):
        name = url[len(prefix) :].replace("\\", "/")
        # A revision's row cache is derived data, rebuilt on demand: not worth shipping.
        if kind == "table" and name.startswith(format.CACHE + "/"):
            continue
        out.append(name)
    return out


def _run_refs(folder: str, files: list[str]) -> list[tuple[str, str]]:
    """(file, stored URL) of every table reference in a run."""
    found: list[tuple[str, str]] = []
    for name in files:
        url = storage.join(folder, name)
        if name.startswith(run_folder.EVENTS + "/") and name.endswith(".json"):
            try:
                event = storage.read_json(url)
            except CorruptObjectError:
                continue  # the run's own reader skips damaged events too
            # A final event's copies of the run's events name the same tables again.
            for one in [event, *eventlog.summary_of(event)[1].values()]:
                is_input = isinstance(one, dict) and one.get("type") == "input"
                if is_input and isinstance(one.get("table"), str):
                    found.append((name, one["table"]))
        elif name.startswith(run_folder.METRICS + "/") and name.endswith(".parquet"):
            header = runs_metrics.read_header(url, strict=False)
            if isinstance(header.get("table"), str):
                found.append((name, header["table"]))
    return found


def walk(targets: list[str], strict: bool = True) -> Graph:
    """Every object reachable from ``targets`` (URLs of runs or table revisions).

    Parameters
    ----------
    targets
        URLs of runs and table revisions (aliases, relative paths and ``object.json`` allowed).
    strict
        Raise :class:`~tercet.errors.ShareError` on a reference that cannot be followed (an unset
        alias, a missing object). Otherwise record it in the graph and go on.
    """
    graph = Graph(objects={}, roots=[])
    queue: deque[tuple[str, str]] = deque()
    for target in targets:
        kind, folder, _, _ = locate(target)
        read_descriptor(kind, folder)  # a bad target fails before anything else is read
        graph.roots.append(folder)
        queue.append((folder, f"the command line ({target})"))
    while queue:
        folder, where = queue.popleft()
        if folder in graph.objects:
            continue
        try:
            node = _load(folder, None if strict else graph.missing_aliases)
        except ShareError as exc:
            if strict:
                raise ShareError(f"{exc} It is referenced from {where}.") from None
            graph.missing_objects.append((folder, where))
            continue
        graph.objects[folder] = node
        for ref in node.refs:
            queue.append((ref.target, f"{node.url}/{ref.file}"))
    return graph


def _load(folder: str, missing_aliases: dict[str, list[str]] | None) -> ObjectNode:
    kind, folder, root, path = locate(folder)
    descriptor = read_descriptor(kind, folder)
    try:
        files = _files(kind, folder)
    except StorageError as exc:
        raise ShareError(f"Cannot list {folder}: {exc}") from exc
    node = ObjectNode(kind, folder, root, path, descriptor, files)
    if kind == "table":
        parent = descriptor.get("parent")
        stored = [(format.OBJECT_JSON, parent)] if parent else []
    else:
        stored = _run_refs(folder, files)
    project_url = storage.join(root, node.project)
    # A final event's copies repeat the run's references: one stored value counts once.
    unresolved: set[str] = set()
    for name, value in stored:
        try:
            target = _resolve(value, folder, project_url, name)
        except AliasRefError as exc:
            if missing_aliases is None:
                raise
            if value not in unresolved:
                unresolved.add(value)
                missing_aliases.setdefault(exc.alias, []).append(f"{folder}/{name}")
            continue
        node.refs.append(Ref(name, value, target))
    return node


def _resolve(value: str, base: str, project_url: str, name: str) -> str:
    try:
        return aliases.expand(value, base=base, project_url=project_url)
    except AliasNotSetError as exc:
        raise AliasRefError(exc.name, f"{base}/{name}", value) from None


class AliasRefError(ShareError):
    """A reference between objects goes through an alias that is not set here."""

    def __init__(self, alias: str, where: str, value: str) -> None:
        self.alias = alias
        super().__init__(
            f"{where} refers to {value!r}, but alias <{alias}> is not set on this machine. Set it "
            f"with `tercet alias set {alias} VALUE` (or TERCET_ALIAS_{alias}=…) and try again."
        )
