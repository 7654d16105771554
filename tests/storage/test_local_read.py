"""Local Parquet files read row group by row group (tercet.storage.read): the same table, column
selection and errors as pyarrow's whole-file read."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tercet import storage
from tercet.errors import StorageError


def test_row_groups_read_as_chunks_of_the_selected_columns(tmp_path: Path) -> None:
    table = pa.table({"a": list(range(10)), "b": [str(i) for i in range(10)], "c": [1.0] * 10})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=4)
    whole = storage.read_parquet(str(tmp_path / "t.parquet"))
    assert whole.equals(table) and whole.column("a").num_chunks == 3
    picked = storage.read_parquet(str(tmp_path / "t.parquet"), columns=["c", "a"])
    assert picked.column_names == ["c", "a"]
    assert picked.column("a").to_pylist() == list(range(10))


def test_a_file_without_rows_reads_as_an_empty_table_of_its_schema(tmp_path: Path) -> None:
    schema = pa.schema([("a", pa.int64()), ("b", pa.string())])
    pq.write_table(schema.empty_table(), tmp_path / "e.parquet")
    out = storage.read_parquet(str(tmp_path / "e.parquet"), columns=["b"])
    assert out.num_rows == 0 and out.schema.names == ["b"]


def test_a_column_the_file_lacks_is_an_error_naming_the_file(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1]}), tmp_path / "t.parquet")
    with pytest.raises(StorageError, match=r"t\.parquet"):
        storage.read_parquet(str(tmp_path / "t.parquet"), columns=["a", "nope"])
