"""Rewriting the URLs a table stores: data moved, or put behind an alias, after the fact.

``rewrite_urls(table, "/old/prefix", "<DATA>")`` writes one sparse revision whose delta holds
only the URL cells that changed; the row files and every earlier revision stay as they are. A
prefix matches on a path-segment boundary (``/data/a`` matches ``/data/a/x.png``, not
``/data/ab/x.png``), and a prefix that matches nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from tercet import aliases
from tercet.errors import AliasError, SchemaError
from tercet.schema import ID_COLUMN, URL_ROLES
from tercet.tables.edit import Edit
from tercet.tables.lineage import Derivable

"""Roles whose string columns hold URLs: the columns rewritten unless others are named."""

T = TypeVar("T", bound=Derivable)


@dataclass
class RewriteResult(Generic[T]):
    """What :func:`rewrite_urls` did: the new revision (None when nothing matched) and how many
    values changed in each column it looked at."""

    table: T | None
    changed: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Values changed in all columns."""
        return sum(self.changed.values())


def url_columns(table: Derivable) -> list[str]:
    """The string columns of ``table`` whose role says they hold URLs."""
    return [
        c.name
        for c in table.schema
        if c.role in URL_ROLES and (pa.types.is_string(c.type) or pa.types.is_large_string(c.type))
    ]


def _check_prefix(text: str, what: str) -> str:
    value = str(text).strip()
    if not value:
        raise AliasError(f"rewrite: the {what} prefix is empty.")
    match = aliases.ALIAS_URL.match(value)
    if match:
        aliases.check_alias_name(match.group(1))
        return value.rstrip("/")
    return aliases.clean_value(value).rstrip("/") or "/"


def rewrite_urls(
    table: T,
    old: str,
    new: str,
    columns: Sequence[str] | None = None,
    message: str = "",
    project_url: str | None = None,
) -> RewriteResult[T]:
    """Replace the prefix ``old`` by ``new`` in the URL columns of ``table`` (or ``columns``).

    ``new`` is a path, URL or ``<ALIAS>``; an alias must be set (anywhere, including the
    project's ``aliases.yaml`` at ``project_url``) so the rewritten table stays readable.
    Returns the new revision and the count of changed values per column; with no match at all
    nothing is written and the revision is None.
    """
    source, target = _check_prefix(old, "old"), _check_prefix(new, "new")
    match = aliases.ALIAS_URL.match(target)
    if match:
        aliases.get(match.group(1), project_url=project_url)  # unset: AliasNotSetError
    names = list(columns) if columns is not None else url_columns(table)
    if not names:
        raise SchemaError(
            f"{table.name} has no URL columns (string columns with role {', '.join(URL_ROLES)})"
            "; name the columns to rewrite."
        )
    for name in names:
        col = table.schema[name]
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            raise SchemaError(f"Column {name!r} holds {col.type}, not URLs (strings).")
    data = table.to_arrow([ID_COLUMN, *names])
    result: RewriteResult[T] = RewriteResult(None)
    changes: dict[str, tuple[Any, Any]] = {}
    for name in names:
        values = pc.cast(data.column(name), pa.string())
        hit = pc.or_(pc.equal(values, source), pc.starts_with(values, source.rstrip("/") + "/"))
        hit = pc.fill_null(hit, False)
        count = int(pc.sum(pc.cast(hit, pa.int64())).as_py() or 0)
        result.changed[name] = count
        if count:
            rest = pc.utf8_slice_codeunits(pc.filter(values, hit), len(source))
            replaced = pc.binary_join_element_wise(target, rest, "")
            typed = pc.cast(replaced, table.schema[name].type)
            changes[name] = (pc.filter(data.column(ID_COLUMN), hit), typed)
    if not changes:
        return result
    default = f"rewrite URLs {old} → {new} ({result.total} values)"
    with Edit(table, message or default) as e:
        for name, (ids, values_out) in changes.items():
            e.set_array(name, ids.to_numpy(), values_out)
    result.table = e.result
    return result
