"""A table bigger than the service's memory budget is served from a local copy on disk
(tercet.service.spill) with the same answers as when it is held in memory; the budget is
configured and checked (tercet.service.cache.budget)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tercet import config
from tercet.errors import ConfigError
from tercet.service import create_app, spill
from tercet.service.cache import MIN_BUDGET, physical_memory
from tests.fixtures.service import RunningService, StartService, make_table

FILTER = {"column": "label", "op": "in", "values": [0, 2]}
SORT_CAPTION = [{"column": "caption", "desc": False}]
IDS = {"column": "example_id", "op": "in", "values": [5, 77, 3, 250]}


def _asks(url: str) -> list[tuple[str, dict[str, Any]]]:
    src = {"table": url}
    page = {"source": src, "filter": FILTER, "sort": [{"column": "score", "desc": True}]}
    return [
        ("/api/schema", {"source": src}),
        ("/api/count", {"source": src, "filter": FILTER}),
        *[("/api/rows", {**page, "offset": o, "limit": 40}) for o in (0, 170)],
        ("/api/rows", {"source": src, "offset": 250, "limit": 30}),  # no filter, no sort
        ("/api/rows", {"source": src, "sort": SORT_CAPTION, "columns": ["caption", "emb"]}),
        ("/api/rows", {"source": src, "filter": IDS}),
        ("/api/summary", {"source": src, "filter": FILTER, "column": "score"}),
        ("/api/density", {"source": src, "filter": FILTER, "x": "x", "y": "y"}),
    ]


def _answers(service: RunningService, url: str) -> list[Any]:
    out: list[Any] = []
    for path, body in _asks(url):
        r = service.client.post(path, json=body)
        assert r.status_code == 200, (path, r.text)
        if path == "/api/rows":
            table = pa.ipc.open_stream(r.content).read_all()
            out.append((r.headers["x-total-count"], table.schema, table.to_pylist()))
        elif path == "/api/density":  # cells in any order
            answer = r.json()
            cells = sorted(
                zip(answer.pop("ix"), answer.pop("iy"), answer.pop("counts"), strict=True)
            )
            out.append((answer, cells))
        else:
            out.append(r.json())
    return out


@pytest.fixture
def pair(start_service: StartService) -> tuple[RunningService, RunningService]:
    """Two services on one root: one holds tables in memory, the other (a 1-byte budget,
    copies in row groups of 64 rows) serves every table from disk."""
    memory, disk = start_service(), start_service()
    disk.app.state.ctx.sources.cache.max_bytes = 1
    disk.app.state.ctx.sources.spill_row_group = 64
    return memory, disk


def test_answers_from_disk_equal_answers_from_memory_on_source_and_edited_revisions(
    root: Path, pair: tuple[RunningService, RunningService]
) -> None:
    memory, disk = pair
    table = make_table(n=300)
    ids = table.example_ids()
    edited = table.set_values("score", ids[:50], [float(i) for i in range(50)])
    edited = edited.delete_rows(ids[60:90]).set_values("caption", ids[100:103], ["z", "a", "m"])
    for t in (table, edited):
        expected = _answers(memory, t.url)
        got = _answers(disk, t.url)
        for i, (want, have) in enumerate(zip(expected, got, strict=True)):
            assert have == want, (t.url, _asks(t.url)[i])
        sources = disk.app.state.ctx.sources
        served = sources.table(t.url)
        assert isinstance(served, spill.DiskSource) and served.row_group == 64
        assert not memory.app.state.ctx.sources.table(t.url).nbytes < 10_000
    # Pages of the edited revision show its edits (not the source's rows) from disk too.
    first = got[2][2]
    assert [r["score"] for r in first[:3]] == [48.0, 47.0, 45.0]  # labels 0 and 2 only


def test_a_page_from_disk_reads_only_its_row_groups(root: Path, tmp_path: Path) -> None:
    table = make_table(n=300)
    data = spill.spill(table, ("t", table.url), row_group=64)
    rows = np.array([299, 3, 130, 64, 63, 0], dtype=np.int64)
    got = data.take(["example_id", "caption"], rows)
    assert got.column("example_id").to_pylist() == table.example_ids()[rows].tolist()
    assert data.slice(["example_id"], 290, 50).num_rows == 10
    with pytest.raises(IndexError):
        data.take(["example_id"], np.array([300]))


@pytest.mark.parametrize(
    "value", [-1, 0, 1024, MIN_BUDGET - 1, physical_memory() + 1, 10**30, True, "2GiB"]
)
def test_a_cache_budget_outside_the_machine_is_refused_naming_the_setting(
    root: Path, value: Any
) -> None:
    cfg = config.load()
    cfg.service.cache_bytes = value
    with pytest.raises(ConfigError, match=r"service\.cache_bytes is .* between 16777216"):
        create_app(cfg, token="t" * 32)
    with pytest.raises(ConfigError, match=r"from create_app"):
        create_app(config.load(), token="t" * 32, cache_bytes=value if value != "2GiB" else -5)


def test_the_cache_budget_comes_from_the_environment(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERCET_SERVICE_CACHE_BYTES", str(64 * 1024**2))
    app = create_app(config.load(), token="t" * 32)
    assert app.state.ctx.sources.cache.max_bytes == 64 * 1024**2
    monkeypatch.setenv("TERCET_SERVICE_CACHE_BYTES", "-3")
    with pytest.raises(ConfigError, match="env TERCET_SERVICE_CACHE_BYTES"):
        create_app(config.load(), token="t" * 32)
