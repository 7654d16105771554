"""How a source's Arrow columns are served: the API's type names, the casts that make every
column something both the wire and DuckDB carry, and each column's role and presentation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from tercet.schema import infer_role, make_value_map
from tercet.service.models import ColumnInfo, ColumnType, ValueMapEntry


def api_type(t: pa.DataType) -> ColumnType | None:
    """The API's name for an Arrow type, or None when it has none."""
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_fixed_size_list(t) and pa.types.is_floating(t.value_type):
        return "embedding"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "list"
    if pa.types.is_struct(t):
        return "struct"
    return None


def _wire_value_map(value_map: Any) -> dict[str, ValueMapEntry] | None:
    if value_map is None:
        return None
    try:
        normal = make_value_map(value_map)
    except Exception:  # a damaged map in a metrics footer: serve the column without it
        return None
    return {str(k): ValueMapEntry(name=v["name"], color=v["color"]) for k, v in normal.items()}


def servable(
    table: pa.Table,
    specs: Mapping[str, tuple[str, Any]],
    details: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[pa.Table, list[ColumnInfo]]:
    """Cast columns to types the wire and DuckDB both carry; describe each with its role.

    ``specs`` maps a column name to ``(role, value_map)``; missing columns get an inferred role.
    ``details`` maps a column name to its stored fields besides those (``display_name``,
    ``description``, ``hidden``: what a ``MetricSpec`` says of a metric).
    Types outside the API's set (timestamps, decimals, dictionaries …) are served as their
    plain counterparts; binary columns are left out.
    """
    arrays: list[pa.ChunkedArray] = []
    infos: list[ColumnInfo] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        t = column.type
        if pa.types.is_dictionary(t):
            column, t = column.cast(t.value_type), t.value_type
        if pa.types.is_float16(t) or pa.types.is_decimal(t):
            target = pa.float32() if pa.types.is_float16(t) else pa.float64()
            column, t = column.cast(target), target
        kind = api_type(t)
        if kind is None:
            if pa.types.is_binary(t) or pa.types.is_large_binary(t):
                continue
            try:
                column, t, kind = column.cast(pa.string()), pa.string(), "string"
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
        role, value_map = specs.get(name, (infer_role(name, t), None))
        dims = t.list_size if kind == "embedding" else None
        infos.append(
            ColumnInfo(
                name=name,
                type=kind,
                role=role,
                value_map=_wire_value_map(value_map),
                dims=dims,
                **_presentation((details or {}).get(name, {})),
            )
        )
        arrays.append(column)
    out = pa.table(arrays, names=[c.name for c in infos]) if infos else table.select([])
    return out.replace_schema_metadata(None), infos


def _presentation(fields: Mapping[str, Any]) -> dict[str, Any]:
    """How a column asks to be shown, from its stored fields; a value of the wrong type (a
    hand-edited footer) is left out rather than failing the whole source."""
    out: dict[str, Any] = {}
    for key in ("display_name", "description"):
        if isinstance(fields.get(key), str):
            out[key] = fields[key]
    if isinstance(fields.get("hidden"), bool):
        out["hidden"] = fields["hidden"]
    return out
