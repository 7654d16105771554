"""Where projects live: the configured root, a project's folders, and listing what is there.

The names of folders and files are :mod:`tercet.format`'s; this module adds the root from the
config (aliases allowed) and the listings.
"""

from __future__ import annotations

from tercet import config, format, storage
from tercet.aliases import expand


def root_url(root: str | None = None) -> str:
    """The project root: ``root`` when given, else the configured one (aliases expanded)."""
    return expand(root) if root else expand(config.current().root)


def project_url(project: str, root: str | None = None) -> str:
    """The folder of ``project`` (a display name: its folder is :func:`tercet.format.slug` of it)
    under the root."""
    return storage.join(root_url(root), format.slug(project, "project"))


def dataset_tables_url(project: str, dataset: str, root: str | None = None) -> str:
    """The folder holding every revision of the tables of ``project``/``dataset``."""
    return format.tables_folder(project_url(project, root), dataset)


def runs_url(project: str, root: str | None = None) -> str:
    """The folder holding the runs of ``project``."""
    return format.runs_folder(project_url(project, root))


def list_projects(root: str | None = None) -> list[str]:
    """Names of the projects under the root (folders with datasets or runs)."""
    base = root_url(root)
    out = []
    for name in storage.ls(base):
        if not format.NAME.match(name):
            continue
        children = storage.ls(storage.join(base, name))
        if format.DATASETS in children or format.RUNS in children:
            out.append(name)
    return out


def table_object_urls(project: str, root: str | None = None) -> list[str]:
    """Folders of every table revision in a project (those with an ``object.json``)."""
    datasets = storage.join(project_url(project, root), format.DATASETS)
    found = storage.walk_files(datasets, suffix=format.OBJECT_JSON)
    return [storage.parent(u) for u in found if storage.basename(u) == format.OBJECT_JSON]
