"""Query routes: schema, rows as Arrow, filters, sort and paging, counts, summaries, run joins."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tercet import Table
from tests.fixtures.service import (
    RunningService,
    make_table,
    write_metrics,
    write_run,
    write_scalars,
)

# The query compiler's end-to-end tests: `make mutate` keeps them among the tests that start a
# service (pyproject.toml, [tool.mutmut]).
pytestmark = pytest.mark.query_compiler

N = 300


def arrow(response: Any) -> pa.Table:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apache.arrow.stream"
    return pa.ipc.open_stream(response.content).read_all()


@pytest.fixture
def table(root: Path) -> Table:
    return make_table(n=N)


@pytest.fixture
def frame(table: Table) -> pd.DataFrame:
    return table.to_pandas()


def rows(service: RunningService, source: dict[str, Any], **body: Any) -> pa.Table:
    return arrow(service.client.post("/api/rows", json={"source": source, **body}))


def test_schema_describes_types_roles_and_value_maps(service: RunningService, table: Table) -> None:
    info = service.client.post("/api/schema", json={"source": {"table": table.url}}).json()
    assert info["num_rows"] == N
    cols = {c["name"]: c for c in info["columns"]}
    assert info["columns"][0]["name"] == "example_id"
    assert (cols["x"]["type"], cols["x"]["role"]) == ("float", "number")
    assert cols["label"]["type"] == "int" and cols["label"]["role"] == "label"
    assert cols["label"]["value_map"]["1"]["name"] == "dog"
    assert (cols["caption"]["type"], cols["flag"]["type"]) == ("string", "bool")
    assert (cols["emb"]["type"], cols["emb"]["dims"]) == ("embedding", 4)
    assert cols["weight"]["role"] == "weight"


def test_rows_project_columns_and_keep_exact_types(service: RunningService, table: Table) -> None:
    page = rows(service, {"table": table.url}, columns=["x", "label", "emb"], limit=7)
    assert page.column_names == ["example_id", "x", "label", "emb"]
    assert page.num_rows == 7
    assert page.schema.field("x").type == pa.float32()
    assert page.schema.field("label").type == pa.int32()
    assert page.schema.field("emb").type == pa.list_(pa.float32(), 4)
    full = rows(service, {"table": table.url}, limit=N)
    assert full.num_rows == N and full.equals(table.to_arrow())


FILTERS = [
    ({"column": "x", "op": "range", "min": 0.25, "max": 0.75}, lambda f: f.x.between(0.25, 0.75)),
    ({"column": "x", "op": "range", "min": 0.5, "max": None}, lambda f: f.x >= 0.5),
    ({"column": "label", "op": "in", "values": [0, 2]}, lambda f: f.label.isin([0, 2])),
    (
        {"column": "caption", "op": "contains", "value": "DOG NUMBER 1"},
        lambda f: f.caption.str.lower().str.contains("dog number 1"),
    ),
    ({"column": "flag", "op": "eq", "value": True}, lambda f: f.flag),
    (
        {"column": "caption", "op": "in", "values": ["A cat number 0", "A dog number 4"]},
        lambda f: f.caption.isin(["A cat number 0", "A dog number 4"]),
    ),
    ({"column": "score", "op": "is_null"}, lambda f: f.score.isna()),
    (
        {"column": "example_id", "op": "in", "values": list(range(0, N, 3))},
        lambda f: f.example_id % 3 == 0,
    ),
    (
        {
            "and": [
                {"column": "label", "op": "eq", "value": 1},
                {"not": {"column": "score", "op": "range", "min": 0.5}},
            ]
        },
        lambda f: (f.label == 1) & ~(f.score >= 0.5),
    ),
    (
        {
            "or": [
                {"column": "x", "op": "range", "max": 0.1},
                {"column": "y", "op": "range", "min": 0.9},
            ]
        },
        lambda f: (f.x <= 0.1) | (f.y >= 0.9),
    ),
    ({"and": []}, lambda f: f.x == f.x),
    ({"or": []}, lambda f: f.x != f.x),
    ({"column": "label", "op": "in", "values": []}, lambda f: f.x != f.x),
]


@pytest.mark.parametrize(
    ("spec", "expected"), FILTERS, ids=[json.dumps(f[0])[:40] for f in FILTERS]
)
def test_filters_match_pandas(
    service: RunningService, table: Table, frame: pd.DataFrame, spec: Any, expected: Any
) -> None:
    response = service.client.post(
        "/api/rows",
        json={"source": {"table": table.url}, "filter": spec, "columns": ["x"], "limit": N},
    )
    page = arrow(response)
    want = frame[expected(frame).fillna(False).astype(bool)]
    assert page.column("example_id").to_pylist() == want.example_id.tolist()
    assert int(response.headers["x-total-count"]) == len(want)
    count = service.client.post("/api/count", json={"source": {"table": table.url}, "filter": spec})
    assert count.json() == {"total": N, "filtered": len(want)}


def test_long_id_lists_are_matched(service: RunningService, table: Table) -> None:
    ids = [*range(1, N, 2), 10**12]  # one id not in the table
    page = rows(
        service,
        {"table": table.url},
        filter={"column": "example_id", "op": "in", "values": ids},
        columns=[],
        limit=N,
    )
    assert page.column("example_id").to_pylist() == list(range(1, N, 2))


def test_sort_and_pages_are_stable_and_disjoint(
    service: RunningService, table: Table, frame: pd.DataFrame
) -> None:
    sort = [{"column": "label", "desc": True}, {"column": "x", "desc": False}]
    want = frame.sort_values(["label", "x"], ascending=[False, True], kind="stable")
    seen: list[int] = []
    for offset in range(0, N, 70):
        response = service.client.post(
            "/api/rows",
            json={"source": {"table": table.url}, "sort": sort, "offset": offset, "limit": 70},
        )
        assert response.headers["x-offset"] == str(offset)
        assert response.headers["x-total-count"] == str(N)
        seen += arrow(response).column("example_id").to_pylist()
    assert seen == want.example_id.tolist()
    nulls_last = rows(service, {"table": table.url}, sort=[{"column": "score"}], limit=N)
    assert nulls_last.column("score").to_pylist()[-30:] == [None] * 30
    beyond = rows(service, {"table": table.url}, offset=N + 5, limit=10)
    assert beyond.num_rows == 0 and "x" in beyond.column_names


def test_get_rows_matches_post(service: RunningService, table: Table) -> None:
    body = {
        "filter": {"column": "label", "op": "in", "values": [1]},
        "sort": [{"column": "y", "desc": True}],
    }
    posted = rows(service, {"table": table.url}, columns=["y"], limit=12, **body)
    got = service.client.get(
        "/api/rows",
        params={
            "source": json.dumps({"table": table.url}),
            "columns": "y",
            "limit": 12,
            "filter": json.dumps(body["filter"]),
            "sort": json.dumps(body["sort"]),
        },
    )
    assert arrow(got).equals(posted)


def test_histogram_under_a_filter(
    service: RunningService, table: Table, frame: pd.DataFrame
) -> None:
    spec = {"column": "label", "op": "eq", "value": 2}
    hist = service.client.post(
        "/api/summary",
        json={"source": {"table": table.url}, "filter": spec, "column": "score", "bins": 8},
    ).json()
    values = frame[frame.label == 2].score.dropna()
    assert hist["kind"] == "histogram"
    assert len(hist["edges"]) == 9 and len(hist["counts"]) == 8
    assert sum(hist["counts"]) == len(values)
    assert hist["min"] == pytest.approx(values.min()) and hist["max"] == pytest.approx(values.max())
    expected, _ = np.histogram(values, bins=np.asarray(hist["edges"]))
    assert hist["counts"] == expected.tolist()
    fixed = service.client.post(
        "/api/summary",
        json={"source": {"table": table.url}, "column": "x", "bins": 4, "min": 0, "max": 2},
    ).json()
    assert fixed["edges"] == [0, 0.5, 1, 1.5, 2] and fixed["counts"][2:] == [0, 0]
    empty = service.client.post(
        "/api/summary",
        json={
            "source": {"table": table.url},
            "column": "x",
            "bins": 3,
            "filter": {"column": "x", "op": "range", "min": 5},
        },
    ).json()
    assert empty["counts"] == [0, 0, 0] and empty["min"] is None


def test_category_counts_carry_names_and_colors(service: RunningService, table: Table) -> None:
    cats = service.client.post(
        "/api/summary",
        json={
            "source": {"table": table.url},
            "column": "label",
            "filter": {"column": "x", "op": "range", "min": 0.5},
        },
    ).json()
    assert cats["kind"] == "categories"
    names = {v["value"]: (v["name"], v["color"]) for v in cats["values"]}
    assert names[0] == ("cat", "#1f77b4") and names[2][0] == "bird"
    flags = service.client.post(
        "/api/summary", json={"source": {"table": table.url}, "column": "flag"}
    ).json()
    assert sorted((v["value"], v["count"]) for v in flags["values"]) == [(False, 150), (True, 150)]


# -- runs ------------------------------------------------------------------------------------
@dataclass
class RunSetup:
    table: Table
    relabeled: Table
    run: str


@pytest.fixture
def run_setup(root: Path, table: Table) -> RunSetup:
    # Tests ask for it before `service`: written in full before the service starts, so no index
    # scan sees the run half written (a run without metrics served as indexed: a flaky 404).
    run = write_run(root, "demo", "r1", inputs={"train": table.url})
    ids = np.arange(N)
    labels = table.to_pandas().label.to_numpy()
    for epoch in (0, 1):
        prediction = np.where(ids % 5 == 0, (labels + 1) % 3, labels).astype(np.int32)
        write_metrics(
            run,
            "train",
            epoch,
            table.url,
            table.id,
            {
                "example_id": ids[::-1],
                "loss": (ids[::-1] * (epoch + 1)).astype(np.float32),
                "prediction": prediction[::-1],
                "label": labels[::-1],
            },
            roles={"loss": "loss", "prediction": "prediction", "label": "label"},
            projection={
                "example_id": ids[: N // 2],
                "proj_x": ids[: N // 2].astype(np.float32),
                "proj_y": np.zeros(N // 2, np.float32),
            }
            if epoch == 1
            else None,
        )
    write_scalars(
        run,
        [{"step": s, "epoch": s // 2, "name": "loss", "value": 1 / (s + 1)} for s in range(4)]
        + [{"step": 0, "name": "acc", "value": float("nan")}],
    )
    relabeled = table.set_values("label", [0, 1], [2, 2]).delete_rows([5])
    return RunSetup(table, relabeled, run)


def test_run_metrics_join_the_collected_revision(
    run_setup: RunSetup, service: RunningService
) -> None:
    source = {"run": run_setup.run, "split": "train", "epoch": 0}
    info = service.client.post("/api/schema", json={"source": source}).json()
    cols = {c["name"]: c for c in info["columns"]}
    assert info["num_rows"] == N
    assert cols["loss"]["role"] == "loss"
    assert cols["metric_label"]["role"] == "label"  # collides with the table's label
    assert cols["prediction"]["value_map"]["2"]["name"] == "bird"  # borrowed from the label
    page = rows(service, source, columns=["label", "loss", "metric_label"], limit=N)
    # Rows come in table order, metrics aligned by example id.
    assert page.column("example_id").to_pylist() == list(range(N))
    assert page.column("loss").to_pylist() == [float(i) for i in range(N)]
    assert page.column("label").to_pylist() == page.column("metric_label").to_pylist()
    latest_epoch = rows(service, {"run": run_setup.run, "split": "train"}, columns=["loss"])
    assert latest_epoch.column("loss").to_pylist()[:3] == [0.0, 2.0, 4.0]


def test_run_metrics_join_the_latest_revision(run_setup: RunSetup, service: RunningService) -> None:
    source = {"run": run_setup.run, "split": "train", "epoch": 0, "join": "latest"}
    page = rows(service, source, columns=["label", "metric_label"], limit=N)
    assert page.num_rows == N - 1 and 5 not in page.column("example_id").to_pylist()
    assert page.column("label").to_pylist()[:2] == [2, 2]
    assert page.column("metric_label").to_pylist()[:2] == [0, 1]


def test_run_projection_columns(run_setup: RunSetup, service: RunningService) -> None:
    source = {"run": run_setup.run, "split": "train", "epoch": 1, "projection": "pca-2d"}
    page = rows(service, source, columns=["proj_x", "proj_y"], limit=N)
    assert page.column("proj_x").to_pylist()[:3] == [0.0, 1.0, 2.0]
    assert page.column("proj_x").null_count == N - N // 2  # rows the projection did not cover
    missing = service.client.post(
        "/api/schema", json={"source": {**source, "epoch": 0}}
    )  # epoch 0 has no projection
    assert missing.status_code == 404 and "pca-2d" in missing.json()["detail"]
    split = service.client.post(
        "/api/schema", json={"source": {"run": run_setup.run, "split": "test"}}
    )
    assert split.status_code == 404 and "train" in split.json()["detail"]


def test_confusion_matrix(run_setup: RunSetup, service: RunningService) -> None:
    result = service.client.post(
        "/api/confusion", json={"run": run_setup.run, "split": "train", "epoch": 0}
    ).json()
    assert [label["name"] for label in result["labels"]] == ["cat", "dog", "bird"]
    matrix = np.asarray(result["matrix"])
    assert matrix.sum() == N and np.trace(matrix) == N - N // 5
    filtered = service.client.post(
        "/api/confusion",
        json={
            "run": run_setup.run,
            "split": "train",
            "filter": {"column": "label", "op": "eq", "value": 0},
        },
    ).json()
    assert np.asarray(filtered["matrix"])[1:].sum() == 0


def test_trajectory_and_scalars(run_setup: RunSetup, service: RunningService) -> None:
    traj = service.client.post(
        "/api/trajectory",
        json={"run": run_setup.run, "split": "train", "example_id": 7, "columns": ["loss"]},
    ).json()
    assert traj == {"epochs": [0, 1], "values": {"loss": [7.0, 14.0]}}
    unknown = service.client.post(
        "/api/trajectory",
        json={"run": run_setup.run, "split": "train", "example_id": 7, "columns": ["nope"]},
    )
    assert unknown.status_code == 422 and "loss" in unknown.json()["detail"]
    absent = service.client.post(
        "/api/trajectory",
        json={"run": run_setup.run, "split": "train", "example_id": 10**9, "columns": ["loss"]},
    )
    assert absent.status_code == 404
    scalars = service.client.get("/api/scalars", params={"run": run_setup.run}).json()
    assert scalars["series"]["loss"] == {
        "step": [0, 1, 2, 3],
        "epoch": [0, 0, 1, 1],
        "value": [1.0, 0.5, 1 / 3, 0.25],
    }
    assert scalars["series"]["acc"]["value"] == [None]  # NaN is not JSON


def test_category_summary_lists_the_200_most_frequent_and_counts_the_rest(
    service: RunningService, root: Path
) -> None:
    # 250 distinct words; word k appears k + 1 times, so the top 200 are words 249 … 50.
    words = [f"w{k:03d}" for k in range(250) for _ in range(k + 1)]
    table = Table.create({"word": words}, project="demo", dataset="d", name="words")
    got = service.client.post(
        "/api/summary", json={"source": {"table": table.url}, "column": "word"}
    ).json()
    assert got["kind"] == "categories"
    assert [v["value"] for v in got["values"]] == [f"w{k:03d}" for k in range(249, 49, -1)]
    assert [v["count"] for v in got["values"]] == list(range(250, 50, -1))
    assert got["distinct"] == 250
    assert got["others"] == sum(range(1, 51))
    filtered = service.client.post(
        "/api/summary",
        json={"source": {"table": table.url}, "column": "word",
              "filter": {"column": "word", "op": "in", "values": ["w000", "w001"]}},
    ).json()  # fmt: skip
    assert [(v["value"], v["count"]) for v in filtered["values"]] == [("w001", 2), ("w000", 1)]
    assert filtered["distinct"] == 2 and filtered["others"] == 0
