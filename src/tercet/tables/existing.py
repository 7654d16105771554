"""What a table constructor does when its table already exists: ``if_exists="error"|"reuse"|"new"``.

Every constructor (``Table.create``, the ``from_*`` importers, ``split``, ``subset``) passes
``if_exists`` down to :class:`~tercet.tables.source.SourceWriter`, which asks :func:`target`
where to write. An importer that writes through ``SourceWriter`` gets all three modes by passing
``if_exists`` on; one that writes otherwise calls :func:`target` and :func:`check_reuse` itself.
When reusing, the writer checks the schema of the first batch and then writes nothing: the import
reads its input once more, and its folder is the existing table's.

- ``error`` (the default): :class:`~tercet.errors.ObjectExistsError` naming the table;
- ``reuse``: the existing table when its schema equals the one the data would get, else
  :class:`~tercet.errors.SchemaError` listing the difference; nothing is written either way;
- ``new``: the first free name among ``name-2``, ``name-3`` …

Names are display names (:func:`tercet.format.check_display_name`); the folder is their
:func:`tercet.format.slug`, and two names with one slug are a clear error, never a silent reuse.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, get_args

from tercet import format, layout, storage
from tercet.errors import (
    InvalidNameError,
    ObjectExistsError,
    ObjectNotFoundError,
    SchemaError,
    TercetError,
)
from tercet.schema import Schema

IfExists = Literal["error", "reuse", "new"]
MODES: tuple[str, ...] = get_args(IfExists)


class Target(NamedTuple):
    """Where a constructor writes: the table's folder name and display name, its folder, and
    the folder of the existing table to reuse (``if_exists="reuse"`` and it exists)."""

    name: str
    display_name: str
    folder: str
    reuse: str | None


def check_mode(if_exists: str) -> IfExists:
    """``if_exists`` if it is a mode, else :class:`~tercet.errors.TercetError` listing them."""
    if if_exists not in MODES:
        raise TercetError(
            f"if_exists={if_exists!r} is not one of {', '.join(repr(m) for m in MODES)}."
        )
    return if_exists  # type: ignore[return-value]


def display_names(project: str, dataset: str, table: str) -> dict[str, str]:
    """The descriptor's ``display_names``: those that differ from their folder names."""
    given = {"project": project, "dataset": dataset, "table": table}
    return {k: v for k, v in given.items() if format.slug(v, k) != v}


def _stored_display_name(folder: str) -> str | None:
    """The display name of the table in ``folder``; None when it has no descriptor."""
    try:
        data = storage.read_json(format.descriptor_url(folder))
    except ObjectNotFoundError:
        return None
    if not isinstance(data, dict):
        return None
    shown = data.get("display_names") or {}
    name = shown.get("table") if isinstance(shown, dict) else None
    return str(name or data.get("table") or storage.basename(folder))


def target(
    project: str, dataset: str, name: str, root: str | None, if_exists: str = "error"
) -> Target:
    """Where a new source table called ``name`` is written, by the ``if_exists`` rule."""
    mode = check_mode(if_exists)
    tables = layout.dataset_tables_url(project, dataset, root)
    candidates = [name] if mode != "new" else [name, *(f"{name}-{i}" for i in range(2, 10_000))]
    for display in candidates:
        folder_name = format.slug(display, "table name")
        folder = storage.join(tables, folder_name)
        stored = _stored_display_name(folder)
        if stored is None:
            return Target(folder_name, display, folder, None)
        if stored != display and display != folder_name:
            if mode == "new":
                continue
            raise InvalidNameError(
                f"Table name {display!r} collides with the existing table {stored!r} in "
                f"{project}/{dataset}: both are stored in the folder {folder_name!r}. Pick a "
                "name that differs in letters or digits."
            )
        if mode == "reuse":
            return Target(folder_name, display, folder, folder)
        if mode == "error":
            raise ObjectExistsError(
                f"Table {display!r} already exists in {project}/{dataset} ({folder}). Pass "
                "if_exists='reuse' to use it, if_exists='new' for a fresh name, or derive a "
                "revision from it with its edit methods."
            )
    raise ObjectExistsError(f"No free name for table {name!r} in {project}/{dataset}.")


def schema_difference(existing: Schema, new: Schema) -> list[str]:
    """How ``new`` differs from ``existing``, one line per column; empty when equal."""
    out = []
    old_cols = {c.name: c for c in existing}
    new_cols = {c.name: c for c in new}
    for name in old_cols.keys() - new_cols.keys():
        out.append(f"column {name!r} is in the existing table but not in the new data")
    for name in new_cols.keys() - old_cols.keys():
        out.append(f"column {name!r} is in the new data but not in the existing table")
    for name in old_cols.keys() & new_cols.keys():
        a, b = old_cols[name], new_cols[name]
        if a.type != b.type:
            out.append(f"column {name!r}: type {a.type} in the table, {b.type} in the data")
        if a.role != b.role:
            out.append(f"column {name!r}: role {a.role!r} in the table, {b.role!r} in the data")
        if a.value_map != b.value_map:
            out.append(f"column {name!r}: its value map differs")
    return sorted(out)


def check_reuse(folder: str, existing: Schema, new: Schema) -> None:
    """Return when ``new`` equals the schema of the table in ``folder``, else raise
    :class:`SchemaError` with the difference."""
    diff = schema_difference(existing, new)
    if diff:
        raise SchemaError(
            f"if_exists='reuse': the table at {folder} exists with another schema: "
            + "; ".join(diff)
            + ". Pass if_exists='new' for a fresh name, or another name."
        )


def descriptor_schema(folder: str) -> Schema:
    """The schema of the table in ``folder``."""
    data: Any = storage.read_json(format.descriptor_url(folder))
    where = format.descriptor_url(folder)
    format.check_descriptor("table", data, where)
    return Schema.from_json(data["schema"], where=where)
