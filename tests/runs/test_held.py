"""Classification columns computed once for many batches (tercet.runs.held)."""

from __future__ import annotations

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
