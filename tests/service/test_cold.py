"""A table not loaded yet: its schema, counts and summaries come from its Parquet files
(tercet.service.cold) while the rows load in the background, and equal the loaded answers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tercet import Table
from tercet.service import cold
from tercet.service.sources import Sources
from tests.fixtures.service import RunningService, make_table

FILTER = {
    "or": [
        {"column": "label", "op": "in", "values": [0, 2]},
        {"column": "x", "op": "range", "max": 0.25},
    ]
}


def _answers(service: RunningService, url: str) -> list[Any]:
    post = service.client.post
    src = {"table": url}
    out = []
    for path, body in [
        ("/api/schema", {"source": src}),
        ("/api/count", {"source": src, "filter": FILTER}),
        ("/api/summary", {"source": src, "filter": FILTER, "column": "score"}),
        ("/api/summary", {"source": src, "filter": FILTER, "column": "label"}),
    ]:
        r = post(path, json=body)
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def test_a_cold_table_is_answered_from_its_files_before_its_rows_load(
    root: Path, service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = make_table(n=300)
    frame = table.to_pandas()
    release = threading.Event()
    loads: list[str] = []
    real = Sources.table

    def held(self: Sources, url: str) -> Any:
        loads.append(url)
        assert release.wait(5)
        return real(self, url)

    monkeypatch.setattr(Sources, "table", held)
    cold_answers = _answers(service, table.url)  # every load is held: none of these waited
    assert loads, "the rows did not start loading in the background"
    assert ("table", table.url) not in service.app.state.ctx.sources.cache
    expected = int(((frame.label.isin([0, 2])) | (frame.x < 0.25)).sum())
    assert cold_answers[0]["num_rows"] == 300
    assert cold_answers[1] == {"total": 300, "filtered": expected}
    release.set()
    service.app.state.ctx.sources.table(table.url)  # loaded now
    assert _answers(service, table.url) == cold_answers


def test_an_edited_revision_is_loaded_not_read_cold(root: Path) -> None:
    table = Table.create({"x": np.arange(10)}, project="p", dataset="d", name="t")
    edited = table.delete_rows([3])
    assert cold.cold_table(Table.open(table.url)) is not None
    assert cold.cold_table(Table.open(edited.url)) is None  # its delta is applied when loaded
