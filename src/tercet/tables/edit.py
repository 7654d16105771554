"""Edits: several changes to one revision collected, then written as one new sparse revision.

An edit never changes its base revision. It checks every change against the base's schema and
``example_id`` s as it is made, and on commit writes a child revision folder whose descriptor
holds the changes inline (a few) or in ``delta.parquet`` (many).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar, cast

import numpy as np
import pyarrow as pa

from tercet import format, storage
from tercet.errors import EditError, SchemaError, UnknownExampleError
from tercet.schema import ID_COLUMN, WEIGHT_COLUMN, Column, Schema, make_value_map
from tercet.tables import delta as delta_mod
from tercet.values import check_finite


class Revisable(Protocol):
    """What an edit reads of its base revision (:class:`tercet.Table` is one)."""

    @property
    def url(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def table_name(self) -> str: ...

    @property
    def project(self) -> str: ...

    @property
    def dataset(self) -> str: ...

    @property
    def num_rows(self) -> int: ...

    @property
    def schema(self) -> Schema: ...

    def example_ids(self) -> np.ndarray: ...

    @classmethod
    def open(cls, url: str) -> Self: ...


T = TypeVar("T", bound=Revisable)


def new_revision_folder(base: Revisable) -> str:
    """A fresh folder for a revision derived from ``base`` (beside it, named after its table)."""
    return storage.join(storage.parent(base.url), format.revision_name(base.table_name))


def revision_descriptor(
    base: Revisable, folder: str, message: str, num_rows: int, schema: Schema | None = None
) -> format.TableDescriptor:
    """The descriptor of a child of ``base`` in ``folder``; the caller adds its rows or delta."""
    return format.table_descriptor(
        id=uuid.uuid4().hex,
        table=base.table_name,
        name=storage.basename(folder),
        project=base.project,
        dataset=base.dataset,
        created=format.now(),
        parent=storage.relative_to(base.url, folder).replace("\\", "/"),
        message=message,
        num_rows=num_rows,
        schema=(schema or base.schema).to_json(),
    )


class Edit(Generic[T]):
    """Collects edits to one revision; writes the new revision when the block exits."""

    def __init__(self, base: T, message: str = "") -> None:
        self.base = base
        self.message = message
        self.schema = base.schema
        self._set: dict[str, dict[int, Any]] = {}
        self._deleted: set[int] = set()
        self._added: list[dict[str, Any]] = []
        self._ids: np.ndarray | None = None
        self.result: T = base
        self.extra: dict[str, Any] = {}  # more descriptor fields (a join's derived_from)
        self._arrays: dict[str, tuple[np.ndarray, pa.Array]] = {}

    def _known_ids(self) -> np.ndarray:
        if self._ids is None:
            self._ids = np.sort(self.base.example_ids())
        return self._ids

    def _check_ids(self, ids: np.ndarray) -> None:
        known = self._known_ids()
        pos = np.searchsorted(known, ids)
        pos = np.minimum(pos, max(len(known) - 1, 0))
        ok = (known[pos] == ids) if len(known) else np.zeros(len(ids), bool)
        deleted = np.isin(ids, np.fromiter(self._deleted, dtype=np.int64, count=len(self._deleted)))
        bad = ids[~ok | deleted]
        if len(bad):
            raise UnknownExampleError(
                f"Example ids {bad[:10].tolist()} are not in revision {self.base.name} "
                f"({self.base.url}): they were deleted or never existed."
            )

    def set_values(self, column: str, example_ids: Sequence[int] | np.ndarray, values: Any) -> None:
        """Set ``column`` to ``values`` (one, or one per id) for ``example_ids``."""
        if column == ID_COLUMN:
            raise SchemaError("example_id cannot be edited: it is the stable identity of a row.")
        col = self.schema[column]
        ids = _example_ids(example_ids)
        if isinstance(values, str) or not isinstance(values, Iterable | np.ndarray):
            vals: list[Any] = [values] * len(ids)
        else:
            vals = list(values)
        if len(vals) != len(ids):
            raise EditError(f"{len(ids)} example ids but {len(vals)} values for {column!r}.")
        self._check_ids(ids)
        target = self._set.setdefault(col.name, {})
        for i, v in zip(ids.tolist(), vals, strict=True):
            target[i] = self.schema.coerce_value(column, _plain(v))

    def set_array(
        self, column: str, example_ids: Sequence[int] | np.ndarray, values: pa.Array
    ) -> None:
        """Set ``column`` for ``example_ids`` from an Arrow array of exactly the column's type,
        checked as a whole (joins, URL rewrites and projections set every row this way; per
        value, :meth:`set_values` checks each). Not combinable with :meth:`set_values` on the
        same column in one edit."""
        col = self.schema[column]
        if column == ID_COLUMN:
            raise SchemaError("example_id cannot be edited: it is the stable identity of a row.")
        if column in self._set or column in self._arrays:
            raise EditError(f"Column {column!r} is already set in this edit.")
        ids = _example_ids(example_ids)
        array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if len(array) != len(ids):
            raise EditError(f"{len(ids)} example ids but {len(array)} values for {column!r}.")
        if array.type != col.type:
            raise SchemaError(f"Column {column!r} expects {col.type}; received {array.type}.")
        if len(np.unique(ids)) != len(ids):
            raise EditError(f"set_array({column!r}): an example id is given twice.")
        self._check_ids(ids)
        Schema([col]).validate_table(pa.table({column: array}), "the edit")
        check_finite(column, array)
        if col.role == "weight" and array.null_count:
            raise SchemaError("Weight must be a finite number ≥ 0; received null.")
        self._arrays[column] = (ids, array)

    def set_weights(self, example_ids: Sequence[int] | np.ndarray, weights: Any) -> None:
        """Set ``weight`` for ``example_ids``."""
        self.set_values(WEIGHT_COLUMN, example_ids, weights)

    def delete_rows(self, example_ids: Sequence[int] | np.ndarray) -> None:
        """Delete the rows ``example_ids``."""
        ids = _example_ids(example_ids)
        self._check_ids(ids)
        self._deleted.update(ids.tolist())

    def add_column(self, name: str, type: pa.DataType, role: str = "number", default: Any = None,
                   value_map: Any = None) -> None:  # fmt: skip
        """Add a column (``default`` in every row)."""
        format.check_name(name, "column name")
        if name in self.schema:
            raise SchemaError(f"Column {name!r} already exists.")
        col = Column(name, type, role, make_value_map(value_map) if value_map is not None else None)
        self.schema = self.schema.with_column(col)
        if default is not None:
            default = self.schema.coerce_value(name, default)
        self._added.append(delta_mod.column_spec(col, default))

    def set_value_map(self, column: str, value_map: Any) -> None:
        """Give the label (or boxes) column ``column`` a new value map."""
        col = self.schema[column]
        if col.role not in ("label", "boxes", "prediction"):
            raise SchemaError(
                f"Column {column!r} has role {col.role!r}; only label, boxes and prediction "
                "columns have value maps."
            )
        new = Column(col.name, col.type, col.role, make_value_map(value_map), col.extra)
        self.schema = self.schema.replace(new)

    def _build(self) -> delta_mod.Delta:
        d = delta_mod.Delta(
            deleted=np.array(sorted(self._deleted), dtype=np.int64), added_columns=self._added
        )
        for col, values in self._set.items():
            if not values:
                continue
            ids = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
            # A label set before its value map changed in this edit is re-checked here.
            checked = [self.schema.coerce_value(col, v) for v in values.values()]
            d.set[col] = (ids, pa.array(checked, type=self.schema[col].type))
        d.set.update(self._arrays)
        return d

    def commit(self) -> T:
        """Write the new revision and return it (also kept as :attr:`result`)."""
        d = self._build()
        if d.cells == 0 and not self._added and self.schema == self.base.schema:
            raise EditError("Nothing to commit: the edit is empty.")
        folder = new_revision_folder(self.base)
        num_rows = self.base.num_rows - len(d.deleted)
        descriptor = revision_descriptor(self.base, folder, self.message, num_rows, self.schema)
        if d.cells > delta_mod.INLINE_LIMIT:
            storage.write_parquet(
                storage.join(folder, format.DELTA_FILE), d.to_parquet_table(self.schema)
            )
            descriptor["delta"] = {"file": format.DELTA_FILE, "added_columns": d.added_columns}
        else:
            descriptor["delta"] = d.to_json()
        cast(dict[str, Any], descriptor).update(self.extra)
        storage.write_json(format.descriptor_url(folder), descriptor)
        self.result = type(self.base).open(folder)
        return self.result

    def apply_json(self, edits: Mapping[str, Any]) -> None:
        """Add edits in the service's JSON form: ``{"set": [{"column", "example_id", "value"}],
        "delete": [ids], "weights": [{"example_id", "weight"}]}``."""
        unknown = set(edits) - {"set", "delete", "weights"}
        if unknown:
            raise EditError(f"Unknown edit kinds {sorted(unknown)}; use set, delete, weights.")
        by_col: dict[str, tuple[list[int], list[Any]]] = {}
        for i, item in enumerate(edits.get("set") or []):
            if not isinstance(item, Mapping) or not {"column", "example_id"} <= set(item):
                raise EditError(f"set[{i}] must be {{'column', 'example_id', 'value'}}.")
            ids, vals = by_col.setdefault(str(item["column"]), ([], []))
            ids.append(_as_id(item["example_id"], f"set[{i}].example_id"))
            vals.append(item.get("value"))
        for col, (ids, vals) in by_col.items():
            self.set_values(col, ids, vals)
        deletes = edits.get("delete") or []
        if not isinstance(deletes, list):
            raise EditError("delete must be a list of example ids.")
        if deletes:
            self.delete_rows([_as_id(x, "delete") for x in deletes])
        weights = edits.get("weights") or []
        if weights:
            ids = []
            ws = []
            for i, item in enumerate(weights):
                if not isinstance(item, Mapping) or not {"example_id", "weight"} <= set(item):
                    raise EditError(f"weights[{i}] must be {{'example_id', 'weight'}}.")
                ids.append(_as_id(item["example_id"], f"weights[{i}].example_id"))
                ws.append(item["weight"])
            self.set_weights(ids, ws)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


_ID_LOW, _ID_HIGH = -(2**63), 2**63 - 1


def _as_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise EditError(f"{where}: example ids are integers; received {value!r}.")
    if not _ID_LOW <= int(value) <= _ID_HIGH:
        raise EditError(f"{where}: example ids are 64-bit integers; {value} is out of range.")
    return int(value)


def _example_ids(example_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """``example_ids`` as int64, each checked: integers only (no strings, bools or floats, which
    numpy would convert silently), within int64."""
    if isinstance(example_ids, np.ndarray) and example_ids.dtype.kind in "iu":
        flat = example_ids.ravel()
        if flat.dtype.kind == "u" and flat.size and int(flat.max()) > _ID_HIGH:
            raise EditError(f"example ids are 64-bit integers; {int(flat.max())} is out of range.")
        # A copy, never a view: set_array keeps the ids until commit, and the caller's array
        # may change before then.
        return flat.astype(np.int64)
    if isinstance(example_ids, np.ndarray) and example_ids.dtype.kind != "O":
        raise EditError(f"example ids are integers; received an array of {example_ids.dtype}.")
    items = np.ravel(np.asarray(example_ids, dtype=object)).tolist()
    return np.array([_as_id(v, "example_ids") for v in items], dtype=np.int64)
