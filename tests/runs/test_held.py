"""Classification columns computed once for many batches (tercet.runs.held)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

import tercet
from tercet import storage

from .test_collect import _collectors, _model, _table, to_sample


def test_columns_computed_once_per_pass_equal_those_released_batch_by_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Classification columns are computed for many batches at once (HeldRows); released after
    every batch instead (a pass larger than the memory bound), the file holds the same rows."""
    from tercet.runs import held

    train = _table(n=50)
    run = tercet.init(project="p")
    model = _model()

    def collect(split: str) -> pa.Table:
        result = tercet.collect_metrics(train.map(to_sample), _collectors(), model, split=split,
                                        batch_size=8, constants={"lr": 0.1}, wait=True)  # fmt: skip
        assert result["rows"] == 50
        return storage.read_parquet(result["url"])

    whole = collect("whole")
    monkeypatch.setattr(held, "HELD_VALUES", 1)
    parts = collect("parts")
    assert whole.column_names == parts.column_names
    assert whole.column_names[:2] == ["example_id", "loss"] and whole.column_names[-1] == "lr"
    assert (
        whole.column("example_id").to_pylist() == train.to_arrow().column("example_id").to_pylist()
    )
    assert whole.equals(parts)
    summary = run.aggregates().to_pylist()
    means = {(r["name"]): r["value"] for r in summary}
    assert means["whole/loss"] == pytest.approx(means["parts/loss"])


def test_a_wide_embedding_is_released_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Embedding values count toward the memory bound like held scores: a pass whose embeddings
    exceed it is written in several parts (not joined into one huge array), same rows."""
    from tercet.runs import collect as collect_mod
    from tercet.runs import held

    train = _table(n=50)
    tercet.init(project="p")
    model = _model()
    released: list[int] = []
    write_rows = collect_mod.Encoder.write_rows

    def counting(self: collect_mod.Encoder, rows: list[dict[str, Any]], constants: Any) -> None:
        released.extend(len(r["example_id"]) for r in rows)
        write_rows(self, rows, constants)

    monkeypatch.setattr(collect_mod.Encoder, "write_rows", counting)

    def collect(split: str) -> pa.Table:
        result = tercet.collect_metrics(train.map(to_sample), [tercet.EmbeddingCollector("hidden")],
                                        model, split=split, batch_size=8, wait=True)  # fmt: skip
        return storage.read_parquet(result["url"])

    whole = collect("whole")
    assert released == [50]
    released.clear()
    monkeypatch.setattr(held, "HELD_VALUES", 8 * 8 * 2)  # two batches of 8 rows × 8 dims
    parts = collect("parts")
    assert released == [16, 16, 16, 2]
    assert whole.equals(parts)
