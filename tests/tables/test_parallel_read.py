"""Row groups decoded a few at a time (tercet.storage.read) and edits located by id on the chunks
as read (tercet.tables.delta): the same values, in file order, at every row-group boundary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tercet
from tercet import storage
from tercet.errors import UnknownExampleError
from tercet.storage import read as read_mod
from tercet.tables import delta


def _groups_file(path: Path, sizes: list[int]) -> pa.Table:
    """A file whose row groups hold ``sizes`` rows (0 allowed), and the rows it holds."""
    n = sum(sizes)
    table = pa.table({
        "id": np.arange(n, dtype=np.int64),
        "s": [f"s{i}" for i in range(n)],
        "v": pa.FixedSizeListArray.from_arrays(pa.array(np.arange(2 * n, dtype=np.float32)), 2),
    })  # fmt: skip
    with pq.ParquetWriter(path, table.schema) as writer:
        start = 0
        for size in sizes:
            writer.write_table(table.slice(start, size))
            start += size
    return table


@pytest.mark.parametrize("window", [None, 1, 2, 3, 8])
def test_row_groups_decoded_at_once_come_back_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int | None
) -> None:
    sizes = [3, 1, 0, 4, 2, 0, 5, 1, 3]  # empty row groups among them, one at the end too
    table = _groups_file(tmp_path / "t.parquet", [*sizes, 0])
    monkeypatch.setattr(read_mod, "READ_WINDOW", window)
    out = storage.read_parquet(str(tmp_path / "t.parquet"))
    assert out.equals(table)
    assert [len(c) for c in out.column("id").chunks] == [*sizes, 0]  # one chunk per row group
    picked = storage.read_parquet(str(tmp_path / "t.parquet"), columns=["v", "id"])
    assert picked.column_names == ["v", "id"]
    assert picked.column("v").to_pylist() == table.column("v").to_pylist()


def test_a_row_group_that_fails_to_decode_is_an_error_naming_the_file(tmp_path: Path) -> None:
    _groups_file(tmp_path / "t.parquet", [4, 4, 4, 4])
    raw = bytearray((tmp_path / "t.parquet").read_bytes())
    raw[200:260] = b"\xff" * 60  # inside a later row group's pages; the footer intact
    (tmp_path / "t.parquet").write_bytes(bytes(raw))
    with pytest.raises(tercet.errors.StorageError, match=r"t\.parquet"):
        storage.read_parquet(str(tmp_path / "t.parquet"))


def _table_of_groups(ids: list[list[int]]) -> tercet.Table:
    """A source table whose rows file holds one row group per list of ids (batches streamed)."""
    with tercet.TableWriter(project="p", dataset="d", name="t") as w:
        for group in ids:
            w.write({"example_id": group, "n": [i * 10 for i in group]})
    assert w.table is not None
    assert [len(c) for c in w.table.to_arrow().column("n").chunks] == [len(g) for g in ids]
    return w.table


@pytest.mark.parametrize("gap", [False, True], ids=["contiguous ids", "ids with a gap"])
def test_edits_on_both_sides_of_each_row_group_boundary(root: Path, gap: bool) -> None:
    groups = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    if gap:
        groups[1] = [5, 6, 7, 9]  # ids skip 4 and 8: located by search, not by offset
        groups[2] = [10, 11, 12]
    table = _table_of_groups(groups)
    flat = [i for g in groups for i in g]
    # The last row of a group and the first of the next, and the table's first and last rows.
    edited = [flat[0], flat[3], flat[4], flat[7], flat[8], flat[-1]]
    rev = table.set_values("n", edited, [-(k + 1) for k in range(len(edited))])
    rev = rev.set_values("n", [flat[4]], [99])  # set again in a later revision: the last wins
    rows = tercet.Table.open(rev.url).to_arrow()
    want = {i: i * 10 for i in flat} | {e: -(k + 1) for k, e in enumerate(edited)} | {flat[4]: 99}
    assert rows.column("example_id").to_pylist() == flat
    assert rows.column("n").to_pylist() == [want[i] for i in flat]


def test_a_one_row_table_reads_edited_and_refuses_an_id_it_lacks(root: Path) -> None:
    table = tercet.Table.create({"example_id": [7], "x": [1.5]}, "p", "d", "one")
    rev = table.set_values("x", [7], [2.5])
    assert tercet.Table.open(rev.url).to_arrow().column("x").to_pylist() == [2.5]
    with pytest.raises(UnknownExampleError, match=r"\[8\]"):
        delta.positions(pa.chunked_array([[7]]), np.array([8]), "here")


@pytest.mark.parametrize(
    "chunks, wanted, expected",
    [
        ([[3, 4], [5, 6, 7]], [7, 3, 5], [4, 0, 2]),  # contiguous across chunks
        ([[3, 4], [6, 7]], [6, 4], [2, 1]),  # a gap between chunks
        ([[3, 5, 4]], [4, 5], [2, 1]),  # one step not by one
        ([[], [2, 3], []], [3], [1]),  # empty chunks
    ],
)
def test_positions_on_chunks_as_read(
    chunks: list[list[int]], wanted: list[int], expected: list[int]
) -> None:
    ids = pa.chunked_array(chunks, type=pa.int64())
    assert delta.positions(ids, np.array(wanted), "here").tolist() == expected


@pytest.mark.parametrize("wanted", [[2], [8], [-1, 3]])
def test_an_id_outside_contiguous_ids_is_named(wanted: list[int]) -> None:
    ids = pa.chunked_array([[3, 4], [5, 6, 7]], type=pa.int64())
    with pytest.raises(UnknownExampleError, match="not in this revision"):
        delta.positions(ids, np.array(wanted), "here")
