from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import tercet
from tercet import format, storage
from tercet.errors import EditError, SchemaError, UnknownExampleError
from tercet.tables.delta import INLINE_LIMIT


@pytest.fixture
def table() -> tercet.Table:
    return tercet.Table.create(
        {"label": [0, 1, 2, 0, 1, 2], "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]},
        project="p", dataset="d", name="train", value_maps={"label": ["a", "b", "c"]},
    )  # fmt: skip


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_edit_returns_new_revision_and_leaves_base_untouched(table: tercet.Table) -> None:
    edited = table.set_values("label", [1, 2], [0, 0], message="fix two labels")
    assert edited.url != table.url
    assert edited.parent_url == table.url
    assert edited.message == "fix two labels"
    assert table.to_arrow(["label"]).column("label").to_pylist() == [0, 1, 2, 0, 1, 2]
    assert edited.to_arrow(["label"]).column("label").to_pylist() == [0, 0, 0, 0, 1, 2]


def test_delete_and_weights_chain(table: tercet.Table) -> None:
    t2 = table.delete_rows([3])
    t3 = t2.set_weights([0, 5], [0.0, 2.5])
    df = t3.to_pandas()
    assert df["example_id"].tolist() == [0, 1, 2, 4, 5]
    assert df["weight"].tolist() == [0.0, 1.0, 1.0, 1.0, 2.5]
    assert t3.num_rows == 5
    assert [r.url for r in t3.lineage()] == [table.url, t2.url, t3.url]


def test_batched_edit_makes_one_revision(table: tercet.Table) -> None:
    with table.edit(message="cleanup") as e:
        e.set_values("label", [0], [2])
        e.delete_rows([1])
        e.set_weights([2], 0.0)
    t = e.result
    assert t.parent_url == table.url
    assert t.to_pandas()[["example_id", "label", "weight"]].values.tolist() == [
        [0, 2, 1.0], [2, 2, 0.0], [3, 0, 1.0], [4, 1, 1.0], [5, 2, 1.0],
    ]  # fmt: skip


def test_an_edit_built_by_hand_commits_once_and_an_exception_commits_nothing(
    table: tercet.Table, root: Path
) -> None:
    before = snapshot(root)
    e: tercet.Edit[tercet.Table] = table.edit(message="by hand")
    assert isinstance(e, tercet.Edit)
    e.set_values("label", [3], [1])
    e.delete_rows([4])
    assert snapshot(root) == before  # nothing is written until commit
    committed = e.commit()
    assert committed.message == "by hand" and committed.parent_url == table.url
    assert committed.to_pandas().set_index("example_id").loc[3, "label"] == 1
    assert 4 not in committed.example_ids().tolist()
    before = snapshot(root)
    with pytest.raises(RuntimeError, match="stop"), committed.edit() as failed:
        failed.delete_rows([0])
        raise RuntimeError("stop")
    assert snapshot(root) == before
    assert committed.latest().url == committed.url


def test_small_edit_is_a_few_hundred_bytes_not_a_copy(root: Path) -> None:
    n = 100_000
    big = tercet.Table.create(
        {"label": np.arange(n) % 10, "score": np.random.default_rng(0).random(n)},
        project="p", dataset="d", name="big", value_maps={"label": [str(i) for i in range(10)]},
    )  # fmt: skip
    before = snapshot(root)
    edited = big.set_values("label", [5, 50, 500], [1, 2, 3])
    written = {k: v for k, v in snapshot(root).items() if k not in before}
    assert list(written) == [str(Path(edited.url) / "object.json")]
    assert sum(len(v) for v in written.values()) < 4096


def test_large_delta_goes_to_parquet_and_reads_back(table: tercet.Table) -> None:
    n = 5_000
    t = tercet.Table.create({"score": np.zeros(n)}, project="p", dataset="d", name="large")
    ids = np.arange(0, n, 7)
    edited = t.set_values("score", ids, ids * 1.5).delete_rows(np.arange(1, n, 9))
    assert (Path(edited.parent_url or "") / "delta.parquet").exists()
    df = edited.to_pandas()
    expected = np.zeros(n)
    expected[ids] = ids * 1.5
    keep = np.ones(n, bool)
    keep[np.arange(1, n, 9)] = False
    np.testing.assert_allclose(df["score"].to_numpy(), expected[keep])
    assert df["example_id"].tolist() == np.arange(n)[keep].tolist()


def test_add_column_and_value_map_change(table: tercet.Table) -> None:
    t = table.add_column("note", pa.string(), role="text", default="ok")
    assert t.to_arrow(["note"]).column("note").to_pylist() == ["ok"] * 6
    t = t.set_value_map("label", ["a", "b", "c", "d"])
    t = t.set_values("label", [0], [3])
    value_map = t.schema["label"].value_map
    assert value_map is not None and value_map[3]["name"] == "d"
    assert t.to_arrow(["label"]).column("label").to_pylist()[0] == 3
    assert "note" not in table.schema


def test_a_large_edit_with_an_added_column_reads_back_from_its_delta_file() -> None:
    """More edited cells than fit in the descriptor: the edits and the added column's default
    are read back from delta.parquet, also through a child revision."""
    n = 300
    big = tercet.Table.create({"score": np.zeros(n)}, project="p", dataset="d", name="big")
    with big.edit() as e:
        e.add_column("note", pa.string(), role="text", default="ok")
        e.set_values("score", np.arange(n), np.arange(n) / 2)
        e.delete_rows([7])
    edited = e.result
    spec = edited.descriptor["delta"]
    assert spec["file"] == "delta.parquet"
    assert [c["name"] for c in spec["added_columns"]] == ["note"]
    child = edited.set_values("note", [1], ["changed"])
    for t, note1 in ((edited, "ok"), (child, "changed")):
        rows = t.to_arrow(["example_id", "score", "note"]).to_pydict()
        assert 7 not in rows["example_id"] and len(rows["example_id"]) == n - 1
        assert rows["score"][:3] == [0.0, 0.5, 1.0] and rows["score"][-1] == (n - 1) / 2
        assert rows["note"][:3] == ["ok", note1, "ok"]


def test_edit_validation_errors_leave_storage_intact(table: tercet.Table, root: Path) -> None:
    before = snapshot(root)
    with pytest.raises(SchemaError, match="not in its value map"):
        table.set_values("label", [0], [9])
    with pytest.raises(SchemaError, match="expects int32; received 'x'"):
        table.set_values("label", [0], ["x"])
    with pytest.raises(SchemaError, match="Weight must be a finite number"):
        table.set_weights([0], float("nan"))
    with pytest.raises(SchemaError, match="Weight must be a finite number"):
        table.set_weights([0], -1)
    with pytest.raises(SchemaError, match="No column 'nope'"):
        table.set_values("nope", [0], [1])
    with pytest.raises(UnknownExampleError, match=r"\[99\] are not in revision"):
        table.set_values("label", [99], [1])
    with pytest.raises(SchemaError, match="example_id cannot be edited"):
        table.set_values("example_id", [0], [5])
    deleted = table.delete_rows([0])
    before = snapshot(root)
    with pytest.raises(UnknownExampleError, match="deleted or never existed"):
        deleted.set_values("label", [0], [1])
    with (
        pytest.raises(EditError, match=r"^Nothing to commit: the edit is empty\.$"),
        deleted.edit(),
    ):
        pass
    assert snapshot(root) == before


def test_apply_edits_json_form(table: tercet.Table) -> None:
    t = table.apply_edits(
        {
            "set": [{"column": "label", "example_id": 1, "value": 2},
                    {"column": "score", "example_id": 2, "value": 9}],
            "delete": [5],
            "weights": [{"example_id": 0, "weight": 0}],
        },
        message="from the dashboard",
    )  # fmt: skip
    rows = {r["example_id"]: r for r in t.rows}
    assert rows[1]["label"] == 2 and rows[2]["score"] == 9.0 and rows[0]["weight"] == 0.0
    assert 5 not in rows
    with pytest.raises(EditError, match="example ids are integers"):
        table.apply_edits({"delete": ["5"]})
    with pytest.raises(EditError, match="Unknown edit kinds"):
        table.apply_edits({"rename": []})


def test_latest_follows_newest_leaf(table: tercet.Table) -> None:
    a = table.set_values("label", [0], [1])
    b = a.set_values("label", [1], [2])
    assert table.latest().url == b.url
    assert a.latest().url == b.url
    assert b.latest().url == b.url
    c = table.set_values("label", [2], [0])  # a second branch from the source, created last
    assert table.latest().url == c.url
    assert a.latest().url == b.url
    assert {t.url for t in table.children()} == {a.url, c.url}


def test_squash_and_materialize_give_same_rows(table: tercet.Table) -> None:
    t = table.set_values("label", [0], [1]).delete_rows([2]).set_weights([3], 0.5)
    expected = t.to_arrow()
    squashed = t.squash()
    assert squashed.is_source and squashed.parent_url == t.url
    assert squashed.to_arrow().equals(expected)
    assert table.latest().url == squashed.url
    standalone = t.squash(name="train_clean")
    assert standalone.parent_url is None and standalone.to_arrow().equals(expected)
    t.materialize()
    fresh = tercet.Table.open(t.url)
    assert fresh._cache_files() and fresh.to_arrow().equals(expected)


def _edit_worker(url: str, i: int, config: str, root: str) -> str:
    os.environ["TERCET_CONFIG"] = config
    os.environ["TERCET_ROOT"] = root
    t = tercet.Table.open(url)
    return t.set_values("score", [i % 6], [float(i)], message=f"editor {i}").url


def test_twenty_concurrent_editors_all_keep_their_revision(table: tercet.Table, root: Path) -> None:
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        urls = pool.starmap(
            _edit_worker,
            [(table.url, i, os.environ["TERCET_CONFIG"], str(root)) for i in range(20)],
        )
    assert len(set(urls)) == 20
    children = table.children()
    assert {c.url for c in children} == set(urls)
    latest = {tercet.Table.open(table.url).latest().url for _ in range(3)}
    assert len(latest) == 1
    newest = max(children, key=lambda t: (t.descriptor["created"], t.id))
    assert latest == {newest.url}
    for c in children:
        i = int(c.message.split()[-1])
        assert c.to_arrow(["score"]).column("score").to_pylist()[i % 6] == float(i)


def test_killed_writer_leaves_no_partial_object(table: tercet.Table, root: Path) -> None:
    """A writer SIGKILLed while streaming a big table leaves no visible table and no damage."""
    script = textwrap.dedent(
        """
        import sys, numpy as np, tercet
        with tercet.TableWriter(project="p", dataset="d", name="huge") as w:
            print("started", flush=True)
            for i in range(10_000):
                w.write({"x": np.random.default_rng(i).random(100_000)})
        """
    )
    before = snapshot(root)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ.copy()
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"started"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Nothing visible: no table, listings skip the hidden temp file.
    assert [t.name for t in tercet.list_tables("p")] == ["train"]
    huge = Path(root) / "p" / "datasets" / "d" / "tables" / "huge"
    assert not (huge / "object.json").exists()
    assert all(n.startswith(".tmp-") for n in storage.ls(str(huge / "rows")))
    # Every earlier object is byte-for-byte intact and readable.
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before
    assert tercet.Table.open(table.url).num_rows == 6
    # The name is still free once the debris is gone? It is taken only by a complete table.
    t = tercet.Table.create({"x": [1.0]}, project="p", dataset="d", name="huge")
    assert t.num_rows == 1


def test_set_on_a_row_deleted_in_the_same_edit_is_rejected(table: tercet.Table) -> None:
    """A value set on a row the same edit deleted would be lost: the edit refuses it instead."""
    e = table.edit(message="delete then set")
    e.delete_rows([3])
    with pytest.raises(UnknownExampleError, match=r"\[3\] are not in revision .* deleted"):
        e.set_values("label", [3], [1])
    with pytest.raises(UnknownExampleError, match=r"\[3\]"):
        e.set_weights([0, 3], [0.5, 0.5])
    e.set_values("label", [4], [2])  # the other rows stay editable
    t = e.commit()
    assert t.to_pandas()[["example_id", "label"]].values.tolist() == [
        [0, 0], [1, 1], [2, 2], [4, 2], [5, 2]
    ]  # fmt: skip


def test_value_maps_change_on_labels_boxes_and_predictions_only(root: Path) -> None:
    """Renaming classes keeps the column's other schema fields; other roles refuse a value map."""
    fx = Path(__file__).parent.parent / "fixtures" / "formats"
    tercet.aliases.set("FX", str(fx))
    coco = tercet.Table.from_coco(str(fx / "coco/annotations.json"), str(fx / "coco/images"),
                                  project="p", dataset="coco", name="train")  # fmt: skip
    renamed = coco.set_value_map("boxes", {1: "human", 3: "auto"})
    assert renamed.schema["boxes"].value_map is not None
    assert {k: v["name"] for k, v in renamed.schema["boxes"].value_map.items()} == {
        1: "human", 3: "auto",
    }  # fmt: skip
    before = snapshot(root)
    with pytest.raises(SchemaError, match=r"'keypoints' has role 'keypoints'; only label, boxes"):
        coco.set_value_map("keypoints", ["a"])
    assert snapshot(root) == before

    schema = tercet.Schema([
        tercet.Column("y", pa.int32(), "label", extra={"description": "the class"}),
        tercet.Column("guess", pa.int32(), "prediction"),
    ])  # fmt: skip
    t = tercet.Table.create({"y": np.array([0, 1], np.int32), "guess": np.array([1, 1], np.int32)},
                            project="p", dataset="d", name="t", schema=schema)  # fmt: skip
    t = t.set_value_map("y", ["cat", "dog"]).set_value_map("guess", ["cat", "dog"])
    assert t.schema["y"].extra == {"description": "the class"}
    assert [v["name"] for v in (t.schema["guess"].value_map or {}).values()] == ["cat", "dog"]


def test_as_many_ids_as_values_or_the_edit_says_which_column(
    table: tercet.Table, root: Path
) -> None:
    before = snapshot(root)
    with pytest.raises(EditError, match=r"^2 example ids but 3 values for 'score'\.$"):
        table.set_values("score", [0, 1], [0.5, 0.6, 0.7])
    assert snapshot(root) == before


def test_inline_up_to_the_limit_then_a_delta_file_keeping_large_ids_exact(root: Path) -> None:
    """Ids above 2**53 (hashes as ids) survive the delta file's id column exactly: a float on
    the way would merge neighbours. Exactly ``INLINE_LIMIT`` cells stay in the descriptor."""
    n = INLINE_LIMIT + 1
    ids = 2**60 + 2 * np.arange(n, dtype=np.int64)  # 2 apart: one float64 step there is 256
    t = tercet.Table.create(
        {"example_id": ids, "x": np.zeros(n, np.int64)}, project="p", dataset="d", name="h"
    )
    inline = t.set_values("x", ids[:INLINE_LIMIT], np.arange(INLINE_LIMIT))
    assert len(inline.descriptor["delta"]["set"]["x"]["example_id"]) == INLINE_LIMIT
    assert not (Path(inline.url) / "delta.parquet").exists()

    to_file = t.set_values("x", ids, np.arange(n) + 1)
    assert "file" in to_file.descriptor["delta"]
    df = to_file.to_pandas()
    assert df["example_id"].tolist() == ids.tolist()
    assert df["x"].tolist() == (np.arange(n) + 1).tolist()


def test_latest_ranks_a_fast_clock_by_when_the_storage_recorded_it(
    table: tercet.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read after the fast clock's time has passed, the skewed revision's ``created`` is no
    longer from the future: only the descriptor's storage time still puts it first."""
    real = format.now
    with monkeypatch.context() as m:
        m.setattr(format, "now", lambda: real() + timedelta(hours=1))
        skewed = table.set_values("label", [0], [1])
    then = time.time() - 60
    os.utime(format.descriptor_url(skewed.url), (then, then))
    honest = table.set_values("label", [0], [2])
    monkeypatch.setattr(format, "now", lambda: real() + timedelta(hours=2))
    assert table.latest().url == honest.url


def test_a_damaged_revision_hides_none_of_its_siblings(table: tercet.Table) -> None:
    """A half-written revision listed before the others (its name sorts first) is skipped,
    and the revisions after it are still children and candidates for latest."""
    child = table.set_values("label", [0], [1])
    for year, body in ((2000, "{"), (2099, None)):  # unreadable, and not written yet
        suffix = format.unique_suffix(datetime(year, 1, 1, tzinfo=UTC))
        folder = Path(storage.parent(table.url)) / f"train{format.REVISION_SEPARATOR}{suffix}"
        folder.mkdir()
        if body is not None:
            (folder / format.OBJECT_JSON).write_text(body)
    assert [t.url for t in table.children()] == [child.url]
    assert table.latest().url == child.url
