"""Per-sample metrics files: where they live, how they are written, and how they are found again.

One ``collect_metrics()`` pass writes one immutable Parquet file,
``runs/<run>/metrics/<split>/epoch-<EEEE>-<time>-<uid>.parquet``, holding ``example_id`` and one
column per metric. Its key-value metadata ``tercet`` names the table revision the rows came from
(relative to the run folder) and the role of every column, so the file joins to any revision of
that table by ``example_id`` and the dashboard knows what each column means.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from tercet import format, storage
from tercet.errors import AliasNotSetError, CorruptObjectError, RunError, TercetError
from tercet.runs import folder
from tercet.runs.encoding import parquet_options
from tercet.schema import ID_COLUMN, Column, ValueMap, infer_role, make_value_map

METADATA_KEY = b"tercet"
ROW_GROUP = 64 * 1024


@dataclass
class MetricSpec:
    """What a metric column means, for the dashboard and for readers of the file.

    Parameters
    ----------
    role
        ``number``, ``loss``, ``prediction``, ``confidence``, ``probabilities``, ``embedding``,
        ``label``, ``bool`` … (see ``docs/format.md``).
    value_map
        Class names of a ``prediction`` or ``label`` column: ``["cat", "dog"]``,
        ``{0: "cat"}``, or the name of a column of the input table whose value map to share
        (``"label"``), resolved when collection starts.
    extra
        More fields stored with the column.
    display_name
        The name the dashboard shows instead of the column name.
    description
        One sentence on what the value is (a tooltip in the dashboard).
    hidden
        Left out of the dashboard's default view (still stored and selectable).

    Examples
    --------
    >>> MetricSpec("prediction", value_map="label", display_name="Predicted class")
    ... # doctest: +SKIP
    """

    role: str = "number"
    value_map: ValueMap | Sequence[str] | str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    display_name: str | None = None
    description: str | None = None
    hidden: bool = False

    def column_extra(self) -> dict[str, Any]:
        """The fields a metrics file stores with the column besides role and value map."""
        out = dict(self.extra)
        if self.display_name is not None:
            out["display_name"] = str(self.display_name)
        if self.description is not None:
            out["description"] = str(self.description)
        if self.hidden:
            out["hidden"] = True
        return out

    def resolved(self, table: Any) -> MetricSpec:
        """This spec with a value map named by column (``value_map="label"``) taken from the
        input table ``table``."""
        if not isinstance(self.value_map, str):
            return self
        try:
            source = table.schema[self.value_map]
        except TercetError as exc:
            raise RunError(f"value_map={self.value_map!r}: {exc}") from None
        if source.value_map is None:
            raise RunError(
                f"value_map={self.value_map!r}: that column of {table.name} has no value map."
            )
        return replace(self, value_map=source.value_map)


def parse_header(
    metadata: Mapping[bytes, bytes] | None, where: str, strict: bool = True
) -> dict[str, Any]:
    """The ``tercet`` header in a Parquet file's key-value metadata (read from ``where``).

    None, or one that is not a JSON object, is a :class:`CorruptObjectError`, or ``{}`` when not
    ``strict`` (logged-scalar parts have none).
    """
    raw = (metadata or {}).get(METADATA_KEY)
    try:
        if raw is None:
            raise CorruptObjectError(
                f"{where} has no 'tercet' metadata: it is not a Tercet metrics file."
            )
        try:
            parsed = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptObjectError(
                f"{where}: its 'tercet' metadata is not valid JSON ({exc})."
            ) from exc
        if not isinstance(parsed, dict):
            raise CorruptObjectError(f"{where}: its 'tercet' metadata is not a JSON object.")
    except CorruptObjectError:
        if strict:
            raise
        return {}
    return parsed


def read_header(url: str, strict: bool = True) -> dict[str, Any]:
    """The ``tercet`` header of the metrics or projection file at ``url`` (see
    :func:`parse_header`); a file that cannot be read raises either way."""
    return parse_header(storage.read_parquet_metadata(url).metadata, url, strict)


def header(
    *,
    run: str,
    table: str,
    table_id: str,
    table_name: str,
    dataset: str,
    split: str,
    epoch: int,
    **extra: Any,
) -> dict[str, Any]:
    """The ``tercet`` metadata of a new metrics or projection file; ``table`` as the run
    stores it (:func:`tercet.runs.folder.store_url`)."""
    return {
        "format": format.METRICS_FORMAT,
        "format_version": format.METRICS_FORMAT_VERSION,
        "run": run,
        "table": table,
        "table_id": table_id,
        "table_name": table_name,
        "dataset": dataset,
        "split": split,
        "epoch": epoch,
        "created": format.now().isoformat(),
        **extra,
    }


@dataclass(frozen=True)
class MetricsFileInfo:
    """One per-sample metrics file: split and epoch from its path, the rest from its footer
    once that has been read (``loaded``); ``error`` says why a footer cannot be used."""

    url: str
    split: str
    epoch: int
    table: str | None = None  # absolute URL of the input revision
    table_id: str | None = None
    columns: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    loaded: bool = False

    @classmethod
    def from_name(cls, url: str, split: str) -> MetricsFileInfo:
        """What the path says; the footer is not read."""
        epoch = folder.epoch_of(storage.basename(url))
        return cls(url, split, -1 if epoch is None else epoch)

    @property
    def name(self) -> str:
        return storage.basename(self.url)


def read_info(url: str, split: str, run_url: str) -> MetricsFileInfo:
    """A metrics file with its footer read (one ranged read of the file's end); never raises:
    a footer that cannot be used becomes ``error``."""
    named = MetricsFileInfo.from_name(url, split)
    try:
        info = read_header(url)
    except TercetError as exc:
        return MetricsFileInfo(url, split, named.epoch, error=str(exc), loaded=True)
    epoch = int(info["epoch"]) if isinstance(info.get("epoch"), int) else named.epoch
    table = info.get("table")
    raw_columns = info.get("columns")
    columns: list[Any] = raw_columns if isinstance(raw_columns, list) else []
    error = None if isinstance(table, str) else f"{url}: no input table in its metadata"
    absolute: str | None = None
    try:
        absolute = folder.expand_url(table, run_url, url) if isinstance(table, str) else None
    except AliasNotSetError:
        absolute = table  # the URL as stored, which fails when used, naming the alias
    except TercetError as exc:  # a reference leading out of the run's project
        error = str(exc)
    return MetricsFileInfo(
        url=url,
        split=split,
        epoch=epoch,
        table=absolute,
        table_id=str(info["table_id"]) if info.get("table_id") else None,
        columns=tuple(c for c in columns if isinstance(c, dict) and "name" in c),
        error=error,
        loaded=True,
    )


def keep_last(table: pa.Table) -> pa.Table:
    """The rows of one epoch's files read together (in file order), each ``example_id`` once.

    An epoch is every metrics file of it: the parts written by the ranks of a distributed run
    hold disjoint ids and simply add up; a file collected again later wins for the ids it holds.
    """
    ids = np.asarray(table.column(ID_COLUMN).to_numpy())
    if len(np.unique(ids)) == len(ids):
        return table
    _, first_in_reversed = np.unique(ids[::-1], return_index=True)
    keep = np.sort(len(ids) - 1 - first_in_reversed)
    return table.take(pa.array(keep))


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
                if isinstance(spec.value_map, str):
                    raise RunError(
                        f"Metric {f.name!r}: value_map={spec.value_map!r} names a column; resolve "
                        "it against the input table first (MetricSpec.resolved)."
                    )
                value_map = make_value_map(spec.value_map) if spec.value_map is not None else None
                col = Column(f.name, f.type, spec.role, value_map, spec.column_extra())
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
