"""Where objects live under the root: names, folders, and listing projects and revisions."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from tercet import config, storage, urls
from tercet.errors import CorruptObjectError, InvalidNameError, TercetError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is one safe path segment, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str) or not NAME.match(name) or ".." in name:
        raise InvalidNameError(
            f"{what.capitalize()} {name!r} is not valid: use 1–128 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit (it becomes a folder name)."
        )
    return name


def check_format(
    data: Any,
    where: str,
    kind: str,
    fmt: str,
    newest: int,
    error: type[TercetError] = CorruptObjectError,
    damaged: str = "",
) -> dict[str, Any]:
    """Return ``data`` if it is a ``kind`` descriptor (``object.json``) of format ``fmt`` at a
    version this Tercet reads; else raise ``error`` saying where (``damaged`` is added to the
    message of a descriptor that is not one at all)."""
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


def root_url(root: str | None = None) -> str:
    return urls.expand(root) if root else urls.expand(config.current().root)


def project_url(project: str, root: str | None = None) -> str:
    return storage.join(root_url(root), check_name(project, "project"))


def dataset_tables_url(project: str, dataset: str, root: str | None = None) -> str:
    return storage.join(
        project_url(project, root), "datasets", check_name(dataset, "dataset"), "tables"
    )


def runs_url(project: str, root: str | None = None) -> str:
    return storage.join(project_url(project, root), "runs")


def now() -> datetime:
    return datetime.now(UTC)


def stamp(when: datetime | None = None) -> str:
    """Sortable, filesystem-safe UTC timestamp with microseconds."""
    return (when or now()).strftime("%Y%m%dT%H%M%S%f")


def unique_suffix(when: datetime | None = None) -> str:
    return f"{stamp(when)}-{secrets.token_hex(3)}"


def project_of(object_url: str, depth: int) -> str:
    """The project folder ``depth`` levels above an object folder."""
    url = object_url
    for _ in range(depth):
        url = storage.parent(url)
    return url


def list_projects(root: str | None = None) -> list[str]:
    base = root_url(root)
    out = []
    for name in storage.ls(base):
        if not NAME.match(name):
            continue
        children = storage.ls(storage.join(base, name))
        if "datasets" in children or "runs" in children:
            out.append(name)
    return out


def table_object_urls(project: str, root: str | None = None) -> list[str]:
    """Folders of every table revision in a project (those with an ``object.json``)."""
    datasets = storage.join(project_url(project, root), "datasets")
    found = storage.walk_files(datasets, suffix="object.json")
    return [storage.parent(u) for u in found if storage.basename(u) == "object.json"]
