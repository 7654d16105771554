"""Where every member of a verified bundle lands in the target root, and how it is rewritten."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from tercet import format, storage
from tercet.aliases import ALIAS_URL, is_alias_url
from tercet.share import rewrite, verify
from tercet.share.manifest import ObjectEntry

Status = Literal["imported", "present", "merged"]


@dataclass
class Plan:
    """Where every member of a verified bundle goes, and how it is rewritten on the way."""

    scan: verify.Scan
    root: str
    projects: dict[str, str]  # bundle project -> target project
    renames: dict[str, str] = field(default_factory=dict)  # object path -> renamed object path
    tables: dict[str, str] = field(default_factory=dict)  # renamed revision path -> table name
    status: dict[str, Status] = field(default_factory=dict)
    skip: set[str] = field(default_factory=set)  # members already present with equal content
    aliases: dict[str, tuple[str, str]] = field(default_factory=dict)
    absolutize: bool = False
    warnings: list[str] = field(default_factory=list)

    def target_path(self, path: str) -> str:
        """Root-relative target path of a bundle path (an object, a file in one, or data)."""
        parts = path.split("/")
        parts[0] = self.projects.get(parts[0], parts[0])
        for length in (format.DEPTH["table"] + 1, format.DEPTH["run"] + 1):
            obj = "/".join(path.split("/")[:length])
            if obj in self.renames:
                renamed = self.renames[obj].split("/")
                return "/".join([parts[0], *renamed[1:], *parts[length:]])
        return "/".join(parts)

    def target_url(self, path: str) -> str:
        return storage.join(self.root, *self.target_path(path).split("/"))

    def objects(self) -> list[ObjectEntry]:
        return self.scan.manifest["objects"]

    def target_projects(self) -> list[str]:
        return sorted({self.projects.get(e["project"], e["project"]) for e in self.objects()})

    def owner(self, path: str) -> ObjectEntry | None:
        for entry in self.objects():
            if path.startswith(entry["path"] + "/"):
                return entry
        return None

    def edit(self, entry: ObjectEntry) -> rewrite.Edit:
        """How the files of one object change on their way into the root."""
        edit = rewrite.Edit()
        target = self.target_path(entry["path"])
        if self.projects.get(entry["project"], entry["project"]) != entry["project"]:
            edit.fields["project"] = target.split("/")[0]
        if entry["path"] in self.renames:
            name = target.rsplit("/", 1)[1]
            edit.fields["name"] = name
            if entry["path"] in self.tables:
                edit.fields["table"] = self.tables[entry["path"]]
        paths = {e["path"] for e in self.objects()}
        base = entry["path"]

        def ref(stored: str) -> str:
            if is_alias_url(stored) or storage.is_absolute(stored):
                return stored
            other = posixpath.normpath(posixpath.join(base, stored))
            if other not in paths:
                return stored
            return posixpath.relpath(self.target_path(other), target)

        if any(self.target_path(p) != p for p in paths):
            edit.ref = ref
        if self.absolutize and self.aliases:
            values = {name: value for name, (value, _) in self.aliases.items()}
            edit.urls = lambda url: _absolutize(url, values)
        return edit


def _absolutize(url: str, values: Mapping[str, str]) -> str:
    match = ALIAS_URL.match(url)
    if not match or match.group(1) not in values:
        return url
    rest = match.group(2) or ""
    return storage.join(values[match.group(1)], rest) if rest else values[match.group(1)]
