"""How a metrics file's columns are encoded in Parquet: which are dictionary-encoded, which carry
statistics, and which are compressed."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from tercet.schema import ID_COLUMN


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """Dictionary-encode only columns that repeat (labels, flags); floats never do, and trying
    costs 20-40% of the write time of a 64-d embedding (measured with pyarrow 26)."""
    types = pa.types
    repeated = [
        f.name
        for f in schema
        if f.name != ID_COLUMN
        and (types.is_integer(f.type) or types.is_string(f.type) or types.is_boolean(f.type))
    ]
    # Min/max of a list's elements (embeddings, probabilities) prune nothing a reader asks for,
    # and computing them costs 20% of writing an epoch with a 128-d embedding.
    flat = [f.name for f in schema if not types.is_nested(f.type)]
    compression: str | dict[str, str] = "zstd"
    if any(float_list(f.type) for f in schema):
        # Per leaf column: Parquet names a list's values "<name>.list.element", and a leaf left
        # out of the mapping is written uncompressed.
        compression = {
            path: "none" if float_list(f.type) else "zstd" for f in schema for path in leaves(f)
        }
    return {"use_dictionary": repeated, "compression": compression, "write_statistics": flat}


def leaves(f: pa.Field, prefix: str = "") -> list[str]:
    """The Parquet leaf column paths of ``f`` (lists written in the compliant nested form)."""
    name = prefix + f.name
    kind = f.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return leaves(pa.field("element", kind.value_type), f"{name}.list.")
    if pa.types.is_struct(kind):
        return [p for i in range(kind.num_fields) for p in leaves(kind.field(i), f"{name}.")]
    if pa.types.is_map(kind):
        return [*leaves(kind.key_field, f"{name}.key_value."),
                *leaves(kind.item_field, f"{name}.key_value.")]  # fmt: skip
    return [name]


def float_list(kind: pa.DataType) -> bool:
    """Whether a column holds a vector of floats per row (embedding, probabilities): stored
    without compression. zstd was half the CPU of writing an epoch with a 128-d embedding
    (4,096 rows: 18 → 8.7 ms) and saves little on floats (1.4 vs 2.3 MB for ReLU outputs, 10%
    for dense ones); lz4 and snappy saved nothing on them. Readers see the same Arrow types."""
    nested = pa.types.is_list(kind) or pa.types.is_large_list(kind)
    if not (nested or pa.types.is_fixed_size_list(kind)):
        return False
    return bool(pa.types.is_floating(kind.value_type))
