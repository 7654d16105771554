"""Where a bundle may write: only into the projects its manifest declares, only files of the
kinds an object holds, and names a reader can show.

The manifest declares objects (table revisions, runs); their projects are the only ones an import
touches. Inside a declared object only the files of its kind may land (a table: ``object.json``,
``rows/*.parquet``, ``delta.parquet``; a run: ``object.json``, ``events/*.json``, metrics,
projections and logged-scalar Parquet files). Outside every object, data files (images brought
with ``--include-data``) may land anywhere in a declared project except in the folders objects
live in (``runs/``, ``datasets/<dataset>/tables/``) and except the project's ``aliases.yaml``,
which the import writes only when asked to (``--with-aliases``). No name holds control
characters or the hidden temp prefix. Every check runs before anything is written.
"""

from __future__ import annotations

import re
from typing import Any

from tercet import format
from tercet.aliases import ALIAS_NAME
from tercet.errors import ShareError
from tercet.runs import folder as run_folder
from tercet.share.fence import CONTROL
from tercet.share.manifest import Manifest, member_name
from tercet.storage import TMP_PREFIX

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _refuse(url: str, name: str, rule: str) -> ShareError:
    return ShareError(
        f"{url}: member {name!r} {rule}. The bundle was crafted or damaged; nothing was written."
    )


def check_manifest(manifest: Manifest, url: str) -> None:
    """Types and names of the manifest's records, before anything relies on them."""
    files = manifest.get("files")
    if not isinstance(files, list) or not all(
        isinstance(f, dict)
        and isinstance(f.get("name"), str)
        and isinstance(f.get("size"), int)
        and f["size"] >= 0
        and isinstance(f.get("sha256"), str)
        and _SHA256.fullmatch(f["sha256"])
        for f in files
    ):
        raise ShareError(f"{url}: the manifest's files list is malformed. The bundle is damaged.")
    objects = manifest.get("objects")
    if not isinstance(objects, list) or not all(isinstance(e, dict) for e in objects):
        raise ShareError(f"{url}: the manifest's objects list is malformed. The bundle is damaged.")
    seen: set[str] = set()
    for entry in objects:
        _check_entry(dict(entry), url)
        if entry["path"] in seen:
            raise ShareError(f"{url}: the manifest lists {entry['path']} twice. It is damaged.")
        seen.add(entry["path"])
    aliases = manifest.get("aliases")
    if not isinstance(aliases, dict):
        raise ShareError(f"{url}: the manifest's aliases are malformed. The bundle is damaged.")
    for name, alias in aliases.items():
        if not ALIAS_NAME.match(name) or not isinstance(alias, dict):
            raise ShareError(f"{url}: the manifest names an invalid alias {name!r}.")
        samples = alias.get("samples")
        if not isinstance(samples, list) or not all(_relative_below(s) for s in samples):
            raise ShareError(
                f"{url}: alias <{name}> lists sample paths that are not plain relative paths "
                "below it. The bundle was crafted or damaged; nothing was written."
            )
        if not isinstance(alias.get("included"), bool) or not isinstance(alias.get("files"), int):
            raise ShareError(f"{url}: alias <{name}> in the manifest is malformed.")
    absolute = manifest.get("absolute", [])
    if not isinstance(absolute, list) or not all(
        isinstance(a, dict) and isinstance(a.get("example"), str | None) for a in absolute
    ):
        raise ShareError(f"{url}: the manifest's absolute list is malformed.")


def _relative_below(path: object) -> bool:
    if not isinstance(path, str) or not path or path.startswith(("/", "~")) or "\\" in path:
        return False
    return not CONTROL.search(path) and all(p not in ("", ".", "..") for p in path.split("/"))


def _check_entry(entry: dict[str, Any], url: str) -> None:
    path = entry.get("path")
    kind = format.object_kind(path) if isinstance(path, str) else None
    where = f"{url}: the manifest's object {path!r}"
    if kind is None or kind != entry.get("kind"):
        raise ShareError(
            f"{where} is not a table revision or run folder "
            "(<project>/datasets/<dataset>/tables/<revision> or <project>/runs/<run>, names of "
            "letters, digits, '.', '_', '-'). The bundle is damaged."
        )
    assert isinstance(path, str)
    parts = path.split("/")
    if entry.get("project") != parts[0]:
        raise ShareError(f"{where} names project {entry.get('project')!r}, not {parts[0]!r}.")
    if kind == "table":
        table = entry.get("table")
        if not isinstance(table, str) or not format.NAME.match(table):
            raise ShareError(f"{where} has an invalid table name {table!r}.")
        if not format.is_revision_of(parts[4], table) or entry.get("dataset") != parts[2]:
            raise ShareError(f"{where} does not lie in the folder of table {table!r}.")
    name = entry.get("name")
    if not isinstance(name, str) or CONTROL.search(name):
        raise ShareError(f"{where} has an invalid name {name!r}.")


def check_names(descriptor: dict[str, Any], where: str) -> None:
    """The identity fields of a descriptor: names a listing or a terminal shows."""
    for key in ("name", "table", "project", "dataset"):
        value = descriptor.get(key)
        if value is not None and (not isinstance(value, str) or not format.NAME.match(value)):
            raise ShareError(
                f"{where}: {key} {value!r} is not a valid name (letters, digits, '.', '_', "
                "'-'; no control characters). The bundle was crafted or damaged."
            )


def check_member(rel: str, objects: dict[str, format.ObjectKind], url: str) -> str | None:
    """Refuse a member (``rel``: relative to the root) that would land where a bundle may not
    write. Return the declared object it belongs to, or None for a data file."""
    name = member_name(rel)
    parts = rel.split("/")
    for part in parts:
        if CONTROL.search(part):
            raise _refuse(url, name, "has control characters in its name")
        if part.startswith(TMP_PREFIX):
            raise _refuse(url, name, f"has a hidden temp name ({TMP_PREFIX}…)")
    projects = {p.split("/", 1)[0] for p in objects}
    if len(parts) < 2 or parts[0] not in projects:
        declared = ", ".join(sorted(projects)) or "none"
        raise _refuse(
            url,
            name,
            f"would write into project {parts[0]!r}, which the manifest does not declare "
            f"(it declares: {declared})",
        )
    owner = format.containing_object(rel)
    if owner is not None and owner in objects:
        file = rel[len(owner) + 1 :]
        if not _known_file(objects[owner], file):
            raise _refuse(
                url, name, f"is not a file a {objects[owner]} holds ({_KNOWN[objects[owner]]})"
            )
        return owner
    if owner is not None or _in_object_tree(parts):
        raise _refuse(
            url,
            name,
            "lies in the folders objects live in (runs/, datasets/<dataset>/tables/) but in "
            "no object the manifest declares",
        )
    return None


def is_project_aliases(rel: str) -> bool:
    """Whether ``rel`` is a project's ``aliases.yaml``."""
    parts = rel.split("/")
    return len(parts) == 2 and parts[1] == format.PROJECT_ALIASES


_KNOWN = {
    "table": "object.json, rows/*.parquet, delta.parquet",
    "run": "object.json, events/*.json, metrics/**.parquet",
}


def _known_file(kind: format.ObjectKind, file: str) -> bool:
    parts = file.split("/")
    if parts == [format.OBJECT_JSON]:
        return True
    if kind == "table":
        return parts == [format.DELTA_FILE] or (
            len(parts) == 2 and parts[0] == format.ROWS and parts[1].endswith(".parquet")
        )
    if len(parts) == 2 and parts[0] == run_folder.EVENTS:
        return parts[1].endswith(".json")
    if parts[0] != run_folder.METRICS or not parts[-1].endswith(".parquet"):
        return False
    n = len(parts)
    return n in (2, 3) or (n == 5 and parts[2] == run_folder.PROJECTIONS)


def _in_object_tree(parts: list[str]) -> bool:
    """Files at or below ``runs``, ``datasets`` down to ``datasets/<d>/tables/…``."""
    if parts[1] == format.RUNS:
        return True
    return parts[1] == format.DATASETS and (len(parts) <= 4 or parts[3] == format.TABLES)
