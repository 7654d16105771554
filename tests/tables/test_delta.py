"""Sparse revision deltas (tercet.tables.delta) by value: encoding, decoding, applying.

Every revision read goes through these functions, so a bug here hands wrong rows to training
without an error; the tests pin exact ids and values, and the refusals name the revision.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tercet.errors import CorruptObjectError, UnknownExampleError
from tercet.schema import Column, Schema
from tercet.tables import delta as d

SCHEMA = Schema(
    [
        Column("example_id", pa.int64(), "id"),
        Column("x", pa.int64()),
        Column("weight", pa.float32(), "weight"),
        Column("s", pa.string(), "text"),
    ]
)
WHERE = "p/datasets/d/tables/t.1"


def ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def base(n: int = 5) -> pa.Table:
    return pa.table(
        {
            "example_id": pa.array(np.arange(10, 10 + n), pa.int64()),
            "x": pa.array(np.arange(n), pa.int64()),
            "weight": pa.array(np.ones(n), pa.float32()),
        }
    )


def sample() -> d.Delta:
    return d.Delta(
        set={
            "x": (ids(12, 10), pa.array([7, 8], pa.int64())),
            "s": (ids(11), pa.array(["a"], pa.string())),
        },
        deleted=ids(13),
    )


def test_an_empty_delta_has_no_cells() -> None:
    empty = d.Delta()
    assert empty.cells == 0 and empty.deleted.dtype == np.int64 and len(empty.deleted) == 0
    assert empty.to_json() == {"deleted": [], "set": {}, "added_columns": []}
    assert d.Delta().set is not empty.set and d.Delta().added_columns is not empty.added_columns
    assert sample().cells == 4  # 3 values set, 1 row deleted


def test_json_round_trip_by_value() -> None:
    spec = d.column_spec(Column("y", pa.int16()), 3)
    delta = sample()
    delta.added_columns = [spec]
    data = delta.to_json()
    assert data == {
        "deleted": [13],
        "set": {
            "x": {"example_id": [12, 10], "value": [7, 8]},
            "s": {"example_id": [11], "value": ["a"]},
        },
        "added_columns": [spec],
    }
    back = d.Delta.from_json(data, SCHEMA, WHERE)
    assert back.deleted.tolist() == [13] and back.deleted.dtype == np.int64
    assert back.added_columns == [spec]
    assert back.set["x"][0].tolist() == [12, 10] and back.set["x"][0].dtype == np.int64
    assert back.set["x"][1].type == pa.int64() and back.set["x"][1].to_pylist() == [7, 8]
    assert back.set["s"][1].type == pa.string() and back.set["s"][1].to_pylist() == ["a"]
    # No ids set in a column: still int64 ids, not NumPy's float default for [].
    none_set = d.Delta.from_json({"set": {"x": {"example_id": [], "value": []}}}, SCHEMA, WHERE)
    assert none_set.set["x"][0].dtype == np.int64
    # Older deltas may omit empty parts.
    bare = d.Delta.from_json({}, SCHEMA, WHERE)
    assert bare.cells == 0 and bare.added_columns == [] and bare.deleted.dtype == np.int64


@pytest.mark.parametrize(
    "data",
    [
        {"deleted": ["x"]},
        {"set": {"nope": {"example_id": [1], "value": [1]}}},
        {"set": {"x": {"value": [1]}}},
        {"set": {"x": {"example_id": [1], "value": ["a"]}}},
        {"added_columns": 3},
    ],
)
def test_a_malformed_delta_names_the_revision(data: dict[str, object]) -> None:
    with pytest.raises(CorruptObjectError, match=rf"^{WHERE}: the delta is malformed \("):
        d.Delta.from_json(data, SCHEMA, WHERE)


def test_parquet_round_trip_by_value() -> None:
    spec = d.column_spec(Column("y", pa.int16()), None)
    t = sample().to_parquet_table(SCHEMA)
    assert t.column("example_id").to_pylist() == [10, 11, 12, 13]
    assert t.column("example_id").type == pa.int64()
    assert t.column("_deleted").to_pylist() == [False, False, False, True]
    assert t.column("x").to_pylist() == [8, None, 7, None]
    assert t.column("_set:x").to_pylist() == [True, False, True, False]
    assert t.column("s").to_pylist() == [None, "a", None, None]
    assert t.column("_set:s").to_pylist() == [False, True, False, False]
    back = d.Delta.from_parquet_table(t, [spec])
    assert back.deleted.tolist() == [13] and back.added_columns == [spec]
    assert back.set["x"][0].tolist() == [10, 12] and back.set["x"][1].to_pylist() == [8, 7]
    assert back.set["s"][0].tolist() == [11] and back.set["s"][1].to_pylist() == ["a"]
    assert set(back.set) == {"x", "s"}
    # Ids beyond 2**53 (hashes) survive exactly: no float on the way.
    big = 2**60 + 1
    t = d.Delta(set={"x": (ids(big), pa.array([1], pa.int64()))}).to_parquet_table(SCHEMA)
    assert t.column("example_id").to_pylist() == [big]
    assert d.Delta.from_parquet_table(t, []).set["x"][0].tolist() == [big]
    # A column set to null on purpose stays set (null is a value an edit can store).
    nulls = d.Delta(set={"x": (ids(1), pa.array([None], pa.int64()))})
    t = nulls.to_parquet_table(SCHEMA)
    assert t.column("_set:x").to_pylist() == [True] and t.column("x").to_pylist() == [None]
    empty = d.Delta(set={"x": (ids(), pa.array([], pa.int64()))}, deleted=ids(4))
    t = empty.to_parquet_table(SCHEMA)
    assert t.column("x").type == pa.int64() and t.column("x").to_pylist() == [None]
    assert t.column("_set:x").to_pylist() == [False]


@pytest.mark.parametrize(
    "order",
    [[10, 11, 12, 13, 14], [14, 10, 13, 11, 12], [10, 14, 12, 11, 13], [10, 11, 12, 14, 13]],
)
def test_positions_of_ids_sorted_or_not(order: list[int]) -> None:
    column = pa.chunked_array([pa.array(order[:2], pa.int64()), pa.array(order[2:], pa.int64())])
    wanted = ids(14, 10, 12)
    got = d.positions(column, wanted, WHERE)
    assert [order[p] for p in got] == [14, 10, 12]
    for wanted_ids, absent in (([9, 10], "9"), ([15], "15"), ([11, 99, 12], "99")):
        with pytest.raises(
            UnknownExampleError,
            match=rf"^{WHERE}: example ids \[{absent}\] "
            r"are not in this revision \(deleted, or never existed\)\.$",
        ):
            d.positions(column, ids(*wanted_ids), WHERE)


def test_positions_in_one_row_and_in_no_rows() -> None:
    assert d.positions(pa.array([5], pa.int64()), ids(5, 5), WHERE).tolist() == [0, 0]
    with pytest.raises(UnknownExampleError, match=r"ids \[6\]"):
        d.positions(pa.array([5], pa.int64()), ids(6), WHERE)
    with pytest.raises(UnknownExampleError, match=r"ids \[4\]"):
        d.positions(pa.array([5], pa.int64()), ids(4), WHERE)
    with pytest.raises(UnknownExampleError, match=r"ids \[0\]"):
        d.positions(pa.array([], pa.int64()), ids(0), WHERE)
    assert d.positions(pa.array([], pa.int64()), ids(), WHERE).tolist() == []
    many = ids(*range(100, 120))
    with pytest.raises(UnknownExampleError, match=r"ids \[100, 101, .*, 109\] are"):
        d.positions(pa.array([1, 2], pa.int64()), many, WHERE)


def test_apply_sets_adds_and_deletes_by_id() -> None:
    delta = d.Delta(
        set={
            "gone": (ids(10), pa.array([1], pa.int64())),  # a column not read: skipped
            "x": (ids(14, 11), pa.array([40, 10], pa.int64())),
        },
        deleted=ids(12, 10),
        added_columns=[
            d.column_spec(Column("x", pa.int64()), 0),  # already there: kept
            d.column_spec(Column("z", pa.int64()), 0),
            d.column_spec(Column("y", pa.int16()), 3),
        ],
    )
    out = d.apply(base(), delta, None, WHERE)
    assert out.column_names == ["example_id", "x", "weight", "z", "y"]
    assert out.column("example_id").to_pylist() == [11, 13, 14]
    assert out.column("x").to_pylist() == [10, 3, 40]
    assert out.column("y").type == pa.int16() and out.column("y").to_pylist() == [3, 3, 3]
    only_x = d.apply(base().select(["example_id", "x"]), delta, ["example_id", "x"], WHERE)
    assert only_x.column_names == ["example_id", "x"]
    with_y = d.apply(base().select(["example_id"]), delta, ["example_id", "y"], WHERE)
    assert with_y.column_names == ["example_id", "y"]
    assert d.apply(base(), d.Delta(), None, WHERE).equals(base())


def test_apply_stores_any_value_in_other_columns() -> None:
    table = base().append_column("s", pa.array(list("abcde")))
    delta = d.Delta(
        set={"x": (ids(10), pa.array([-5], pa.int64())), "s": (ids(11), pa.array(["z"]))}
    )
    out = d.apply(table, delta, None, WHERE)  # only weights must be finite and >= 0
    assert out.column("x").to_pylist()[:2] == [-5, 1]
    assert out.column("s").to_pylist() == list("azcde")


def test_apply_casts_values_to_the_stored_type() -> None:
    delta = d.Delta(set={"weight": (ids(13), pa.array([2], pa.int64()))})
    out = d.apply(base(), delta, None, WHERE)
    assert out.column("weight").type == pa.float32()
    assert out.column("weight").to_pylist() == [1, 1, 1, 2, 1]


def test_apply_refuses_a_set_on_an_absent_id() -> None:
    delta = d.Delta(set={"x": (ids(99), pa.array([1], pa.int64()))})
    with pytest.raises(UnknownExampleError, match=rf"^{WHERE}: example ids \[99\]"):
        d.apply(base(), delta, None, WHERE)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("x", pa.array(["a"]), r"the values its delta sets in 'x' do not fit int64 \("),
        ("x", pa.array([[1]]), r"the values its delta sets in 'x' do not fit int64"),
        (
            "weight",
            pa.array([np.inf], pa.float64()),
            r"its delta sets weights training cannot use\. Column 'weight': 1 weights",
        ),
        (
            "weight",
            pa.array([-1.0], pa.float64()),
            r"its delta sets weights training cannot use\..*Tercet never writes such a revision",
        ),
    ],
)
def test_apply_refuses_planted_values_naming_the_revision(
    column: str, values: pa.Array, message: str
) -> None:
    delta = d.Delta(set={column: (ids(10), values)})
    with pytest.raises(CorruptObjectError, match=rf"^{WHERE}: {message}"):
        d.apply(base(), delta, None, WHERE)


def test_column_specs_hold_the_exact_type() -> None:
    column = Column("v", pa.list_(pa.float32(), 3), "embedding")
    spec = d.column_spec(column, [0.0, 0.0, 0.0])
    assert {k: spec[k] for k in ("name", "role", "default", "dims")} == {
        "name": "v", "role": "embedding", "default": [0.0, 0.0, 0.0], "dims": 3,
    }  # fmt: skip
    assert d._type_from_spec(spec) == pa.list_(pa.float32(), 3)
    added = d.apply(base(2), d.Delta(added_columns=[spec]), None, WHERE)
    assert added.column("v").type == pa.list_(pa.float32(), 3)
    assert added.column("v").to_pylist() == [[0.0, 0.0, 0.0]] * 2


def chunked(sizes: list[int], column: pa.Array) -> pa.Table:
    """Rows 10, 11, … with ``column`` as ``x``, read as one chunk per size (row groups)."""
    n, at, parts = sum(sizes), 0, []
    for size in sizes:
        parts.append(column.slice(at, size))
        at += size
    return pa.table({"example_id": pa.array(np.arange(10, 10 + n), pa.int64()),
                     "x": pa.chunked_array(parts, column.type)})  # fmt: skip


@pytest.mark.parametrize(
    "values",
    [
        pa.array(np.arange(13) * 10, pa.int64()),  # Arrow's replace kernel
        pa.array([[i, -i] for i in range(13)], pa.list_(pa.int64(), 2)),  # no kernel: a gather
    ],
    ids=["int64", "fixed_size_list"],
)
def test_apply_lands_on_rows_at_chunk_boundaries_and_shares_untouched_chunks(
    values: pa.Array,
) -> None:
    """Chunks of 3, 1, 4, 2 and 3 rows: edits on the first and last row of chunks, on a one-row
    chunk and on the last row; the fifth chunk has none and is passed on as it is."""
    table = chunked([3, 1, 4, 2, 3], values)
    edits = [(19, 90), (10, 91), (12, 92), (13, 93), (14, 94), (17, 95), (18, 96)]
    new = pa.array([[v, -v] for _, v in edits], values.type) if pa.types.is_fixed_size_list(
        values.type) else pa.array([v for _, v in edits], values.type)  # fmt: skip
    out = d.apply(table, d.Delta(set={"x": (ids(*[i for i, _ in edits]), new)}), None, WHERE)
    want = values.to_pylist()
    for (i, _), value in zip(edits, new.to_pylist(), strict=True):
        want[i - 10] = value
    x = out.column("x")
    assert x.to_pylist() == want
    assert out.column("example_id").to_pylist() == list(range(10, 23))
    assert [len(c) for c in x.chunks] == [3, 1, 4, 2, 3] and x.type == values.type
    kept, given = x.chunk(4), table.column("x").chunk(4)
    assert [b.address for b in kept.buffers() if b] == [b.address for b in given.buffers() if b]


@pytest.mark.parametrize(
    ("set_ids", "values", "want"),
    [
        ([13, 13], [1, 2], {13: 2}),  # one id twice: the later value
        ([10, 16, 16, 16], [1, 2, 3, 4], {10: 1, 16: 4}),  # a repeat after another id
        ([16, 10, 16, 21], [5, 6, 7, 8], {10: 6, 16: 7, 21: 8}),  # repeats not side by side
        # sixty sets of four ids: more than NumPy sorts in place by insertion, so only a stable
        # sort keeps each id's sets in the order given
        ([10 + i % 4 for i in range(60)], list(range(60)), {10: 56, 11: 57, 12: 58, 13: 59}),
    ],
)
def test_an_id_set_twice_in_one_delta_keeps_its_last_value(
    set_ids: list[int], values: list[int], want: dict[int, int]
) -> None:
    table = chunked([3, 5, 4], pa.array(np.zeros(12), pa.int64()))
    delta = d.Delta(set={"x": (ids(*set_ids), pa.array(values, pa.int64()))})
    got = d.apply(table, delta, None, WHERE).column("x").to_pylist()
    assert got == [want.get(i, 0) for i in range(10, 22)]


def test_apply_to_a_column_of_no_chunks_keeps_its_type() -> None:
    empty = pa.table({"example_id": pa.chunked_array([], pa.int64()),
                      "x": pa.chunked_array([], pa.string())})  # fmt: skip
    delta = d.Delta(set={"x": (ids(), pa.array([], pa.string()))})
    out = d.apply(empty, delta, None, WHERE)
    assert out.num_rows == 0 and out.schema.field("x").type == pa.string()


def id_chunks(*chunks: list[int]) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(c, pa.int64()) for c in chunks], pa.int64())


@pytest.mark.parametrize(
    "column",
    [
        pa.array([7, 8, 9, 10, 11], pa.int64()),
        id_chunks([7, 8], [], [9], [10, 11]),  # an empty chunk between them is no gap
        id_chunks([], [7, 8, 9, 10, 11]),
        pa.array(np.arange(7, 12, dtype=np.uint32)),
    ],
)
def test_contiguous_ids_give_their_offsets_from_the_first(column: pa.Array) -> None:
    got = d._contiguous_positions(column, ids(11, 7, 9, 3, 20))
    assert got is not None and got.dtype == np.int64
    assert got.tolist() == [4, 0, 2, -4, 13]  # out of range: positions() names them


def test_contiguous_offsets_are_int64_whatever_the_wanted_ids_type() -> None:
    """Ids asked for as a narrow unsigned array must not wrap around below the first id."""
    column = pa.array(np.arange(5, 400), pa.int64())
    got = d._contiguous_positions(column, np.array([3, 6], dtype=np.uint16))
    assert got is not None and got.dtype == np.int64 and got.tolist() == [-2, 1]
    with pytest.raises(UnknownExampleError, match=r"ids \[3\]"):
        d.positions(column, np.array([3, 6], dtype=np.uint16), WHERE)


@pytest.mark.parametrize(
    "column",
    [
        pa.array([0, 5], pa.int64()),  # two rows with a gap
        pa.array([0, 2, 4], pa.int64()),  # a constant step of 2
        pa.array([1, 0, 2], pa.int64()),  # each row once, not in order
        id_chunks([10, 11], [13, 14]),  # a gap between chunks
        id_chunks([10, 11], [11, 12]),  # a chunk starting where the last started over
        id_chunks([10, 11], [10, 11]),
        id_chunks([0, 1], [0, 1]),
        id_chunks([], []),
        pa.array([], pa.int64()),
        pa.array(["0", "1", "2"]),  # a text id column
        pa.array([0.0, 1.0, 2.0]),  # a float one
    ],
)
def test_ids_that_are_not_first_first_plus_one_etc_have_no_offsets(column: pa.Array) -> None:
    assert d._contiguous_positions(column, ids(0, 1)) is None


def refuse(monkeypatch: pytest.MonkeyPatch, why: str, *names: str) -> None:
    """Make each of numpy's ``names`` fail the test with ``why`` when called."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError(why)

    for name in names:
        monkeypatch.setattr(np, name, refused)


@pytest.mark.parametrize("column", [pa.array([7, 8, 9], pa.int64()), id_chunks([7], [8, 9])])
def test_positions_of_contiguous_ids_do_not_search(
    column: pa.Array, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Contiguous ids need no search at all: at 10M rows a sort or a search per id costs
    # seconds on every read of an edited revision.
    refuse(monkeypatch, "searched ids that are contiguous", "searchsorted", "argsort")
    # The first and the last row are the bounds of the fast path's range check.
    assert d.positions(column, ids(7, 9, 8, 7), WHERE).tolist() == [0, 2, 1, 0]
    assert d.positions(column, ids(), WHERE).tolist() == []


@pytest.mark.parametrize("column", [pa.array([2, 9], pa.int64()), id_chunks([2, 5], [6, 30])])
def test_positions_of_sorted_ids_with_gaps_do_not_sort(
    column: pa.Array, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse(monkeypatch, "sorted ids sorted again", "argsort")
    values = column.to_pylist()
    got = d.positions(column, ids(*reversed(values)), WHERE)
    assert got.tolist() == list(reversed(range(len(values))))
