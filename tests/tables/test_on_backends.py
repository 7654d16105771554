"""Tables on every store other machines can reach: the core Table API, run on local disk and on
S3 with the same code (``local_or_s3_root`` sets ``TERCET_ROOT`` to a folder or to s3://…)."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tercet
from tercet import storage
from tercet.errors import ObjectExistsError, ObjectNotFoundError


@pytest.fixture
def table(local_or_s3_root: str) -> tercet.Table:
    return tercet.Table.create(
        {"label": [0, 1, 2, 0, 1, 2], "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
         "emb": np.arange(24, dtype=np.float32).reshape(6, 4)},
        project="p", dataset="d", name="train", value_maps={"label": ["a", "b", "c"]},
    )  # fmt: skip


def test_table_lives_under_the_configured_root(table: tercet.Table, local_or_s3_root: str) -> None:
    assert table.url == storage.join(local_or_s3_root, "p", "datasets", "d", "tables", "train")
    again = tercet.Table.open(table.url)
    assert again.to_arrow().equals(table.to_arrow())
    assert tercet.list_projects() == ["p"]
    assert [t.name for t in tercet.list_tables("p")] == ["train"]


def test_rows_are_plain_parquet_for_any_reader(table: tercet.Table) -> None:
    rows_url = storage.join(table.url, table.descriptor["rows"][0])
    fs, path = storage.arrow_filesystem(rows_url)
    plain = pq.read_table(path, filesystem=fs)
    assert plain.column("score").to_pylist() == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])


def test_existing_table_is_never_overwritten(table: tercet.Table) -> None:
    with pytest.raises(ObjectExistsError, match="already exists"):
        tercet.Table.create({"x": [1]}, project="p", dataset="d", name="train")


def test_open_missing_table_names_the_url(local_or_s3_root: str) -> None:
    url = storage.join(local_or_s3_root, "p", "datasets", "d", "tables", "nope")
    with pytest.raises(ObjectNotFoundError, match="tables/nope"):
        tercet.Table.open(url)


def test_edits_make_a_lineage_of_sparse_revisions(table: tercet.Table) -> None:
    t2 = table.set_values("label", [1, 2], [0, 0], message="fix")
    t3 = t2.delete_rows([3]).set_weights([0, 5], [0.0, 2.5])
    assert table.to_arrow(["label"]).column("label").to_pylist() == [0, 1, 2, 0, 1, 2]
    df = t3.to_pandas()
    assert df["example_id"].tolist() == [0, 1, 2, 4, 5]
    assert df["label"].tolist() == [0, 0, 0, 1, 2]
    assert df["weight"].tolist() == [0.0, 1.0, 1.0, 1.0, 2.5]
    assert [r.url for r in t3.lineage()][:2] == [table.url, t2.url]
    assert t2.descriptor["parent"] == "../train"  # relative: the project moves as a whole
    assert len(storage.read_bytes(storage.join(t2.url, "object.json"))) < 2000


def test_large_delta_goes_to_parquet_and_reads_back(local_or_s3_root: str) -> None:
    n = 1000
    base = tercet.Table.create({"score": np.zeros(n)}, project="p", dataset="d", name="big")
    edited = base.set_values("score", np.arange(0, n, 2), np.ones(n // 2))
    assert edited.descriptor["delta"]["file"] == "delta.parquet"
    assert storage.exists(storage.join(edited.url, "delta.parquet"))
    assert edited.to_arrow(["score"]).column("score").to_numpy().sum() == n // 2


def test_add_column_and_value_map(table: tercet.Table) -> None:
    t = table.add_column("note", pa.string(), role="text", default="-").set_value_map(
        "label", ["x", "y", "z"]
    )
    assert t.to_arrow(["note"]).column("note").to_pylist() == ["-"] * 6
    assert t.schema["label"].value_map is not None
    assert t.schema["label"].value_map[0]["name"] == "x"


def test_latest_follows_the_newest_leaf(table: tercet.Table) -> None:
    a = table.set_values("label", [0], [1])
    b = a.set_values("label", [1], [2])
    assert table.latest().url == b.url
    c = table.set_values("label", [2], [0])
    assert table.latest().url == c.url
    assert a.latest().url == b.url
    assert {t.url for t in table.children()} == {a.url, c.url}


def test_squash_and_materialize_give_the_same_rows(table: tercet.Table) -> None:
    t = table.set_values("label", [0], [1]).delete_rows([2])
    expected = t.to_arrow()
    squashed = t.squash()
    assert squashed.is_source and squashed.to_arrow().equals(expected)
    assert table.latest().url == squashed.url
    standalone = t.squash(name="train_clean")
    assert standalone.parent_url is None and standalone.to_arrow().equals(expected)
    t.materialize()
    fresh = tercet.Table.open(t.url)
    assert fresh._cache_files() and fresh.to_arrow().equals(expected)


def test_streaming_writer_appears_only_on_close(local_or_s3_root: str) -> None:
    with tercet.TableWriter(project="p", dataset="d", name="stream") as w:
        for i in range(3):
            w.write({"x": np.full(10, float(i))})
            assert tercet.list_tables("p") == []
    assert w.table is not None and w.table.num_rows == 30
    with pytest.raises(RuntimeError), tercet.TableWriter(project="p", dataset="d", name="bad") as w:
        w.write({"x": [1.0]})
        raise RuntimeError("training VM preempted")
    assert [t.name for t in tercet.list_tables("p")] == ["stream"]


def test_concurrent_editors_all_keep_their_revision(table: tercet.Table) -> None:
    urls: list[str] = []
    lock = threading.Lock()

    def edit(i: int) -> None:
        url = tercet.Table.open(table.url).set_values("score", [i % 6], [float(i)]).url
        with lock:
            urls.append(url)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(urls)) == 8
    assert {c.url for c in table.children()} == set(urls)
    assert len({tercet.Table.open(table.url).latest().url for _ in range(3)}) == 1
