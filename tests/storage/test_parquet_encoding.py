"""How Tercet encodes Parquet: dictionaries for the columns that repeat values, none for floats
(scores, embeddings) nor a table's unique ids, where Parquet would hash every value only to fall
back to plain pages (``storage.dictionary_columns``); the rows read back the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tercet
from tercet import storage


def _encodings(path: str | Path) -> dict[str, set[str]]:
    md = pq.read_metadata(path)
    out: dict[str, set[str]] = {}
    for g in range(md.num_row_groups):
        for c in range(md.num_columns):
            col = md.row_group(g).column(c)
            out.setdefault(col.path_in_schema, set()).update(col.encodings)
    return out


def _dictionary(encodings: set[str]) -> bool:
    return bool(encodings & {"RLE_DICTIONARY", "PLAIN_DICTIONARY"})


def test_dictionary_columns_names_every_non_float_leaf() -> None:
    schema = pa.schema(
        {
            "example_id": pa.int64(),
            "score": pa.float32(),
            "emb": pa.list_(pa.float32(), 4),
            "boxes": pa.list_(pa.struct({"x": pa.float64(), "cls": pa.int32()})),
            "tags": pa.map_(pa.string(), pa.float64()),
            "name": pa.dictionary(pa.int32(), pa.string()),
        }
    )
    assert storage.dictionary_columns(schema, plain=["example_id"]) == [
        "boxes.list.element.cls",
        "tags.key_value.key",
        "name",
    ]


def test_a_table_write_skips_dictionaries_for_floats_and_ids(tmp_path: Path) -> None:
    n = 5_000
    rng = np.random.default_rng(0)
    score = rng.random(n)
    embedding = rng.standard_normal((n, 8)).astype(np.float32)
    data = {
        "label": rng.integers(0, 10, n),
        "score": score,
        "path": [f"img/{i % 7}.jpg" for i in range(n)],
        "embedding": embedding,
    }
    table = tercet.Table.create(data, project="p", dataset="d", name="t", roles={"path": "image"})
    rows = storage.join(table.url, table.descriptor["rows"][0])
    enc = _encodings(rows)
    assert _dictionary(enc["label"]) and _dictionary(enc["path"])
    assert not _dictionary(enc["score"]) and not _dictionary(enc["embedding.list.element"])
    assert not _dictionary(enc["example_id"]) and not _dictionary(enc["weight"])
    back = tercet.Table.open(table.url).to_pandas()
    assert back.example_id.tolist() == list(range(n))
    assert np.allclose(np.stack(list(back.embedding)), embedding)
    assert back.score.tolist() == pytest.approx(score.tolist())


def test_write_parquet_keeps_an_explicit_choice(tmp_path: Path) -> None:
    rows = pa.table({"x": np.zeros(1000), "k": np.arange(1000) % 3})
    storage.write_parquet(str(tmp_path / "a.parquet"), rows)
    enc = _encodings(tmp_path / "a.parquet")
    assert not _dictionary(enc["x"]) and _dictionary(enc["k"])
    storage.write_parquet(str(tmp_path / "b.parquet"), rows, use_dictionary=True)
    assert _dictionary(_encodings(tmp_path / "b.parquet")["x"])
