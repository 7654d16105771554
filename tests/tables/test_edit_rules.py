"""The rules an edit checks before it writes, each refusal by its exact message.

A refused edit writes nothing; the message says which column or item and what was wrong, so a
script (or the service, which passes these through) can show it as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import tercet
from tercet.errors import EditError, InvalidNameError, SchemaError, UnknownExampleError


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def table(root: Path) -> tercet.Table:
    return tercet.Table.create(
        {"score": np.arange(4, dtype=np.float64), "note": np.array(["a", "b", "c", "d"])},
        "p", "d", "t",
    )  # fmt: skip


def refused(root: Path, table: tercet.Table, error: type[Exception], message: str,
            change: Any) -> None:  # fmt: skip
    before = snapshot(root)
    with pytest.raises(error) as caught, table.edit() as e:
        change(e)
    assert str(caught.value) == message
    assert snapshot(root) == before


def test_set_array_refusals_name_the_column(table: tercet.Table, root: Path) -> None:
    floats = pa.array([1.0, 2.0])
    twice = "Column 'score' is already set in this edit."
    refused(root, table, SchemaError,
            "example_id cannot be edited: it is the stable identity of a row.",
            lambda e: e.set_array("example_id", [0, 1], pa.array([5, 6], pa.int64())))  # fmt: skip

    def set_twice(e: Any) -> None:
        e.set_values("score", [0], [1.0])
        e.set_array("score", [1, 2], floats)

    def array_twice(e: Any) -> None:
        e.set_array("score", [0, 1], floats)
        e.set_array("score", [2, 3], floats)

    refused(root, table, EditError, twice, set_twice)
    refused(root, table, EditError, twice, array_twice)
    refused(root, table, EditError, "3 example ids but 2 values for 'score'.",
            lambda e: e.set_array("score", [0, 1, 2], floats))  # fmt: skip
    refused(
        root,
        table,
        SchemaError,
        "Column 'weight' in the edit: 1 weights are not finite numbers ≥ 0 (first: [None]); "
        "a weight of 0 leaves a row out of training.",
        lambda e: e.set_array("weight", [0, 1], pa.array([1.0, None], pa.float32())),
    )


def test_set_array_takes_nulls_outside_weights_and_chunked_arrays(table: tercet.Table) -> None:
    with table.edit() as e:
        e.set_array("score", [1, 3], pa.chunked_array([[None], [7.5]], pa.float64()))
        e.set_array("note", [0], pa.array(["z"]))
    rows = e.result.to_pandas().set_index("example_id")
    assert rows["score"].isna()[1] and rows.loc[3, "score"] == 7.5
    assert rows.loc[0, "note"] == "z" and rows.loc[2, "score"] == 2.0


def test_add_column_rules(table: tercet.Table, root: Path) -> None:
    refused(root, table, SchemaError, "Column 'note' already exists.",
            lambda e: e.add_column("note", pa.string()))  # fmt: skip
    before = snapshot(root)
    with pytest.raises(InvalidNameError) as bad, table.edit() as e:
        e.add_column("a/b", pa.int64())
    assert str(bad.value).startswith("Column name 'a/b' is not valid: use 1–128"), str(bad.value)
    assert snapshot(root) == before
    with table.edit() as e:
        e.add_column("extra", pa.int64(), default=3)
    assert e.result.schema["extra"].role == "number"
    assert e.result.to_arrow(["extra"]).column("extra").to_pylist() == [3, 3, 3, 3]


def test_edits_in_the_service_form_are_checked_item_by_item(
    table: tercet.Table, root: Path
) -> None:
    def apply(edits: dict[str, Any]) -> Any:
        return lambda e: e.apply_json(edits)

    shape = "set[1] must be {'column', 'example_id', 'value'}."
    first = {"column": "score", "example_id": 0, "value": 1.0}
    refused(root, table, EditError, shape, apply({"set": [first, ["score", 1]]}))
    refused(
        root, table, EditError, shape, apply({"set": [first, {"column": "score", "value": 2.0}]})
    )
    refused(root, table, EditError, "delete must be a list of example ids.",
            apply({"delete": "0,1"}))  # fmt: skip
    refused(root, table, EditError, "weights[0] must be {'example_id', 'weight'}.",
            apply({"weights": [{"example_id": 0}]}))  # fmt: skip
    refused(root, table, EditError, "weights[0] must be {'example_id', 'weight'}.",
            apply({"weights": [[0, 1.0]]}))  # fmt: skip
    with pytest.raises(EditError, match=r"^delete: "):
        with table.edit() as e:
            e.apply_json({"delete": ["x"]})
    # "value" may be left out: the value is null.
    with table.edit() as e:
        e.apply_json({"set": [{"column": "note", "example_id": 2}], "delete": [3],
                      "weights": [{"example_id": 0, "weight": 0.5}]})  # fmt: skip
    rows = e.result.to_pandas().set_index("example_id")
    assert rows["note"].isna()[2] and 3 not in rows.index and rows.loc[0, "weight"] == 0.5


def test_one_value_is_set_on_every_id_and_an_empty_set_drops_nothing(table: tercet.Table) -> None:
    with table.edit() as e:
        e.set_values("note", [], [])  # nothing set on note: the score edits still apply
        e.set_values("score", np.array([1, 3]), np.float64(7.5))
    assert e.result.to_arrow(["score"]).column("score").to_pylist() == [0.0, 7.5, 2.0, 7.5]
    with e.result.edit() as again:
        again.set_values("note", [0, 2], "zz")  # a string is one value, not its characters
    assert again.result.to_arrow(["note"]).column("note").to_pylist() == ["zz", "b", "zz", "d"]


def test_ids_in_the_service_form_are_checked_at_the_int64_bounds(
    table: tercet.Table, root: Path
) -> None:
    def apply(edits: dict[str, Any]) -> Any:
        return lambda e: e.apply_json(edits)

    low, high = -(2**63), 2**63 - 1
    for edge in (low, high):  # in range: refused as unknown, not as out of range
        refused(root, table, UnknownExampleError,
                f"Example ids [{edge}] are not in revision {table.name} ({table.url}): they were "
                "deleted or never existed.", apply({"delete": [edge]}))  # fmt: skip
    refused(root, table, EditError,
            f"set[0].example_id: example ids are 64-bit integers; {high + 1} is out of range.",
            apply({"set": [{"column": "score", "example_id": high + 1}]}))  # fmt: skip
    refused(root, table, EditError,
            f"weights[0].example_id: example ids are 64-bit integers; {low - 1} is out of range.",
            apply({"weights": [{"example_id": low - 1, "weight": 1.0}]}))  # fmt: skip
    refused(root, table, EditError, "delete: example ids are integers; received True.",
            apply({"delete": [True]}))  # fmt: skip


def test_list_tables_reads_the_root_it_is_given_and_skips_damaged_revisions(
    root: Path, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    made = [tercet.Table.create({"x": np.arange(2)}, "p", "d", name, root=str(other))
            for name in ("b", "c")]  # fmt: skip
    damaged = Path(made[0].url).parent / "a"  # listed first
    damaged.mkdir()
    (damaged / "object.json").write_text("{not json")
    listed = sorted(t.url for t in tercet.list_tables("p", root=str(other)))
    assert listed == sorted(t.url for t in made)
    assert tercet.list_tables("p") == []  # the default root holds no project p


def test_example_ids_are_read_from_any_integer_container_and_refused_by_exact_message(
    table: tercet.Table, root: Path
) -> None:
    """NumPy arrays of any integer type, object arrays and lists are ids; floats, strings and
    uint64 values past int64 are refused by name, before anything is written."""
    with table.edit() as e:
        e.set_values("score", np.array([[1], [3]], dtype=np.uint8), [10.0, 30.0])  # 2-D: flattened
        e.set_values("note", np.array([0, 2], dtype=object), ["x", "y"])
        e.delete_rows(np.array([], dtype=np.int64))  # empty: deletes nothing
    assert e.result.to_arrow(["score"]).column("score").to_pylist() == [0.0, 10.0, 2.0, 30.0]
    assert e.result.to_arrow(["note"]).column("note").to_pylist() == ["x", "b", "y", "d"]
    high = np.iinfo(np.int64).max
    refused(root, table, EditError,
            f"example ids are 64-bit integers; {high + 1} is out of range.",
            lambda e: e.delete_rows(np.array([0, high + 1], dtype=np.uint64)))  # fmt: skip
    # The largest int64 in a uint64 array is in range: refused as unknown, not as out of range.
    refused(root, table, UnknownExampleError,
            f"Example ids [{high}] are not in revision {table.name} ({table.url}): they were "
            "deleted or never existed.",
            lambda e: e.delete_rows(np.array([high], dtype=np.uint64)))  # fmt: skip
    refused(root, table, EditError, "example ids are integers; received an array of float64.",
            lambda e: e.delete_rows(np.array([1.0])))  # fmt: skip
    # A list mixing ints and a float is not cast to floats first: the float is named as given.
    refused(root, table, EditError, "example_ids: example ids are integers; received 2.5.",
            lambda e: e.delete_rows([1, 2.5]))  # fmt: skip
    refused(root, table, EditError, "example_ids: example ids are integers; received '3'.",
            lambda e: e.set_values("score", ["3"], [1.0]))  # fmt: skip


def test_ids_held_by_an_edit_are_its_own_copy(table: tercet.Table) -> None:
    """Changing the caller's id array after set_array does not move the values to other rows."""
    ids = np.array([1, 3])
    with table.edit() as e:
        e.set_array("score", ids, pa.array([10.0, 30.0]))
        ids[:] = [0, 2]
    assert e.result.to_arrow(["score"]).column("score").to_pylist() == [0.0, 10.0, 2.0, 30.0]


def test_unknown_ids_are_named_at_most_ten_and_deleted_ids_refused(
    table: tercet.Table, root: Path
) -> None:
    where = f"are not in revision {table.name} ({table.url}): they were deleted or never existed."
    unknown = list(range(10, 22))
    refused(root, table, UnknownExampleError, f"Example ids {unknown[:10]} {where}",
            lambda e: e.set_values("score", [0, *unknown], 1.0))  # fmt: skip

    def delete_then_set(e: Any) -> None:
        e.delete_rows([3])
        e.set_values("score", [0, 3], 1.0)

    refused(root, table, UnknownExampleError, f"Example ids [3] {where}", delete_then_set)
    refused(root, table, SchemaError,
            "example_id cannot be edited: it is the stable identity of a row.",
            lambda e: e.set_values("example_id", [0], [9]))  # fmt: skip
    # The last row (the largest id) is known; one past it is not.
    with table.edit() as e:
        e.set_values("score", [3], 9.0)
    refused(root, table, UnknownExampleError, f"Example ids [4] {where}",
            lambda e: e.set_values("score", [4], 1.0))  # fmt: skip


@pytest.mark.parametrize("rows", [0, 1])
def test_tables_of_zero_and_one_row_check_ids_too(root: Path, rows: int) -> None:
    small = tercet.Table.create({"score": np.zeros(rows)}, "p", "d", f"rows{rows}")
    where = f"are not in revision {small.name} ({small.url}): they were deleted or never existed."
    refused(root, small, UnknownExampleError, f"Example ids [7] {where}",
            lambda e: e.set_values("score", [7], 1.0))  # fmt: skip
    if rows:
        with small.edit() as e:
            e.set_values("score", [0], 5.0)
        assert e.result.to_arrow(["score"]).column("score").to_pylist() == [5.0]


def test_ids_beyond_float_precision_stay_exact(root: Path) -> None:
    """Hashed ids near 2**62 differ in bits a float64 drops: an edit must set and delete the
    row it was given, never its neighbour."""
    big = 2**62
    t = tercet.Table.create(
        {"example_id": np.array([big, big + 1, big + 2], dtype=np.int64),
         "score": np.zeros(3)}, "p", "d", "hashed",
    )  # fmt: skip
    with t.edit() as e:
        e.delete_rows([big])
        e.set_values("score", np.array([big + 1]), 7.0)
    got = e.result.to_arrow(["score"])
    assert e.result.example_ids().tolist() == [big + 1, big + 2]
    assert got.column("score").to_pylist() == [7.0, 0.0]


def test_a_value_map_only_goes_on_label_boxes_and_prediction_columns(
    table: tercet.Table, root: Path
) -> None:
    refused(root, table, SchemaError,
            "Column 'score' has role 'number'; only label, boxes and prediction columns have "
            "value maps.", lambda e: e.set_value_map("score", ["a", "b"]))  # fmt: skip
