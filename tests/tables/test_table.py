from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import tercet
from tercet import storage
from tercet.errors import (
    CorruptObjectError,
    InvalidNameError,
    ObjectExistsError,
    ObjectNotFoundError,
    OutsideRootsError,
    SchemaError,
    UnknownExampleError,
)
from tercet.tables import table as table_mod


def make_df(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": pd.Categorical(["cat", "dog"] * (n // 2)),
            "score": np.linspace(0, 1, n),
            "caption": [f"item {i}" for i in range(n)],
        }
    )


def test_create_from_dataframe_adds_id_weight_and_value_map() -> None:
    t = tercet.Table.create(make_df(), project="p", dataset="d", name="train")
    assert t.schema.names == ["example_id", "label", "score", "caption", "weight"]
    assert t.schema["label"].role == "label"
    assert t.schema["label"].value_map == {
        0: {"name": "cat", "color": "#1f77b4"},
        1: {"name": "dog", "color": "#ff7f0e"},
    }
    df = t.to_pandas()
    assert df["example_id"].tolist() == list(range(10))
    assert df["weight"].tolist() == [1.0] * 10
    assert df["label"].tolist() == [0, 1] * 5
    assert t.num_rows == len(t) == 10


@pytest.mark.parametrize(
    "data",
    [
        pa.table({"x": [1, 2, 3]}),
        {"x": [1, 2, 3]},
        [{"x": 1}, {"x": 2}, {"x": 3}],
        pd.DataFrame({"x": [1, 2, 3]}),
    ],
    ids=["arrow", "dict", "rows", "pandas"],
)
def test_constructors_accept_common_forms(data: object) -> None:
    t = tercet.Table.create(data, project="p", dataset="d", name="t")
    assert t.to_arrow(["x"]).column("x").to_pylist() == [1, 2, 3]


def test_table_is_plain_parquet_readable_without_tercet(root: Path) -> None:
    import duckdb

    t = tercet.Table.create(make_df(), project="p", dataset="d", name="train")
    files = [storage.join(t.url, f) for f in t.descriptor["rows"]]
    assert pq.read_table(files[0]).num_rows == 10
    query = f"select count(*) from read_parquet('{files[0]}') where label = 1"
    assert duckdb.execute(query).fetchall() == [(5,)]


def test_embedding_column_becomes_fixed_size_float32() -> None:
    emb = np.random.default_rng(0).normal(size=(4, 8))
    t = tercet.Table.create(
        {"embedding": emb, "y": [0, 1, 0, 1]}, project="p", dataset="d", name="e"
    )
    col = t.schema["embedding"]
    assert col.role == "embedding" and col.type == pa.list_(pa.float32(), 8)
    got = np.stack(t.to_pandas()["embedding"].to_list())
    np.testing.assert_allclose(got, emb.astype(np.float32))


def test_image_column_is_aliased_on_write_and_loaded_as_pil(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (4, 3), "red").save(data / "a.png")
    tercet.aliases.set("PROJECT_DATA", str(data))
    t = tercet.Table.create(
        {"image": [str(data / "a.png")]}, project="p", dataset="d", name="img",
        roles={"image": "image"},
    )  # fmt: skip
    assert t.rows[0]["image"] == "<PROJECT_DATA>/a.png"
    sample = t[0]
    assert isinstance(sample["image"], Image.Image) and sample["image"].size == (4, 3)
    tercet.aliases.clear()
    with pytest.raises(tercet.AliasNotSetError, match="PROJECT_DATA"):
        t[0]


def test_names_must_be_path_segments() -> None:
    for bad in ["../x", "a/b", "", ".hidden", "x" * 200]:
        with pytest.raises(InvalidNameError, match="not valid"):
            tercet.Table.create({"x": [1]}, project="p", dataset="d", name=bad)
    with pytest.raises(InvalidNameError):
        tercet.Table.create({"x": [1]}, project="../etc", dataset="d", name="t")


def test_existing_table_is_never_overwritten() -> None:
    t = tercet.Table.create({"x": [1]}, project="p", dataset="d", name="t")
    before = storage.read_bytes(storage.join(t.url, "object.json"))
    with pytest.raises(ObjectExistsError, match="already exists"):
        tercet.Table.create({"x": [2]}, project="p", dataset="d", name="t")
    assert storage.read_bytes(storage.join(t.url, "object.json")) == before
    assert tercet.Table.open(t.url).to_arrow(["x"]).column("x").to_pylist() == [1]


def test_duplicate_example_ids_are_rejected() -> None:
    with pytest.raises(SchemaError, match="unique"):
        tercet.Table.create({"example_id": [1, 1]}, project="p", dataset="d", name="t")


def test_label_outside_value_map_is_rejected() -> None:
    with pytest.raises(SchemaError, match=r"values \[7\] are not in its value map"):
        tercet.Table.create(
            {"label": [0, 7]}, project="p", dataset="d", name="t", value_maps={"label": ["a", "b"]}
        )


def test_open_missing_table_says_where(root: Path) -> None:
    with pytest.raises(ObjectNotFoundError, match="No table at .*nothing"):
        tercet.Table.open(str(root / "p" / "datasets" / "d" / "tables" / "nothing"))


def test_corrupt_object_json_is_reported_and_siblings_survive() -> None:
    t = tercet.Table.create({"x": [1, 2]}, project="p", dataset="d", name="t")
    t2 = t.set_values("x", [0], [5])
    broken = Path(t2.url) / "object.json"
    broken.write_text('{"format": "tercet.table", "id": ')
    table_mod._descriptor_cache.clear()
    with pytest.raises(CorruptObjectError, match=r"object.json:.*not valid JSON"):
        tercet.Table.open(t2.url)
    # The damaged revision is skipped; the source stays readable and is its own latest.
    assert tercet.Table.open(t.url).latest().url == t.url
    assert tercet.Table.open(t.url).to_arrow(["x"]).column("x").to_pylist() == [1, 2]


def test_missing_parquet_file_is_a_clear_error() -> None:
    t = tercet.Table.create({"x": [1, 2]}, project="p", dataset="d", name="t")
    (Path(t.url) / t.descriptor["rows"][0]).unlink()
    with pytest.raises(ObjectNotFoundError, match="part-00000"):
        tercet.Table.open(t.url).to_arrow()


def test_truncated_parquet_file_is_a_clear_error() -> None:
    t = tercet.Table.create({"x": list(range(100))}, project="p", dataset="d", name="t")
    path = Path(t.url) / t.descriptor["rows"][0]
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CorruptObjectError, match="not a readable Parquet file"):
        tercet.Table.open(t.url).to_arrow()


def test_newer_format_version_asks_to_upgrade() -> None:
    t = tercet.Table.create({"x": [1]}, project="p", dataset="d", name="t")
    obj = Path(t.url) / "object.json"
    data = json.loads(obj.read_text())
    data["format_version"] = 99
    obj.write_text(json.dumps(data))
    table_mod._descriptor_cache.clear()
    with pytest.raises(CorruptObjectError, match="Upgrade Tercet"):
        tercet.Table.open(t.url)


def test_streaming_writer_writes_batches_and_appears_only_on_close(root: Path) -> None:
    with tercet.TableWriter(project="p", dataset="d", name="stream") as w:
        for i in range(5):
            w.write({"x": np.arange(i * 100, (i + 1) * 100)})
            assert not storage.exists(storage.join(w.folder, "object.json"))
    assert w.table is not None
    arrow = w.table.to_arrow()
    assert arrow.num_rows == 500
    assert arrow.column("example_id").to_pylist() == list(range(500))


def test_streaming_writer_failure_leaves_nothing_visible(root: Path) -> None:
    with pytest.raises(RuntimeError), tercet.TableWriter(project="p", dataset="d", name="s") as w:
        w.write({"x": [1, 2]})
        raise RuntimeError("boom")
    assert tercet.list_tables("p") == []
    leftovers = [p for p in root.rglob("*") if p.is_file()]
    assert leftovers == []


def test_rows_and_iteration_give_plain_values() -> None:
    t = tercet.Table.create({"x": [1, 2]}, project="p", dataset="d", name="t")
    assert t.rows == [
        {"example_id": 0, "x": 1, "weight": 1.0},
        {"example_id": 1, "x": 2, "weight": 1.0},
    ]
    assert list(t) == t.rows
    assert t[-1]["x"] == 2
    with pytest.raises(IndexError, match="out of range"):
        t[5]


def test_list_projects_and_tables() -> None:
    tercet.Table.create({"x": [1]}, project="alpha", dataset="d", name="t")
    tercet.Table.create({"x": [1]}, project="beta", dataset="d", name="t")
    assert tercet.list_projects() == ["alpha", "beta"]
    assert [t.name for t in tercet.list_tables("alpha")] == ["t"]


def _rewrite_descriptor(t: tercet.Table, **changes: object) -> None:
    """Plant a damaged ``object.json`` (keys set, removed when None); forget the cached one."""
    obj = Path(t.url) / "object.json"
    data = json.loads(obj.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    obj.write_text(json.dumps(data))
    table_mod._descriptor_cache.clear()


def test_a_parent_chain_that_loops_names_the_revision_and_the_loop() -> None:
    t = tercet.Table.create({"x": [1, 2]}, project="p", dataset="d", name="t")
    r1 = t.set_values("x", [0], [5])
    r2 = r1.set_values("x", [1], [6])
    # r1 made to descend from r2: r2 -> r1 -> r2 ...
    _rewrite_descriptor(r1, parent=f"../{Path(r2.url).name}")
    with pytest.raises(CorruptObjectError, match=r"t\.[^/]*: the parent chain loops at .*/t\."):
        tercet.Table.open(r2.url).to_arrow()


def test_rows_that_are_not_a_list_name_the_descriptor() -> None:
    t = tercet.Table.create({"x": [1, 2]}, project="p", dataset="d", name="t")
    _rewrite_descriptor(t, rows="rows/part-00000.parquet")
    with pytest.raises(
        CorruptObjectError, match=r"t/object.json: 'rows' is 'rows/part-00000.parquet', not a list"
    ):
        tercet.Table.open(t.url).to_arrow()


def test_a_revision_with_neither_rows_nor_a_parent_says_no_source_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = tercet.Table.create({"x": [1, 2]}, project="p", dataset="d", name="t")
    r1 = t.set_values("x", [0], [5])
    _rewrite_descriptor(r1, parent=None)
    listed = _record_listings(monkeypatch)
    with pytest.raises(CorruptObjectError, match=r"t\.[^/]*: no source rows found in its lineage"):
        tercet.Table.open(r1.url).to_arrow()
    assert listed == [storage.join(r1.url, "cache")]  # looked for a row cache once, not again


def test_columns_read_after_the_whole_table_are_only_those_asked() -> None:
    t = tercet.Table.create({"x": [1, 2], "y": ["a", "b"]}, project="p", dataset="d", name="t")
    whole = t.to_arrow()  # kept on the revision, then selected from
    assert whole.column_names == ["example_id", "x", "y", "weight"]
    assert t.to_arrow(["y"]).column_names == ["y"]
    assert t.to_arrow(["y", "x"]).to_pydict() == {"y": ["a", "b"], "x": [1, 2]}


def test_a_column_subset_reads_only_the_id_and_those_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A wide table (embeddings, captions) read for one column must not fetch the others:
    # on an object store each column chunk read is bytes over the network.
    t = tercet.Table.create(
        {"x": [1, 2, 3], "y": ["a", "b", "c"], "z": [0.5, 1.5, 2.5]},
        project="p",
        dataset="d",
        name="t",
    )
    r1 = t.set_values("x", [2], [7])
    read: list[list[str] | None] = []
    real = storage.read_parquet

    def recording(urls: str | list[str], columns: list[str] | None = None) -> pa.Table:
        read.append(columns)
        return real(urls, columns)

    monkeypatch.setattr(storage, "read_parquet", recording)
    got = tercet.Table.open(r1.url).to_arrow(["x"])
    assert got.to_pydict() == {"x": [1, 2, 7]}
    assert read == [["example_id", "x"]]


def test_a_materialized_revision_reads_from_its_cache_not_its_lineage() -> None:
    t = tercet.Table.create({"x": [1, 2, 3]}, project="p", dataset="d", name="t")
    r2 = t.set_values("x", [0], [5]).set_values("x", [2], [9])
    r2.materialize()
    # The source's rows gone: only the cache can still give r2's rows.
    (Path(t.url) / t.descriptor["rows"][0]).unlink()
    got = tercet.Table.open(r2.url).to_arrow()
    assert got.column("example_id").to_pylist() == [0, 1, 2]
    assert got.column("x").to_pylist() == [5, 2, 9]
    with pytest.raises(ObjectNotFoundError, match="part-00000"):
        tercet.Table.open(t.url).to_arrow()


def _record_listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    listed: list[str] = []
    real = storage.ls

    def recording(url: str) -> list[str]:
        listed.append(url)
        return real(url)

    monkeypatch.setattr(storage, "ls", recording)
    return listed


def test_a_read_lists_each_revisions_cache_once_and_a_sources_never(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A source has no row cache; each listing costs a LIST request per read on object stores.
    t = tercet.Table.create({"x": [1, 2]}, project="p", dataset="d", name="t")
    r1 = t.set_values("x", [0], [5])
    r2 = r1.set_values("x", [1], [6])
    listed = _record_listings(monkeypatch)
    assert tercet.Table.open(t.url).to_arrow(["x"]).column("x").to_pylist() == [1, 2]
    assert listed == []
    assert tercet.Table.open(r2.url).to_arrow(["x"]).column("x").to_pylist() == [5, 6]
    assert listed == [storage.join(r2.url, "cache"), storage.join(r1.url, "cache")]


def test_a_descriptor_read_is_fenced_even_once_cached(tmp_path: Path) -> None:
    # The service reads descriptors under a fence; one read before the fence is kept in the
    # cache, and must not let a later fenced read through.
    t = tercet.Table.create({"x": [1, 2]}, project="p", dataset="d", name="t")
    table_mod.read_descriptor(t.url)
    project = str(Path(t.url).parents[3])
    with storage.fenced(storage.Fence([project])):
        assert table_mod.read_descriptor(t.url)["num_rows"] == 2
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with storage.fenced(storage.Fence([str(elsewhere)])), pytest.raises(OutsideRootsError):
        table_mod.read_descriptor(t.url)


def test_an_edit_on_an_id_the_rows_lack_names_the_revision() -> None:
    t = tercet.Table.create({"x": [1, 2, 3]}, project="p", dataset="d", name="t")
    r = t.set_values("x", [1], [5])
    _rewrite_descriptor(
        r, delta={**r.descriptor["delta"], "set": {"x": {"example_id": [99], "value": [5]}}}
    )
    with pytest.raises(UnknownExampleError, match=rf"^{re.escape(r.url)}: example ids \[99\]"):
        tercet.Table.open(r.url).to_arrow()


def test_row_files_that_do_not_fit_the_schema_name_the_table() -> None:
    t = tercet.Table.create({"x": [1, 2, 3]}, project="p", dataset="d", name="t")
    (rows,) = Path(t.url, "rows").glob("*.parquet")
    data = pq.read_table(rows)
    at = data.schema.get_field_index("x")
    pq.write_table(data.set_column(at, "x", pa.array(["one", "two", "three"])), rows)
    with pytest.raises(CorruptObjectError, match=rf"^The rows of {re.escape(t.url)} do not fit"):
        tercet.Table.open(t.url).to_arrow()
