"""Sparse revision deltas: encoding edits compactly and applying a chain of them vectorised."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tercet.errors import CorruptObjectError, SchemaError, UnknownExampleError
from tercet.schema import ID_COLUMN, WEIGHT_COLUMN, Column, Schema
from tercet.values import check_weights

INLINE_LIMIT = 256  # edited cells; beyond this the delta goes to delta.parquet
DELETED = "_deleted"


@dataclass
class Delta:
    """What one revision changes relative to its parent."""

    set: dict[str, tuple[np.ndarray, pa.Array]] = field(default_factory=dict)
    deleted: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    added_columns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cells(self) -> int:
        return sum(len(ids) for ids, _ in self.set.values()) + len(self.deleted)

    # -- encoding ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "deleted": [int(i) for i in self.deleted],
            "set": {
                col: {"example_id": [int(i) for i in ids], "value": vals.to_pylist()}
                for col, (ids, vals) in self.set.items()
            },
            "added_columns": self.added_columns,
        }

    def to_parquet_table(self, schema: Schema) -> pa.Table:
        all_ids = np.unique(
            np.concatenate([self.deleted, *[ids for ids, _ in self.set.values()]])
        ).astype(np.int64)
        cols: dict[str, pa.Array] = {
            ID_COLUMN: pa.array(all_ids, pa.int64()),
            DELETED: pa.array(np.isin(all_ids, self.deleted)),
        }
        for col, (ids, vals) in self.set.items():
            pos = np.searchsorted(all_ids, ids)
            idx = np.full(len(all_ids), -1, dtype=np.int64)
            idx[pos] = np.arange(len(ids))
            mask = idx >= 0
            take_idx = pa.array(np.where(mask, idx, 0), mask=~mask)
            cols[col] = vals.take(take_idx) if len(vals) else pa.nulls(len(all_ids), vals.type)
            cols[f"_set:{col}"] = pa.array(mask)
        return pa.table(cols)

    @classmethod
    def from_json(cls, data: dict[str, Any], schema: Schema, where: str) -> Delta:
        try:
            out = cls(
                deleted=np.asarray(data.get("deleted", []), dtype=np.int64),
                added_columns=list(data.get("added_columns", [])),
            )
            for col, spec in data.get("set", {}).items():
                typ = schema[col].type
                ids = np.asarray(spec["example_id"], dtype=np.int64)
                out.set[col] = (ids, pa.array(spec["value"], type=typ))
        except (KeyError, TypeError, ValueError, pa.ArrowException) as exc:
            raise CorruptObjectError(f"{where}: the delta is malformed ({exc!r}).") from exc
        return out

    @classmethod
    def from_parquet_table(cls, table: pa.Table, added: list[dict[str, Any]]) -> Delta:
        ids = table.column(ID_COLUMN).to_numpy()
        deleted_mask = table.column(DELETED).to_numpy(zero_copy_only=False)
        out = cls(deleted=ids[deleted_mask], added_columns=added)
        for name in table.column_names:
            if name.startswith("_set:"):
                col = name[len("_set:") :]
                mask = table.column(name).to_numpy(zero_copy_only=False)
                values = table.column(col).combine_chunks().filter(pa.array(mask))
                out.set[col] = (ids[mask], values)
        return out


def positions(id_column: pa.ChunkedArray | pa.Array, wanted: np.ndarray, where: str) -> np.ndarray:
    """Row positions of ``wanted`` example ids; raises if any is absent."""
    fast = _contiguous_positions(id_column, wanted)
    if fast is not None and (not len(fast) or (fast.min() >= 0 and fast.max() < len(id_column))):
        return fast  # else some are missing: the search below names them
    ids = np.asarray(id_column.to_numpy())
    if len(ids) > 1 and np.all(ids[1:] > ids[:-1]):
        pos = np.searchsorted(ids, wanted)
        pos_c = np.minimum(pos, max(len(ids) - 1, 0))
        found = (
            (pos < len(ids)) & (ids[pos_c] == wanted) if len(ids) else np.zeros(len(wanted), bool)
        )
        pos = pos_c
    else:
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        p = np.searchsorted(sorted_ids, wanted)
        p_c = np.minimum(p, max(len(ids) - 1, 0))
        found = (
            (p < len(ids)) & (sorted_ids[p_c] == wanted)
            if len(ids)
            else np.zeros(len(wanted), bool)
        )
        pos = order[p_c] if len(ids) else p_c
    if not np.all(found):
        missing = wanted[~found][:10].tolist()
        raise UnknownExampleError(
            f"{where}: example ids {missing} are not in this revision (deleted, or never existed)."
        )
    return pos


def _contiguous_positions(
    id_column: pa.ChunkedArray | pa.Array, wanted: np.ndarray
) -> np.ndarray | None:
    """``wanted - first id`` when the ids are ``first, first+1, …`` in row order (a source's
    default ids; every revision read before a row is deleted), else None.

    Checked chunk by chunk on the chunks as read: no copy of the whole id column into one
    array (80 MB at 10M rows) and no search per wanted id.
    """
    chunks = id_column.chunks if isinstance(id_column, pa.ChunkedArray) else [id_column]
    arrays = [c.to_numpy(zero_copy_only=False) for c in chunks if len(c)]
    if not arrays or any(a.dtype.kind not in "iu" for a in arrays):
        return None
    first = int(arrays[0][0])
    start = first
    for a in arrays:
        # Contiguous: each chunk starts where the last ended and steps by exactly one.
        if int(a[0]) != start or (len(a) > 1 and not np.all(np.diff(a) == 1)):
            return None
        start += len(a)
    return np.asarray(wanted, dtype=np.int64) - first


def apply(table: pa.Table, delta: Delta, columns: list[str] | None, where: str) -> pa.Table:
    """Apply one delta to ``table`` (which holds ``example_id`` plus the wanted columns)."""
    n = table.num_rows
    for spec in delta.added_columns:
        name = spec["name"]
        if name in table.column_names or (columns is not None and name not in columns):
            continue
        typ = _type_from_spec(spec)
        default = pa.scalar(spec.get("default"), type=typ)
        table = table.append_column(name, pa.repeat(default, n))
    for col, (ids, values) in delta.set.items():
        if col not in table.column_names:
            continue
        pos = positions(table.column(ID_COLUMN), ids, where)
        column = table.column(col)
        merged = _replace(column, pos, _stored(col, values, column.type, where))
        table = table.set_column(table.column_names.index(col), col, merged)
    if len(delta.deleted):
        keep = pc.invert(pc.is_in(table.column(ID_COLUMN), value_set=pa.array(delta.deleted)))
        table = table.filter(keep)
    return table


def _replace(column: pa.ChunkedArray, pos: np.ndarray, values: pa.Array) -> pa.ChunkedArray:
    """``column`` with ``values[i]`` at row ``pos[i]``, chunk by chunk.

    Rows are replaced inside each chunk as read (one per Parquet row group), so the work and the
    extra memory are those of the chunks an edit touches: no copy of the whole column into one
    array, no index array over every row, and untouched chunks are shared, not copied.
    """
    order = np.argsort(pos, kind="stable")
    pos, values = pos[order], values.take(pa.array(order))
    if len(pos) > 1 and np.any(pos[1:] == pos[:-1]):
        last = np.append(pos[1:] != pos[:-1], True)  # a row set twice keeps its last value
        pos, values = pos[last], values.filter(pa.array(last))
    chunks: list[pa.Array] = []
    start = 0
    for chunk in column.chunks:
        lo, hi = np.searchsorted(pos, [start, start + len(chunk)])
        if lo == hi:
            chunks.append(chunk)
        else:
            chunks.append(_replace_chunk(chunk, pos[lo:hi] - start, values.slice(lo, hi - lo)))
        start += len(chunk)
    return pa.chunked_array(chunks, type=column.type)


def _replace_chunk(chunk: pa.Array, local: np.ndarray, values: pa.Array) -> pa.Array:
    mask = np.zeros(len(chunk), dtype=bool)
    mask[local] = True
    try:
        # Values in row order, as replace_with_mask takes them.
        return pc.replace_with_mask(chunk, pa.array(mask), values)
    except pa.ArrowNotImplementedError:
        # Nested and dictionary types have no replace kernel: gather from chunk + values.
        idx = np.arange(len(chunk), dtype=np.int64)
        idx[local] = len(chunk) + np.arange(len(local), dtype=np.int64)
        return pa.concat_arrays([chunk, values]).take(pa.array(idx))


def _stored(column: str, values: pa.Array, t: pa.DataType, where: str) -> pa.Array:
    """The values a delta sets, as ``column`` stores them; a CorruptObjectError naming the
    revision when they do not fit, or when they are weights training cannot draw by.

    Tercet's edits are checked before they are written (:mod:`tercet.values`), so a delta that
    fails here was planted (a bundle, a hand-written file): reading it must stop with its name,
    not hand ``inf`` to every sampler that trains on the revision.
    """
    try:
        cast = values.cast(t)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise CorruptObjectError(
            f"{where}: the values its delta sets in {column!r} do not fit {t} ({exc})."
        ) from None
    if column == WEIGHT_COLUMN:
        try:
            check_weights(pa.chunked_array([cast], type=t), "")
        except SchemaError as exc:
            raise CorruptObjectError(
                f"{where}: its delta sets weights training cannot use. {exc} Tercet never "
                "writes such a revision; it was planted or damaged."
            ) from None
    return cast


def _type_from_spec(spec: dict[str, Any]) -> pa.DataType:
    import base64

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(spec["arrow"]))).field(0).type


def column_spec(column: Column, default: Any) -> dict[str, Any]:
    import base64

    arrow = pa.schema([pa.field(column.name, column.type)]).serialize().to_pybytes()
    return {
        **column.to_json(),
        "default": default,
        "arrow": base64.b64encode(arrow).decode("ascii"),
    }
