"""How metrics files are encoded (tercet.runs.encoding): what is compressed, and that readers
see the same values whatever the encoding."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import tercet

from .test_collect import _table


def test_float_vectors_are_stored_uncompressed_and_read_back_unchanged() -> None:
    """Embeddings and probabilities are written without zstd (half the CPU of an epoch's file);
    other columns keep it, readers get the same Arrow types and values, and a file of the
    earlier form (every column zstd) still reads."""
    train = _table()
    run = tercet.init(project="p")
    ids = train.example_ids()
    vec = np.arange(len(ids) * 3, dtype=np.float32).reshape(-1, 3) / 7
    url = run.write_metrics(
        train, {"example_id": ids, "loss": np.linspace(0, 1, len(ids)), "vec": vec},
        roles={"vec": "embedding"}, split="offline", epoch=0,
    )  # fmt: skip
    group = pq.ParquetFile(url).metadata.row_group(0)
    codecs = {group.column(i).path_in_schema: group.column(i).compression
              for i in range(group.num_columns)}  # fmt: skip
    assert codecs == {"example_id": "ZSTD", "loss": "ZSTD", "vec.list.element": "UNCOMPRESSED"}
    read = run.metrics("offline", epoch=0)
    assert read.schema.field("vec").type == pa.list_(pa.float32(), 3)
    np.testing.assert_array_equal(np.stack(read.column("vec").to_numpy(zero_copy_only=False)), vec)
    # The earlier form: the same file with every column zstd.
    old = pq.read_table(url)
    os.remove(url)
    pq.write_table(old, url, compression="zstd")
    assert run.metrics("offline", epoch=0).equals(read)
