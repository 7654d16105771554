"""Data files a bundle references: file URLs in table revisions, what they need, how they move.

File-URL columns (roles in :data:`tercet.schema.URL_ROLES`: ``image``, ``semantic_mask``) hold
URLs in three places of a revision: its rows Parquet (source tables), its ``delta.parquet``, and
the inline delta (``set`` values, added-column defaults) in ``object.json``. Each distinct URL
is classified:

- ``<ALIAS>/rest`` — needs the alias wherever the bundle is opened;
- inside the project root — travels with the bundle (it is part of the project);
- an absolute local path — would not resolve on another machine;
- on an object store or the web — reachable from anywhere with access.

With ``--include-data`` the files themselves go into the bundle under ``<project>/data/`` and the
URLs are rewritten relative to the revision, so they resolve wherever the project lands with no
alias at all. With ``--relativize-under DIR=ALIAS`` absolute paths under ``DIR`` become
``<ALIAS>/…`` first.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tercet import format, storage
from tercet.aliases import ALIAS_URL, check_alias_name, expand
from tercet.aliases import values as alias_values
from tercet.errors import AliasNotSetError, ShareError
from tercet.schema import URL_ROLES
from tercet.share.graph import Graph, ObjectNode
from tercet.share.manifest import DATA, LOCAL_DATA, AbsoluteEntry, AliasEntry

SAMPLES = 5
MAX_FOLDERS = 100
_PORTABLE = ("http", "https")


def image_columns(descriptor: dict[str, Any]) -> list[str]:
    """Names of the file-URL columns (roles in ``URL_ROLES``: images, semantic masks) of a table
    descriptor (none for other objects)."""
    schema = descriptor.get("schema")
    if descriptor.get("format") != "tercet.table" or not isinstance(schema, dict):
        return []
    return [c["name"] for c in schema.get("columns", []) if c.get("role") in URL_ROLES]


@dataclass
class Carrier:
    """One place in a revision that stores image URLs, with its distinct values."""

    node: ObjectNode
    file: str  # object-relative: rows/….parquet, delta.parquet, or object.json (inline delta)
    columns: list[str]
    values: list[str]
    changes: dict[str, str] = field(default_factory=dict)  # stored URL -> URL in the bundle


def carriers(node: ObjectNode) -> list[Carrier]:
    """Every image-URL carrier of a table revision, with its distinct URLs."""
    d = node.descriptor
    columns = image_columns(d)
    if not columns:
        return []
    out: list[Carrier] = []
    files = list(d.get("rows") or [])
    delta = d.get("delta") or {}
    if delta.get("file"):
        files.append(delta["file"])
    for name in files:
        table = storage.read_parquet(storage.join(node.url, name))
        present = [c for c in columns if c in table.column_names]
        if present:
            out.append(Carrier(node, name, present, _distinct(table.column(c) for c in present)))
    inline = inline_values(d, columns)
    if inline:
        out.append(Carrier(node, format.OBJECT_JSON, columns, sorted(set(inline))))
    return out


def inline_values(descriptor: dict[str, Any], columns: list[str]) -> list[str]:
    delta = descriptor.get("delta") or {}
    values = [v for c in columns for v in ((delta.get("set") or {}).get(c) or {}).get("value", [])]
    for spec in delta.get("added_columns") or []:
        if spec.get("role") in URL_ROLES and spec.get("default") is not None:
            values.append(spec["default"])
    return [v for v in values if isinstance(v, str)]


def _distinct(arrays: Iterable[pa.ChunkedArray]) -> list[str]:
    seen: set[str] = set()
    for arr in arrays:
        seen.update(v for v in pc.unique(arr).to_pylist() if v is not None)
    return sorted(seen)


@dataclass
class DataPlan:
    """What the data references of a graph need, and what export does with them."""

    carriers: list[Carrier]
    aliases: dict[str, AliasEntry]
    absolute: list[AbsoluteEntry]
    remote: int
    include: dict[str, str]  # bundle path (root-relative) -> source URL to copy


def plan(
    graph: Graph,
    include: set[str] | bool = False,
    relativize: list[tuple[str, str]] | None = None,
) -> DataPlan:
    """Classify every data URL of ``graph`` and decide how each is bundled.

    Parameters
    ----------
    include
        ``True`` to bring every data file, a set of alias names to bring only data under those
        aliases, ``False`` for none (files under the project root always travel).
    relativize
        ``(folder URL, ALIAS)`` pairs: absolute URLs under the folder become ``<ALIAS>/…``.
    """
    pairs = [(storage.normalize(f), check_alias_name(a)) for f, a in relativize or []]
    rules = sorted(pairs, key=lambda r: -len(r[0]))
    builder = _Builder(include, rules)
    all_carriers: list[Carrier] = []
    for node in graph.objects.values():
        for carrier in carriers(node):
            builder.classify(carrier)
            all_carriers.append(carrier)
    return builder.finish(all_carriers)


@dataclass
class _AliasUse:
    value: str | None  # the alias's value here (or the --relativize-under folder)
    wanted: bool  # its files go into the bundle
    entry: AliasEntry
    folder: str  # where its files go in the bundle


class _Builder:
    def __init__(self, include: set[str] | bool, rules: list[tuple[str, str]]) -> None:
        self.include_all = include is True
        self.include_aliases = set(include) if isinstance(include, set) else set()
        self.rules = rules
        self.aliases: dict[str, AliasEntry] = {}
        self.alias_urls: dict[str, set[str]] = {}
        self.folders: dict[str, list[Any]] = {}  # folder -> [count, example]
        self.remote = 0
        self.include: dict[str, str] = {}
        self.alias_values: dict[str, dict[str, str]] = {}
        self.uses: dict[tuple[str, str, str], _AliasUse] = {}

    def classify(self, carrier: Carrier) -> None:
        node = carrier.node
        # URLs in the bundle are relative to the revision folder: location independent.
        up = posixpath.relpath(node.project, node.path)
        root = node.root.rstrip("/") + "/"

        def bundled(path: str) -> str:
            if path.startswith(node.project + "/"):
                return f"{up}/{path[len(node.project) + 1 :]}"
            return posixpath.relpath(path, node.path)

        for value in carrier.values:
            match = ALIAS_URL.match(value)
            if match:
                new = self._aliased(node, match.group(1), match.group(2) or "", value, None, up)
            else:
                new = self._plain(node, value, root, up, bundled)
            if new != value:
                carrier.changes[value] = new

    def _plain(
        self, node: ObjectNode, value: str, root: str, up: str, bundled: Callable[[str], str]
    ) -> str:
        absolute = expand(value, base=node.url)
        scheme = storage.protocol(absolute)
        if scheme in _PORTABLE:
            self.remote += 1
            return value
        if absolute.startswith(root):
            # Part of the project tree: it travels with the objects, at the same relative place.
            path = absolute[len(root) :].replace("\\", "/")
            self.include[path] = absolute
            return bundled(path)
        for folder, alias in self.rules:
            if absolute == folder or absolute.startswith(folder.rstrip("/") + "/"):
                rest = absolute[len(folder) :].lstrip("/")
                return self._aliased(node, alias, rest, f"<{alias}>/{rest}", folder, up)
        if scheme != "file":
            self.remote += 1
            if not self.include_all:
                return value
            path = f"{DATA}/_{scheme}/{absolute.split('://', 1)[1]}"
        else:
            folder = storage.parent(absolute)
            entry = self.folders.setdefault(folder, [0, absolute])
            entry[0] += 1
            if not self.include_all:
                return value
            path = f"{DATA}/{LOCAL_DATA}/{absolute.lstrip('/')}"
        self.include[f"{node.project}/{path}"] = absolute
        return f"{up}/{path}"

    def _alias(self, node: ObjectNode, alias: str, value: str | None) -> _AliasUse:
        key = (node.root, node.project, alias)
        use = self.uses.get(key)
        if use is None:
            if value is None:
                project_url = storage.join(node.root, node.project)
                if project_url not in self.alias_values:
                    self.alias_values[project_url] = alias_values(project_url)
                value = self.alias_values[project_url].get(alias)
            wanted = self.include_all or alias in self.include_aliases
            entry = self.aliases.setdefault(
                alias, {"value": value, "files": 0, "included": wanted, "samples": []}
            )
            use = self.uses[key] = _AliasUse(value, wanted, entry, f"{node.project}/{DATA}/{alias}")
        return use

    def _aliased(
        self, node: ObjectNode, alias: str, rest: str, stored: str, value: str | None, up: str
    ) -> str:
        use = self._alias(node, alias, value)
        seen = self.alias_urls.setdefault(alias, set())
        if stored not in seen:
            seen.add(stored)
            use.entry["files"] += 1
            if len(use.entry["samples"]) < SAMPLES and rest:
                use.entry["samples"].append(rest)
        if not use.wanted:
            return stored
        if use.value is None:
            raise ShareError(
                f"{node.url} holds data under <{alias}> ({stored}), but <{alias}> is not set on "
                f"this machine, so its files cannot be included. Set it (`tercet alias set "
                f"{alias} VALUE`) or leave it out of --include-data."
            ) from AliasNotSetError(alias, stored)
        if not rest:
            self.include[use.folder] = use.value
            return f"{up}/{DATA}/{alias}"
        self.include[f"{use.folder}/{rest}"] = storage.join(use.value, rest)
        return f"{up}/{DATA}/{alias}/{rest}"

    def finish(self, all_carriers: list[Carrier]) -> DataPlan:
        folders = sorted(self.folders.items(), key=lambda kv: (-kv[1][0], kv[0]))
        absolute: list[AbsoluteEntry] = [
            {"folder": f, "files": n, "example": ex, "included": self.include_all}
            for f, (n, ex) in folders[:MAX_FOLDERS]
        ]
        if len(folders) > MAX_FOLDERS:
            rest = sum(n for _, (n, _) in folders[MAX_FOLDERS:])
            more = f"… {len(folders) - MAX_FOLDERS} more folders"
            absolute.append(
                {"folder": more, "files": rest, "example": "", "included": self.include_all}
            )
        return DataPlan(all_carriers, self.aliases, absolute, self.remote, self.include)
