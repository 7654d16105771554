"""Ids unique across every batch a writer streams (tercet.tables.unique), and edits applied
chunk by chunk over a table read as several row groups (tercet.tables.delta)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tercet
from tercet.errors import SchemaError


def test_an_id_repeated_in_a_later_batch_is_refused_and_nothing_is_written(root: Path) -> None:
    with pytest.raises(SchemaError, match="unique within a table: 7 appears more than once"):
        with tercet.TableWriter(project="p", dataset="d", name="t") as w:
            w.write({"example_id": [5, 6, 7], "x": [1.0, 2.0, 3.0]})
            w.write({"example_id": [9, 7], "x": [4.0, 5.0]})
    assert not (root / "p" / "datasets" / "d" / "tables" / "t").exists()


def test_unique_ids_in_any_order_are_written_as_given(root: Path) -> None:
    with tercet.TableWriter(project="p", dataset="d", name="t") as w:
        w.write({"example_id": [10, 11], "x": [1, 2]})
        w.write({"example_id": [3, 2], "x": [3, 4]})  # below the first batch, falling
        w.write({"example_id": [12], "x": [5]})
    assert w.table is not None
    rows = w.table.to_arrow()
    assert rows.column("example_id").to_pylist() == [10, 11, 3, 2, 12]
    assert rows.column("x").to_pylist() == [1, 2, 3, 4, 5]


def test_edits_across_row_groups_land_on_their_rows(root: Path) -> None:
    with tercet.TableWriter(project="p", dataset="d", name="t") as w:
        for start in (0, 4, 8):  # three row groups, read back as three chunks
            ids = np.arange(start, start + 4)
            w.write({
                "n": ids * 10,
                "s": [f"s{i}" for i in ids],
                "emb": np.stack([ids, -ids]).T.astype(np.float32),
            })  # fmt: skip
    table = w.table
    assert table is not None and table.to_arrow().column("n").num_chunks == 3
    edited = table.set_values("n", [11, 0, 5, 4], [-1, -2, -3, -4])
    edited = edited.set_values("s", [3, 8], ["x", "y"])
    edited = edited.set_values("emb", [9], [np.array([7.0, 7.0], dtype=np.float32)])
    edited = edited.delete_rows([1])
    rows = tercet.Table.open(edited.url).to_arrow()
    kept = [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    n = {i: i * 10 for i in kept} | {11: -1, 0: -2, 5: -3, 4: -4}
    s = {i: f"s{i}" for i in kept} | {3: "x", 8: "y"}
    emb = {i: [float(i), float(-i)] for i in kept} | {9: [7.0, 7.0]}
    assert rows.column("example_id").to_pylist() == kept
    assert rows.column("n").to_pylist() == [n[i] for i in kept]
    assert rows.column("s").to_pylist() == [s[i] for i in kept]
    assert rows.column("emb").to_pylist() == [emb[i] for i in kept]
