"""What reads and writes on S3 cost in what the store bills: requests and bytes, counted by a
proxy in front of the test server, against raw pyarrow on the same objects."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tercet import storage
from tercet.storage import read, s3
from tercet.testing.faults import FaultProxy, Traffic
from tercet.testing.s3server import S3Server

pytestmark = pytest.mark.s3

ROWS = 40_000
ROW_GROUP = 8_000  # five row groups: enough column chunks for the joining to show
SCALE = 16  # Tercet's row groups hold 16x more rows: the gap worth joining shrinks alike


@pytest.fixture
def proxy(
    s3_env: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    with FaultProxy(s3_env.endpoint_url) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.endpoint_url)
        yield p


def _six_columns(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal(n * 16, dtype=np.float32)
    return pa.table(
        {
            "example_id": np.arange(n, dtype=np.int64),
            "label": rng.integers(0, 10, n, dtype=np.int32),
            "score": rng.random(n, dtype=np.float32),
            "a": rng.random(n),
            "b": rng.random(n),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb), 16),
        }
    )


def test_a_column_read_fetches_a_fraction_in_fewer_requests_than_pyarrow(
    proxy: FaultProxy, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read, "HOLE_SIZE", read.HOLE_SIZE // SCALE)
    url = f"{s3_bucket}/rows.parquet"
    rows = _six_columns(ROWS)
    storage.write_parquet(url, rows, row_group_size=ROW_GROUP)
    wanted = ["example_id", "score"]

    proxy.reset_traffic()
    assert storage.read_parquet(url).equals(rows)
    whole = proxy.traffic()["GET"]

    proxy.reset_traffic()
    got = storage.read_parquet(url, columns=wanted)
    ours = proxy.traffic()["GET"]
    assert got.equals(rows.select(wanted))

    fs, path = storage.arrow_filesystem(url)

    def raw(columns: list[str]) -> Traffic:
        proxy.reset_traffic()
        pq.read_table(path, filesystem=fs, columns=columns, pre_buffer=True)
        return proxy.traffic()["GET"]

    assert ours.down <= 0.15 * whole.down, (ours, whole)
    assert ours.requests == ROWS // ROW_GROUP + 1 <= raw(wanted).requests, ours
    assert whole.requests <= 3, whole
    # Chunks further apart than pyarrow joins (8 KiB) still go in one request per row group.
    apart = ["example_id", "a"]
    proxy.reset_traffic()
    assert storage.read_parquet(url, columns=apart).equals(rows.select(apart))
    assert proxy.traffic()["GET"].requests == ROWS // ROW_GROUP + 1
    assert raw(apart).requests == 2 * (ROWS // ROW_GROUP) + 1


def test_a_big_write_sends_its_parts_concurrently_and_once(
    proxy: FaultProxy, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "PART_SIZE", 5 * 2**20)
    data = np.random.default_rng(1).bytes(20 * 2**20)
    proxy.delay(2.0, match="partNumber=")  # while a part is held, the next ones go out
    proxy.reset_traffic()
    url = f"{s3_bucket}/big.bin"
    started = time.monotonic()
    with storage.open_atomic(url) as fh:
        for i in range(0, len(data), 2**20):
            fh.write(data[i : i + 2**20])
    # four parts held 2 s each: 8 s one after the other, ~2 s side by side
    assert time.monotonic() - started < 6.0
    assert storage.read_bytes(url) == data
    counts = proxy.traffic()
    assert counts["PUT"].requests == 4  # each part sent once
    assert counts["PUT"].up == len(data)
    assert counts["POST"].requests == 2  # create and complete
    parts = [r for r in proxy.requests if "partNumber=" in r]
    assert len(parts) == 4
