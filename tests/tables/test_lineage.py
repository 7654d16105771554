"""Splits, subsets, appends and joins keep their lineage; bad input writes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tercet
from tercet.errors import EditError, ObjectExistsError, SchemaError, UnknownExampleError


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _table(n: int = 20, name: str = "initial") -> tercet.Table:
    return tercet.Table.create(
        {
            "label": [i % 2 for i in range(n)],
            "patient": [f"p{i // 4}" for i in range(n)],
            "x": np.arange(n, dtype=np.float64),
        },
        project="p",
        dataset="d",
        name=name,
        value_maps={"label": ["cat", "dog"]},
    )


def test_split_then_latest_stays_on_the_source_table() -> None:
    # The trap: splitting with delete_rows per split made the val revision the source's newest
    # leaf, so "train on initial.latest()" trained on val.
    initial = _table(100)
    parts = initial.split({"train": 0.8, "val": 0.2}, seed=1)
    reopened = tercet.Table.open(project="p", dataset="d", name="initial")
    assert reopened.latest() == initial
    assert len(reopened.latest()) == 100
    assert parts["train"].latest() == parts["train"] and len(parts["train"]) == 80
    # Edits to a split stay in the split's own lineage.
    edited = parts["val"].delete_rows(parts["val"].example_ids()[:3])
    assert parts["val"].latest() == edited
    assert initial.latest() == initial


def test_split_makes_new_tables_that_record_where_they_came_from() -> None:
    initial = _table(20)
    parts = initial.split({"train": 0.75, "val": 0.25}, seed=3)
    train, val = parts["train"], parts["val"]
    assert (train.table_name, val.table_name) == ("train", "val")
    assert train.is_source and train.parent is None and train.dataset == "d"
    ids_train, ids_val = set(train.example_ids()), set(val.example_ids())
    assert (len(ids_train), len(ids_val)) == (15, 5)
    assert ids_train | ids_val == set(range(20)) and not ids_train & ids_val
    assert train.schema == initial.schema  # value maps come along
    d = train.derived_from
    assert d is not None and d["revision"] == initial.url
    assert d["rule"] == {
        "op": "split", "by": "random", "fractions": {"train": 0.75, "val": 0.25}, "seed": 3,
        "part": "train",
    }  # fmt: skip
    # Rows are copied whole, ids kept: x of every row is its id.
    assert all(r["x"] == r["example_id"] for r in val.rows)


def test_split_is_deterministic_for_a_seed() -> None:
    a = _table(50, "a").split({"tr": 0.6, "va": 0.4}, seed=7)
    b = _table(50, "b").split({"tr2": 0.6, "va2": 0.4}, seed=7)
    c = _table(50, "c").split({"tr3": 0.6, "va3": 0.4}, seed=8)
    assert list(a["tr"].example_ids()) == list(b["tr2"].example_ids())
    assert list(a["tr"].example_ids()) != list(c["tr3"].example_ids())


def test_stratified_split_keeps_the_label_balance() -> None:
    t = tercet.Table.create(
        {"label": [0] * 30 + [1] * 10}, project="p", dataset="d", name="s",
        value_maps={"label": ["a", "b"]},
    )  # fmt: skip
    parts = t.split({"train": 0.5, "val": 0.5}, by="stratified", seed=0)
    for part in parts.values():
        labels = part.to_arrow(["label"]).column("label").to_pylist()
        assert (labels.count(0), labels.count(1)) == (15, 5)
    assert parts["train"].derived_from["rule"]["label"] == "label"  # type: ignore[index]


def test_split_by_a_column_keeps_each_group_in_one_part() -> None:
    t = _table(40)
    parts = t.split({"train": 0.5, "val": 0.5}, by="patient", seed=2)
    groups = [set(p.to_arrow(["patient"]).column("patient").to_pylist()) for p in parts.values()]
    assert not groups[0] & groups[1]
    assert len(groups[0] | groups[1]) == 10
    assert sum(len(p) for p in parts.values()) == 40


@pytest.mark.parametrize(
    ("fractions", "by", "error", "match"),
    [
        ({"train": 0.8, "val": 0.3}, "random", EditError, "sum to 1"),
        ({"train": 0.5, "val": 0.4}, "random", EditError, "sums to 0.9"),
        ({"train": 1.2, "val": -0.2}, "random", EditError, "number in"),
        ({}, "random", EditError, "mapping"),
        ({"train": 0.5, "val": 0.5}, "nope", SchemaError, "columns: example_id"),
        ({"a b": 0.5, "a-b": 0.5}, "random", EditError, "share one table folder"),
    ],
)
def test_bad_split_writes_nothing(
    root: Path, fractions: dict[str, float], by: str, error: type[Exception], match: str
) -> None:
    t = _table()
    before = _files(root)
    with pytest.raises(error, match=match):
        t.split(fractions, by=by)
    assert _files(root) == before


def test_split_checks_every_name_before_writing_any() -> None:
    t = _table()
    tercet.Table.create({"z": [1]}, project="p", dataset="d", name="val")
    with pytest.raises(ObjectExistsError, match="'val' already exists"):
        t.split({"train": 0.5, "val": 0.5})
    with pytest.raises(tercet.ObjectNotFoundError):
        tercet.Table.open(project="p", dataset="d", name="train")


def test_split_again_with_reuse_returns_the_same_tables() -> None:
    t = _table()
    first = t.split({"train": 0.5, "val": 0.5})
    again = t.split({"train": 0.5, "val": 0.5}, if_exists="reuse")
    assert again == first
    fresh = t.split({"train": 0.5, "val": 0.5}, if_exists="new")
    assert {k: v.table_name for k, v in fresh.items()} == {"train": "train-2", "val": "val-2"}


def test_subset_is_a_new_table_with_the_chosen_rows(root: Path) -> None:
    t = _table()
    sub = t.subset([3, 1, 5], name="hard ones")
    assert sorted(sub.example_ids().tolist()) == [1, 3, 5]
    assert sub.display_name == "hard ones" and sub.table_name == "hard-ones"
    assert sub.derived_from == {"revision": t.url, "rule": {"op": "subset", "rows": 3}}
    assert t.latest() == t
    before = _files(root)
    with pytest.raises(UnknownExampleError, match=r"\[99\]"):
        t.subset([1, 99], name="bad")
    assert _files(root) == before


def test_append_adds_rows_as_a_revision_with_new_ids() -> None:
    t = _table(6)
    edited = t.delete_rows([5])  # the largest id is gone; it must not be given out again
    grown = edited.append({"label": [1, 0], "patient": ["q", "q"], "x": [60.0, 70.0]})
    assert grown.parent == edited and grown.table_name == t.table_name
    assert grown.example_ids().tolist() == [0, 1, 2, 3, 4, 6, 7]
    assert grown.rows[-1] == {
        "example_id": 7, "label": 0, "patient": "q", "x": 70.0, "weight": 1.0
    }  # fmt: skip
    assert t.latest() == grown  # new data moves the table's latest, as an edit does


def test_append_with_a_wrong_type_or_an_old_id_writes_nothing(root: Path) -> None:
    t = _table(4)
    before = _files(root)
    with pytest.raises(SchemaError, match="Column .x. must be double"):
        t.append({"label": [1], "patient": ["q"], "x": ["not a number"]})
    with pytest.raises(SchemaError):
        t.append({"label": [1], "patient": ["q"]})  # a column missing
    with pytest.raises(SchemaError, match="unique and new"):
        t.append({"example_id": [2], "label": [1], "patient": ["q"], "x": [1.0]})
    assert _files(root) == before
    assert t.latest() == t


def test_join_adds_the_other_tables_columns_by_example_id() -> None:
    t = _table(6)
    val = t.subset([1, 4], name="val")
    scores = tercet.Table.create(
        {"example_id": [4, 1, 9], "score": [0.4, 0.1, 0.9], "tag": [1, 0, 1]},
        project="p", dataset="d", name="scores", value_maps={"tag": ["ok", "odd"]},
    )  # fmt: skip
    joined = val.join(scores)
    assert joined.parent == val
    rows = {r["example_id"]: (r["score"], r["tag"]) for r in joined.rows}
    assert rows == {1: (0.1, 0), 4: (0.4, 1)}
    assert joined.schema["tag"].role == "label" and joined.schema["tag"].value_map is not None
    assert joined.derived_from is not None and joined.derived_from["revision"] == scores.url


def test_join_on_other_ids_or_a_clashing_column_writes_nothing(root: Path) -> None:
    t = _table(6)
    partial = tercet.Table.create(
        {"example_id": [0, 1], "score": [0.5, 0.5]}, project="p", dataset="d", name="partial"
    )
    clash = tercet.Table.create(
        {"example_id": list(range(6)), "x": [0.0] * 6}, project="p", dataset="d", name="clash"
    )
    before = _files(root)
    with pytest.raises(UnknownExampleError, match=r"4 rows of initial have no match.*\[2, 3"):
        t.join(partial)
    with pytest.raises(SchemaError, match="'x' is in both"):
        t.join(clash)
    with pytest.raises(SchemaError, match="no column 'nope'"):
        t.join(clash, on="nope")
    assert _files(root) == before


def test_whole_column_edits_are_checked_as_a_whole(root: Path) -> None:
    import pyarrow as pa

    t = _table(3)
    before = _files(root)
    cases = [
        ("x", [0, 1, 2], pa.array([1, 2, 3], pa.int64()), SchemaError, "expects double"),
        ("x", [0, 1, 2], pa.array([1.0, float("nan"), 3.0]), SchemaError, "nan"),
        ("label", [0, 1, 2], pa.array([0, 1, 7], pa.int32()), SchemaError, r"\[7\]"),
        ("x", [0, 1, 9], pa.array([1.0, 2.0, 3.0]), UnknownExampleError, r"\[9\]"),
        ("x", [0, 0, 1], pa.array([1.0, 2.0, 3.0]), EditError, "twice"),
        ("weight", [0], pa.array([-1.0], pa.float32()), SchemaError, "weight"),
    ]
    for column, ids, values, error, match in cases:
        with pytest.raises(error, match=match), t.edit() as e:
            e.set_array(column, ids, values)
    assert _files(root) == before
    with t.edit() as e:
        e.set_array("x", [2, 0], pa.array([20.0, 0.5]))
    assert [r["x"] for r in e.result.rows] == [0.5, 1.0, 20.0]
