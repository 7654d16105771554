"""Structured filters compiled to parameterised DuckDB SQL.

SQL text is assembled only from fixed fragments and column names that were looked up in the
source's schema and quoted; every value travels as a ``?`` parameter, and long value lists
(``in`` with thousands of example ids) as a registered Arrow table. Nothing a client sends is
ever concatenated into SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tercet.service.errors import ApiError
from tercet.service.models import (
    AndFilter,
    ContainsFilter,
    EqFilter,
    InFilter,
    IsNullFilter,
    NotFilter,
    OrFilter,
    RangeFilter,
)
from tercet.service.sources import NUMERIC, SCALAR, SourceData

MAX_DEPTH = 32
MAX_NODES = 1000
INLINE_VALUES = 64  # longer `in` lists go to DuckDB as a registered Arrow table
INT64 = (-(2**63), 2**63 - 1)


FilterNode = (
    AndFilter
    | OrFilter
    | NotFilter
    | RangeFilter
    | InFilter
    | ContainsFilter
    | EqFilter
    | IsNullFilter
)


def quote(name: str) -> str:
    """A DuckDB identifier; only ever called with names taken from the source's schema."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Where:
    """A compiled filter: a boolean SQL expression, its parameters and its value tables."""

    sql: str = "TRUE"
    params: list[Any] = field(default_factory=list)
    tables: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def is_trivial(self) -> bool:
        return self.sql == "TRUE"


class _Compiler:
    def __init__(self, source: SourceData) -> None:
        self.source = source
        self.where = Where()
        self.nodes = 0

    def compile(self, node: FilterNode, depth: int = 0) -> str:
        """SQL for ``node``; its values are appended to the parameters."""
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise ApiError(
                422,
                f"The filter is too large: at most {MAX_DEPTH} levels and {MAX_NODES} conditions.",
            )
        if isinstance(node, AndFilter):
            parts = [self.compile(f, depth + 1) for f in node.and_]
            return "(" + " AND ".join(parts) + ")" if parts else "TRUE"
        if isinstance(node, OrFilter):
            parts = [self.compile(f, depth + 1) for f in node.or_]
            return "(" + " OR ".join(parts) + ")" if parts else "FALSE"
        if isinstance(node, NotFilter):
            return f"(NOT COALESCE({self.compile(node.not_, depth + 1)}, FALSE))"
        col = self.source.column(node.column, "filter column")
        q = quote(col.name)
        if isinstance(node, IsNullFilter):
            return f"({q} IS NULL)"
        if isinstance(node, RangeFilter):
            if col.type not in NUMERIC:
                raise ApiError(
                    422, f"A range filter needs a numeric column; {col.name!r} holds {col.type}."
                )
            if node.min is not None and node.max is not None and node.min > node.max:
                raise ApiError(
                    422, f"Range on {col.name!r}: min {node.min} is above max {node.max}."
                )
            parts = []
            if node.min is not None:
                parts.append(f"{q} >= ?")
                self.where.params.append(node.min)
            if node.max is not None:
                parts.append(f"{q} <= ?")
                self.where.params.append(node.max)
            return "(" + " AND ".join(parts) + ")" if parts else f"({q} IS NOT NULL)"
        if isinstance(node, ContainsFilter):
            if col.type != "string":
                raise ApiError(
                    422, f"'contains' needs a text column; {col.name!r} holds {col.type}."
                )
            self.where.params.append(node.value)
            return f"contains(lower({q}), lower(?))"
        if col.type not in SCALAR:
            raise ApiError(
                422, f"Column {col.name!r} holds {col.type} values; only 'is_null' applies to it."
            )
        if isinstance(node, EqFilter):
            self.where.params.append(_check_value(col.name, col.type, node.value, "value"))
            return f"({q} = ?)"
        values = (
            [_check_value(col.name, col.type, v, f"values[{i}]") for i, v in enumerate(node.values)]
            if len(node.values) <= INLINE_VALUES
            else None
        )
        if values is not None:
            if not values:
                return "FALSE"
            self.where.params.extend(values)
            return f"({q} IN ({', '.join('?' * len(values))}))"
        name = f"__in_{len(self.where.tables)}"
        self.where.tables[name] = pa.table({"v": _value_array(col.name, col.type, node.values)})
        return f"({q} IN (SELECT v FROM {quote(name)}))"


def _check_value(column: str, kind: str, value: Any, where: str) -> Any:
    ok = {
        "int": isinstance(value, int | float) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "bool": isinstance(value, bool),
    }[kind]
    if not ok:
        expected = {
            "int": "a number",
            "float": "a number",
            "string": "a string",
            "bool": "true or false",
        }[kind]
        raise ApiError(
            422,
            f"Filter on {column!r}: {where} must be {expected} ({kind} column); "
            f"received {value!r}.",
        )
    if isinstance(value, int) and not isinstance(value, bool) and not INT64[0] <= value <= INT64[1]:
        raise ApiError(422, f"Filter on {column!r}: {where} {value} is outside the 64-bit range.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(422, f"Filter on {column!r}: {where} must be a finite number.")
    return value


def _value_array(column: str, kind: str, values: list[Any]) -> pa.Array:
    """The values of a long ``in`` list as one typed array, checked in one vectorised pass."""
    target = {"int": None, "float": None, "string": pa.string(), "bool": pa.bool_()}[kind]
    try:
        arr = pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        arr = None
    ok = arr is not None and (
        (kind in NUMERIC and (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)))
        or kind not in NUMERIC
    )
    if arr is None or not ok or arr.null_count:
        expected = "numbers" if kind in NUMERIC else f"{kind} values"
        raise ApiError(
            422,
            f"Filter on {column!r}: values must all be {expected} ({kind} "
            "column) and none may be null.",
        )
    if pa.types.is_floating(arr.type) and not bool(np.isfinite(arr.to_numpy()).all()):
        raise ApiError(422, f"Filter on {column!r}: values must be finite numbers.")
    return arr


def compile_filter(source: SourceData, node: FilterNode | None) -> Where:
    """Validate ``node`` against the source's columns and compile it."""
    if node is None:
        return Where()
    compiler = _Compiler(source)
    compiler.where.sql = compiler.compile(node)
    return compiler.where
