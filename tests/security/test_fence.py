"""Stored references are fenced: an object planted inside the served root that points at a real
table outside it (through ``rows``, ``parent``, ``delta``, a metrics footer's ``table``, a
projection or a symlink) gets a 4xx from every route that follows it, never the outside rows.

Each case writes the crafted object directly (JSON, Parquet, symlinks): that is the attack. The
outside table is real and readable by the library, so only the fence stands between them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tercet import Table, format, storage
from tests.fixtures.service import RunningService, StartService, snapshot, write_run

N = 300
SECRET = "SECRET"
LABELS = ["cat", "dog", "bird"]


def _rows(prefix: str, n: int = N) -> dict[str, Any]:
    return {
        "x": np.arange(n, dtype=np.float32),
        "label": (np.arange(n) % 3).astype(np.int32),
        "caption": [f"{prefix}-{i}" for i in range(n)],
    }


def _table(prefix: str, project: str, root: str | None = None) -> Table:
    return Table.create(
        _rows(prefix), project, "d", "train", root=root, value_maps={"label": LABELS}
    )


def _metrics(run_url: str, table_ref: str, name: str | None = None) -> str:
    """A metrics file of epoch 0 in split ``val`` whose footer names ``table_ref`` as stored."""
    ids = np.arange(N, dtype=np.int64)
    data = pa.table({"example_id": ids, "prediction": (ids % 3).astype(np.int32)})
    meta = {
        "format": format.METRICS_FORMAT, "format_version": 1, "table": table_ref,
        "table_id": "x", "epoch": 0, "split": "val",
        "columns": [{"name": "example_id", "type": "int64", "role": "id"},
                    {"name": "prediction", "type": "int32", "role": "prediction"}],
    }  # fmt: skip
    name = name or f"epoch-0000-{format.unique_suffix()}.parquet"
    url = storage.join(run_url, "metrics", "val", name)
    os.makedirs(storage.parent(url), exist_ok=True)
    pq.write_table(data.replace_schema_metadata({"tercet": json.dumps(meta)}), url)
    return url


@dataclass
class World:
    """A served root with one good table, and a real table outside the root."""

    service: RunningService
    root: Path
    outside: Path
    public: Table
    secret: Table
    secret_edit: Table  # a revision of the secret table whose edits are in delta.parquet

    def craft_table(self, name: str, case: str) -> str:
        """A revision folder in the served project whose descriptor reaches outside (``case``)."""
        folder = self.root / "demo" / "datasets" / "d" / "tables" / name
        folder.mkdir(parents=True)
        d = {**self.public.descriptor, "table": name, "name": name, "id": name}
        _craft(self, case, d, folder)
        (folder / "object.json").write_text(json.dumps(d))
        return str(folder)

    def craft_run(self, name: str) -> str:
        return write_run(self.root, "demo", name, status="completed")


@pytest.fixture
def world(root: Path, tmp_path: Path, start_service: StartService) -> World:
    outside = tmp_path / "outside"
    public = _table("public", "demo")
    secret = _table(SECRET, "secret", root=str(outside))
    ids = secret.example_ids()[:280]  # more cells than fit inline: written as delta.parquet
    edit = secret.set_values("caption", ids, [f"{SECRET}-edited"] * len(ids))
    assert (Path(edit.url) / format.DELTA_FILE).exists()
    return World(start_service(), root, outside, public, secret, edit)


def _rel(target: str, start: str | Path) -> str:
    return os.path.relpath(target, start)


def _craft(w: World, case: str, d: dict[str, Any], f: Path) -> None:
    """Change the descriptor ``d`` of the crafted revision folder ``f`` to reach outside."""
    secret_rows = str(Path(w.secret.url) / w.secret.descriptor["rows"][0])
    if case == "rows-relative":
        d["rows"] = [_rel(secret_rows, f)]
    elif case == "rows-absolute":
        d["rows"] = [secret_rows]
    elif case == "rows-file-url":
        d["rows"] = ["file://" + secret_rows]
    elif case == "rows-symlink":  # a relative path inside the folder, through a symlink
        (f / "rows").symlink_to(Path(w.secret.url) / "rows")
        d["rows"] = w.secret.descriptor["rows"]
    elif case == "parent-absolute":
        _derived(d, w.secret.url)
    elif case == "parent-relative":
        _derived(d, _rel(w.secret.url, f))
    elif case == "parent-symlink":  # a sibling folder that is a symlink to the secret table
        (f.parent / f"{f.name}-link").symlink_to(w.secret.url)
        _derived(d, f"../{f.name}-link")
    elif case == "delta-outside":
        delta = _rel(str(Path(w.secret_edit.url) / format.DELTA_FILE), f)
        _derived(d, "../train", {"file": delta, "added_columns": []})
    else:
        raise AssertionError(case)


CASES = ["rows-relative", "rows-absolute", "rows-file-url", "rows-symlink", "parent-absolute",
         "parent-relative", "parent-symlink", "delta-outside"]  # fmt: skip


def _derived(d: dict[str, Any], parent: str, delta: dict[str, Any] | None = None) -> None:
    d.pop("rows", None)
    d.update(parent=parent, delta=delta or {"deleted": [], "set": {}, "added_columns": []})


def _table_requests(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    source = {"table": url}
    return [
        ("POST", "/api/schema", {"source": source}),
        ("POST", "/api/rows", {"source": source, "limit": 1000}),
        ("GET", "/api/rows", {"source": json.dumps(source), "limit": 1000}),
        ("POST", "/api/count", {"source": source}),
        ("POST", "/api/count", {"source": source, "filter": {"column": "x", "op": "range"}}),
        ("POST", "/api/summary", {"source": source, "column": "caption"}),  # categories
        ("POST", "/api/summary", {"source": source, "column": "x"}),  # histogram
        ("POST", "/api/revisions", {"base": url, "edits": {"delete": [1]}}),
    ]


def _run_requests(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    source = {"run": url, "split": "val", "epoch": 0}
    return [
        ("POST", "/api/schema", {"source": source}),
        ("POST", "/api/rows", {"source": source, "limit": 1000}),
        ("POST", "/api/rows", {"source": {**source, "join": "latest"}}),
        ("GET", "/api/rows", {"source": json.dumps(source)}),
        ("POST", "/api/count", {"source": source}),
        ("POST", "/api/summary", {"source": source, "column": "caption"}),
        ("POST", "/api/summary", {"source": source, "column": "x"}),
        ("POST", "/api/confusion", {"run": url, "split": "val", "epoch": 0}),
    ]


def _trajectory_reads_only_the_run(service: RunningService, run: str) -> None:
    # A trajectory reads the run's own metrics files, never the input table: it may be served,
    # but nothing from outside the roots can be in it.
    body = {"run": run, "split": "val", "example_id": 1, "columns": ["prediction"]}
    response = service.client.post("/api/trajectory", json=body)
    assert response.status_code in (200, 404), response.text
    assert SECRET not in response.text


def _refused(service: RunningService, requests: list[tuple[str, str, dict[str, Any]]]) -> None:
    for method, path, payload in requests:
        if method == "GET":
            response = service.client.get(path, params=payload)
        else:
            response = service.client.post(path, json=payload)
        assert 400 <= response.status_code < 500, (path, payload, response.status_code)
        assert SECRET.encode() not in response.content, (path, payload)
        detail = response.json()["detail"]
        assert re.search(r"outside|must be a path relative", detail), (path, detail)


@pytest.mark.parametrize("case", CASES)
def test_a_crafted_revision_cannot_reach_a_table_outside_the_roots(world: World, case: str) -> None:
    url = world.craft_table(f"evil-{case}", case)
    before = snapshot(world.root), snapshot(world.outside)
    _refused(world.service, _table_requests(url))
    assert (snapshot(world.root), snapshot(world.outside)) == before
    # The honest table beside it is served as before.
    good = world.service.client.post("/api/count", json={"source": {"table": world.public.url}})
    assert good.json()["total"] == N


@pytest.mark.parametrize("case", ["rows-symlink", "delta-outside"])
def test_a_crafted_revision_served_from_disk_cannot_reach_outside(world: World, case: str) -> None:
    # A budget below every table: each is served from a local copy (tercet.service.spill),
    # written from reads that go through the fence as a load's do.
    world.service.app.state.ctx.sources.cache.max_bytes = 1
    url = world.craft_table(f"evil-disk-{case}", case)
    before = snapshot(world.root), snapshot(world.outside)
    _refused(world.service, _table_requests(url))
    assert (snapshot(world.root), snapshot(world.outside)) == before
    good = world.service.client.post("/api/rows", json={"source": {"table": world.public.url}})
    assert good.status_code == 200 and good.headers["x-total-count"] == str(N)
    served = world.service.app.state.ctx.sources.table(world.public.url)
    assert not served.in_memory


def test_a_symlinked_descriptor_is_not_followed_out(world: World) -> None:
    folder = world.root / "demo" / "datasets" / "d" / "tables" / "evil-descriptor"
    folder.mkdir(parents=True)
    (folder / "object.json").symlink_to(Path(world.secret.url) / "object.json")
    (folder / "rows").symlink_to(Path(world.secret.url) / "rows")
    _refused(world.service, _table_requests(str(folder)))
    obj = world.service.client.get("/api/object", params={"url": str(folder)})
    assert obj.status_code == 403 and SECRET not in obj.text
    world.service.scan()
    listed = world.service.client.get("/api/projects/demo/tables").json()
    entry = next(t for t in listed if t["url"] == str(folder))
    assert entry["error"] and "outside" in entry["error"] and entry["num_rows"] == 0


def test_object_and_listing_of_a_revision_with_a_parent_outside(world: World) -> None:
    url = world.craft_table("evil-parent", "parent-absolute")
    obj = world.service.client.get("/api/object", params={"url": url})
    assert obj.status_code == 422 and "'parent'" in obj.json()["detail"]
    world.service.scan()
    listed = world.service.client.get("/api/projects/demo/tables").json()
    entry = next(t for t in listed if t["url"] == url)
    assert entry["error"] and "'parent'" in entry["error"]


@pytest.mark.parametrize("form", ["relative", "absolute", "file-url"])
def test_a_metrics_footer_cannot_name_a_table_outside_the_roots(world: World, form: str) -> None:
    run = world.craft_run(f"evil-{form}")
    ref = {
        "relative": _rel(world.secret.url, run),
        "absolute": world.secret.url,
        "file-url": "file://" + world.secret.url,
    }[form]
    _metrics(run, ref)
    world.service.scan()  # the crafted run as a whole: no background scan caught it half-written
    before = snapshot(world.root), snapshot(world.outside)
    _refused(world.service, _run_requests(run))
    _trajectory_reads_only_the_run(world.service, run)
    assert (snapshot(world.root), snapshot(world.outside)) == before


def test_an_input_event_cannot_name_a_table_outside_the_project(world: World) -> None:
    run = write_run(world.root, "demo", "evil-input", inputs={"val": world.secret.url})
    world.service.scan()
    info = world.service.client.get("/api/object", params={"url": run}).json()
    assert info["inputs"] == [] and "outside its project" in (info["error"] or "")


def test_a_projection_symlinked_outside_is_refused(world: World) -> None:
    run = world.craft_run("evil-projection")
    metrics = _metrics(run, _rel(world.public.url, run))
    leak = world.outside / "projection.parquet"
    ids = np.arange(N, dtype=np.int64)
    pq.write_table(pa.table({"example_id": ids, "proj_x": np.full(N, 4242.0, np.float32),
                             "proj_y": np.zeros(N, np.float32)}), leak)  # fmt: skip
    folder = Path(run) / "metrics" / "val" / "projections" / "pca-2d"
    folder.mkdir(parents=True)
    (folder / storage.basename(metrics)).symlink_to(leak)
    world.service.scan()
    source = {"run": run, "split": "val", "epoch": 0, "projection": "pca-2d"}
    for path, body in (
        ("/api/rows", {"source": source}),
        ("/api/count", {"source": source}),
        ("/api/summary", {"source": source, "column": "proj_x"}),
    ):
        response = world.service.client.post(path, json=body)
        assert response.status_code == 403, (path, response.text)
        assert "outside" in response.json()["detail"]
    # Without the projection the run is served: only the planted file is refused.
    plain = world.service.client.post("/api/count", json={"source": {**source, "projection": None}})
    assert plain.json()["total"] == N


def test_a_metrics_file_or_scalars_symlinked_outside_are_refused(world: World) -> None:
    run = world.craft_run("evil-symlinked-metrics")
    leak = Path(_metrics(str(world.outside / "a-run"), _rel(world.public.url, run)))
    target = Path(run) / "metrics" / "val" / leak.name
    target.parent.mkdir(parents=True)
    target.symlink_to(leak)
    scalars = Path(run) / "metrics" / "aggregate" / "x.parquet"
    scalars.parent.mkdir(parents=True)
    pq.write_table(pa.table({"step": [1], "name": [SECRET], "value": [1.0]}), leak.with_name("s"))
    scalars.symlink_to(leak.with_name("s"))
    world.service.scan()
    _refused(world.service, _run_requests(run))
    _trajectory_reads_only_the_run(world.service, run)
    response = world.service.client.get("/api/scalars", params={"run": run})
    assert response.status_code == 403 and SECRET not in response.text


def test_fenced_reads_are_not_bypassed_by_caches_filled_without_a_fence(world: World) -> None:
    ctx = world.service.app.state.ctx
    # The library (same process, no fence) reads the secret table; the service's own source
    # cache is filled with it, and with a crafted revision's outside rows, by calls made outside
    # any request.
    assert Table.open(world.secret.url).to_arrow().num_rows == N
    ctx.sources.table(world.secret.url)
    crafted = world.craft_table("evil-cached", "rows-symlink")
    assert ctx.sources.table(crafted).num_rows == N
    _refused(world.service, _table_requests(crafted))
    run = world.craft_run("evil-cached")
    _metrics(run, world.secret.url)
    world.service.scan()
    _refused(world.service, _run_requests(run))
    _trajectory_reads_only_the_run(world.service, run)


def test_data_files_named_by_a_crafted_table_stay_fenced(world: World, tmp_path: Path) -> None:
    secret_png = world.outside / "secret.png"
    from PIL import Image

    Image.new("RGB", (8, 8), (255, 0, 0)).save(secret_png)
    link = world.root / "demo" / "data" / "img.png"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret_png)
    base = world.public.url
    cases: list[dict[str, str | int]] = [
        {"url": str(secret_png)},
        {"url": _rel(str(secret_png), base), "base": base},
        {"url": _rel(str(secret_png), base), "base": base, "thumb": 64},
        {"url": "../../../../data/img.png", "base": base},
        {"url": "../../../../data/img.png", "base": base, "thumb": 64},
        {"url": str(link)},
    ]
    for params in cases:
        response = world.service.client.get("/api/file", params=params)
        assert response.status_code == 403, (params, response.text)
        assert response.headers["content-type"].startswith("application/json")


# -- S3 --------------------------------------------------------------------------------------------
@pytest.mark.s3
def test_on_s3_references_cannot_leave_the_root_across_a_segment_boundary(
    s3_root: str, start_service: StartService
) -> None:
    # The served root is s3://<bucket>/projects; the secret table is in s3://<bucket>/projects-x.
    outside = s3_root + "-x"
    public = _table("public", "demo")
    secret = _table(SECRET, "secret", root=outside)
    service = start_service()
    tables = f"{s3_root}/demo/datasets/d/tables"

    def craft(name: str, **fields: Any) -> str:
        d = {**public.descriptor, "table": name, "name": name, "id": name, **fields}
        if "parent" in fields:
            d.pop("rows")
            d["delta"] = {"deleted": [], "set": {}, "added_columns": []}
        folder = f"{tables}/{name}"
        storage.write_json(format.descriptor_url(folder), d)
        return folder

    rows_file = f"{secret.url}/{secret.descriptor['rows'][0]}"
    climb = "../../../../../../projects-x/" + rows_file.split("/projects-x/")[1]
    crafted = [
        craft("rows-abs", rows=[rows_file]),
        craft("rows-rel", rows=[climb]),
        craft("parent-abs", parent=secret.url),
        craft("parent-rel", parent="../../../../../projects-x/secret/datasets/d/tables/train"),
    ]
    for url in crafted:
        _refused(service, _table_requests(url)[:4])
    run = f"{s3_root}/demo/runs/evil"
    storage.write_json(
        format.descriptor_url(run),
        {"format": "tercet.run", "format_version": 1, "name": "evil", "project": "demo",
         "created": "2026-01-01T00:00:00+00:00", "parameters": {}},
    )  # fmt: skip
    ids = np.arange(N, dtype=np.int64)
    meta = {"format": format.METRICS_FORMAT, "format_version": 1, "table": secret.url,
            "epoch": 0, "split": "val", "columns": []}  # fmt: skip
    data = pa.table({"example_id": ids, "prediction": (ids % 3).astype(np.int32)})
    metrics = f"{run}/metrics/val/epoch-0000-{format.unique_suffix()}.parquet"
    with storage.open_atomic(metrics) as fh:
        pq.write_table(data.replace_schema_metadata({"tercet": json.dumps(meta)}), fh)
    response = service.client.post("/api/rows", json={"source": {"run": run, "split": "val"}})
    assert response.status_code == 403 and SECRET.encode() not in response.content
    assert "projects-x" in response.json()["detail"]
    good = service.client.post("/api/count", json={"source": {"table": public.url}})
    assert good.json()["total"] == N
