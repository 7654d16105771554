"""The service's local disk cache of remote Parquet objects (``tercet.storage.objcache``): a
second service on the same machine answers from it without fetching the rows again (bytes
counted by a proxy in front of the test S3 server); it stays within its bound; a damaged copy is
fetched again, never served; and the fence applies before the cache is looked at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pytest

import tercet
from tercet import storage
from tercet.localfile import tmp_name
from tercet.storage.objcache import ObjectCache, using
from tercet.testing.faults import FaultProxy, Traffic
from tercet.testing.s3server import S3Server

if TYPE_CHECKING:
    from tests.fixtures.service import StartService

pytestmark = pytest.mark.s3

N = 5_000


@pytest.fixture
def proxy(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(s3_env.endpoint_url) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.endpoint_url)
        yield p


def _table(root: str, name: str, seed: int = 0) -> tercet.Table:
    rng = np.random.default_rng(seed)
    return tercet.Table.create(
        {"label": rng.integers(0, 5, N), "score": rng.random(N), "x": rng.random(N)},
        project="p", dataset="d", name=name, root=root,
    )  # fmt: skip


def _rows_url(table: tercet.Table) -> str:
    return storage.join(table.url, table.descriptor["rows"][0])


def _query(client: Any, table: tercet.Table) -> list[int]:
    body = {
        "source": {"table": table.url},
        "filter": {"column": "label", "op": "in", "values": [1, 3]},
        "sort": [{"column": "score", "desc": True}],
        "limit": 20,
    }
    response = client.post("/api/rows", json=body)
    assert response.status_code == 200, response.text
    ids: list[int] = pa.ipc.open_stream(response.content).read_all()["example_id"].to_pylist()
    return ids


def _expected(table: tercet.Table) -> list[int]:
    df = table.to_pandas()
    df = df[df.label.isin([1, 3])].sort_values("score", ascending=False)
    return [int(i) for i in df.example_id[:20]]


def _gets(proxy: FaultProxy) -> Traffic:
    return proxy.traffic().get("GET", Traffic())


def test_a_second_service_answers_from_the_disk_cache_without_fetching_rows(
    s3_root: str, proxy: FaultProxy, start_service: StartService, tmp_path: Path
) -> None:
    table = _table(s3_root, "t")
    size = storage.file_info(_rows_url(table))["size"]
    folder = tmp_path / "objects"
    first = start_service(disk_cache_dir=str(folder), disk_cache_bytes=10 * size)
    proxy.reset_traffic()
    assert _query(first.client, table) == _expected(table)
    assert _gets(proxy).down >= size  # the rows were fetched once …
    first.app.state.ctx.sources.disk.flush()  # the copy is written beside the answer
    assert len(list(folder.glob("*.obj"))) == 1

    second = start_service(disk_cache_dir=str(folder), disk_cache_bytes=10 * size)
    proxy.reset_traffic()
    assert _query(second.client, table) == _expected(table)
    # … and not again: the second service read the descriptor (a few KB) and one HEAD.
    assert _gets(proxy).down < size / 4, proxy.traffic()
    disk = second.app.state.ctx.sources.disk
    assert (disk.hits, disk.misses) == (1, 0)

    off = start_service(disk_cache_dir=str(folder), disk_cache_bytes=0)
    assert off.app.state.ctx.sources.disk is None
    proxy.reset_traffic()
    assert _query(off.client, table) == _expected(table)
    assert _gets(proxy).down >= size  # 0: no disk cache


def test_the_cache_stays_within_its_bound_evicting_the_least_recently_read(
    s3_bucket: str, tmp_path: Path
) -> None:
    tables = [_table(f"{s3_bucket}/p", f"t{i}", seed=i) for i in range(3)]
    urls = [_rows_url(t) for t in tables]
    sizes = [storage.file_info(u)["size"] for u in urls]
    cache = ObjectCache(tmp_path / "objects", max_bytes=max(sizes) * 2 + 10)
    with using(cache):
        for url in urls[:2]:
            storage.read_parquet(url)
            cache.flush()
        storage.read_parquet(urls[0])  # t0 now more recent than t1
        assert (cache.hits, cache.misses) == (1, 2)
        got = storage.read_parquet(urls[2])
        cache.flush()
    assert got.equals(tables[2].to_arrow().select(got.column_names))
    assert cache.size() <= cache.max_bytes
    assert cache.size() == sizes[0] + sizes[2]  # t1, least recently read, went
    # An object larger than the whole bound is read, but not kept.
    small = ObjectCache(tmp_path / "small", max_bytes=min(sizes) // 2)
    with using(small):
        assert storage.read_parquet(urls[0]).num_rows == N
    small.flush()
    assert small.size() == 0


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_damaged_copy_is_fetched_again_never_served(
    s3_bucket: str, proxy: FaultProxy, tmp_path: Path, damage: str
) -> None:
    table = _table(f"{s3_bucket}/p", "t")
    url = _rows_url(table)
    cache = ObjectCache(tmp_path / "objects", max_bytes=2**30)
    with using(cache):
        want = storage.read_parquet(url)
    cache.flush()
    (copy,) = cache.folder.glob("*.obj")
    data = bytearray(copy.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # a flipped byte in a data page: the footer still parses
        data[len(data) // 3] ^= 0xFF
    copy.write_bytes(bytes(data))
    proxy.reset_traffic()
    with using(cache):
        assert storage.read_parquet(url).equals(want)
    cache.flush()
    assert cache.rejected == 1 and cache.hits == 0
    assert _gets(proxy).down >= storage.file_info(url)["size"]
    (again,) = cache.folder.glob("*.obj")
    assert again.read_bytes() == storage.read_bytes(url)  # replaced by a good copy


def test_a_killed_writers_temp_file_is_never_read_and_is_swept(
    s3_bucket: str, tmp_path: Path
) -> None:
    table = _table(f"{s3_bucket}/p", "t")
    url = _rows_url(table)
    folder = tmp_path / "objects"
    folder.mkdir()
    # A writer that died mid-copy: its pid is gone, its half file stays behind.
    dead = Path(tmp_name(str(folder / "x.obj")).replace(f"p{os.getpid()}-", "p999999999-"))
    dead.write_bytes(b"PAR1 half a file")
    cache = ObjectCache(folder, max_bytes=2**30)
    with using(cache):
        assert storage.read_parquet(url).num_rows == N
    cache.flush()
    assert not dead.exists()
    assert [p.suffix for p in folder.iterdir() if p.name != ".lock"] == [".obj"]


def test_the_fence_applies_before_the_cache(
    s3_env: S3Server, s3_root: str, start_service: StartService, tmp_path: Path
) -> None:
    outside = s3_env.create_bucket(f"outside-{os.urandom(4).hex()}")
    try:
        secret = _table(f"{outside}/p", "secret")
        folder = tmp_path / "objects"
        unfenced = ObjectCache(folder, max_bytes=2**30)
        with using(unfenced):  # a copy made without a fence
            storage.read_parquet(_rows_url(secret))
        unfenced.flush()
        assert len(list(folder.glob("*.obj"))) == 1
        service = start_service(disk_cache_dir=str(folder))
        response = service.client.post("/api/rows", json={"source": {"table": secret.url}})
        assert response.status_code == 403, response.text
        assert service.app.state.ctx.sources.disk.hits == 0
    finally:
        s3_env.delete_bucket(outside.removeprefix("s3://"))


def test_a_negative_bound_is_refused_naming_the_key(start_service: StartService) -> None:
    with pytest.raises(tercet.errors.ConfigError, match="service.disk_cache_bytes is -1"):
        start_service(disk_cache_bytes=-1)
