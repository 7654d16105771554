"""A scatter's points (every row, a few columns, no filter or sort) are encoded once per source
and columns and then served from the service's memory cache: the same bytes at each reload,
never another source's, columns' or revision's, and never for a filtered or sorted request."""

from __future__ import annotations

from pathlib import Path

import pytest

from tercet import Table
from tercet.service import answers
from tests.fixtures.service import RunningService, make_table
from tests.service.test_revisions import commit
from tests.service.test_rows import rows

N = 60


@pytest.fixture
def table(root: Path, monkeypatch: pytest.MonkeyPatch) -> Table:
    monkeypatch.setattr(answers, "CACHED_FROM", 20)  # tiny tables stand for a million rows
    return make_table(n=N)


def kept(service: RunningService) -> int:
    cache = service.app.state.ctx.sources.cache
    return sum(1 for key in cache._entries if key[1][0] == "rows-answer")


def test_points_are_encoded_once_and_served_again_byte_for_byte(
    service: RunningService, table: Table
) -> None:
    body = {"source": {"table": table.url}, "columns": ["x", "label"], "limit": N, "compact": True}
    first = service.client.post("/api/rows", json=body)
    again = service.client.post("/api/rows", json=body)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["X-Total-Count"] == str(N)
    assert kept(service) == 1


def test_each_columns_offset_and_compact_form_is_its_own_answer(
    service: RunningService, table: Table
) -> None:
    src = {"table": table.url}
    x = rows(service, src, columns=["x"], limit=N, compact=True)
    label = rows(service, src, columns=["label"], limit=N, compact=True)
    tail = rows(service, src, columns=["label"], offset=30, limit=N, compact=True)
    wide = rows(service, src, columns=["label"], limit=N)
    assert x.column_names == ["example_id", "x"]
    assert label.column_names == ["example_id", "label"]
    assert label["label"].to_pylist() == [i % 3 for i in range(N)]
    assert tail["example_id"].to_pylist() == list(range(30, N))
    assert str(wide.schema.field("label").type) == "int32"  # not the compact answer's int8
    assert kept(service) == 4


def test_a_new_revision_is_a_new_answer(service: RunningService, table: Table) -> None:
    src = {"table": table.url}
    before = rows(service, src, columns=["label"], limit=N, compact=True)
    edit = commit(service, table.url, {"set": [{"column": "label", "example_id": 3, "value": 1}]})
    assert edit.status_code == 201, edit.text
    revised = {"table": edit.json()["url"]}
    after = rows(service, revised, columns=["label"], limit=N, compact=True)
    again = rows(service, src, columns=["label"], limit=N, compact=True)
    assert before["label"][3].as_py() == 0 and after["label"][3].as_py() == 1
    assert again["label"][3].as_py() == 0  # the base revision is untouched
    assert kept(service) == 2


def test_filtered_sorted_and_small_answers_are_not_kept(
    service: RunningService, table: Table
) -> None:
    src = {"table": table.url}
    rows(service, src, columns=["x"], limit=10)  # a grid page
    rows(service, src, columns=["x"], limit=N, sort=[{"column": "x", "desc": True}])
    flt = {"column": "label", "op": "eq", "value": 1}
    page = rows(service, src, columns=["label"], limit=N, filter=flt)
    assert set(page["label"].to_pylist()) == {1}
    assert kept(service) == 0


def test_a_bad_column_is_refused_and_nothing_is_kept(service: RunningService, table: Table) -> None:
    body = {"source": {"table": table.url}, "columns": ["x", "nope"], "limit": N}
    response = service.client.post("/api/rows", json=body)
    assert response.status_code == 422
    assert "nope" in response.json()["detail"]
    assert kept(service) == 0
