"""Sharing runs and tables between machines: bundles, and the aliases that avoid copying data.

>>> from tercet import share
>>> run = "/data/projects/demo/runs/baseline"
>>> share.check_aliases([run])  # doctest: +SKIP
>>> share.export_bundle([run], "baseline.tercet")  # doctest: +SKIP
>>> share.import_bundle("baseline.tercet", aliases={"DATA": "s3://bucket/data"})  # doctest: +SKIP

Module map: :mod:`~tercet.share.graph` walks the objects a run or table references,
:mod:`~tercet.share.datarefs` finds the data files (images) they address,
:mod:`~tercet.share.export` writes a bundle, :mod:`~tercet.share.verify` checks one,
:mod:`~tercet.share.importer` plans an import and :mod:`~tercet.share.unpack` carries it out.
See docs/sharing.md.
"""

from __future__ import annotations

from tercet.share.aliases_check import AliasStatus, check_aliases
from tercet.share.export import export_bundle
from tercet.share.importer import ImportedObject, ImportResult, import_bundle
from tercet.share.manifest import BUNDLE_FORMAT_VERSION, Manifest
from tercet.share.progress import Progress
from tercet.share.verify import scan


def read_manifest(bundle: str) -> Manifest:
    """Verify the bundle at ``bundle`` (every checksum) and return its manifest."""
    return scan(bundle).manifest


__all__ = [
    "BUNDLE_FORMAT_VERSION",
    "AliasStatus",
    "ImportResult",
    "ImportedObject",
    "Manifest",
    "Progress",
    "check_aliases",
    "export_bundle",
    "import_bundle",
    "read_manifest",
]
