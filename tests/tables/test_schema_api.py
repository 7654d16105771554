"""The public ``Schema``/``Column`` API, ``Table.create(schema=...)`` and ``Table.open`` of a
descriptor file: what a user writes by hand when inference is not what they want."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import tercet
from tercet import Column, Schema, SchemaError
from tercet.schema import make_value_map


def _schema() -> Schema:
    return Schema(
        [
            Column("label", pa.int16(), "label", value_map=make_value_map(["cat", "dog"])),
            Column("score", pa.float32()),
            Column("path", pa.string(), "image"),
        ]
    )


DATA = {"label": [0, 1, 1], "score": [0.5, 1.5, 2.5], "path": ["a.jpg", "b.jpg", "c.jpg"]}


def test_a_schema_answers_by_name_and_keeps_its_order() -> None:
    s = _schema()
    assert s.names == ["label", "score", "path"] and len(s) == 3
    assert "score" in s and "nope" not in s
    assert s["path"].role == "image" and s["label"].type == pa.int16()
    assert [c.name for c in s] == s.names
    with pytest.raises(SchemaError, match=r"No column 'nope'\. Columns: label, score, path"):
        s["nope"]
    assert s.to_arrow() == pa.schema(
        [("label", pa.int16()), ("score", pa.float32()), ("path", pa.string())]
    )


def test_a_schema_survives_its_descriptor_form_and_compares_by_content() -> None:
    s = _schema()
    again = Schema.from_json(s.to_json())
    assert again == s
    vmap = again["label"].value_map
    assert vmap is not None and vmap == s["label"].value_map
    assert [vmap[0]["name"], vmap[1]["name"]] == ["cat", "dog"]
    assert s != s.replace(Column("score", pa.float64()))
    grown = s.with_column(Column("ok", pa.bool_(), "bool"))
    assert grown.names[-1] == "ok" and s.names == ["label", "score", "path"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([Column("a", pa.int8()), Column("a", pa.int8())], "Duplicate column names: a"),
        ([Column("label", pa.float32(), "label")], "does not fit role 'label'"),
        ([Column("w", pa.float64(), "weight")], "does not fit role 'weight'"),
        ([Column("p", pa.int64(), "image")], "does not fit role 'image'"),
    ],
)
def test_a_schema_that_cannot_hold_refuses_to_be_built(columns: list[Column], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        Schema(columns)


def test_a_column_with_an_unknown_role_names_the_roles() -> None:
    with pytest.raises(SchemaError, match=r"unknown role 'picture'.*image"):
        Column("x", pa.string(), "picture")


def test_create_with_a_schema_stores_its_types_and_roles_and_adds_id_and_weight(root: Path) -> None:
    t = tercet.Table.create(DATA, project="p", dataset="d", name="t", schema=_schema())
    rows = t.to_arrow()
    assert rows.schema.names == ["example_id", "label", "score", "path", "weight"]
    assert rows.schema.field("label").type == pa.int16()
    assert rows.schema.field("score").type == pa.float32()
    assert t.schema["path"].role == "image" and t.schema["label"].value_map is not None
    assert t.schema["label"].value_map[0]["name"] == "cat"
    assert rows.column("example_id").to_pylist() == [0, 1, 2]
    assert rows.column("weight").to_pylist() == [1.0, 1.0, 1.0]
    # Opening it again reads the same schema from the descriptor.
    assert tercet.Table.open(t.url).schema == t.schema


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**DATA, "label": ["x", "y", "z"]}, "Column 'label' must be int16"),
        ({k: v for k, v in DATA.items() if k != "path"}, "missing column.*'path'"),
        ({**DATA, "extra": [1, 2, 3]}, "not in the schema 'extra'"),
        ({**DATA, "label": [0, 1, 5]}, r"values \[5\] are not in its value map"),
        ({**DATA, "score": [1e39, 0.0, 0.0]}, "does not fit float"),
        ({**DATA, "example_id": [4, 4, 5]}, "example_id values must be unique"),
    ],
)
def test_data_that_does_not_fit_the_schema_is_refused_and_nothing_is_written(
    root: Path, data: dict[str, list[object]], message: str
) -> None:
    with pytest.raises(SchemaError, match=message):
        tercet.Table.create(data, project="p", dataset="d", name="t", schema=_schema())
    assert not (root / "p" / "datasets" / "d" / "tables" / "t").exists()


def test_open_accepts_the_descriptor_file_as_well_as_the_folder(root: Path) -> None:
    t = tercet.Table.create({"x": np.arange(4)}, project="p", dataset="d", name="t")
    edited = t.delete_rows([1])
    for table in (t, edited):
        opened = tercet.Table.open(f"{table.url}/object.json")
        assert opened.url == table.url
        assert opened.example_ids().tolist() == table.example_ids().tolist()
    with pytest.raises(tercet.ObjectNotFoundError):
        tercet.Table.open(f"{t.url}/rows/object.json")


def test_columns_come_back_in_the_order_asked_for(root: Path) -> None:
    t = tercet.Table.create(DATA, project="p", dataset="d", name="t", schema=_schema())
    edited = t.set_values("score", [1], [9.0])
    for table in (t, edited):
        got = table.to_arrow(["path", "score", "example_id"])
        assert got.column_names == ["path", "score", "example_id"]
        assert got.schema.field("score").type == pa.float32()
        assert got.column("score").to_pylist()[1] == (9.0 if table is edited else 1.5)
        assert list(table.to_pandas(["score", "label"]).columns) == ["score", "label"]
