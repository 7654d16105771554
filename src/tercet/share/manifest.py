"""What a bundle holds and how its members are named: the manifest, as typed records.

A bundle is a POSIX (pax) tar archive, readable with ``tar tf``::

    bundle.json                          first: format marker, checked before anything else
    objects/<project>/datasets/…         table revisions, laid out as under a project root
    objects/<project>/runs/<run>/…       runs
    objects/<project>/data/<ALIAS>/…     data files copied with --include-data
    MANIFEST.json                        last: objects, sha256 of every member, aliases

The manifest comes last because checksums are computed while members stream into the archive;
the small ``bundle.json`` comes first so that a bundle from a newer Tercet is rejected before
anything is read.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any, Literal, TypedDict

from tercet.errors import ShareError

BUNDLE_FORMAT = "tercet.bundle"
BUNDLE_FORMAT_VERSION = 1
HEADER_NAME = "bundle.json"
MANIFEST_NAME = "MANIFEST.json"
OBJECTS = "objects"
DATA = "data"  # <project>/data/… holds data files brought along with --include-data
LOCAL_DATA = "_local"  # data/_local/<absolute path> for included files that had no alias


class ObjectEntry(TypedDict):
    """One table revision or run in the bundle."""

    kind: Literal["table", "run"]
    path: (
        str  # root-relative: <project>/datasets/<dataset>/tables/<revision> or <project>/runs/<run>
    )
    project: str
    name: str
    id: str | None  # table revisions only
    table: str | None  # table revisions only: the name shared by the revisions of one table
    dataset: str | None
    origin: str  # where it lived on the exporting machine
    refs: list[str]  # paths of the objects it references


class FileEntry(TypedDict):
    """One archive member with its checksum."""

    name: str
    size: int
    sha256: str


class AliasEntry(TypedDict):
    """An alias that data in the bundle is addressed through."""

    value: str | None  # its value on the exporting machine (None: not set there either)
    files: int  # distinct data URLs that use it
    included: bool  # True when those files travel inside the bundle
    samples: list[str]  # a few paths below the alias, to check that a value points at the data


class AbsoluteEntry(TypedDict):
    """Data files addressed by absolute local paths, grouped by folder."""

    folder: str
    files: int
    example: str
    included: bool


class Manifest(TypedDict):
    """The contents of ``MANIFEST.json``."""

    format: str
    format_version: int
    created: str
    tercet_version: str
    exported_from: dict[str, str]
    roots: list[str]
    objects: list[ObjectEntry]
    files: list[FileEntry]
    aliases: dict[str, AliasEntry]
    absolute: list[AbsoluteEntry]
    remote: int  # data URLs on object stores (s3://, gs://, http(s)://): reachable with access
    rewritten: dict[str, Any]


def header() -> dict[str, Any]:
    from tercet._version import __version__

    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "tercet_version": __version__,
    }


def check_header(data: bytes, where: str) -> dict[str, Any]:
    """Parse ``bundle.json``; refuse other formats and newer versions with the fix."""
    try:
        parsed = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict) or parsed.get("format") != BUNDLE_FORMAT:
        raise ShareError(
            f"{where} is not a Tercet bundle: its {HEADER_NAME} is missing or damaged. Create "
            "bundles with `tercet share export`."
        )
    version = parsed.get("format_version")
    if not isinstance(version, int) or version > BUNDLE_FORMAT_VERSION:
        made_by = parsed.get("tercet_version", "a newer Tercet")
        raise ShareError(
            f"{where} has bundle format version {version!r} (written by Tercet {made_by}); this "
            f"Tercet reads up to version {BUNDLE_FORMAT_VERSION}. Upgrade Tercet "
            "(`pip install -U tercet`) to import it."
        )
    return parsed


def parse_manifest(data: bytes, where: str) -> Manifest:
    try:
        parsed = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShareError(
            f"{where}: {MANIFEST_NAME} is not valid JSON ({exc}); the bundle is "
            "damaged. Export it again."
        ) from exc
    keys = ("format", "format_version", "objects", "files", "aliases", "roots")
    if not isinstance(parsed, dict) or any(k not in parsed for k in keys):
        raise ShareError(
            f"{where}: {MANIFEST_NAME} lacks required keys; the bundle is damaged. Export it again."
        )
    check_header(json.dumps(parsed).encode(), where)
    return parsed  # type: ignore[return-value]


def check_member_name(name: str, where: str) -> str:
    """Reject member names that could escape the target folder (``..``, absolute, odd bytes)."""
    bad = (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(p in ("", ".", "..") for p in name.split("/"))
    )
    if bad or posixpath.normpath(name) != name:
        raise ShareError(
            f"{where}: member {name!r} has an unsafe name; the bundle is damaged or "
            "was not made by Tercet. Do not import it."
        )
    return name


def member_name(path: str) -> str:
    """Archive member name of a root-relative path."""
    return f"{OBJECTS}/{path}"


def root_path(name: str) -> str:
    """Root-relative path of an ``objects/…`` member name."""
    return name[len(OBJECTS) + 1 :]
