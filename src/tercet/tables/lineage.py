"""Splits, subsets, appends and joins that keep their lineage.

- :func:`split` and :func:`subset` write **new tables** in the same dataset, each recording in its
  descriptor where it came from (``derived_from``: the source revision and the rule). They are not
  revisions of their source, so ``latest()`` of the source never moves into one of them
  (``docs/lineage.md``: the split-then-latest trap).
- :func:`append` writes a **revision** holding the new rows after the old (``example_id``
  continues after the largest one the lineage ever held).
- :func:`join` writes a **revision** with the other table's columns added, matched on a key.

Every check runs before anything is written: bad input leaves the project as it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tercet import format, storage
from tercet.errors import EditError, SchemaError, UnknownExampleError
from tercet.schema import ID_COLUMN, WEIGHT_COLUMN
from tercet.tables import existing, source
from tercet.tables.edit import Revisable, new_revision_folder, revision_descriptor


class Derivable(Revisable, Protocol):
    """What these operations read of a revision (:class:`tercet.Table` is one)."""

    @property
    def project_url(self) -> str: ...

    @property
    def is_source(self) -> bool: ...

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table: ...

    def lineage(self) -> Sequence[Derivable]: ...


SPLIT_BY = ("random", "stratified")


def _check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(fractions, Mapping) or not fractions:
        raise EditError('split() takes a mapping of table names to fractions: {"train": .8, …}.')
    out: dict[str, float] = {}
    for name, value in fractions.items():
        format.check_display_name(name, "split name")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise EditError(f"split fraction for {name!r} is {value!r}: use a number in (0, 1].")
        out[name] = float(value)
    total = sum(out.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise EditError(
            f"split fractions must sum to 1; {dict(out)} sums to {total:g}. Adjust them, e.g. "
            '{"train": 0.8, "val": 0.2}.'
        )
    slugs: dict[str, str] = {}
    for name in out:
        other = slugs.setdefault(format.slug(name, "split name"), name)
        if other != name:
            raise EditError(f"split names {other!r} and {name!r} would share one table folder.")
    return out


def _counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Rows per part: largest remainders, so they sum to ``n`` exactly."""
    raw = [f * n for f in fractions]
    counts = [math.floor(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _assign(n: int, fractions: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """A part index per position, shuffled, with :func:`_counts` of each."""
    parts = np.repeat(np.arange(len(fractions)), _counts(n, fractions))
    rng.shuffle(parts)
    return parts


def _label_column(table: Derivable, label: str | None) -> str:
    if label is not None:
        table.schema[label]  # raises with the list of columns
        return label
    labels: list[str] = [str(c.name) for c in table.schema if c.role == "label"]
    if len(labels) != 1:
        raise SchemaError(
            f"by='stratified' needs one label column; {table.name} has "
            f"{labels or 'none'}. Name it: split(..., by='stratified', label='<column>')."
        )
    return labels[0]


def split_parts(
    table: Derivable, fractions: Mapping[str, float], by: str, seed: int, label: str | None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The example ids of each part, and the rule to record."""
    checked = _check_fractions(fractions)
    names, fracs = list(checked), list(checked.values())
    rng = np.random.default_rng(seed)
    rule: dict[str, Any] = {"op": "split", "by": by, "fractions": checked, "seed": seed}
    if by == "random":
        ids = table.example_ids()
        parts = _assign(len(ids), fracs, rng)
    elif by == "stratified":
        column = _label_column(table, label)
        data = table.to_arrow([ID_COLUMN, column])
        ids = data.column(ID_COLUMN).to_numpy()
        keys = data.column(column).to_pandas().astype("string").fillna("\0null").to_numpy()
        parts = np.empty(len(ids), dtype=np.int64)
        for value in sorted(set(keys.tolist())):
            where = np.flatnonzero(keys == value)
            parts[where] = _assign(len(where), fracs, rng)
        rule["label"] = column
    else:
        if by not in table.schema:
            raise SchemaError(
                f"split(by={by!r}): {by!r} is neither 'random' nor 'stratified' nor a column "
                f"of {table.name} (columns: {', '.join(table.schema.names)})."
            )
        # Groups stay whole (all rows of one patient, video, …): groups are dealt out so each
        # part gets about its fraction of the rows.
        data = table.to_arrow([ID_COLUMN, by])
        ids = data.column(ID_COLUMN).to_numpy()
        keys = data.column(by).to_pandas().astype("string").fillna("\0null").to_numpy()
        groups, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
        order = rng.permutation(len(groups))
        target = np.array(_counts(len(ids), fracs), dtype=np.float64)
        filled = np.zeros(len(fracs))
        group_part = np.empty(len(groups), dtype=np.int64)
        for g in order:
            part = int(np.argmax(target - filled))  # the part furthest below its share
            group_part[g] = part
            filled[part] += sizes[g]
        parts = group_part[inverse]
    return {name: np.sort(ids[parts == i]) for i, name in enumerate(names)}, rule


def derived_rows(table: Derivable, ids: np.ndarray) -> pa.Table:
    """The rows of ``table`` whose ``example_id`` is in ``ids``, in table order."""
    data = table.to_arrow()
    return data.filter(pc.is_in(data.column(ID_COLUMN), pa.array(ids, pa.int64())))


def write_derived(
    table: Derivable, name: str, ids: np.ndarray, rule: Mapping[str, Any], if_exists: str,
    message: str,
) -> str:  # fmt: skip
    """A new table in ``table``'s dataset holding the rows ``ids``, recording ``derived_from``."""
    target = existing.target(table.project, table.dataset, name, _root(table), if_exists)
    relative = storage.relative_to(table.url, target.folder).replace("\\", "/")
    return source.create(
        derived_rows(table, ids),
        table.project,
        table.dataset,
        target.display_name,
        schema=table.schema,
        root=_root(table),
        message=message,
        if_exists="reuse" if target.reuse else "error",
        derived_from=format.derived_from(relative, rule),
    )


def _root(table: Derivable) -> str:
    return storage.parent(table.project_url)


def check_subset_ids(table: Derivable, ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """``ids`` as sorted unique int64, each one a row of ``table``."""
    wanted = np.unique(np.asarray(ids, dtype=np.int64))
    missing = np.setdiff1d(wanted, table.example_ids())
    if len(missing):
        raise UnknownExampleError(
            f"subset: example ids {missing[:10].tolist()} are not rows of {table.name} "
            f"({table.url})."
        )
    if not len(wanted):
        raise EditError("subset: no example ids given; a table needs at least one row.")
    return wanted


# -- appends -------------------------------------------------------------------------------------
def next_example_id(table: Derivable) -> int:
    """One past the largest ``example_id`` any row file of the lineage holds, so an appended
    row never takes the id of a deleted one (metrics may still name it)."""
    high = -1
    for rev in table.lineage():
        if rev.is_source:
            top = pc.max(rev.to_arrow([ID_COLUMN]).column(ID_COLUMN)).as_py()
            if top is not None:
                high = max(high, int(top))
    return high + 1


def append(table: Derivable, rows: Any, message: str) -> str:
    """A child revision of ``table`` holding its rows and then ``rows``; returns its folder."""
    data = source.to_arrow(rows)
    if data.num_rows == 0:
        raise EditError("append: no rows given.")
    start = next_example_id(table)
    prepared, _ = source.prepare(
        data, schema=table.schema, first_id=start, project_url=table.project_url
    )
    current = table.to_arrow()
    ids = prepared.column(ID_COLUMN)
    clash = pc.is_in(ids, current.column(ID_COLUMN))
    if pc.any(clash).as_py() or pc.count_distinct(ids).as_py() != prepared.num_rows:
        raise SchemaError(
            "append: the new rows' example_id values must be unique and new to "
            f"{table.name}; leave the column out and Tercet numbers them from {start}."
        )
    combined = pa.concat_tables([current, prepared.select(current.column_names)])
    return write_full_revision(table, combined, message or f"append {prepared.num_rows} rows")


def write_full_revision(base: Revisable, rows: pa.Table, message: str) -> str:
    """A child of ``base`` holding all of ``rows`` (not a delta); returns its folder. The rows
    are published before the descriptor, so the revision appears whole or not at all."""
    folder = new_revision_folder(base)
    rows_name = f"{format.ROWS}/part-00000.parquet"
    storage.write_parquet(storage.join(folder, rows_name), rows, row_group_size=source.ROW_GROUP)
    descriptor = revision_descriptor(base, folder, message, rows.num_rows)
    descriptor["rows"] = [rows_name]
    storage.write_json(format.descriptor_url(folder), descriptor)
    return folder


# -- joins ---------------------------------------------------------------------------------------
def join_columns(
    table: Derivable, other: Derivable, on: str, columns: Sequence[str] | None
) -> tuple[pa.Table, list[str]]:
    """The columns of ``other`` to add, one row per row of ``table`` (in table order)."""
    for t in (table, other):
        if on not in t.schema:
            raise SchemaError(f"join(on={on!r}): {t.name} has no column {on!r}.")
    wanted = (
        list(columns)
        if columns is not None
        else [c for c in other.schema.names if c not in (on, ID_COLUMN, WEIGHT_COLUMN)]
    )
    for c in wanted:
        other.schema[c]  # raises with the list of columns
        if c in table.schema:
            raise SchemaError(
                f"join: column {c!r} is in both {table.name} and {other.name}. Pick the columns "
                "to add with join(..., columns=[…]) or rename it in one of them."
            )
    if not wanted:
        raise SchemaError(f"join: {other.name} has no columns to add besides {on!r}.")
    right = other.to_arrow([on, *[c for c in wanted if c != on]])
    if pc.count_distinct(right.column(on)).as_py() != right.num_rows:
        raise SchemaError(f"join: {other.name} holds a value of {on!r} more than once.")
    left = table.to_arrow([ID_COLUMN, on] if on != ID_COLUMN else [ID_COLUMN])
    index = pc.index_in(left.column(on), right.column(on))
    unmatched = pc.is_null(index)
    if pc.any(unmatched).as_py():
        bad = pc.filter(left.column(on), unmatched)
        raise UnknownExampleError(
            f"join: {len(bad)} rows of {table.name} have no match in {other.name} on {on!r} "
            f"(first: {bad.slice(0, 10).to_pylist()}). Join tables with the same ids, or "
            "subset this one first."
        )
    return right.take(index).select(wanted), wanted
