"""What only S3 has: settings from the ordinary AWS variables or the config file, the native
Arrow client, conditional writes, listings other machines' writes show up in, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pytest
import yaml

from tercet import storage
from tercet.errors import NoSuchBucketError, ObjectExistsError, StorageError
from tercet.storage import options, s3
from tercet.testing.s3server import S3Server

pytestmark = pytest.mark.s3


def _write_config(data: dict[str, object]) -> Path:
    path = Path(os.environ["TERCET_CONFIG"])
    path.write_text(yaml.safe_dump(data))
    return path


def test_config_storage_options_alone_reach_the_server(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bucket = s3_server.create_bucket("tercet-config-only")
    try:
        _write_config({"storage_options": {"s3": s3_server.storage_options()}})
        url = f"{bucket}/p/rows.parquet"
        storage.write_parquet(url, pa.table({"a": [1, 2, 3]}))
        assert storage.read_parquet(url).column("a").to_pylist() == [1, 2, 3]
        assert storage.ls(f"{bucket}/p") == ["rows.parquet"]
        fs, path = storage.arrow_filesystem(url)
        assert isinstance(fs, pafs.S3FileSystem)
        assert fs.get_file_info(path).size > 0
    finally:
        s3_server.delete_bucket("tercet-config-only")


def test_arrow_filesystem_is_native_s3_from_the_same_settings(s3_bucket: str) -> None:
    url = f"{s3_bucket}/d/part.parquet"
    storage.write_parquet(url, pa.table({"x": [1.5]}))
    fs, path = storage.arrow_filesystem(url)
    assert isinstance(fs, pafs.S3FileSystem)
    assert path == url[len("s3://") :]
    with fs.open_input_file(path) as fh:
        assert fh.read(4) == b"PAR1"


def test_options_native_arrow_cannot_express_fall_back_to_fsspec(s3_bucket: str) -> None:
    _write_config({"storage_options": {"s3": {"s3_additional_kwargs": {"ACL": "private"}}}})
    url = f"{s3_bucket}/d/part.parquet"
    storage.write_parquet(url, pa.table({"x": [1.5]}))
    fs, _ = storage.arrow_filesystem(url)
    assert isinstance(fs, pafs.PyFileSystem)
    assert storage.read_parquet(url).num_rows == 1


def test_config_timeouts_keep_the_default_retries(s3_env: S3Server) -> None:
    _write_config({"storage_options": {"s3": {"config_kwargs": {"connect_timeout": 3}}}})
    opts = options.options("s3")
    assert opts["config_kwargs"] == {"connect_timeout": 3, "retries": options.DEFAULT_S3_RETRIES}
    assert opts["endpoint_url"] == s3_env.endpoint_url
    assert opts["use_listings_cache"] is False


def test_the_store_itself_refuses_a_second_writer(
    s3_bucket: str, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{s3_bucket}/runs/r1/object.json"
    s3_env.client().put_object(Bucket=s3_bucket[5:], Key="runs/r1/object.json", Body=b"other")
    fs, _ = storage.filesystem(url)
    # Even a writer whose existence check missed the object is refused by the conditional PUT.
    monkeypatch.setattr(type(fs), "exists", lambda self, path: False)
    with pytest.raises(ObjectExistsError, match="r1/object.json"):
        storage.write_bytes(url, b"mine")
    assert storage.read_bytes(url) == b"other"


def test_another_clients_objects_are_listed_at_once(s3_bucket: str, s3_env: S3Server) -> None:
    base = f"{s3_bucket}/p/runs"
    storage.write_bytes(f"{base}/a/object.json", b"{}")
    assert storage.ls(base) == ["a"]
    assert storage.exists(f"{base}/a/object.json")
    s3_env.client().put_object(Bucket=s3_bucket[5:], Key="p/runs/b/object.json", Body=b"{}")
    assert storage.ls(base) == ["a", "b"]
    assert storage.exists(f"{base}/b/object.json")
    assert storage.walk_files(base, suffix="object.json") == [
        f"{base}/a/object.json",
        f"{base}/b/object.json",
    ]


def test_an_aborted_big_write_leaves_no_upload_behind(
    s3_bucket: str, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "PART_SIZE", 5 * 2**20)
    url = f"{s3_bucket}/big.bin"
    with pytest.raises(KeyboardInterrupt), storage.open_atomic(url) as fh:
        fh.write(b"z" * (6 * 2**20))
        raise KeyboardInterrupt
    client = s3_env.client()
    assert client.list_multipart_uploads(Bucket=s3_bucket[5:]).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=s3_bucket[5:]).get("KeyCount") == 0


def test_a_missing_bucket_is_named_never_read_as_empty(s3_env: S3Server) -> None:
    # A missing bucket is a setup error, not "nothing there yet" (tests/security has the rest).
    missing = "bucket 'tercet-no-such-bucket' does not exist"
    with pytest.raises(NoSuchBucketError, match=f"{missing}.*s3://tercet-no-such-bucket/x"):
        storage.read_bytes("s3://tercet-no-such-bucket/x")
    with pytest.raises(NoSuchBucketError, match=missing):
        storage.ls("s3://tercet-no-such-bucket/p")
    with pytest.raises(NoSuchBucketError, match="s3://tercet-no-such-bucket/x"):
        storage.write_bytes("s3://tercet-no-such-bucket/x", b"1")


def test_an_unreachable_endpoint_is_a_storage_error_with_the_fix(
    s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    _write_config({"storage_options": {"s3": {"config_kwargs": {
        "retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 1}}}})  # fmt: skip
    url = "s3://tercet-anything/p/object.json"
    for call in (
        lambda: storage.read_bytes(url),
        lambda: storage.exists(url),
        lambda: storage.ls(url),
        lambda: storage.write_bytes(url, b"{}"),
        lambda: storage.read_parquet(url),
    ):
        with pytest.raises(StorageError, match="tercet-anything/p/object.json") as info:
            call()
        assert not isinstance(info.value, FileNotFoundError)  # down is not the same as missing
    with pytest.raises(StorageError, match=f"127.0.0.1:{port} reachable"):
        storage.read_bytes(url)
