"""Per-sample metrics files: where they live, how they are written, and how they are found again.

One ``collect_metrics()`` pass writes one immutable Parquet file,
``runs/<run>/metrics/<split>/epoch-<EEEE>-<time>-<uid>.parquet``, holding ``example_id`` and one
column per metric. Its key-value metadata ``tercet`` names the table revision the rows came from
(relative to the run folder) and the role of every column, so the file joins to any revision of
that table by ``example_id`` and the dashboard knows what each column means.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import pyarrow as pa

from tercet import layout, storage
from tercet.errors import CorruptObjectError, RunError
from tercet.schema import ID_COLUMN, Column, ValueMap, infer_role

METRICS = "metrics"
AGGREGATE = "aggregate"
PROJECTIONS = "projections"
FORMAT = "tercet.metrics"
FORMAT_VERSION = 1
METADATA_KEY = b"tercet"
ROW_GROUP = 64 * 1024
FILE_NAME = re.compile(r"^epoch-(\d{4,})-(\d{8}T\d{12})-([0-9a-f]+)\.parquet$")


class MetricsFile(TypedDict):
    """One metrics file of a run, as found by listing (no file is opened)."""

    url: str
    name: str
    split: str
    epoch: int


@dataclass
class MetricSpec:
    """What a metric column means: its role, and for predictions the label's value map."""

    role: str = "number"
    value_map: ValueMap | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def file_name(epoch: int) -> str:
    if epoch < 0:
        raise RunError(f"epoch must be ≥ 0; received {epoch}.")
    return f"epoch-{epoch:04d}-{layout.unique_suffix()}.parquet"


def split_url(run_url: str, split: str) -> str:
    return storage.join(run_url, METRICS, check_split(split))


def check_split(split: str) -> str:
    layout.check_name(split, "split")
    if split == AGGREGATE:
        raise RunError(f"{AGGREGATE!r} is reserved for logged scalars; name the split otherwise.")
    return split


def projection_url(metrics_url: str, method: str, dims: int) -> str:
    folder = storage.parent(metrics_url)
    return storage.join(folder, PROJECTIONS, f"{method}-{dims}d", storage.basename(metrics_url))


def list_files(run_url: str, split: str | None = None) -> list[MetricsFile]:
    """Metrics files of a run, by split, then epoch, then creation time."""
    base = storage.join(run_url, METRICS)
    splits = [split] if split is not None else storage.ls(base)
    out: list[MetricsFile] = []
    for s in splits:
        if s == AGGREGATE or not layout.NAME.match(s):
            continue
        folder = storage.join(base, s)
        for name in storage.ls(folder):
            match = FILE_NAME.match(name)
            if match:
                out.append(
                    {"url": storage.join(folder, name), "name": name, "split": s,
                     "epoch": int(match.group(1))}
                )  # fmt: skip
    out.sort(key=lambda f: (f["split"], f["epoch"], f["name"]))
    return out


def read_header(url: str) -> dict[str, Any]:
    """The ``tercet`` key-value metadata of a metrics or projection file."""
    meta = storage.read_parquet_metadata(url).metadata or {}
    raw = meta.get(METADATA_KEY)
    if raw is None:
        raise CorruptObjectError(
            f"{url} has no 'tercet' metadata: it is not a Tercet metrics file."
        )
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptObjectError(
            f"{url}: its 'tercet' metadata is not valid JSON ({exc})."
        ) from exc
    if not isinstance(header, dict):
        raise CorruptObjectError(f"{url}: its 'tercet' metadata is not a JSON object.")
    return header


def to_arrow(name: str, values: Any) -> pa.Array | pa.ChunkedArray:
    """One metric column as Arrow: 1-D arrays as they are, 2-D float arrays as embeddings."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    arr = np.asarray(values)
    if arr.ndim == 1:
        if arr.dtype == object:
            return pa.array(arr.tolist())
        return pa.array(arr)
    if arr.ndim == 2:
        flat = pa.array(np.ascontiguousarray(arr, dtype=np.float32).reshape(-1))
        return pa.FixedSizeListArray.from_arrays(flat, arr.shape[1])
    raise RunError(
        f"Metric {name!r} has shape {arr.shape}: give one value or one vector per sample "
        "(flatten or pool larger outputs first)."
    )


class MetricsWriter:
    """Streams batches of metric columns into one metrics file that appears on :meth:`close`.

    Batches are gathered into row groups of :data:`ROW_GROUP` rows, so memory stays bounded however
    large the table, and a process killed midway leaves only a hidden temp file.
    """

    def __init__(
        self, url: str, header: Mapping[str, Any], specs: Mapping[str, MetricSpec]
    ) -> None:
        self.url = url
        self.header = dict(header)
        self.specs = dict(specs)
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._schema: pa.Schema | None = None
        self._stream: storage.ParquetStream | None = None

    def write(self, columns: Mapping[str, Any]) -> None:
        if ID_COLUMN not in columns:
            raise RunError(f"Every batch of metrics needs an {ID_COLUMN!r} column.")
        arrays = {ID_COLUMN: to_arrow(ID_COLUMN, columns[ID_COLUMN])}
        for name, values in columns.items():
            if name != ID_COLUMN:
                arrays[name] = to_arrow(name, values)
        lengths = {name: len(a) for name, a in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise RunError(f"Metric columns differ in length: {lengths}.")
        batch = pa.RecordBatch.from_arrays(
            [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays.values()],
            names=list(arrays),
        )
        if self._schema is None:
            self._schema = self._make_schema(batch.schema)
        elif batch.schema.names != self._schema.names:
            raise RunError(
                f"Metric columns changed between batches: {self._schema.names} then "
                f"{batch.schema.names}."
            )
        if not batch.schema.equals(self._schema, check_metadata=False):
            batch = batch.cast(self._schema)
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP:
            self._flush()

    def _make_schema(self, schema: pa.Schema) -> pa.Schema:
        fields = [f.with_type(pa.int64()) if f.name == ID_COLUMN else f for f in schema]
        schema = pa.schema(fields)
        columns = []
        for f in schema:
            spec = self.specs.get(f.name)
            if f.name == ID_COLUMN:
                col = Column(f.name, f.type, "id")
            elif spec is not None:
                col = Column(f.name, f.type, spec.role, spec.value_map, dict(spec.extra))
            else:
                col = Column(f.name, f.type, infer_role(f.name, f.type))
            columns.append(col.to_json())  # Column() checks that the role fits the type
        self.header["columns"] = columns
        meta = {METADATA_KEY: json.dumps(self.header, default=str).encode("utf-8")}
        return schema.with_metadata(meta)

    def _flush(self) -> None:
        if not self._pending:
            return
        assert self._schema is not None
        if self._stream is None:
            self._stream = storage.ParquetStream(
                self.url, self._schema, row_group_size=ROW_GROUP, **parquet_options(self._schema)
            )
        self._stream.write(pa.Table.from_batches(self._pending, schema=self._schema))
        self._pending, self._pending_rows = [], 0

    def close(self) -> int:
        """Publish the file; returns its number of rows."""
        if self._schema is None:
            raise RunError("No metrics were collected: the table is empty.")
        self._flush()
        assert self._stream is not None
        self._stream.close()
        return self.rows

    def abort(self) -> None:
        self._pending = []
        if self._stream is not None:
            self._stream.abort()
            self._stream = None


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
    return {"use_dictionary": repeated, "compression": "zstd"}


def write_table(url: str, table: pa.Table, header: Mapping[str, Any],
                specs: Mapping[str, MetricSpec]) -> int:  # fmt: skip
    """Write a whole metrics table at once (projections, and metrics computed outside torch)."""
    writer = MetricsWriter(url, header, specs)
    try:
        for batch in table.to_batches(max_chunksize=ROW_GROUP):
            writer.write({name: batch.column(name) for name in batch.schema.names})
        if table.num_rows == 0:
            raise RunError("Cannot write an empty metrics table.")
        return writer.close()
    except BaseException:
        writer.abort()
        raise
