"""The storage contract, one suite run against every backend: local disk, memory:// and S3.

Each test receives ``backend_root`` (tests/fixtures/s3.py) and must pass unchanged on all three.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import fsspec
import numpy as np
import pyarrow as pa
import pytest

from tercet import storage
from tercet.errors import CorruptObjectError, ObjectExistsError, ObjectNotFoundError, StorageError
from tercet.storage import s3


def _table(n: int = 50) -> pa.Table:
    emb = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    return pa.table(
        {
            "example_id": pa.array(np.arange(n), pa.int64()),
            "label": pa.array(np.arange(n) % 3, pa.int32()),
            "score": pa.array(np.linspace(0, 1, n), pa.float32()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), 4),
            "path": pa.array([f"<PROJECT_DATA>/{i}.jpg" for i in range(n)]),
            "probs": pa.array([[0.5, 0.5]] * n, pa.list_(pa.float32())),
        }
    )


def _raw_put(url: str, data: bytes) -> None:
    """Put bytes with the bare backend, bypassing Tercet (a crashed writer's leftovers)."""
    fs, path = storage.filesystem(url)
    if storage.is_local(url):
        fs.makedirs(storage.parent(url), exist_ok=True)
    fs.pipe_file(path, data)


class TestStorageContract:
    """The storage contract: every test passes unchanged on local disk, memory:// and S3."""

    # -- read / write --------------------------------------------------------------------------
    def test_written_bytes_read_back(self, backend_root: str) -> None:
        url = storage.join(backend_root, "p", "deep", "er", "a.bin")
        storage.write_bytes(url, b"\x00hello\xff")
        assert storage.read_bytes(url) == b"\x00hello\xff"
        assert storage.exists(url)
        assert storage.file_info(url)["size"] == 7

    def test_empty_object_round_trips(self, backend_root: str) -> None:
        url = storage.join(backend_root, "empty")
        storage.write_bytes(url, b"")
        assert storage.read_bytes(url) == b""

    def test_json_round_trips_and_damaged_json_is_reported(self, backend_root: str) -> None:
        url = storage.join(backend_root, "o", "object.json")
        storage.write_json(url, {"a": [1, 2], "b": "ü"})
        assert storage.read_json(url) == {"a": [1, 2], "b": "ü"}
        bad = storage.join(backend_root, "o", "bad.json")
        storage.write_bytes(bad, b'{"a": ')
        with pytest.raises(CorruptObjectError, match="bad.json.*not valid JSON"):
            storage.read_json(bad)

    def test_missing_object_is_file_not_found_naming_the_url(self, backend_root: str) -> None:
        url = storage.join(backend_root, "nope", "missing.json")
        with pytest.raises(ObjectNotFoundError, match="missing.json") as info:
            storage.read_bytes(url)
        assert isinstance(info.value, FileNotFoundError)
        assert not storage.exists(url)
        with pytest.raises(FileNotFoundError, match="missing.json"):
            storage.file_info(url)
        with pytest.raises(FileNotFoundError, match="missing.parquet"):
            storage.read_parquet(storage.join(backend_root, "missing.parquet"))
        with pytest.raises(FileNotFoundError, match="missing.parquet"):
            storage.read_parquet_metadata(storage.join(backend_root, "missing.parquet"))

    def test_overwrite_is_refused_and_the_object_kept(self, backend_root: str) -> None:
        url = storage.join(backend_root, "x", "object.json")
        storage.write_bytes(url, b"first")
        with pytest.raises(ObjectExistsError, match="already exists") as info:
            storage.write_bytes(url, b"second")
        assert isinstance(info.value, FileExistsError)
        with pytest.raises(FileExistsError):
            storage.write_parquet(url, _table())
        assert storage.read_bytes(url) == b"first"
        storage.write_bytes(url, b"third", overwrite=True)
        assert storage.read_bytes(url) == b"third"

    def test_failed_write_leaves_nothing_visible(self, backend_root: str) -> None:
        folder = storage.join(backend_root, "f")
        url = storage.join(folder, "half.bin")
        with pytest.raises(RuntimeError, match="killed"), storage.open_atomic(url) as fh:
            fh.write(b"x" * 1000)
            raise RuntimeError("writer killed")
        assert not storage.exists(url)
        assert storage.ls(folder) == []
        assert storage.walk_files(backend_root) == []
        storage.write_bytes(url, b"second try")  # the name is still free
        assert storage.read_bytes(url) == b"second try"

    def test_large_object_goes_up_in_parts_and_round_trips(
        self, backend_root: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(s3, "PART_SIZE", 5 * 2**20)  # S3's smallest part
        data = np.random.default_rng(1).bytes(11 * 2**20 + 17)
        url = storage.join(backend_root, "big", "blob.bin")
        with storage.open_atomic(url) as fh:
            for start in range(0, len(data), 3 * 2**20):
                fh.write(data[start : start + 3 * 2**20])
        assert storage.read_bytes(url) == data
        with pytest.raises(FileExistsError), storage.open_atomic(url) as fh:
            fh.write(data)

    def test_large_failed_write_leaves_nothing_visible(
        self, backend_root: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(s3, "PART_SIZE", 5 * 2**20)
        url = storage.join(backend_root, "big", "half.bin")
        with pytest.raises(RuntimeError), storage.open_atomic(url) as fh:
            fh.write(b"y" * (11 * 2**20))  # two parts already uploaded on S3
            raise RuntimeError("writer killed")
        assert not storage.exists(url)
        assert storage.walk_files(backend_root) == []

    # -- listing -------------------------------------------------------------------------------
    def test_ls_names_direct_children_sorted(self, backend_root: str) -> None:
        base = storage.join(backend_root, "proj")
        for rel in ["b.json", "a.json", "sub/c.json", "sub/deeper/d.json", "zz/e.json"]:
            storage.write_bytes(storage.join(base, rel), b"{}")
        assert storage.ls(base) == ["a.json", "b.json", "sub", "zz"]
        assert storage.ls(storage.join(base, "sub")) == ["c.json", "deeper"]
        assert storage.ls(storage.join(base, "missing")) == []
        assert storage.exists(storage.join(base, "sub"))

    def test_walk_files_returns_urls_in_the_callers_form(self, backend_root: str) -> None:
        base = storage.join(backend_root, "proj")
        rels = ["a/object.json", "a/rows/part.parquet", "b/object.json", "b/x/y/object.json"]
        for rel in rels:
            storage.write_bytes(storage.join(base, rel), b"1")
        assert storage.walk_files(base) == sorted(storage.join(base, r) for r in rels)
        assert storage.walk_files(base, suffix="object.json") == [
            storage.join(base, r) for r in ["a/object.json", "b/object.json", "b/x/y/object.json"]
        ]
        assert storage.walk_files(storage.join(base, "missing")) == []
        for url in storage.walk_files(base):
            assert storage.read_bytes(url) == b"1"

    def test_hidden_temp_files_are_skipped(self, backend_root: str) -> None:
        base = storage.join(backend_root, "t")
        storage.write_bytes(storage.join(base, "object.json"), b"{}")
        _raw_put(storage.join(base, ".tmp-0123456789ab-object.json"), b"{")
        _raw_put(storage.join(base, ".tmp-0123456789ab-rows", "part.parquet"), b"PAR")
        assert storage.ls(base) == ["object.json"]
        assert storage.walk_files(base) == [storage.join(base, "object.json")]

    # -- parquet -------------------------------------------------------------------------------
    def test_parquet_round_trips_with_types_and_columns(self, backend_root: str) -> None:
        table = _table()
        url = storage.join(backend_root, "rows", "part-0.parquet")
        storage.write_parquet(url, table, row_group_size=16)
        assert storage.read_parquet(url).equals(table)
        assert storage.read_parquet(url, columns=["score", "example_id"]).column_names == [
            "score",
            "example_id",
        ]
        meta = storage.read_parquet_metadata(url)
        assert meta.num_rows == 50 and meta.num_row_groups == 4

    def test_several_parquet_files_read_as_one_table(self, backend_root: str) -> None:
        table = _table(30)
        urls = [storage.join(backend_root, "rows", f"part-{i}.parquet") for i in range(3)]
        for i, url in enumerate(urls):
            storage.write_parquet(url, table.slice(i * 10, 10))
        assert storage.read_parquet(urls).equals(table)

    def test_damaged_parquet_is_corrupt_naming_the_url(self, backend_root: str) -> None:
        url = storage.join(backend_root, "rows", "bad.parquet")
        storage.write_bytes(url, b"PAR1 this is not parquet")
        with pytest.raises(CorruptObjectError, match="bad.parquet"):
            storage.read_parquet(url)

    def test_parquet_stream_appears_only_on_close(self, backend_root: str) -> None:
        table = _table(40)
        url = storage.join(backend_root, "s", "stream.parquet")
        stream = storage.ParquetStream(url, table.schema, row_group_size=10)
        for batch in table.to_batches(max_chunksize=10):
            stream.write(batch)
        assert not storage.exists(url)
        stream.close()
        assert stream.rows == 40
        assert storage.read_parquet(url).equals(table)
        aborted = storage.join(backend_root, "s", "aborted.parquet")
        stream = storage.ParquetStream(aborted, table.schema)
        stream.write(table)
        stream.abort()
        assert not storage.exists(aborted)
        assert storage.ls(storage.join(backend_root, "s")) == ["stream.parquet"]

    def test_arrow_filesystem_reads_what_storage_wrote(self, backend_root: str) -> None:
        import pyarrow.dataset as ds

        url = storage.join(backend_root, "ds", "part.parquet")
        storage.write_parquet(url, _table())
        fs, path = storage.arrow_filesystem(url)
        assert ds.dataset(path, filesystem=fs, format="parquet").count_rows() == 50

    # -- concurrency ---------------------------------------------------------------------------
    def test_concurrent_writers_of_distinct_objects_lose_nothing(self, backend_root: str) -> None:
        base = storage.join(backend_root, "many")

        def write(i: int) -> None:
            storage.write_json(storage.join(base, f"w{i}", "object.json"), {"writer": i})
            storage.write_parquet(storage.join(base, f"w{i}", "rows.parquet"), _table(5 + i))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(write, range(16)))
        assert len(storage.walk_files(base, suffix="object.json")) == 16
        for i in range(16):
            assert storage.read_json(storage.join(base, f"w{i}", "object.json")) == {"writer": i}
            assert (
                storage.read_parquet(storage.join(base, f"w{i}", "rows.parquet")).num_rows == 5 + i
            )

    def test_concurrent_writers_of_one_object_exactly_one_wins(self, backend_root: str) -> None:
        url = storage.join(backend_root, "race", "object.json")
        barrier = threading.Barrier(8)

        def write(i: int) -> int | None:
            payload = str(i).encode() * 20_000
            barrier.wait()
            try:
                storage.write_bytes(url, payload)
                return i
            except ObjectExistsError:
                return None

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(write, range(8)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert storage.read_bytes(url) == str(winners[0]).encode() * 20_000

    # -- many small objects --------------------------------------------------------------------
    def test_read_many_fetches_every_object_and_skips_missing_ones(self, backend_root: str) -> None:
        urls = [storage.join(backend_root, "m", f"{i}.json") for i in range(40)]
        for i, url in enumerate(urls):
            storage.write_bytes(url, str(i).encode())
        missing = storage.join(backend_root, "m", "gone.json")
        got = storage.read_many([*urls, missing])
        assert got == {url: str(i).encode() for i, url in enumerate(urls)}
        assert storage.read_many([]) == {}


# -- backend selection -----------------------------------------------------------------------------
def test_unknown_protocol_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="nosuchproto"):
        storage.read_bytes("nosuchproto://bucket/key")


def test_memory_urls_keep_their_form() -> None:
    url = "memory://tercet-form-check/a/b.json"
    try:
        storage.write_bytes(url, b"1")
        assert storage.walk_files("memory://tercet-form-check") == [url]
    finally:
        fsspec.filesystem("memory").rm("/tercet-form-check", recursive=True)


# -- the URL grammar (tercet.storage.paths): what every reader and the fence compare -------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/data/x", "file"),
        ("relative/x", "file"),
        ("S3://Bucket/Key", "s3"),
        ("memory://a/b://c", "memory"),
    ],
)
def test_protocol_is_file_for_paths_else_the_lower_case_scheme(url: str, expected: str) -> None:
    assert storage.protocol(url) == expected
    assert storage.is_local(url) == (expected == "file")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/data/x", True),
        ("~/x", True),
        ("s3://b/k", True),
        ("memory://x", True),
        ("git+ssh://h/x", True),
        ("data/x", False),
        ("x", False),
        ("3s://b/k", False),
        ("a/s3://b", False),
    ],
)
def test_is_absolute(url: str, expected: bool) -> None:
    assert storage.is_absolute(url) is expected


def test_normalize_gives_the_canonical_form() -> None:
    assert storage.normalize("file:///data/a/./b/../c") == "/data/a/c"
    assert storage.normalize("/data/a/") == "/data/a"
    assert storage.normalize("~/x") == os.path.join(os.path.expanduser("~"), "x")
    assert storage.normalize("S3://Bucket/a/./b/../c/") == "s3://Bucket/a/c"
    assert storage.normalize("memory://") == "memory://"
    assert storage.normalize("s3://b/k://x/") == "s3://b/k:/x"  # only the first :// is the scheme


def test_join_parent_and_basename() -> None:
    assert storage.join("/data/a", "b", "c.json") == "/data/a/b/c.json"
    assert storage.join("s3://b/a/", "/c/", "d.json") == "s3://b/a/c/d.json"
    assert storage.parent("/data/a/b/") == "/data/a"
    assert storage.parent("/data") == "/"
    assert storage.parent("/") == "/"
    assert storage.parent("s3://b/a://k") == "s3://b/a:"
    assert storage.parent("s3://b/a/k.json") == "s3://b/a"
    assert storage.parent("s3://b/a/k/") == "s3://b/a"
    assert storage.basename("s3://b/a/k/") == "k"
    assert storage.basename("/data/a/k.json") == "k.json"


def test_resolve_against_a_folder_or_the_current_directory() -> None:
    assert storage.resolve("S3://b/k/") == "s3://b/k"
    assert storage.resolve("/data/./x") == "/data/x"
    assert storage.resolve("x/y") == os.path.join(os.getcwd(), "x", "y")
    assert storage.resolve("../x", "/data/a/b") == "/data/a/x"
    assert storage.resolve("y", "file:///data/./a") == "/data/a/y"
    assert storage.resolve("../t", "s3://b/p/q/") == "s3://b/p/t"
    assert storage.resolve("./t", "memory://p") == "memory://p/t"


def test_relative_to_within_one_filesystem_else_unchanged() -> None:
    assert storage.relative_to("/data/a/b/c", "/data/a") == "b/c"
    assert storage.relative_to("file:///data/x", "/data/a") == "../x"
    assert storage.relative_to("s3://b/p/t", "s3://b/p/q/") == "../t"
    assert storage.relative_to("S3://b/p/t/", "s3://b/p") == "t"
    # Another filesystem or another bucket: the URL as given, not normalised.
    assert storage.relative_to("S3://b/x/", "/data") == "S3://b/x/"
    assert storage.relative_to("s3://c/p/t", "s3://b/p/t") == "s3://c/p/t"
    assert storage.relative_to("s3://c/p", "s3://b/p/") == "s3://c/p"
