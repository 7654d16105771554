"""A table revision too big for the service's memory budget, served from a local Parquet copy.

The service holds sources as Arrow in a byte-bounded cache (``service.cache_bytes``). A table
whose rows would not fit is not loaded: its served columns are written once, column by column,
to one Parquet file in the service's spill folder (the revision read through the storage fence
as for any load, the delta chain applied, the same casts as a loaded source), with the row
number stored as a column. DuckDB then filters, sorts, counts and bins over that file, reading
only the columns a query names, and a page's rows are read back from the row groups holding
them. Memory follows one column and one row group, not the table: answers are the same as
those of the loaded source, slower (each page reads the row groups it touches).

The copy is the service's own: written under a folder it made (mode 0700), read only by it,
removed when the source leaves the cache or the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tercet import format, storage
from tercet.errors import CorruptObjectError
from tercet.schema import ID_COLUMN
from tercet.service.models import ColumnInfo
from tercet.service.sources import ROW, SourceData, example_ids, servable
from tercet.storage.fence import canonical, guard_all
from tercet.tables.table import Table

ROW_GROUP = 32 * 1024  # rows per row group of a copy: what a page reads per row it shows
# Copies are written uncompressed and without dictionaries: 4x less CPU to write (1.6 against
# 6.8 s at 1M rows), and nothing to decompress on each scan; they take the Arrow size on disk.
_folder: str | None = None
_folder_lock = threading.Lock()


def _spill_folder() -> str:
    """This process's folder of copies (private, removed at exit)."""
    global _folder
    with _folder_lock:
        if _folder is None or not os.path.isdir(_folder):
            _folder = tempfile.mkdtemp(prefix="tercet-spill-")
            atexit.register(shutil.rmtree, _folder, True)
        return _folder


def estimated_bytes(t: Table) -> int:
    """The Arrow size the rows of ``t`` would take in memory (an estimate made from the
    schema and the footers of its lineage's source files, reading no rows): fixed-width
    columns exactly, variable-width ones from their uncompressed size in the files."""
    rows = t.num_rows
    arrow = t.schema.to_arrow()
    total = 0
    unknown: list[str] = []
    for f in arrow:
        width = _fixed_width(f.type)
        if width is None:
            unknown.append(f.name)
        else:
            total += width * rows + (rows + 7) // 8
    if unknown:
        total += _variable_bytes(t, unknown)
    return total


def _fixed_width(t: pa.DataType) -> int | None:
    if pa.types.is_boolean(t):
        return 1
    if pa.types.is_fixed_size_list(t):
        inner = _fixed_width(t.value_type)
        return None if inner is None else inner * t.list_size
    try:
        return int(t.bit_width) // 8 or None
    except ValueError:  # variable width
        return None


def _variable_bytes(t: Table, names: list[str]) -> int:
    """The uncompressed bytes of ``names`` in the files of the source at the root of the
    lineage of ``t``, scaled to its rows (offsets added)."""
    root = t.lineage()[0]
    listed = root.descriptor.get("rows")
    if not isinstance(listed, list):
        raise CorruptObjectError(f"{format.descriptor_url(root.url)}: 'rows' is not a list.")
    files = [format.check_reference(f, root.url, "table", "rows") for f in listed]
    found = 0
    for url in files:
        meta = storage.read_parquet_metadata(url)
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                col = group.column(c)
                if col.path_in_schema.split(".")[0] in names:
                    found += int(col.total_uncompressed_size)
    scale = t.num_rows / max(root.num_rows, 1)
    return int(found * scale) + 8 * t.num_rows * len(names)


@dataclass
class DiskSource(SourceData):
    """A table revision's served columns in one local Parquet file with :data:`ROW`.

    ``table`` holds no rows (its schema only); DuckDB queries ``file`` and pages are read back
    from it (:meth:`take`).
    """

    file: str = ""
    rows: int = 0
    row_group: int = ROW_GROUP
    in_memory = False

    def __post_init__(self) -> None:
        self.scan = self.table
        self.by_name = {c.name: c for c in self.columns}
        self._parquet = pq.ParquetFile(self.file)
        self._lock = threading.Lock()

    @property
    def num_rows(self) -> int:
        return self.rows

    @property
    def nbytes(self) -> int:
        return 64 * 1024  # the footer and the schema; the rows stay on disk

    def attach(self, cur: Any) -> None:
        path = self.file.replace("'", "''")
        # DuckDB would otherwise keep the bytes it reads of the copy in memory: the table again.
        cur.execute("SET enable_external_file_cache = false")
        cur.execute(f"CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM read_parquet('{path}')")

    def slice(self, names: list[str], offset: int, limit: int) -> pa.Table:
        stop = min(offset + limit, self.rows)
        return self.take(names, np.arange(min(offset, stop), stop, dtype=np.int64))

    def take(self, names: list[str], positions: np.ndarray) -> pa.Table:
        """The rows at ``positions`` (row numbers), in that order, reading only the row groups
        that hold them and only ``names``."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) and (positions.min() < 0 or positions.max() >= self.rows):
            raise IndexError(f"row positions out of range for {self.rows} rows")
        size = self.row_group
        groups = np.unique(positions // size)
        pieces: list[pa.Table] = []
        order: list[np.ndarray] = []
        # One row group in memory at a time: the rows it holds are taken and it is let go.
        for g in groups:
            at = np.flatnonzero(positions // size == g)
            with self._lock:  # a ParquetFile is not safe to read from several threads at once
                group = self._parquet.read_row_group(int(g), columns=names)
            pieces.append(group.take(pa.array(positions[at] - g * size, type=pa.int64())))
            order.append(at)
        if not pieces:
            return self.table.select(names)
        taken = pa.concat_tables(pieces)
        pa.default_memory_pool().release_unused()  # the row groups read, back to the system
        inverse = np.empty(len(positions), dtype=np.int64)
        inverse[np.concatenate(order)] = np.arange(len(positions))
        return taken.take(pa.array(inverse)).select(names)


def out_of_core(t: Table, key: Any, budget: int, row_group: int | None = None) -> DiskSource | None:
    """The table revision ``t`` served from a local copy when its rows would take more than
    ``budget`` bytes in memory (their row numbers included); None when they fit."""
    if estimated_bytes(t) + 24 * t.num_rows <= budget:
        return None
    check_files(t)
    return spill(t, key, row_group)


def spill(t: Table, key: Any, row_group: int | None = None) -> DiskSource:
    """Write the served columns of ``t`` to a local copy, one column in memory at a time, and
    return the source over it (removed once the source is no longer used)."""
    row_group = row_group or ROW_GROUP
    # Imported here: cold builds on the sources module as this one does.
    from tercet.service.cold import cold_table

    stand_in = cold_table(t)  # a source revision whose files are guarded and fit its schema
    if stand_in is not None:
        return _stream(stand_in, key, row_group)
    specs = {c.name: (c.role, c.value_map) for c in t.schema}
    details = {c.name: c.extra for c in t.schema}
    folder = _spill_folder()
    name = uuid.uuid4().hex
    parts: list[str] = []
    infos: list[ColumnInfo] = []
    fields: list[pa.Field] = []
    try:
        for column in t.schema.names:
            values = t.to_arrow([column])
            if column == ID_COLUMN:
                example_ids(values, t.url)
            served, info = servable(values, specs, details)
            del values
            if not info:
                continue  # a column the API does not carry (binary)
            part = os.path.join(folder, f"{name}.{len(parts)}.parquet")
            pq.write_table(
                served, part, row_group_size=row_group, compression="none", use_dictionary=False
            )
            parts.append(part)
            infos.extend(info)
            fields.append(served.schema.field(0))
            del served
        path = os.path.join(folder, f"{name}.parquet")
        _merge(parts, pa.schema([*fields, pa.field(ROW, pa.int64())]), path)
    finally:
        for part in parts:
            os.remove(part)
    schema = pa.schema(fields)
    data = DiskSource(
        key, schema.empty_table(), infos, file=path, rows=t.num_rows, row_group=row_group
    )
    weakref.finalize(data, _remove, path)
    return data


def _stream(cold: Any, key: Any, row_group: int) -> DiskSource:
    """The copy of a source revision read straight from its files (``cold``: checked by
    :func:`tercet.service.cold.cold_table`: guarded, resolved, served with their stored types),
    a row group at a time: memory follows one row group, not one column."""
    schema = pa.schema([*cold.table.schema, pa.field(ROW, pa.int64())])
    path = os.path.join(_spill_folder(), f"{uuid.uuid4().hex}.parquet")
    start = 0
    held: list[pa.RecordBatch] = []
    with pq.ParquetWriter(path, schema, compression="none", use_dictionary=False) as writer:

        def flush(upto: int) -> None:
            nonlocal start, held
            rows = pa.Table.from_batches(held, schema=cold.table.schema)
            while rows.num_rows >= upto and rows.num_rows:
                part = rows.slice(0, row_group)
                example_ids(part, cold.key[1])
                number = pa.array(np.arange(start, start + part.num_rows, dtype=np.int64))
                writer.write_table(part.append_column(ROW, number).cast(schema))
                start += part.num_rows
                rows = rows.slice(part.num_rows)
            held = rows.combine_chunks().to_batches() if rows.num_rows else []

        for url in cold.files:
            # Buffered reads, no pre-buffering: a batch decodes its pages, not the row group.
            with pq.ParquetFile(url, buffer_size=1 << 20, pre_buffer=False) as f:
                for batch in f.iter_batches(batch_size=row_group):
                    held.append(batch.cast(cold.table.schema))
                    if sum(b.num_rows for b in held) >= row_group:
                        flush(row_group)
        flush(1)
    pa.default_memory_pool().release_unused()  # the decode buffers, back to the system
    data = DiskSource(key, cold.table, cold.columns, file=path, rows=start, row_group=row_group)
    weakref.finalize(data, _remove, path)
    return data


def _merge(parts: list[str], schema: pa.Schema, path: str) -> None:
    """One file of the columns in ``parts`` (written with the same row groups) and the row
    number, a row group at a time."""
    files = [pq.ParquetFile(p) for p in parts]
    start = 0
    with pq.ParquetWriter(path, schema, compression="none", use_dictionary=False) as writer:
        for g in range(files[0].num_row_groups if files else 0):
            columns = [f.read_row_group(g).column(0) for f in files]
            n = len(columns[0])
            rows = pa.array(np.arange(start, start + n, dtype=np.int64))
            writer.write_table(pa.Table.from_arrays([*columns, rows], schema=schema))
            start += n
    for f in files:
        f.close()


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def check_files(t: Table) -> None:
    """Guard the source files of the lineage of ``t`` before any of it is read (a copy is read
    through the storage fence anyway; this makes the refusal come first and name the file)."""
    root = t.lineage()[0]
    listed = root.descriptor.get("rows")
    if isinstance(listed, list):
        files = [format.check_reference(f, root.url, "table", "rows") for f in listed]
        guard_all(files)
        guard_all([canonical(f) for f in files if storage.is_local(f)])


__all__ = [
    "ROW",
    "ROW_GROUP",
    "DiskSource",
    "check_files",
    "estimated_bytes",
    "out_of_core",
    "spill",
]
