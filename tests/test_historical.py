"""Every on-disk format version we ship stays readable: these files were written by format v1."""

from __future__ import annotations

from pathlib import Path

import tercet

HERE = Path(__file__).parent / "historical" / "format-v1" / "legacy" / "datasets" / "d" / "tables"


def test_format_v1_chain_reads_back() -> None:
    source = tercet.Table.open(str(HERE / "train"))
    latest = source.latest()
    messages = [t.message for t in latest.lineage()]
    assert messages == ["source", "inline delta", "parquet delta", "added column", ""]
    df = latest.to_pandas()
    assert len(df) == 399 and 7 not in set(df["example_id"])
    assert df.loc[df.example_id == 1, "label"].item() == 0
    assert set(df["score"]) == {0.5}
    assert set(df["note"]) == {"x"}
    assert df.loc[df.example_id == 3, "embedding"].item().tolist() == [12.0, 13.0, 14.0, 15.0]
    assert source.to_pandas()["label"].tolist()[:3] == [0, 1, 2]
