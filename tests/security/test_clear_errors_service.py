"""The service answers hostile input with a 4xx that says what is wrong, never a 5xx: huge and
tiny numbers, NaN, wrong types, long strings, URLs naming any file or folder of a project, and
stored files planted with ids no Tercet writer makes. Each case here was a 5xx before its fix."""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tercet import Table
from tests.fixtures.service import (
    RunningService,
    make_table,
    plant_metrics,
    snapshot,
    write_metrics,
    write_run,
    write_scalars,
)


# -- hostile input to the service: 4xx with a message, never a 5xx -----------------------------
class Raw(str):
    """JSON text put into a request body as is (numbers json.dumps cannot write: 1e400)."""


HOSTILE: list[object] = [
    2**64, Raw("1e400"), 1e308, -0.0, 5e-324, float("nan"), "", "x" * 20_000, "\x00é", [],
    {}, None, True, [2**64] * 100, "<NOT_SET>/x",
]  # fmt: skip


def _body(value: object) -> bytes:
    """``value`` as a JSON body, NaN and infinities as the bare tokens Python's json writes."""
    raws: dict[str, str] = {}

    def plant(v: object) -> object:
        if isinstance(v, Raw):
            key = f"__raw_{len(raws)}__"
            raws[key] = str(v)
            return key
        if isinstance(v, dict):
            return {k: plant(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plant(x) for x in v]
        return v

    text = json.dumps(plant(value))
    for key, raw in raws.items():
        text = text.replace(f'"{key}"', raw)
    return text.encode()


def _leaves(value: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))


def _replace(value: object, path: tuple[object, ...], new: object) -> object:
    if not path:
        return new
    out = copy.deepcopy(value)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


def _check(response: httpx.Response, what: str, failures: list[str]) -> None:
    if response.status_code >= 500:
        failures.append(f"{what} -> {response.status_code} {response.text[:200]}")
    elif response.status_code >= 400:
        try:
            detail = response.json()["detail"]
        except (ValueError, KeyError, TypeError):
            failures.append(f"{what} -> {response.status_code} without a JSON detail")
            return
        if not isinstance(detail, str) or not detail:
            failures.append(f"{what} -> {response.status_code} detail {detail!r}")


@dataclass
class World:
    """Objects of every kind, good and planted, under the service's root."""

    service: RunningService
    table: str
    revision: str
    big_revision: str
    run: str
    image: str
    planted_table: str
    planted_runs: dict[str, str]


def _plant_ids(table: Table, ids: pa.Array) -> None:
    """Replace the example ids in a source table's row file behind its back."""
    (rows,) = Path(table.url, "rows").glob("*.parquet")
    data = pq.read_table(rows)
    at = data.schema.get_field_index("example_id")
    pq.write_table(data.set_column(at, pa.field("example_id", ids.type), ids), rows)


@pytest.fixture
def world(service: RunningService, root: Path) -> World:
    table = make_table(n=300, images=root / "demo" / "data" / "images")
    revision = table.set_values("label", [1, 2], [2, 2])
    big = table.set_values("label", list(range(300)), [0] * 300)  # delta.parquet, not inline
    run = write_run(root, "demo", "probe", inputs={"train": table.url})
    n = table.num_rows
    write_metrics(
        run, "train", 0, table.url, table.id,
        {"example_id": list(range(n)), "prediction": [i % 3 for i in range(n)],
         "loss": [float(i) for i in range(n)]},
        roles={"prediction": "prediction", "loss": "loss"},
        projection={"example_id": list(range(n)), "proj_x": [0.0] * n, "proj_y": [1.0] * n},
    )  # fmt: skip
    write_scalars(run, [{"step": 0, "name": "loss", "value": 1.0}])
    planted = make_table(n=30, name="planted")
    _plant_ids(planted, pa.array([2**64 - 1 - i for i in range(30)], pa.uint64()))
    planted_runs = {}
    for kind, ids in {
        "uint64": pa.array([2**64 - 1 - i for i in range(n)], pa.uint64()),
        "strings": pa.array([str(i) for i in range(n)]),
        "nulls": pa.array([None] * n, pa.int64()),
        "floats": pa.array([i + 0.5 for i in range(n)]),
    }.items():
        planted_run = write_run(root, "demo", f"planted-{kind}", inputs={"train": table.url})
        plant_metrics(
            planted_run, "train", 0, table, {"example_id": ids, "loss": [1.0] * n},
            projection={"example_id": ids, "proj_x": [0.0] * n, "proj_y": [0.0] * n},
        )  # fmt: skip
        planted_runs[kind] = planted_run
    service.scan()
    return World(
        service, table.url, revision.url, big.url, run,
        str(root / "demo" / "data" / "images" / "img_0.png"), planted.url, planted_runs,
    )  # fmt: skip


def _templates(w: World) -> dict[str, tuple[str, str, dict[str, Any]]]:
    table: dict[str, Any] = {"table": w.table}
    run: dict[str, Any] = {"run": w.run, "split": "train", "epoch": 0, "join": "latest",
                           "projection": "pca-2d"}  # fmt: skip
    rng: dict[str, Any] = {"column": "x", "op": "range", "min": 0, "max": 1}
    return {
        "schema-table": ("POST", "/api/schema", {"source": table}),
        "schema-run": ("POST", "/api/schema", {"source": run}),
        "rows": ("POST", "/api/rows", {
            "source": table, "columns": ["x", "emb"], "filter": {"and": [rng]},
            "sort": [{"column": "x", "desc": True}], "offset": 0, "limit": 10}),
        "count-in": ("POST", "/api/count", {
            "source": table, "filter": {"column": "label", "op": "in", "values": [1, 2]}}),
        "count-eq-contains": ("POST", "/api/count", {"source": run, "filter": {"or": [
            {"column": "flag", "op": "eq", "value": True},
            {"not": {"column": "caption", "op": "contains", "value": "cat"}},
            {"column": "score", "op": "is_null"}]}}),
        "summary": ("POST", "/api/summary", {
            "source": table, "column": "x", "bins": 10, "min": 0, "max": 1, "filter": rng}),
        "summary-run": ("POST", "/api/summary", {"source": run, "column": "loss"}),
        "confusion": ("POST", "/api/confusion", {
            "run": w.run, "split": "train", "epoch": 0, "join": "latest", "filter": None}),
        "trajectory": ("POST", "/api/trajectory", {
            "run": w.run, "split": "train", "example_id": 1, "columns": ["loss"]}),
        # The unknown id in `delete` makes every variation that still validates a 422 too.
        "revisions": ("POST", "/api/revisions", {
            "base": w.revision, "message": "m", "edits": {
                "set": [{"column": "label", "example_id": 1, "value": 2}],
                "delete": [10**6], "weights": [{"example_id": 1, "weight": 0.5}]}}),
        "object": ("GET", "/api/object", {"url": w.table}),
        "scalars": ("GET", "/api/scalars", {"run": w.run}),
        "file": ("GET", "/api/file", {"url": w.image, "base": w.table, "thumb": 64}),
        "rows-get": ("GET", "/api/rows", {
            "source": json.dumps(table), "columns": "x,y", "filter": json.dumps(rng),
            "sort": json.dumps([{"column": "x"}]), "offset": 0, "limit": 5}),
        "tables": ("GET", "/api/projects/{project}/tables", {"project": "demo"}),
    }  # fmt: skip


def _send(w: World, method: str, path: str, value: dict[str, Any]) -> httpx.Response:
    client = w.service.client
    if method == "POST":
        return client.post(path, content=_body(value), headers={"content-type": "application/json"})
    if "{project}" in path:
        return client.get(path.replace("{project}", quote(str(value.get("project")), safe="")))
    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    return client.get(path, params=params)


TEMPLATES = [
    "schema-table", "schema-run", "rows", "count-in", "count-eq-contains", "summary",
    "summary-run", "confusion", "trajectory", "revisions", "object", "scalars", "file",
    "rows-get", "tables",
]  # fmt: skip


@pytest.mark.parametrize("name", TEMPLATES)
def test_hostile_values_in_every_field_are_client_errors(
    world: World, root: Path, name: str
) -> None:
    method, path, template = _templates(world)[name]
    before = snapshot(root)
    failures: list[str] = []
    for leaf in _leaves(template):
        for value in HOSTILE:
            if method == "GET" and len(_body(value)) > 4000:
                continue  # longer than any URL a client sends (the client refuses it first)
            request = _replace(template, leaf, value)
            if not isinstance(request, dict):
                continue  # the body itself replaced: the malformed-body test covers that
            response = _send(world, method, path, request)
            _check(response, f"{method} {path} {'.'.join(map(str, leaf))}={value!r:.40}", failures)
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:15])
    after = snapshot(root)
    assert all(after.get(k) == v for k, v in before.items()), "a stored object changed"


def test_urls_naming_any_file_or_folder_are_client_errors(world: World, root: Path) -> None:
    project = root / "demo"
    # One file or folder of each kind: names alike but for digits and hex are the same kind.
    kinds: dict[str, str] = {}
    for p in sorted(project.rglob("*")):
        kind = re.sub(r"[0-9a-f]{6,}|\d+|planted-\w+", "N", str(p.relative_to(root)))
        kinds.setdefault(kind, str(p))
    urls = [*kinds.values(), str(root), str(project) + "/"]
    assert any(u.endswith("delta.parquet") for u in urls)  # every kind of file is probed
    assert any("/projections/" in u for u in urls) and any("/events/" in u for u in urls)
    before = snapshot(root)
    failures: list[str] = []
    for url in urls:
        probes: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/api/schema", {"source": {"table": url}}),
            ("POST", "/api/count", {"source": {"run": url, "split": "train"}}),
            ("POST", "/api/confusion", {"run": url, "split": "train"}),
            ("POST", "/api/trajectory", {"run": url, "split": "train", "example_id": 1,
                                         "columns": ["loss"]}),
            ("POST", "/api/revisions", {"base": url, "edits": {"delete": [10**6]}}),
            ("GET", "/api/object", {"url": url}),
            ("GET", "/api/scalars", {"run": url}),
            ("GET", "/api/file", {"url": url}),
            ("GET", "/api/file", {"url": "img_0.png", "base": url}),
        ]  # fmt: skip
        for method, path, value in probes:
            response = _send(world, method, path, value)
            _check(response, f"{method} {path} {url}", failures)
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:15])
    assert snapshot(root) == before


def test_a_table_url_naming_its_parquet_file_is_a_404_not_a_502(world: World) -> None:
    (rows,) = Path(world.table, "rows").glob("*.parquet")
    response = world.service.client.post("/api/schema", json={"source": {"table": str(rows)}})
    assert response.status_code == 404, response.text
    assert str(rows) in response.json()["detail"]


@pytest.mark.parametrize("kind", ["table", "uint64", "strings", "nulls", "floats"])
def test_planted_ids_beyond_int64_or_of_another_type_are_named(world: World, kind: str) -> None:
    source: dict[str, Any] = (
        {"table": world.planted_table}
        if kind == "table"
        else {"run": world.planted_runs[kind], "split": "train", "projection": "pca-2d"}
    )
    failures: list[str] = []
    for path, body in [
        ("/api/schema", {"source": source}),
        ("/api/rows", {"source": source}),
        ("/api/count", {"source": source, "filter": {"column": "example_id", "op": "eq",
                                                     "value": 2**63 - 1}}),
        ("/api/summary", {"source": source, "column": "example_id"}),
    ]:  # fmt: skip
        response = world.service.client.post(path, json=body)
        _check(response, f"POST {path} {kind}", failures)
        assert response.status_code == 422, (path, response.text)
        detail = response.json()["detail"]
        assert "example_id" in detail or "do not fit" in detail, detail
    if kind != "table":
        response = world.service.client.post("/api/trajectory", json={
            "run": world.planted_runs[kind], "split": "train", "example_id": 1,
            "columns": ["loss"]})  # fmt: skip
        _check(response, f"trajectory {kind}", failures)
    assert not failures, failures


@pytest.mark.parametrize(
    ("bounds", "status"),
    [
        ({"max": 5e-324}, 200),
        ({"min": 0, "max": 5e-324}, 422),
        ({"min": 5e-324, "max": 1e-323, "bins": 1000}, 422),
        ({"min": 0.5, "max": 0.5}, 200),
        ({"min": 1e308, "max": 1e308}, 200),
        ({"min": -1e308, "max": 1e308}, 200),
        ({"min": -1.7976931348623157e308, "max": 1.7976931348623157e308, "bins": 1}, 200),
        ({"min": -0.0, "max": 0.0}, 200),
        ({"min": 1e300, "max": 1.0001e300, "bins": 1000}, 200),
        ({"min": 1e300, "max": 1.0000000000001e300, "bins": 1000}, 422),
        ({"min": 1, "max": 0}, 422),
        ({"bins": 0}, 422),
        ({"bins": 10**9}, 422),
        ({"max": float("nan")}, 422),
        ({"min": float("-inf")}, 422),
    ],
)
def test_histogram_domains_of_every_shape_answer_without_a_server_error(
    world: World, bounds: dict[str, Any], status: int
) -> None:
    # x holds 0.0 itself, so a zero-width bin would divide it by zero.
    edit = {"set": [{"column": "x", "example_id": 0, "value": 0.0}]}
    zero = world.service.client.post("/api/revisions", json={"base": world.table, "edits": edit})
    assert zero.status_code == 201, zero.text
    body = {"source": {"table": zero.json()["url"]}, "column": "x", **bounds}
    response = world.service.client.post(
        "/api/summary", content=_body(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    if status == 200:
        result = response.json()
        edges = result["edges"]
        assert all(isinstance(e, float) and math.isfinite(e) for e in edges), edges
        assert all(a < b for a, b in itertools.pairwise(edges)), edges
        assert len(result["counts"]) == len(edges) - 1
    else:
        assert response.json()["detail"]
