"""Navigation routes and the index: projects, revisions with lineage, runs, objects, damage."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tercet import Table, storage
from tests.fixtures.service import (
    RunningService,
    StartService,
    make_table,
    write_event,
    write_metrics,
    write_run,
    write_scalars,
)


def test_health_needs_no_token(service: RunningService) -> None:
    with service.anonymous() as anonymous:
        response = anonymous.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "0.1.0"}


def test_projects_list_tables_and_runs(root: Path, start_service: StartService) -> None:
    t = make_table(n=20)
    write_run(root, "demo", "run-1", inputs={"train": t.url})
    make_table(n=5, project="other")
    service = start_service()
    projects = service.client.get("/api/projects").json()
    assert [(p["name"], p["tables"], p["runs"], p["error"]) for p in projects] == [
        ("demo", 1, 1, None),
        ("other", 1, 0, None),
    ]
    assert projects[0]["url"] == str(root / "demo")


def test_revisions_carry_lineage_and_latest(service: RunningService) -> None:
    source = make_table(n=30)
    first = source.set_values("label", [1], [2], message="fix one")
    second = first.delete_rows([3], message="drop one")
    side = source.set_weights([4], 0.0, message="side branch")
    service.scan()
    tables = service.client.get("/api/projects/demo/tables").json()
    by_url = {t["url"]: t for t in tables}
    assert set(by_url) == {source.url, first.url, second.url, side.url}
    assert by_url[first.url]["parent"] == source.url
    assert by_url[second.url]["parent"] == first.url
    assert by_url[source.url]["parent"] is None
    assert by_url[second.url]["num_rows"] == 29
    assert by_url[second.url]["message"] == "drop one"
    # The newest leaf is the latest; the older leaf (second) is not.
    latest = [t["url"] for t in tables if t["is_latest"]]
    assert latest == [side.url] == [source.latest().url]
    assert all(t["error"] is None and t["dataset"] == "digits" for t in tables)


def test_unknown_project_is_404_naming_the_known_ones(service: RunningService) -> None:
    make_table(n=5)
    service.scan()
    response = service.client.get("/api/projects/nope/tables")
    assert response.status_code == 404
    assert "demo" in response.json()["detail"]


def test_corrupt_objects_are_reported_and_do_not_hide_the_rest(
    root: Path, start_service: StartService
) -> None:
    good = make_table(n=10)
    tables = root / "demo" / "datasets" / "digits" / "tables"
    (tables / "broken").mkdir()
    (tables / "broken" / "object.json").write_text("{not json")
    (tables / "halfway" / "rows").mkdir(parents=True)  # rows written, object.json not (yet)
    (tables / "halfway" / "rows" / "part-00000.parquet").write_bytes(b"PAR1")
    run = write_run(root, "demo", "good-run", inputs={"train": good.url})
    bad_run = root / "demo" / "runs" / "bad-run"
    (bad_run / "events").mkdir(parents=True)
    (bad_run / "object.json").write_text("[]")
    write_metrics(run, "train", 0, good.url, good.id, {"example_id": np.arange(10)})
    damaged = Path(run) / "metrics" / "train" / "epoch-0001-20260101T000000000000-abcdef.parquet"
    damaged.write_bytes(b"PAR1 this is not parquet")
    service = start_service()

    listed = {t["name"]: t for t in service.client.get("/api/projects/demo/tables").json()}
    assert listed[good.name]["error"] is None and listed[good.name]["is_latest"]
    assert "not valid JSON" in listed["broken"]["error"]
    assert "no object.json" in listed["halfway"]["error"]
    runs = {r["name"]: r for r in service.client.get("/api/projects/demo/runs").json()}
    assert "not a Tercet run descriptor" in runs["bad-run"]["error"]
    # Metrics footers are read when a client asks for their rows, not to list runs.
    stream = {"split": "train", "epochs": [0, 1], "table": good.url}
    assert runs["good-run"]["streams"] == [stream] and runs["good-run"]["error"] is None
    source = {"run": run, "split": "train"}
    broken = service.client.post("/api/schema", json={"source": {**source, "epoch": 1}})
    assert broken.status_code == 404 and "epoch-0001" in broken.json()["detail"]
    latest = service.client.post("/api/schema", json={"source": source})  # the latest readable
    assert latest.status_code == 200 and latest.json()["num_rows"] == 10
    runs = {r["name"]: r for r in service.client.get("/api/projects/demo/runs").json()}
    assert runs["good-run"]["streams"] == [{**stream, "epochs": [0]}]
    assert "epoch-0001" in runs["good-run"]["error"]


def test_runs_fold_events_into_state(root: Path, start_service: StartService) -> None:
    t = make_table(n=12)
    run = write_run(root, "demo", "r1", inputs={"train": t.url}, parameters={"lr": 0.1})
    write_event(run, {"type": "parameters", "parameters": {"epochs": 3}})
    for epoch in (0, 1):
        write_metrics(
            run,
            "train",
            epoch,
            t.url,
            t.id,
            {"example_id": np.arange(12)},
            projection={
                "example_id": np.arange(12),
                "proj_x": np.zeros(12, np.float32),
                "proj_y": np.ones(12, np.float32),
            },
        )
    write_scalars(run, [{"step": 1, "epoch": 0, "name": "loss", "value": 1.0}])
    write_event(run, {"type": "status", "status": "completed"})
    old = datetime.now(UTC) - timedelta(hours=1)
    stale = write_run(root, "demo", "r0-stale", inputs={"train": t.url}, when=old)
    write_event(stale, {"type": "heartbeat"}, old + timedelta(seconds=5))
    failed = write_run(root, "demo", "r2-failed", inputs={"train": t.url})
    write_event(failed, {"type": "status", "status": "failed", "error": "CUDA out of memory"})
    service = start_service()

    runs = {r["name"]: r for r in service.client.get("/api/projects/demo/runs").json()}
    r1 = runs["r1"]
    assert r1["status"] == "completed"
    assert r1["parameters"] == {"lr": 0.1, "epochs": 3}
    assert r1["inputs"] == [{"table": t.url, "split": "train"}]
    assert r1["streams"] == [{"split": "train", "epochs": [0, 1], "table": t.url}]
    assert r1["projections"] == ["pca-2d"]
    assert r1["error"] is None and r1["url"] == run
    assert runs["r0-stale"]["status"] == "stale"
    assert runs["r2-failed"]["status"] == "failed"
    assert runs["r2-failed"]["failure"] == "CUDA out of memory"


def test_object_returns_table_descriptor_and_run_state(
    root: Path, start_service: StartService
) -> None:
    t = make_table(n=5)
    child = t.set_values("label", [0], [1])
    run = write_run(root, "demo", "r1", inputs={"train": t.url})
    service = start_service()
    desc = service.client.get("/api/object", params={"url": child.url}).json()
    assert desc["format"] == "tercet.table" and desc["id"] == child.id
    assert desc["url"] == child.url and desc["parent_url"] == t.url
    via_json = service.client.get("/api/object", params={"url": child.url + "/object.json"})
    assert via_json.json()["id"] == child.id
    state = service.client.get("/api/object", params={"url": run}).json()
    assert state["name"] == "r1" and state["status"] == "running"
    missing = service.client.get("/api/object", params={"url": str(root / "demo" / "nothing")})
    assert missing.status_code == 404


def test_object_outside_the_roots_is_forbidden(service: RunningService, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "object.json").write_text(json.dumps({"format": "tercet.table"}))
    for url in (str(elsewhere), "/etc", str(service.root / ".." / "elsewhere")):
        response = service.client.get("/api/object", params={"url": url})
        assert response.status_code == 403, url
        assert "outside the project roots" in response.json()["detail"]
    relative = service.client.get("/api/object", params={"url": "demo/datasets"})
    assert relative.status_code == 422


def test_extra_scan_urls_are_indexed(tmp_path: Path, start_service: StartService) -> None:
    other_root = f"memory://scan-{os.getpid()}-{id(tmp_path)}"
    t = Table.create({"v": [1, 2, 3]}, project="remote", dataset="d", name="t", root=other_root)
    service = start_service(scan=[other_root])
    names = [p["name"] for p in service.client.get("/api/projects").json()]
    assert "remote" in names
    tables = service.client.get("/api/projects/remote/tables").json()
    assert [x["url"] for x in tables] == [t.url]
    schema = service.client.post("/api/schema", json={"source": {"table": t.url}})
    assert schema.json()["num_rows"] == 3
    storage.filesystem(other_root)[0].rm(storage.filesystem(other_root)[1], recursive=True)


@pytest.mark.parametrize("status", ["completed", "running"])
def test_run_without_metrics_has_no_streams(
    root: Path, start_service: StartService, status: str
) -> None:
    t = make_table(n=5)
    write_run(root, "demo", "empty", inputs={"train": t.url}, status=status)
    service = start_service()
    (run,) = service.client.get("/api/projects/demo/runs").json()
    assert run["status"] == status and run["streams"] == [] and run["projections"] == []
