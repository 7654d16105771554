"""Writing source tables: user data normalised to Arrow, rows streamed into Parquet, and the
descriptor published last, so a table appears whole or not at all.

This is the layer below :class:`~tercet.tables.table.Table`: it returns folder URLs, and
``Table.create`` / :class:`~tercet.tables.writer.TableWriter` open them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tercet import aliases, format, layout, storage
from tercet.errors import SchemaError
from tercet.schema import ID_COLUMN, WEIGHT_COLUMN, Column, Schema, make_value_map
from tercet.storage import files as storage_files
from tercet.tables import existing
from tercet.tables.unique import IdGuard

ROW_GROUP = 128 * 1024


def to_arrow(data: Any) -> pa.Table:
    """Arrow table from a DataFrame, Arrow table/batch, dict of columns or list of row dicts."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    try:
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(data, Mapping):
        return pa.table({str(k): _column_array(v) for k, v in data.items()})
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        if not data:
            raise SchemaError("Cannot create a table from an empty list of rows without a schema.")
        return pa.Table.from_pylist(list(data))
    raise SchemaError(
        f"Cannot make a table from {type(data).__name__}: pass a pandas DataFrame, a pyarrow "
        "Table, a dict of columns or a list of row dicts."
    )


def _column_array(values: Any) -> pa.Array:
    if isinstance(values, np.ndarray) and values.ndim == 2:
        flat = pa.array(values.astype(np.float32, copy=False).ravel())
        return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(values)


def prepare(
    table: pa.Table,
    roles: Mapping[str, str] | None = None,
    value_maps: Mapping[str, Any] | None = None,
    schema: Schema | None = None,
    first_id: int = 0,
    project_url: str | None = None,
    ids: IdGuard | None = None,
) -> tuple[pa.Table, Schema]:
    """Add ``example_id``/``weight``, turn categoricals into labels with value maps, fix embedding
    types, contract image URLs through aliases; return the table and its schema.

    ``ids`` collects the ids of a streamed table, whose writer checks them across batches when it
    finishes; without it the ids of ``table`` are checked here."""
    roles = dict(roles or {})
    value_maps = {k: make_value_map(v) for k, v in (value_maps or {}).items()}
    for name in value_maps:
        if name in table.column_names and not (schema and name in schema):
            roles.setdefault(name, "label")
    cols: dict[str, pa.Array | pa.ChunkedArray] = {}
    n = table.num_rows
    if ID_COLUMN not in table.column_names:
        cols[ID_COLUMN] = pa.array(np.arange(first_id, first_id + n, dtype=np.int64))
    for name in table.column_names:
        arr = table.column(name)
        role = roles.get(name) or (schema[name].role if schema and name in schema else None)
        if pa.types.is_dictionary(arr.type):
            cats = arr.type.value_type
            dictionary = arr.combine_chunks().dictionary if n else pa.array([], cats)
            value_maps.setdefault(name, make_value_map([str(v) for v in dictionary.to_pylist()]))
            arr = pc.cast(arr.combine_chunks().indices, pa.int32())
            role = role or "label"
        if name == ID_COLUMN:
            arr = _cast(arr, pa.int64(), name)
        elif name == WEIGHT_COLUMN:
            arr = _cast(arr, pa.float32(), name)
        elif role == "embedding" or (
            (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type))
            and pa.types.is_floating(arr.type.value_type)
            and role in (None, "embedding")
            and _fixed_width(arr) is not None
        ):
            arr = _to_embedding(arr, name)
            role = "embedding"
        elif role in ("image", "semantic_mask"):
            arr = _contract_urls(arr, project_url)
        elif role == "label" and pa.types.is_integer(arr.type) and not pa.types.is_int32(arr.type):
            arr = _cast(arr, pa.int32(), name)
        cols[name] = arr
        if role:
            roles[name] = role
    if WEIGHT_COLUMN not in cols:
        cols[WEIGHT_COLUMN] = pa.array(np.ones(n, dtype=np.float32))
    out = pa.table(cols)
    if schema is not None:
        schema = _with_id_and_weight(schema)
        _check_names(schema, out)
        out = pa.table(
            {c.name: _cast(out.column(c.name), c.type, c.name) for c in schema},
            schema=schema.to_arrow(),
        )
    else:
        for name in value_maps:
            roles.setdefault(name, "label")
        schema = Schema.from_arrow(out.schema, roles=roles, value_maps=value_maps)
    guard = ids or IdGuard()
    guard.add(out.column(ID_COLUMN))
    if ids is None:
        guard.check()
    schema.validate_table(out)
    return out, schema


def _with_id_and_weight(schema: Schema) -> Schema:
    """A user's schema names their columns; ``example_id`` and ``weight`` are Tercet's and are
    added where ``prepare`` adds them (first and last) when the schema leaves them out."""
    columns = list(schema)
    if ID_COLUMN not in schema:
        columns.insert(0, Column(ID_COLUMN, pa.int64(), "id"))
    if WEIGHT_COLUMN not in schema:
        columns.append(Column(WEIGHT_COLUMN, pa.float32(), "weight"))
    return Schema(columns) if len(columns) != len(schema) else schema


def _check_names(schema: Schema, table: pa.Table) -> None:
    missing = [n for n in schema.names if n not in table.column_names]
    extra = [n for n in table.column_names if n not in schema]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"column(s) not in the schema {', '.join(map(repr, extra))}")
        raise SchemaError(f"Data does not fit the table schema: {'; '.join(parts)}.")


def _cast(arr: Any, typ: pa.DataType, name: str) -> Any:
    if arr.type == typ:
        return arr
    try:
        out = pc.cast(arr, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(f"Column {name!r} must be {typ}: {exc}") from exc
    if pa.types.is_floating(typ) and pa.types.is_floating(arr.type):
        # Arrow narrows floats without a range check: 1e39 becomes float32 inf.
        overflow = pc.and_(pc.is_finite(arr), pc.invert(pc.is_finite(out)))
        if pc.any(overflow).as_py():
            first = pc.filter(arr, overflow)[0].as_py()
            raise SchemaError(f"Column {name!r}: {first!r} does not fit {typ} (it would be inf).")
    return out


def _fixed_width(arr: Any) -> int | None:
    lengths = pc.list_value_length(arr)
    lo, hi = pc.min(lengths).as_py(), pc.max(lengths).as_py()
    return int(lo) if lo is not None and lo == hi and lo > 0 else None


def _to_embedding(arr: Any, name: str) -> pa.Array:
    if pa.types.is_fixed_size_list(arr.type):
        if arr.type.value_type == pa.float32():
            return arr
        return pc.cast(arr, pa.list_(pa.float32(), arr.type.list_size))
    width = _fixed_width(arr)
    if width is None:
        raise SchemaError(f"Embedding column {name!r} must hold vectors of one length.")
    flat = pc.cast(pc.list_flatten(arr), pa.float32())
    return pa.FixedSizeListArray.from_arrays(
        flat.combine_chunks() if hasattr(flat, "combine_chunks") else flat, width
    )


def _contract_urls(arr: Any, project_url: str | None) -> Any:
    """Vectorised alias contraction of a column of URLs (longest alias wins)."""
    values = aliases.values(project_url)
    if not values:
        return arr
    out = pc.cast(arr, pa.string())
    done = pc.starts_with(out, "<")
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[1])):
        prefix = value.rstrip("/") + "/"
        hit = pc.and_(pc.starts_with(out, prefix), pc.invert(done))
        if not pc.any(hit).as_py():
            continue
        replaced = pc.binary_join_element_wise(
            f"<{name}>", pc.utf8_slice_codeunits(out, len(prefix) - 1), ""
        )
        out = pc.if_else(hit, replaced, out)
        done = pc.or_(done, hit)
    return out


class SourceWriter:
    """Writes a source table batch by batch; it never holds the whole table in memory.

    The table appears (its ``object.json`` is written) only when :meth:`finish` runs, which the
    ``with`` block does when it exits without error; an error aborts, leaving nothing visible.
    """

    def __init__(
        self,
        project: str,
        dataset: str,
        name: str,
        schema: Schema | None = None,
        roles: Mapping[str, str] | None = None,
        value_maps: Mapping[str, Any] | None = None,
        root: str | None = None,
        message: str = "",
        metadata: Mapping[str, Any] | None = None,
        if_exists: str = "error",
        derived_from: Mapping[str, Any] | None = None,
    ) -> None:
        where = existing.target(project, dataset, name, root, if_exists)
        self.project = format.slug(project, "project")
        self.dataset = format.slug(dataset, "dataset")
        self.name = where.name
        self.folder = where.folder
        self.reuse = where.reuse
        self.display_names = existing.display_names(project, dataset, where.display_name)
        self._project_url = layout.project_url(project, root)
        self.object_url = format.descriptor_url(self.folder)
        self._checked = False
        if self.reuse is not None and schema is not None:
            existing.check_reuse(self.reuse, existing.descriptor_schema(self.reuse), schema)
            self._checked = True
        self.schema = schema
        self.roles, self.value_maps = dict(roles or {}), dict(value_maps or {})
        self.message = message
        self.metadata = dict(metadata or {})
        self.derived_from = dict(derived_from) if derived_from else None
        self._stream: storage.ParquetStream | None = None
        self._rows_name = f"{format.ROWS}/part-00000-{secrets.token_hex(4)}.parquet"
        self._rows = 0
        self._ids = IdGuard()

    def write(self, batch: Any) -> None:
        """Append rows (anything :func:`to_arrow` takes)."""
        data = to_arrow(batch)
        prepared, schema = prepare(
            data, self.roles, self.value_maps, self.schema, self._rows, self._project_url, self._ids
        )
        # The first batch fixes the schema (inferred, or the given one with id and weight).
        self.schema = schema
        if self.reuse is not None:
            if not self._checked:
                existing.check_reuse(self.reuse, existing.descriptor_schema(self.reuse), schema)
                self._checked = True
            return  # reusing: the existing table stands, nothing is written
        if self._stream is None:
            self._stream = storage.ParquetStream(
                storage.join(self.folder, self._rows_name),
                self.schema.to_arrow(),
                row_group_size=ROW_GROUP,
                # Ids are unique: a dictionary of them is never kept, only paid for.
                use_dictionary=storage.dictionary_columns(self.schema.to_arrow(), [ID_COLUMN]),
            )
        self._stream.write(prepared)
        self._rows += prepared.num_rows

    def finish(self) -> str:
        """Publish the rows and then the descriptor; returns the table's folder URL (the
        existing table's when reusing it, which writes nothing)."""
        if self.reuse is not None:
            if not self._checked and self.schema is not None:
                old = existing.descriptor_schema(self.reuse)
                existing.check_reuse(self.reuse, old, self.schema)
            return self.reuse
        if self._stream is None:
            if self.schema is None:
                raise SchemaError(
                    "Nothing was written and no schema was given: cannot create an "
                    "empty table without a schema."
                )
            self.write(pa.Table.from_batches([], schema=self.schema.to_arrow()))
        assert self._stream is not None and self.schema is not None
        try:
            self._ids.check()
        except SchemaError:
            self.abort()
            raise
        self._stream.close()
        descriptor = format.table_descriptor(
            id=uuid.uuid4().hex,
            table=self.name,
            name=self.name,
            project=self.project,
            dataset=self.dataset,
            created=format.now(),
            parent=None,
            message=self.message,
            num_rows=self._rows,
            schema=self.schema.to_json(),
        )
        descriptor["rows"] = [self._rows_name]
        descriptor["metadata"] = self.metadata
        if self.display_names:
            descriptor["display_names"] = self.display_names
        if self.derived_from is not None:
            descriptor["derived_from"] = self.derived_from
        storage.write_json(self.object_url, descriptor)
        return self.folder

    def abort(self) -> None:
        """Drop what was written; the table never appears."""
        if self._stream is not None:
            self._stream.abort()
            # A batch refused after the first (or ids found twice at the end) leaves the rows
            # folder the stream made: remove it and the table's folder if they are empty.
            storage_files.prune_empty_folders(self._stream.url, storage.parent(self.folder))
            self._stream = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()


def create(
    data: Any,
    project: str,
    dataset: str,
    name: str,
    schema: Schema | None = None,
    roles: Mapping[str, str] | None = None,
    value_maps: Mapping[str, Any] | None = None,
    root: str | None = None,
    message: str = "",
    if_exists: str = "error",
    derived_from: Mapping[str, Any] | None = None,
) -> str:
    """Write ``data`` as a new source table; returns its folder URL (the existing table's, when
    ``if_exists="reuse"`` finds one with the same schema: see :mod:`tercet.tables.existing`)."""
    with SourceWriter(
        project, dataset, name, schema, roles, value_maps, root, message,
        if_exists=if_exists, derived_from=derived_from,
    ) as w:  # fmt: skip
        table = to_arrow(data)
        for batch in table.to_batches(max_chunksize=ROW_GROUP):
            w.write(pa.Table.from_batches([batch], schema=table.schema))
        if table.num_rows == 0:
            w.write(table)
    return w.folder
