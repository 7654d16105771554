"""Column types with roles: what a column *means* (a label, an image URL, an embedding …), stored in
``object.json`` next to the exact Arrow types, and checked on every write and edit."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pyarrow as pa

from tercet.errors import SchemaError
from tercet.values import check_stored, check_weights, floating, integer

ROLES = (
    "id", "weight", "label", "image", "boxes", "mask", "embedding", "number", "text", "bool",
    # label kinds of detection-style datasets (docs/formats.md)
    "instance_masks", "semantic_mask", "keypoints", "oriented_boxes",
    # metric roles
    "loss", "prediction", "confidence", "probabilities", "projection", "other",
)  # fmt: skip

# Roles whose string values are URLs of files (resolved through aliases, bundled by tercet share,
# rewritten by tercet alias rewrite): one list, so a new file-valued role is one line here.
URL_ROLES = ("image", "semantic_mask")

ID_COLUMN = "example_id"
WEIGHT_COLUMN = "weight"

# Tableau 20: distinct, print-safe, and what matplotlib users recognise.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip

BOX_TYPE = pa.struct(
    [("x0", pa.float32()), ("y0", pa.float32()), ("x1", pa.float32()), ("y1", pa.float32()),
     ("label", pa.int32())]
)  # fmt: skip
BOXES_TYPE = pa.list_(BOX_TYPE)
MASK_TYPE = pa.struct([("size", pa.list_(pa.int32())), ("counts", pa.string())])
# One object's mask: COCO RLE (``size`` [h, w], compressed ``counts``) or, as drawn, polygons in
# pixels (``[[x0, y0, x1, y1, …], …]``); a list of them is aligned with the ``boxes`` column.
INSTANCE_MASK_TYPE = pa.struct(
    [("size", pa.list_(pa.int32())), ("counts", pa.string()),
     ("polygons", pa.list_(pa.list_(pa.float32())))]
)  # fmt: skip
INSTANCE_MASKS_TYPE = pa.list_(INSTANCE_MASK_TYPE)
# One object's keypoints, flattened [x, y, v, …] in pixels (v: 0 absent, 1 hidden, 2 visible);
# a list of them is aligned with ``boxes``. Names and skeleton live in the column's schema entry.
KEYPOINTS_TYPE = pa.list_(pa.list_(pa.float32()))
# An oriented box as its four corners in pixels, in drawing order, and its class.
ORIENTED_BOX_TYPE = pa.struct(
    [("x0", pa.float32()), ("y0", pa.float32()), ("x1", pa.float32()), ("y1", pa.float32()),
     ("x2", pa.float32()), ("y2", pa.float32()), ("x3", pa.float32()), ("y3", pa.float32()),
     ("label", pa.int32())]
)  # fmt: skip
ORIENTED_BOXES_TYPE = pa.list_(ORIENTED_BOX_TYPE)


class ValueEntry(TypedDict):
    name: str
    color: str


ValueMap = dict[int, ValueEntry]


def make_value_map(values: Mapping[Any, Any] | Sequence[str]) -> ValueMap:
    """Normalise ``["cat", "dog"]``, ``{0: "cat"}`` or ``{0: {"name": "cat", "color": …}}``."""
    items: Iterable[tuple[Any, Any]]
    items = enumerate(values) if isinstance(values, Sequence) else values.items()
    out: ValueMap = {}
    for key, entry in items:
        try:
            k = int(key)
        except (TypeError, ValueError):
            raise SchemaError(f"Value map keys must be integers, got {key!r}.") from None
        if isinstance(entry, Mapping):
            name = str(entry.get("name", k))
            color = str(entry.get("color") or PALETTE[k % len(PALETTE)])
        else:
            name, color = str(entry), PALETTE[k % len(PALETTE)]
        out[k] = {"name": name, "color": color}
    return out


@dataclass
class Column:
    """One column: its name, exact Arrow type, role, and for labels the value map."""

    name: str
    type: pa.DataType
    role: str = "number"
    value_map: ValueMap | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise SchemaError(
                f"Column {self.name!r}: unknown role {self.role!r}. Roles: {', '.join(ROLES)}."
            )
        if self.value_map is not None:
            self.value_map = make_value_map(self.value_map)

    def to_json(self) -> dict[str, Any]:
        """This column as a descriptor stores it."""
        out: dict[str, Any] = {"name": self.name, "type": str(self.type), "role": self.role}
        if self.value_map is not None:
            out["value_map"] = {str(k): dict(v) for k, v in sorted(self.value_map.items())}
        if pa.types.is_fixed_size_list(self.type):
            out["dims"] = self.type.list_size
        out.update(self.extra)
        return out


def infer_role(name: str, typ: pa.DataType) -> str:
    if name == ID_COLUMN:
        return "id"
    if name == WEIGHT_COLUMN:
        return "weight"
    if pa.types.is_dictionary(typ):
        return "label"
    if pa.types.is_fixed_size_list(typ) and pa.types.is_floating(typ.value_type):
        return "embedding"
    if typ == BOXES_TYPE:
        return "boxes"
    if typ == MASK_TYPE:
        return "mask"
    if typ == INSTANCE_MASKS_TYPE:
        return "instance_masks"
    if typ == ORIENTED_BOXES_TYPE:
        return "oriented_boxes"
    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        return "number"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "text"
    return "other"


def _check_role_type(col: Column) -> None:
    t, role = col.type, col.role
    ok = {
        "id": pa.types.is_int64(t),
        "weight": pa.types.is_float32(t),
        "label": pa.types.is_integer(t),
        "prediction": pa.types.is_integer(t),
        "image": pa.types.is_string(t) or pa.types.is_large_string(t),
        "text": pa.types.is_string(t) or pa.types.is_large_string(t),
        "embedding": pa.types.is_fixed_size_list(t) and pa.types.is_floating(t.value_type),
        "bool": pa.types.is_boolean(t),
        "number": pa.types.is_integer(t) or pa.types.is_floating(t),
        "loss": pa.types.is_floating(t),
        "confidence": pa.types.is_floating(t),
        "projection": pa.types.is_floating(t),
        "boxes": pa.types.is_list(t) and pa.types.is_struct(t.value_type),
        "mask": pa.types.is_struct(t),
        "instance_masks": pa.types.is_list(t) and pa.types.is_struct(t.value_type),
        "semantic_mask": pa.types.is_string(t) or pa.types.is_large_string(t),
        "keypoints": pa.types.is_list(t) and pa.types.is_list(t.value_type),
        "oriented_boxes": pa.types.is_list(t) and pa.types.is_struct(t.value_type),
    }.get(role, True)
    if not ok:
        raise SchemaError(f"Column {col.name!r} has type {t}, which does not fit role {role!r}.")


class Schema:
    """The columns of a table, in order."""

    def __init__(self, columns: Iterable[Column]) -> None:
        self.columns = list(columns)
        names = [c.name for c in self.columns]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise SchemaError(f"Duplicate column names: {', '.join(sorted(dupes))}.")
        for col in self.columns:
            _check_role_type(col)
        self._by_name = {c.name: c for c in self.columns}

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return [c.name for c in self.columns]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Column:
        try:
            return self._by_name[name]
        except KeyError:
            raise SchemaError(f"No column {name!r}. Columns: {', '.join(self.names)}.") from None

    def __iter__(self) -> Any:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return "Schema(" + ", ".join(f"{c.name}: {c.type} [{c.role}]" for c in self.columns) + ")"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_json() == other.to_json()

    def to_arrow(self) -> pa.Schema:
        """The Arrow schema of the rows."""
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    def with_column(self, column: Column) -> Schema:
        """A schema with ``column`` appended."""
        return Schema([*self.columns, column])

    def replace(self, column: Column) -> Schema:
        """A schema with the column of the same name replaced by ``column``."""
        return Schema([column if c.name == column.name else c for c in self.columns])

    def to_json(self) -> dict[str, Any]:
        """The schema as a descriptor stores it (roles, value maps and the exact Arrow types)."""
        arrow = base64.b64encode(self.to_arrow().serialize().to_pybytes()).decode("ascii")
        return {"columns": [c.to_json() for c in self.columns], "arrow": arrow}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "the descriptor") -> Schema:
        """The schema a descriptor stores; :class:`SchemaError` naming ``where`` when damaged."""
        try:
            arrow = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["arrow"])))
            cols = []
            for spec in data["columns"]:
                typ = arrow.field(spec["name"]).type
                extra = {
                    k: v for k, v in spec.items()
                    if k not in ("name", "type", "role", "value_map", "dims")
                }  # fmt: skip
                cols.append(Column(spec["name"], typ, spec["role"], spec.get("value_map"), extra))
        except SchemaError:
            raise
        except (KeyError, TypeError, ValueError, pa.ArrowException) as exc:
            raise SchemaError(f"{where}: the schema is malformed ({exc!r}).") from exc
        return cls(cols)

    @classmethod
    def from_arrow(
        cls,
        schema: pa.Schema,
        roles: Mapping[str, str] | None = None,
        value_maps: Mapping[str, Any] | None = None,
    ) -> Schema:
        """A schema for an Arrow schema, roles inferred from names and types unless given."""
        roles = dict(roles or {})
        value_maps = dict(value_maps or {})
        unknown = (set(roles) | set(value_maps)) - set(schema.names)
        if unknown:
            raise SchemaError(
                f"roles/value_maps name columns that are not in the data: {sorted(unknown)}."
            )
        cols = []
        for f in schema:
            role = roles.get(f.name) or infer_role(f.name, f.type)
            vm = value_maps.get(f.name)
            if role == "label" and vm is None:
                vm = {}
            cols.append(
                Column(f.name, f.type, role, make_value_map(vm) if vm is not None else None)
            )
        return cls(cols)

    # -- validation -------------------------------------------------------------------------
    def validate_table(self, table: pa.Table, where: str = "") -> None:
        """Raise :class:`SchemaError` unless ``table`` has exactly these columns and types."""
        at = f" in {where}" if where else ""
        if table.schema.names != self.names:
            missing = [n for n in self.names if n not in table.schema.names]
            extra = [n for n in table.schema.names if n not in self.names]
            raise SchemaError(
                f"Columns{at} do not match the schema: missing {missing}, unexpected {extra}."
            )
        for col in self.columns:
            actual = table.schema.field(col.name).type
            if actual != col.type:
                raise SchemaError(
                    f"Column {col.name!r}{at}: expected type {col.type}, received {actual}."
                )
            if col.role == "weight":
                check_weights(table.column(col.name), where)
            if col.role == "label" and col.value_map:
                bad = _labels_outside(table.column(col.name), col.value_map)
                if bad:
                    raise SchemaError(
                        f"Column {col.name!r}{at}: values {bad[:5]} are not in its value map "
                        f"{sorted(col.value_map)}. Add them with set_value_map() first."
                    )

    def coerce_value(self, column: str, value: Any) -> Any:
        """Check one edited value against the column; return it in canonical Python form.

        Checked as the column stores it (``docs/format.md``, "Values an edit may set"): no
        string becomes a number, no bool an integer, no fraction an integer, an integer must fit
        the column's width, a float must stay finite after the cast to the column's float type
        (``1e39`` is ``inf`` in float32), and NaN or infinity are never stored by an edit (null
        is the missing value). A weight is also ≥ 0.
        """
        col = self[column]
        if col.role == "id":
            raise SchemaError("example_id cannot be edited: it is the stable identity of a row.")
        t = col.type
        if col.role == "weight" and (
            value is None or (isinstance(value, float) and not math.isfinite(value))
        ):
            # Every sampler reads the weights: a missing or infinite one would stop training.
            raise SchemaError(f"Weight must be a finite number ≥ 0; received {value!r}.")
        if value is None:
            return None
        try:
            if pa.types.is_boolean(t):
                if not isinstance(value, bool):
                    raise TypeError
            elif pa.types.is_integer(t):
                value = integer(column, t, value)
            elif pa.types.is_floating(t):
                value = floating(column, t, value)
            elif pa.types.is_string(t) or pa.types.is_large_string(t):
                if not isinstance(value, str):
                    raise TypeError
            else:
                check_stored(column, pa.array([value], type=t), value)
        except (TypeError, ValueError, OverflowError, pa.ArrowException) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(
                f"Column {column!r} expects {t}; received {value!r} ({type(value).__name__})."
            ) from None
        if col.role == "weight" and value < 0:
            raise SchemaError(f"Weight must be a finite number ≥ 0; received {value!r}.")
        if col.role == "label" and col.value_map and value not in col.value_map:
            names = ", ".join(f"{k}={v['name']}" for k, v in sorted(col.value_map.items()))
            raise SchemaError(
                f"Column {column!r}: {value!r} is not in its value map ({names}). "
                "Add it with set_value_map() first."
            )
        return value


def _labels_outside(array: pa.ChunkedArray, value_map: ValueMap) -> list[int]:
    import pyarrow.compute as pc

    allowed = pa.array(sorted(value_map), type=array.type)
    mask = pc.invert(pc.is_in(array, value_set=allowed))
    mask = pc.and_(mask, pc.is_valid(array))
    bad = pc.unique(pc.filter(array, mask))
    return [int(v) for v in bad.to_pylist()]
