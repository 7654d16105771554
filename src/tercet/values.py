"""Values as a column stores them: the checks an edited value (and a table's weights) must pass
*after* the cast to the column's Arrow type, so nothing is accepted that becomes something else
once stored (``"1"`` → 1, ``1e39`` → float32 ``inf``, ``2**70`` → an overflow). The rules are in
``docs/format.md`` ("Values an edit may set"); :meth:`tercet.schema.Schema.coerce_value` applies
them.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tercet.errors import SchemaError

__all__ = ["check_stored", "check_weights", "floating", "integer", "integer_range"]


def integer(column: str, t: pa.DataType, value: Any) -> int:
    """``value`` as an integer the column ``t`` can hold; TypeError for a non-number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError  # a string is never a number here: "1" is refused, not read as 1
    if isinstance(value, float):
        if not value.is_integer():
            raise SchemaError(
                f"Column {column!r} holds integers ({t}); received {value!r}, which is not a "
                "whole number."
            )
        value = int(value)
    low, high = integer_range(t)
    if not low <= value <= high:
        raise SchemaError(
            f"Column {column!r} holds {t} values from {low} to {high}; received {value}."
        )
    return int(value)


def floating(column: str, t: pa.DataType, value: Any) -> float:
    """``value`` as a finite float that stays finite once stored as ``t``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    number = float(value)  # OverflowError for an int beyond any float: reported as not fitting
    if not math.isfinite(number):
        raise SchemaError(
            f"Column {column!r}: {value!r} is not a finite number; edits store no NaN or "
            "infinity (set null for a missing value)."
        )
    check_stored(column, pa.array([number], type=pa.float64()).cast(t, safe=False), value)
    return number


def integer_range(t: pa.DataType) -> tuple[int, int]:
    """The smallest and largest value of the integer type ``t``."""
    bits = t.bit_width
    if pa.types.is_signed_integer(t):
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _float_leaves(array: pa.Array) -> list[pa.Array]:
    """The floating-point arrays inside ``array`` (itself, list values, struct fields)."""
    t = array.type
    if pa.types.is_floating(t):
        return [array]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _float_leaves(array.flatten())
    if pa.types.is_struct(t):
        return [leaf for i in range(t.num_fields) for leaf in _float_leaves(array.field(i))]
    return []


def check_stored(column: str, stored: pa.Array, value: Any) -> None:
    """SchemaError when a float inside ``stored`` (``value`` as the column stores it) is NaN or
    infinite: out of the type's range, or not a number to begin with."""
    for leaf in _float_leaves(stored):
        if len(leaf) and not pc.all(pc.is_finite(leaf)).as_py():
            raise SchemaError(
                f"Column {column!r}: {value!r} does not fit {leaf.type} (stored it would be "
                "infinite or NaN); edits store only finite numbers."
            )


def check_weights(array: pa.ChunkedArray, where: str) -> None:
    """SchemaError unless every weight is a finite number ≥ 0 (samplers draw by them)."""
    good = pc.and_kleene(pc.is_finite(array), pc.greater_equal(array, 0))
    bad = pc.filter(array, pc.invert(pc.fill_null(good, False)))
    if len(bad):
        at = f" in {where}" if where else ""
        shown = [v.as_py() for v in bad[:5]]
        raise SchemaError(
            f"Column 'weight'{at}: {len(bad)} weights are not finite numbers ≥ 0 (first: "
            f"{shown}); a weight of 0 leaves a row out of training."
        )


def check_finite(column: str, array: pa.Array) -> None:
    """Raise :class:`SchemaError` when a float in ``array`` (at any depth) is NaN or infinite:
    an edit never stores them (null is the missing value)."""
    for leaf in _float_leaves(array):
        bad = pc.and_(pc.invert(pc.is_finite(leaf)), pc.is_valid(leaf))
        if pc.any(bad).as_py():
            first = pc.filter(leaf, bad)[0].as_py()
            raise SchemaError(f"Column {column!r}: {first!r} cannot be stored by an edit.")
