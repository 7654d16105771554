"""``tercet share import``: unpack a bundle into a project root, all or nothing.

Three steps. :func:`tercet.share.verify.scan` reads the whole bundle and checks every checksum,
writing nothing. :func:`plan` decides where each object lands (``--project``, ``--rename``),
which objects are already there, and which alias values the data needs — and fails, still
without writing, on a conflict or an alias it cannot resolve. :func:`tercet.share.unpack.apply`
then streams the bundle a second time into place, each file atomically, every ``object.json``
last (so no object is visible before its files are), and deletes everything it wrote if anything
fails or the user interrupts it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from tercet import config, format, layout, storage
from tercet.aliases import check_alias_name
from tercet.errors import ShareError
from tercet.share import checksums, unpack, verify
from tercet.share.aliases_check import AskAlias, clean_value, resolve
from tercet.share.manifest import member_name, root_path
from tercet.share.plan import Plan
from tercet.share.progress import NoProgress, Progress
from tercet.storage import files as storage_files


class ImportedObject(TypedDict):
    """One object of the bundle and what the import did with it."""

    kind: str
    url: str
    status: Literal["imported", "present", "merged"]
    renamed_from: str | None


@dataclass
class ImportResult:
    """What an import wrote, and the alias values the imported data resolves through."""

    root: str
    objects: list[ImportedObject]
    aliases: dict[str, tuple[str, str]]  # name -> (value, where the value came from)
    saved_aliases: list[str]
    files_written: int
    warnings: list[str] = field(default_factory=list)


def import_bundle(
    bundle: str,
    *,
    root: str | None = None,
    project: str | None = None,
    aliases: Mapping[str, str] | None = None,
    rename: bool = False,
    save_aliases: bool = False,
    absolutize: bool = False,
    verify_aliases: bool = True,
    with_aliases: bool = False,
    ask: AskAlias | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the bundle at ``bundle`` into a project root; all or nothing.

    Parameters
    ----------
    bundle
        Path or URL of a ``.tercet`` bundle.
    root
        Project root URL to import into (default: the configured root; S3 works alike).
    project
        Import into this project instead of the bundle's (``NEW``, or ``OLD=NEW`` per project).
    aliases
        Values for the aliases the bundle's data needs; they win over configured values.
    rename
        Import objects that clash with different objects of the same name under new names
        (``name-2`` …) instead of failing.
    save_aliases
        Save the alias values given or asked for in the user config file.
    absolutize
        Store aliased data URLs as plain paths using the resolved alias values.
    verify_aliases
        Check that each alias value exists and holds sample files of the bundle.
    with_aliases
        Also write the ``aliases.yaml`` files of projects the bundle carries (refused otherwise).
    ask
        Called for an alias with no value (interactive use); return a value or ``None``.

    Returns
    -------
    ImportResult

    Raises
    ------
    ShareError
        The bundle is damaged, truncated, altered, crafted (a member over its size cap, a
        reference leading out of its project, a file outside the declared projects and objects)
        or from a newer Tercet; an object clashes with a different one; an alias is missing or
        points nowhere. Nothing is written then. An import that fails while writing removes
        what it wrote; one that is killed leaves no object visible, and running it again
        completes it.
    """
    progress = progress or NoProgress()
    scanned = verify.scan(bundle, progress)
    if scanned.project_aliases and not with_aliases:
        raise ShareError(
            f"{scanned.url} carries {scanned.project_aliases[0]}, a project's alias settings, "
            "which an import writes only when asked: pass --with-aliases to import it. Nothing "
            "was written."
        )
    the_plan = plan(scanned, root=root, project=project, rename=rename, absolutize=absolutize)
    given = {check_alias_name(k): clean_value(k, v) for k, v in (aliases or {}).items()}
    projects = the_plan.target_projects()
    the_plan.aliases = resolve(
        the_plan.scan.manifest["aliases"],
        # A project's own aliases.yaml counts too (the first project's, when there are several).
        storage.join(the_plan.root, projects[0]) if projects else None,
        given,
        ask,
        verify_aliases,
        the_plan.scan.url,
    )
    written = unpack.apply(the_plan, progress)
    saved: list[str] = []
    if save_aliases:
        updates = {
            f"aliases.{name}": value
            for name, (value, source) in the_plan.aliases.items()
            if source in ("--alias", "asked")
        }
        if updates:
            config.save_file_values(updates)
            saved = sorted(k.split(".", 1)[1] for k in updates)
    objects: list[ImportedObject] = [
        {
            "kind": e["kind"],
            "url": the_plan.target_url(e["path"]),
            "status": the_plan.status[e["path"]],
            "renamed_from": e["path"] if e["path"] in the_plan.renames else None,
        }
        for e in the_plan.objects()
    ]
    return ImportResult(the_plan.root, objects, the_plan.aliases, saved, written, the_plan.warnings)


def plan(
    scanned: verify.Scan,
    root: str | None = None,
    project: str | None = None,
    rename: bool = False,
    absolutize: bool = False,
) -> Plan:
    """Decide where every object of a verified bundle lands; fail on clashes unless ``rename``."""
    projects = sorted({e["project"] for e in scanned.manifest["objects"]})
    the_plan = Plan(scanned, layout.root_url(root), _project_map(projects, project))
    the_plan.absolutize = absolutize
    for item in scanned.manifest.get("absolute", []):
        example = item["example"]
        # Only a local path is looked at: a URL from an untrusted manifest is never fetched.
        local = bool(example) and storage.is_local(example) and storage.is_absolute(example)
        if not item["included"] and local and not storage.exists(example):
            the_plan.warnings.append(
                f"{item['files']} data file(s) are absolute paths on the exporting machine under "
                f"{item['folder']}, which does not exist here: they will not load. Export with "
                f"--include-data, or --relativize-under {item['folder']}=ALIAS."
            )
    clashes = _check_targets(the_plan)
    if clashes and not rename:
        listed = "; ".join(f"{p} ({why})" for p, why in clashes[:5])
        more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        raise ShareError(
            f"Cannot import {scanned.url}: {listed}{more}. Nothing was written. Pass --rename to "
            "import them under new names, or --project NAME to import into another project."
        )
    if clashes:
        _rename(the_plan, [p for p, _ in clashes])
        clashes = _check_targets(the_plan)
        if clashes:
            raise ShareError(
                f"Cannot import {scanned.url}: {clashes[0][0]} ({clashes[0][1]}), "
                "even after renaming. Import into another project with --project."
            )
    return the_plan


def _project_map(projects: list[str], option: str | None) -> dict[str, str]:
    if not option:
        return {}
    mapping: dict[str, str] = {}
    for item in option.split(","):
        old, sep, new = item.partition("=")
        if not sep:
            if len(projects) != 1:
                raise ShareError(
                    f"The bundle holds several projects ({', '.join(projects)}); say which goes "
                    "where with --project OLD=NEW[,OLD2=NEW2]."
                )
            old, new = projects[0], old
        if old not in projects:
            raise ShareError(
                f"--project {item}: the bundle has no project {old!r} (it has "
                f"{', '.join(projects)})."
            )
        mapping[old] = format.check_name(new.strip(), "project")
    return mapping


def _check_targets(the_plan: Plan) -> list[tuple[str, str]]:
    """Classify every object (new, present, mergeable) and return the clashes."""
    clashes: list[tuple[str, str]] = []
    the_plan.skip.clear()
    for entry in the_plan.objects():
        path, target = entry["path"], the_plan.target_path(entry["path"])
        existing = _existing_descriptor(storage.join(the_plan.root, *target.split("/")))
        if existing is None:
            the_plan.status[path] = "imported"
            continue
        ours = json.loads(the_plan.scan.descriptors[path])
        if entry["kind"] == "table":
            if existing.get("id") == ours.get("id"):
                the_plan.status[path] = "present"
                the_plan.skip.update(_files_of(the_plan, path))
                continue
            clashes.append((target, "a different table revision with this name exists"))
            continue
        # Runs carry an id; the oldest ones do not, and then their whole descriptor must match.
        ignore = ("project", "name")
        same = (
            existing.get("id") == ours.get("id")
            if "id" in ours
            else {k: v for k, v in existing.items() if k not in ignore}
            == {k: v for k, v in ours.items() if k not in ignore}
        )
        if not same:
            clashes.append((target, "a different run with this name exists"))
            continue
        # The same run, imported before: add the events and metrics it gained since.
        the_plan.status[path] = "merged"
        descriptor = member_name(f"{path}/{format.OBJECT_JSON}")
        the_plan.skip.add(descriptor)
        others = [n for n in _files_of(the_plan, path) if n != descriptor]
        clashes.extend(_same_or_new(the_plan, others))
    data = [n for n in the_plan.scan.sizes if the_plan.owner(root_path(n)) is None]
    clashes.extend(_same_or_new(the_plan, data))
    return clashes


def _files_of(the_plan: Plan, path: str) -> list[str]:
    prefix = member_name(path) + "/"
    return [n for n in the_plan.scan.sizes if n.startswith(prefix)]


def _same_or_new(the_plan: Plan, names: list[str]) -> list[tuple[str, str]]:
    """Members whose target exists: skipped when equal, clashes when not."""
    listed = {f["name"]: f["sha256"] for f in the_plan.scan.manifest["files"]}
    clashes = []
    # One listing per folder, not one request per file: 10,000 images sit in a few folders.
    present: dict[str, set[str]] = {}
    for name in names:
        url = the_plan.target_url(root_path(name))
        folder = storage.parent(url)
        if folder not in present:
            present[folder] = set(storage.ls(folder))
        if storage.basename(url) not in present[folder]:
            continue
        same_size = storage_files.size(url) == the_plan.scan.sizes[name]
        if same_size and checksums.sha256_of(url) == listed[name]:
            the_plan.skip.add(name)
        else:
            clashes.append((the_plan.target_path(root_path(name)), "a different file exists"))
    return clashes


def _existing_descriptor(folder: str) -> dict[str, Any] | None:
    url = format.descriptor_url(folder)
    if not storage.exists(url):
        return None
    data = storage.read_json(url)
    return data if isinstance(data, dict) else {}


def _rename(the_plan: Plan, clashing: list[str]) -> None:
    """Give clashing runs, and every revision of a clashing table, the first free name."""
    by_target = {the_plan.target_path(e["path"]): e for e in the_plan.objects()}
    for target in clashing:
        entry = by_target.get(target)
        if entry is None:
            continue  # a data file: cannot be renamed
        parts = entry["path"].split("/")
        folder = storage.parent(the_plan.target_url(entry["path"]))
        taken = _Taken(folder)
        if entry["kind"] == "run":
            name = _free_name(parts[2], taken, table=False)
            the_plan.renames[entry["path"]] = "/".join([*parts[:2], name])
            continue
        table = str(entry["table"])
        name = _free_name(table, taken, table=True)
        for other in the_plan.objects():
            o = other["path"].split("/")
            if other["kind"] == "table" and o[:4] == parts[:4] and other["table"] == table:
                suffix = o[4][len(table) :]  # "" for the source, ".<stamp>-<hex>" for revisions
                the_plan.renames[other["path"]] = "/".join([*o[:4], name + suffix])
                the_plan.tables[other["path"]] = name


class _Taken:
    """The names of the objects in a folder. A folder without ``object.json`` is no object but
    what an interrupted import left: a second attempt under the same name completes it."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.names = storage.ls(folder)
        self.published: dict[str, bool] = {}

    def uses(self, name: str) -> bool:
        if name not in self.published:
            url = format.descriptor_url(storage.join(self.folder, name))
            self.published[name] = storage.exists(url)
        return self.published[name]


def _free_name(name: str, taken: _Taken, table: bool) -> str:
    """``name-2``, ``name-3`` …: the first that no object uses (for a table, as a prefix of its
    revisions' folders too)."""
    for i in range(2, 10_000):
        candidate = f"{name}-{i}"
        used = any(
            taken.uses(t)
            for t in taken.names
            if t == candidate or (table and format.is_revision_of(t, candidate))
        )
        if not used and format.NAME.match(candidate):
            return candidate
    raise ShareError(f"No free name for {name!r}; import into another project with --project.")
