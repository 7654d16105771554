"""S3 faults through a loopback proxy in front of the test server: throttling, slow and lost
responses, a server that dies mid-write. Retries where safe, a clear error where not, and never
a half-visible object. Retry counts and timeouts come from ordinary config settings."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from tercet import storage
from tercet.errors import ObjectNotFoundError, StorageError
from tercet.storage import s3
from tercet.testing.faults import FaultProxy
from tercet.testing.s3server import S3Server

pytestmark = pytest.mark.s3


def _set_retries(max_attempts: int, read_timeout: float = 5.0) -> None:
    path = Path(os.environ["TERCET_CONFIG"])
    config_kwargs = {
        "retries": {"max_attempts": max_attempts, "mode": "standard"},
        "connect_timeout": 1,
        "read_timeout": read_timeout,
    }
    path.write_text(yaml.safe_dump({"storage_options": {"s3": {"config_kwargs": config_kwargs}}}))


@pytest.fixture
def proxy(
    s3_env: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """A fault proxy in front of the test server; Tercet talks to the proxy."""
    with FaultProxy(s3_env.endpoint_url) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.endpoint_url)
        _set_retries(4)
        yield p


def _upstream_keys(server: S3Server, bucket: str) -> list[str]:
    listing = server.client().list_objects_v2(Bucket=bucket[len("s3://") :])
    return [o["Key"] for o in listing.get("Contents", [])]


def test_throttled_writes_and_reads_are_retried(proxy: FaultProxy, s3_bucket: str) -> None:
    url = f"{s3_bucket}/p/object.json"
    proxy.throttle(2)
    storage.write_json(url, {"a": 1})
    assert [r.split()[0] for r in proxy.requests] == ["PUT"] * 3
    proxy.throttle(1)
    assert storage.read_json(url) == {"a": 1}
    proxy.throttle(1, status=500, code="InternalError")
    assert storage.ls(f"{s3_bucket}/p") == ["object.json"]


def test_throttled_native_parquet_reads_are_retried(proxy: FaultProxy, s3_bucket: str) -> None:
    url = f"{s3_bucket}/rows.parquet"
    storage.write_parquet(url, pa.table({"a": np.arange(1000)}))
    before = len(proxy.requests)
    proxy.throttle(2)
    assert storage.read_parquet(url).num_rows == 1000
    assert len(proxy.requests) - before >= 3


def test_endless_throttling_is_a_clear_error_and_writes_nothing(
    proxy: FaultProxy, s3_bucket: str, s3_env: S3Server
) -> None:
    _set_retries(1)
    proxy.throttle(1000)
    url = f"{s3_bucket}/p/object.json"
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"Cannot write s3://.*/p/object.json.*throttling"):
        storage.write_bytes(url, b"{}")
    assert time.monotonic() - started < 30
    assert _upstream_keys(s3_env, s3_bucket) == []


def test_a_lost_write_response_is_not_a_false_conflict(proxy: FaultProxy, s3_bucket: str) -> None:
    url = f"{s3_bucket}/p/object.json"
    proxy.drop_responses(1, match="PUT")
    storage.write_bytes(url, b'{"mine": true}')  # landed, answer lost, retry sees 412: ours
    assert storage.read_bytes(url) == b'{"mine": true}'
    puts = [r for r in proxy.requests if r.startswith("PUT")]
    assert len(puts) == 2


def test_a_lost_multipart_completion_is_not_a_false_conflict(
    proxy: FaultProxy, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "PART_SIZE", 5 * 2**20)
    data = np.random.default_rng(2).bytes(6 * 2**20)
    url = f"{s3_bucket}/big.bin"
    proxy.drop_responses(1, match="POST")
    with storage.open_atomic(url) as fh:
        fh.write(data)
    assert storage.read_bytes(url) == data


def test_slow_responses_within_the_timeout_just_take_longer(
    proxy: FaultProxy, s3_bucket: str
) -> None:
    url = f"{s3_bucket}/p/object.json"
    proxy.delay(0.3, times=4)
    storage.write_bytes(url, b"{}")
    assert storage.read_bytes(url) == b"{}"
    assert storage.ls(f"{s3_bucket}/p") == ["object.json"]


def test_responses_slower_than_the_timeout_are_retried(proxy: FaultProxy, s3_bucket: str) -> None:
    _set_retries(4, read_timeout=0.5)
    url = f"{s3_bucket}/p/object.json"
    proxy.delay(1.5, times=1, match="PUT")
    storage.write_bytes(url, b"{}")  # first attempt lands late; the retry is refused: ours
    proxy.delay(1.5, times=1, match="GET")
    assert storage.read_bytes(url) == b"{}"


def test_server_dying_mid_write_fails_cleanly_and_shows_nothing(
    proxy: FaultProxy, s3_bucket: str, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "PART_SIZE", 5 * 2**20)
    _set_retries(1)
    url = f"{s3_bucket}/p/rows/part-0.parquet"
    proxy.go_down_after(2, match="uploadId=")  # two parts land, then the server is gone
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"s3://.*/p/rows/part-0.parquet") as info:
        with storage.open_atomic(url) as fh:
            for _ in range(4):
                fh.write(b"p" * (5 * 2**20))
    assert not isinstance(info.value, FileNotFoundError)
    assert time.monotonic() - started < 30
    assert _upstream_keys(s3_env, s3_bucket) == []  # parts of an unfinished upload are invisible
    proxy.clear()


def test_server_down_is_never_mistaken_for_a_missing_object(
    proxy: FaultProxy, s3_bucket: str
) -> None:
    _set_retries(1)
    url = f"{s3_bucket}/p/object.json"
    storage.write_bytes(url, b"{}")
    proxy.stop()
    for call in (lambda: storage.read_bytes(url), lambda: storage.exists(url),
                 lambda: storage.walk_files(s3_bucket)):  # fmt: skip
        with pytest.raises(StorageError, match="reachable") as info:
            call()
        assert not isinstance(info.value, ObjectNotFoundError)


def test_a_store_without_conditional_writes_still_refuses_overwrites(
    proxy: FaultProxy, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "NO_CONDITIONAL_WRITES", set())
    url = f"{s3_bucket}/p/object.json"
    proxy.throttle(1, status=501, code="NotImplemented", match="PUT")  # an older Ceph or MinIO
    storage.write_bytes(url, b"first")
    assert storage.read_bytes(url) == b"first"
    with pytest.raises(FileExistsError):
        storage.write_bytes(url, b"second")
    assert storage.read_bytes(url) == b"first"
