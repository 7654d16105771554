"""Tables found by name: ``Table.open(project=, dataset=, name=)``.

Names are display names or folder names (:func:`tercet.format.slug`); both lead to one folder.
A display name that only shares its slug with the stored table's (``"My table"`` asked, ``"My
Table"`` stored) is not that table: the lookup says so rather than open another's data.
"""

from __future__ import annotations

from tercet import format, layout, storage
from tercet.errors import ObjectNotFoundError


def find(project: str | None, dataset: str | None, name: str | None, root: str | None) -> str:
    """The folder of table ``name`` of ``project``/``dataset`` (its source revision, or the
    revision folder ``name`` names)."""
    missing = [k for k, v in (("project", project), ("dataset", dataset), ("name", name)) if not v]
    if missing or project is None or dataset is None or name is None:
        raise TypeError(f"Table.open needs a url, or project=, dataset= and name= (missing: "
                        f"{', '.join(missing)}).")  # fmt: skip
    tables = layout.dataset_tables_url(project, dataset, root)
    folder_name = format.slug(name, "table name")
    folder = storage.join(tables, folder_name)
    try:
        data = storage.read_json(format.descriptor_url(folder))
    except ObjectNotFoundError:
        known = sorted(n for n in storage.ls(tables) if format.REVISION_SEPARATOR not in n)
        raise ObjectNotFoundError(
            f"No table {name!r} in project {project!r}, dataset {dataset!r} ({tables}). "
            f"Tables there: {', '.join(known) or 'none'}."
        ) from None
    shown = (data.get("display_names") or {}).get("table") if isinstance(data, dict) else None
    if name != folder_name and shown != name:
        raise ObjectNotFoundError(
            f"No table {name!r} in {project}/{dataset}: its folder {folder_name!r} holds the "
            f"table {shown or folder_name!r}. Open that one by its name or folder name."
        )
    return folder
