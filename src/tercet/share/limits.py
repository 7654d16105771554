"""How large each member of a bundle may be, checked on the tar header before a byte is read.

A bundle is untrusted input: a 10 KiB sparse archive can declare a 1 GiB ``object.json``, and a
reader that trusts the declared size holds it all in memory before finding out. Members that are
read whole (the header, the manifest, descriptors, events, ``aliases.yaml``) get small caps by
kind; the manifest's cap grows with the members it has to describe. Everything else (Parquet,
data files) is streamed and checksummed in pieces, and cannot claim more bytes than the bundle
has left. Sparse members (never written by Tercet) and oversized tar metadata are refused
outright.
"""

from __future__ import annotations

import tarfile

from tercet import format
from tercet.errors import ShareError
from tercet.share.manifest import HEADER_NAME, MANIFEST_NAME

KiB, MiB = 1 << 10, 1 << 20
HEADER = 64 * KiB
DESCRIPTOR = 4 * MiB  # object.json: a schema, and an inline delta of at most 256 edited cells
DESCRIPTORS = 64 * MiB  # all of a bundle's descriptors, which the import holds until the end
EVENT = 4 * MiB  # a run event (status, parameters, an input)
ALIASES = 1 * MiB  # a project's aliases.yaml
TAR_METADATA = 64 * KiB  # a pax header or GNU long name: a path and a few fields
FOOTER = 16 * MiB  # the footer of a Parquet file whose stored references are checked
MANIFEST_BASE = 1 * MiB
MANIFEST_PER_MEMBER = 1 * KiB  # a files entry, and an objects entry when it is a descriptor


def cap(name: str) -> int | None:
    """The most bytes the member ``name`` may hold when it is read whole; None when streamed."""
    if name == HEADER_NAME:
        return HEADER
    rel = name.split("/", 1)[-1]  # objects/<project>/… -> <project>/…
    parts = rel.split("/")
    if len(parts) == 2 and parts[1] == format.PROJECT_ALIASES:
        return ALIASES
    owner = format.containing_object(rel)
    if owner is None:
        return None  # a data file: streamed
    if rel == f"{owner}/{format.OBJECT_JSON}":
        return DESCRIPTOR
    if format.object_kind(owner) == "run" and rel.endswith(".json"):
        return EVENT
    return None


def manifest_cap(members: int, names: int) -> int:
    """The manifest's cap, given how many members precede it and their names' total length:
    it lists each once, so a larger one describes something that is not there."""
    return MANIFEST_BASE + members * MANIFEST_PER_MEMBER + 2 * names


def check_member(info: tarfile.TarInfo, url: str, limit: int | None, left: int | None) -> None:
    """Refuse a member by its header alone: sparse, over its cap, or longer than the bundle.

    ``left`` is how many bytes of the bundle follow this member's header (None when unknown).
    """
    if info.issparse():
        raise ShareError(
            f"{url}: member {info.name!r} is a sparse file, which Tercet never writes into a "
            "bundle (its declared size can dwarf the archive). Do not import it."
        )
    if limit is not None and info.size > limit:
        raise ShareError(
            f"{url}: member {info.name!r} declares {info.size:,} bytes, more than the "
            f"{limit:,} a {_kind(info.name)} may hold. The bundle is damaged or was crafted; "
            "nothing was read or written."
        )
    if left is not None and info.size > left:
        raise ShareError(
            f"{url}: member {info.name!r} declares {info.size:,} bytes but only {left:,} "
            "follow in the file: the bundle is incomplete (truncated while copying?) or was "
            "crafted. Copy it again, or export it again."
        )


def _kind(name: str) -> str:
    if name == MANIFEST_NAME:
        return "manifest"
    if name == HEADER_NAME:
        return "bundle header"
    if name.endswith("/" + format.OBJECT_JSON):
        return "descriptor (object.json)"
    if name.endswith("/" + format.PROJECT_ALIASES):
        return "project aliases file"
    return "JSON file"


class TarMetadataError(ShareError):
    """A pax header or GNU long name over :data:`TAR_METADATA` (the bundle's URL is added)."""


class CappedTarInfo(tarfile.TarInfo):
    """A :class:`tarfile.TarInfo` that refuses oversized pax headers and GNU long names.

    :mod:`tarfile` reads those whole into memory while parsing the next header, before any
    member is handed out; this is the hook it offers for custom member types.
    """

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        meta = (
            tarfile.XHDTYPE,
            tarfile.XGLTYPE,
            tarfile.SOLARIS_XHDTYPE,
            tarfile.GNUTYPE_LONGNAME,
            tarfile.GNUTYPE_LONGLINK,
        )
        if self.type in meta and self.size > TAR_METADATA:
            raise TarMetadataError(
                f"a tar metadata block (pax header or long name) declares {self.size:,} bytes, "
                f"more than the {TAR_METADATA:,} allowed. The bundle is damaged or was crafted; "
                "nothing was written."
            )
        return super()._proc_member(tarfile_)  # type: ignore[misc, no-any-return]
