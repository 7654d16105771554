"""``POST /api/density``: the filtered rows binned over a viewport, counts checked against numpy;
the viewport's rows fetched as points when few enough (threshold from the service's config or
the request); bad axes and viewports refused with a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tercet import Table
from tests.fixtures.service import RunningService, StartService, make_table

N = 400


@pytest.fixture
def table(root: Path) -> Table:
    return make_table(n=N)


def density(service: RunningService, table: Table, **body: Any) -> dict[str, Any]:
    response = service.client.post(
        "/api/density", json={"source": {"table": table.url}, "x": "x", "y": "y", **body}
    )
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def grid(answer: dict[str, Any]) -> np.ndarray:
    out = np.zeros((answer["bins"], answer["bins"]), dtype=np.int64)
    out[answer["iy"], answer["ix"]] = answer["counts"]
    return out


def expected(frame: pd.DataFrame, view: tuple[float, float, float, float], bins: int) -> np.ndarray:
    x0, x1, y0, y1 = view
    x, y = frame.x.to_numpy(np.float64), frame.y.to_numpy(np.float64)
    inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    ix = np.minimum(np.floor((x[inside] - x0) / ((x1 - x0) / bins)), bins - 1).astype(int)
    iy = np.minimum(np.floor((y[inside] - y0) / ((y1 - y0) / bins)), bins - 1).astype(int)
    out = np.zeros((bins, bins), dtype=np.int64)
    np.add.at(out, (iy, ix), 1)
    return out


def test_cells_count_the_filtered_rows_in_the_viewport(
    start_service: StartService, table: Table
) -> None:
    service = start_service(density_points=50)
    frame = table.to_pandas()
    whole = density(service, table, bins=8)
    assert whole["total"] == whole["in_view"] == N
    assert whole["extent"]["x0"] == pytest.approx(frame.x.min())
    assert whole["extent"]["y1"] == pytest.approx(frame.y.max())
    e = whole["extent"]
    assert (grid(whole) == expected(frame, (e["x0"], e["x1"], e["y0"], e["y1"]), 8)).all()
    assert whole["max_count"] == grid(whole).max()
    assert whole["threshold"] == 50 and whole["points"] is False
    # Cells in (ix, iy) order: two replicas, or two asks of one service, give the same answer.
    cells = list(zip(whole["ix"], whole["iy"], strict=True))
    assert cells == sorted(cells)

    # Zoomed in under a filter: finer cells over the viewport, only rows of label 1 inside it.
    label_one = {"column": "label", "op": "eq", "value": 1}
    view = {"x0": 0.25, "x1": 0.5, "y0": 0.5, "y1": 0.75}
    zoomed = density(service, table, bins=4, viewport=view, filter=label_one)
    kept = frame[frame.label == 1]
    want = expected(kept, (0.25, 0.5, 0.5, 0.75), 4)
    assert (grid(zoomed) == want).all()
    assert zoomed["total"] == len(kept) and zoomed["in_view"] == want.sum() < 50
    assert zoomed["points"] is True

    # The points of that viewport, as the dashboard fetches them: exactly the rows binned.
    f = {"and": [label_one, {"column": "x", "op": "range", "min": 0.25, "max": 0.5},
                 {"column": "y", "op": "range", "min": 0.5, "max": 0.75}]}  # fmt: skip
    rows = service.client.post(
        "/api/rows", json={"source": {"table": table.url}, "columns": ["x"], "filter": f}
    )
    got = pa.ipc.open_stream(rows.content).read_all()
    assert got.num_rows == zoomed["in_view"]
    inside = kept[(kept.x >= 0.25) & (kept.x <= 0.5) & (kept.y >= 0.5) & (kept.y <= 0.75)]
    assert sorted(got["example_id"].to_pylist()) == sorted(inside.example_id.tolist())

    # The request's own threshold wins over the service's.
    assert density(service, table, bins=2, max_points=N)["points"] is True


def test_bad_axes_and_viewports_are_refused(service: RunningService, table: Table) -> None:
    def post(**body: Any) -> Any:
        base = {"source": {"table": table.url}, "x": "x", "y": "y"}
        return service.client.post("/api/density", json={**base, **body})

    r = post(x="caption")
    assert r.status_code == 422 and "Cannot bin 'caption'" in r.text
    r = post(y="nope")
    assert r.status_code == 422 and "Unknown axis 'nope'" in r.text
    r = post(viewport={"x0": 1, "x1": 0, "y0": 0, "y1": 1})
    assert r.status_code == 422 and "x1 and y1" in r.text
    r = post(bins=5000)
    assert r.status_code == 422
    empty = post(filter={"column": "label", "op": "eq", "value": 99}).json()
    assert empty["total"] == 0 and empty["counts"] == [] and empty["viewport"] is None


def test_columns_named_like_the_queries_bins_are_binned(
    service: RunningService, root: Path
) -> None:
    """A histogram grouped by its alias ``b`` bound the source's own column ``b`` instead."""
    rng = np.random.default_rng(0)
    t = Table.create({"a": rng.random(50), "b": rng.random(50), "ix": rng.random(50)},
                     project="p", dataset="d", name="ab")  # fmt: skip
    src = {"table": t.url}
    hist = service.client.post("/api/summary", json={"source": src, "column": "a", "bins": 5})
    assert hist.status_code == 200, hist.text
    assert sum(hist.json()["counts"]) == 50
    cells = service.client.post("/api/density", json={"source": src, "x": "ix", "y": "b"})
    assert cells.status_code == 200, cells.text
    assert cells.json()["in_view"] == 50


def test_schema_names_the_threshold_and_kept_answers_follow_filter_and_grid(
    start_service: StartService, table: Table
) -> None:
    service = start_service(density_points=77)
    schema = service.client.post("/api/schema", json={"source": {"table": table.url}}).json()
    assert schema["density_points"] == 77 and schema["num_rows"] == N
    frame = table.to_pandas()
    first = density(service, table, bins=4)
    assert density(service, table, bins=4) == first  # kept, and the same answer
    # a kept answer is never served for another filter, grid or threshold
    label_two = {"column": "label", "op": "eq", "value": 2}
    assert density(service, table, bins=4, filter=label_two)["total"] == (frame.label == 2).sum()
    assert density(service, table, bins=2)["bins"] == 2
    assert density(service, table, bins=4, max_points=N)["points"] is True
    assert density(service, table, bins=4)["points"] is False
