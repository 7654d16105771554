"""Aliases a bundle or an object graph needs: ``tercet alias check`` reports them, and an import
resolves each to a value here (given, configured, or asked for) and checks it reaches the data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypedDict

from tercet import storage
from tercet.aliases import clean_value as clean_alias_value
from tercet.aliases import list as configured_aliases
from tercet.errors import AliasError, ShareError
from tercet.share import datarefs, graph, verify
from tercet.share.manifest import AliasEntry

Status = Literal["ok", "missing", "unreachable"]


class AliasStatus(TypedDict):
    """One alias an object graph needs, and its state on this machine."""

    name: str
    status: Status
    value: str | None
    source: str | None
    files: int  # distinct data URLs under the alias
    references: int  # references between objects that go through the alias
    detail: str


def check_aliases(targets: Sequence[str]) -> list[AliasStatus]:
    """The aliases needed to open ``targets`` (runs, table revisions, or ``.tercet`` bundles)
    and everything they reference, each with its value here and whether it reaches the data.

    Parameters
    ----------
    targets
        URLs of runs or table revisions, or paths of bundles (``*.tercet``).

    Returns
    -------
    list[AliasStatus]
        One entry per alias, sorted by name. ``status`` is ``ok``, ``missing`` (set nowhere) or
        ``unreachable`` (set, but its value or sample files under it do not exist).
    """
    needed: dict[str, AliasEntry] = {}
    refs: dict[str, int] = {}
    projects: list[str | None] = []
    objects = [t for t in targets if not t.endswith(".tercet")]
    for bundle in (t for t in targets if t.endswith(".tercet")):
        for name, entry in verify.scan(bundle).manifest["aliases"].items():
            if not entry["included"]:
                _merge(needed, name, entry)
    if objects:
        g = graph.walk(objects, strict=False)
        for name, where in g.missing_aliases.items():
            refs[name] = refs.get(name, 0) + len(where)
        for name, entry in datarefs.plan(g).aliases.items():
            _merge(needed, name, entry)
        projects = [storage.join(n.root, n.project) for n in g.objects.values()]
    configured = configured_aliases(projects[0] if projects else None)
    out: list[AliasStatus] = []
    for name in sorted(set(needed) | set(refs)):
        found = needed.get(name)
        value, source = configured.get(name, (None, None))
        status, detail = _state(name, value, found)
        out.append(
            {
                "name": name,
                "status": status,
                "value": value,
                "source": source,
                "files": found["files"] if found else 0,
                "references": refs.get(name, 0),
                "detail": detail,
            }
        )
    return out


def _merge(needed: dict[str, AliasEntry], name: str, entry: AliasEntry) -> None:
    if name not in needed:
        needed[name] = {**entry, "samples": list(entry["samples"])}
        return
    have = needed[name]
    have["files"] += entry["files"]
    have["samples"] = (have["samples"] + entry["samples"])[: datarefs.SAMPLES]


def _state(name: str, value: str | None, entry: AliasEntry | None) -> tuple[Status, str]:
    if value is None:
        return "missing", f"set it with `tercet alias set {name} VALUE`"
    if not storage.exists(value):
        return "unreachable", f"{value} does not exist"
    for sample in (entry or {"samples": []})["samples"]:
        url = storage.join(value, sample)
        if not storage.exists(url):
            return "unreachable", f"{url} does not exist"
    return "ok", ""


# -- on import: a value for every alias a bundle needs ------------------------------------------
AskAlias = Callable[[str, AliasEntry], "str | None"]


def clean_value(name: str, value: str) -> str:
    try:
        return clean_alias_value(value)
    except AliasError as exc:
        raise ShareError(f"--alias {name}={value!r}: {exc}") from None


def resolve(
    aliases: dict[str, AliasEntry],
    project_url: str | None,
    given: dict[str, str],
    ask: AskAlias | None,
    check: bool,
    bundle: str,
) -> dict[str, tuple[str, str]]:
    """A value, and where it came from, for every alias a bundle's data still needs.

    Given values win, then values configured here, then ``ask`` (interactive use). Fails listing
    every alias left without a value, and — with ``check`` — on a value that does not exist or
    does not hold the sample files the manifest names.
    """
    needed = {n: e for n, e in aliases.items() if not e["included"]}
    configured = configured_aliases(project_url)
    out: dict[str, tuple[str, str]] = {}
    missing: list[str] = []
    for name, entry in sorted(needed.items()):
        if name in given:
            out[name] = (given[name], "--alias")
        elif name in configured:
            out[name] = configured[name]
        else:
            value = ask(name, entry) if ask is not None else None
            if value:
                out[name] = (clean_value(name, value), "asked")
            else:
                was = f", {entry['value']} on the exporting machine" if entry["value"] else ""
                missing.append(f"<{name}> ({entry['files']} file(s){was})")
    if missing:
        first = sorted(n for n in needed if n not in out)[0]
        raise ShareError(
            f"The data in {bundle} is addressed through aliases not set here: "
            f"{', '.join(missing)}. Nothing was written. Give each a value on this machine with "
            f"--alias {first}=/path/or/s3://bucket/prefix (add --save-aliases to keep it), or "
            f"`tercet alias set {first} VALUE`; or export the bundle with --include-data."
        )
    if check:
        for name, (value, source) in sorted(out.items()):
            _verify(name, value, source, needed[name])
    return out


def _verify(name: str, value: str, source: str, entry: AliasEntry) -> None:
    fix = (
        f"Give the folder that holds the data with --alias {name}=VALUE, or pass "
        "--no-verify-aliases if it is reachable only from elsewhere."
    )
    if not storage.exists(value):
        raise ShareError(
            f"Alias <{name}> = {value} (from {source}) points nowhere: {value} does not exist. "
            f"Nothing was written. {fix}"
        )
    absent = [s for s in entry["samples"] if not storage.exists(storage.join(value, s))]
    if absent:
        raise ShareError(
            f"Alias <{name}> = {value} (from {source}) does not hold the bundle's data: "
            f"{storage.join(value, absent[0])} does not exist. Nothing was written. {fix}"
        )
