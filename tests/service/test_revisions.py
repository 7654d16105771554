"""``POST /api/revisions``: edits become sparse revisions; bad edits write nothing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tercet import Table
from tests.fixtures.service import RunningService, make_table, snapshot


@pytest.fixture
def table(root: Path) -> Table:
    return make_table(n=50)


def commit(service: RunningService, base: str, edits: dict[str, Any], message: str = "") -> Any:
    return service.client.post(
        "/api/revisions", json={"base": base, "message": message, "edits": edits}
    )


def test_edits_become_a_new_sparse_revision(service: RunningService, table: Table) -> None:
    response = commit(
        service,
        table.url,
        {
            "set": [
                {"column": "label", "example_id": 3, "value": 2},
                {"column": "caption", "example_id": 4, "value": "relabelled"},
            ],
            "delete": [7, 8],
            "weights": [{"example_id": 9, "weight": 0.0}],
        },
        message="from the dashboard",
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["parent"] == table.url and created["num_rows"] == 48
    assert created["base_had_children"] is False
    revision = Table.open(created["url"])
    assert revision.id == created["id"] and revision.name == created["name"]
    assert revision.message == "from the dashboard"
    assert revision.parent_url == table.url and "delta" in revision.descriptor
    rows = {r["example_id"]: r for r in revision.rows}
    assert rows[3]["label"] == 2 and rows[4]["caption"] == "relabelled"
    assert 7 not in rows and rows[9]["weight"] == 0.0
    assert table.to_pandas().label[3] == 0  # the base is untouched
    listed = service.client.get("/api/projects/demo/tables").json()
    assert {t["url"]: t["is_latest"] for t in listed}[revision.url] is True


def test_two_clients_on_one_base_both_keep_their_revision(
    service: RunningService, table: Table
) -> None:
    results: list[Any] = []

    def client(value: int) -> None:
        edit = {"set": [{"column": "label", "example_id": 1, "value": value}]}
        results.append(commit(service, table.url, edit))

    threads = [threading.Thread(target=client, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [201, 201]
    urls = {r.json()["url"] for r in results}
    assert len(urls) == 2
    assert {c.url for c in table.children()} == urls
    third = commit(service, table.url, {"delete": [0]})
    assert third.json()["base_had_children"] is True


BAD_EDITS = [
    ({"set": [{"column": "nope", "example_id": 1, "value": 1}]}, "No column 'nope'"),
    ({"set": [{"column": "label", "example_id": 1, "value": "dog"}]}, "expects int32"),
    ({"set": [{"column": "label", "example_id": 1, "value": 7}]}, "not in its value map"),
    ({"set": [{"column": "x", "example_id": 1, "value": [1, 2]}]}, "expects float"),
    ({"set": [{"column": "example_id", "example_id": 1, "value": 5}]}, "cannot be edited"),
    ({"set": [{"column": "label", "example_id": 999, "value": 1}]}, "[999]"),
    ({"set": [{"column": "label", "example_id": "1", "value": 1}]}, "valid integer"),
    ({"delete": [12345]}, "12345"),
    ({"weights": [{"example_id": 1, "weight": -1}]}, "finite number ≥ 0"),
    ({"weights": [{"example_id": 1, "weight": "heavy"}]}, "valid number"),
    ({}, "Nothing to commit"),
    ({"rename": []}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("edits", "message"), BAD_EDITS, ids=[m for _, m in BAD_EDITS])
def test_bad_edits_are_422_and_write_nothing(
    service: RunningService, table: Table, root: Path, edits: dict[str, Any], message: str
) -> None:
    before = snapshot(root)
    response = commit(service, table.url, edits)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert snapshot(root) == before


def test_bad_bases_write_nothing(
    service: RunningService, table: Table, root: Path, tmp_path: Path
) -> None:
    before = snapshot(root)
    edit = {"delete": [1]}
    assert commit(service, str(root / "demo" / "nothing"), edit).status_code == 404
    assert commit(service, str(tmp_path), edit).status_code == 403
    assert commit(service, "relative/path", edit).status_code == 422
    malformed = service.client.post(
        "/api/revisions", content=b'{"base": ', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422 and "JSON" in malformed.json()["detail"]
    assert snapshot(root) == before


def test_changes_list_what_a_revision_touched(service: RunningService, table: Table) -> None:
    edits = {
        "set": [
            {"column": "label", "example_id": 5, "value": 2},
            {"column": "label", "example_id": 3, "value": 1},
            {"column": "caption", "example_id": 4, "value": "x"},
        ],
        "delete": [8, 7],
        "weights": [{"example_id": 9, "weight": 0.0}],
    }
    child = commit(service, table.url, edits).json()["url"]
    got = service.client.get("/api/revisions/changes", params={"table": child, "limit": 1})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["parent"] == table.url and body["whole"] is False
    assert body["deleted"] == 2 and body["deleted_ids"] == [7]  # the first `limit`, ascending
    by_column = {c["column"]: (c["count"], c["example_ids"]) for c in body["set"]}
    assert by_column == {"label": (2, [3]), "caption": (1, [4]), "weight": (1, [9])}
    source = service.client.get("/api/revisions/changes", params={"table": table.url}).json()
    assert source["whole"] is True and source["deleted"] == 0 and source["set"] == []
    # past 256 cells the delta is a Parquet file: read the same way
    values = {"x": 0.5, "y": 0.5, "score": 0.5, "caption": "y", "flag": True, "label": 1}
    cells = [
        {"column": c, "example_id": i, "value": v} for c, v in values.items() for i in range(50)
    ]
    many = commit(service, table.url, {"set": cells}).json()["url"]
    assert Table.open(many).descriptor["delta"].get("file")
    big = service.client.get("/api/revisions/changes", params={"table": many}).json()
    assert big["deleted"] == 0 and {c["column"]: c["count"] for c in big["set"]} == dict.fromkeys(
        values, 50
    )


def test_changes_of_a_missing_or_foreign_table_say_so(
    service: RunningService, root: Path, tmp_path: Path
) -> None:
    missing = service.client.get(
        "/api/revisions/changes", params={"table": str(root / "demo" / "nothing")}
    )
    assert missing.status_code == 404 and "nothing" in missing.json()["detail"]
    assert (
        service.client.get("/api/revisions/changes", params={"table": str(tmp_path)}).status_code
        == 403
    )
    too_many = service.client.get("/api/revisions/changes", params={"table": "x", "limit": 5000})
    assert too_many.status_code == 422
