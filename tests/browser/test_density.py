"""The 2D scatter's density mode (issue #16): past the service's ``density_points`` the page draws
binned cells from ``POST /api/density`` and, once zoomed in far enough, the rows in view as points.
Checked against counts and ids computed in Python from the table, read from the page's exposed
state (``tercetDensity()`` on the density canvas, ``tercetProbe`` on the overlay), not pixels."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

import tercet
from tests.browser.pages import settled_count, tid
from tests.browser.test_identity import isolated_point

DENSITY = '[data-testid="scatter-density"]'
OVERLAY = '[data-testid="scatter-2d-overlay"]'
THRESHOLD = 500
STATE = "el => { const s = el.tercetDensity(); delete s.screenOf; return s; }"


@pytest.fixture
def points_table(root: Path) -> tuple[str, Any]:
    """4,000 rows: 3,600 around (0, 0) and 400 around (100, 100), a label each."""
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 1.0, size=(3600, 2))
    b = rng.normal(100.0, 0.5, size=(400, 2))
    xy = np.vstack([a, b]).astype(np.float32)
    table = tercet.Table.create(
        {"x": xy[:, 0], "y": xy[:, 1], "label": (np.arange(4000) % 3).astype(np.int32)},
        project="dens",
        dataset="d",
        name="points",
        root=str(root),
        value_maps={"label": ["cat", "dog", "fox"]},
    )
    return table.url, table.to_pandas()


@pytest.fixture
def page(
    chromium: Any,
    root: Path,
    start_service: Callable[..., Any],
    dashboard_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    points_table: tuple[str, Any],
) -> Iterator[Any]:
    monkeypatch.setenv("TERCET_ROOT", str(root))
    service = start_service(cors_origins=[dashboard_server.url], density_points=THRESHOLD)
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    view = {"project": "dens", "table": points_table[0], "chart": "scatter2d"}
    parts = [f"service={quote(service.url, safe='')}", f"token={service.token}"]
    parts += [f"{k}={quote(v, safe='')}" for k, v in view.items()]
    page.goto(f"{dashboard_server.url}/#{'&'.join(parts)}")
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def state(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.locator(DENSITY).evaluate(STATE)
    return result


def wait_state(page: Any, ok: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """The state once ``ok`` holds and the view has settled (the same for 0.4 s)."""
    deadline = time.monotonic() + 20
    s, last, since = state(page), None, time.monotonic()
    while not (ok(s) and s == last and time.monotonic() - since > 0.4):
        if time.monotonic() > deadline:
            raise AssertionError(f"the density layer never showed {what}: {s}")
        if s != last:
            last, since = s, time.monotonic()
        time.sleep(0.1)
        s = state(page)
    return s


def inside(frame: Any, v: dict[str, float]) -> Any:
    x, y = frame.x, frame.y
    return frame[(x >= v["x0"]) & (x <= v["x1"]) & (y >= v["y0"]) & (y <= v["y1"])]


def zoom_at(page: Any, x: float, y: float, times: int) -> None:
    at = page.locator(DENSITY).evaluate(f"el => el.tercetDensity().screenOf({x}, {y})")
    page.mouse.move(at["x"], at["y"])
    for _ in range(times):
        page.mouse.wheel(0, -600)


def test_density_mode_counts_refines_on_zoom_and_picks_real_ids(
    page: Any, points_table: tuple[str, Any]
) -> None:
    frame = points_table[1].astype({"x": "float64", "y": "float64"})
    page.locator(f'{DENSITY}[data-drawn="true"]').wait_for()
    first = wait_state(page, lambda s: s["total"] is not None, "an overview")
    # every row is counted, none is sent as a point, and the note says so
    assert first["total"] == len(frame) == 4000
    assert first["inView"] == 4000 and first["points"] == 0
    note = page.locator(tid("scatter-density-note"))
    assert note.get_attribute("data-total") == "4000"
    assert "Density mode" in note.inner_text() and "4,000" in note.inner_text()
    assert page.locator(OVERLAY).evaluate("el => el.tercetProbe.highlighted().length") == 0

    # one zoom step: a finer grid of the visible rectangle, counted exactly
    zoom_at(page, 100.0, 100.0, 1)
    finer = wait_state(page, lambda s: s["fetches"] > first["fetches"], "a refetch")
    assert finer["cellWidth"] < first["cellWidth"] / 1.5
    assert finer["inView"] == len(inside(frame, finer["viewport"]))

    # zoomed onto the small cluster: its rows (fewer than the threshold) arrive as points
    zoom_at(page, 100.0, 100.0, 5)
    near = wait_state(page, lambda s: s["points"] > 0, "points")
    expected = inside(frame, near["viewport"])
    assert near["inView"] == len(expected) == near["points"] <= THRESHOLD
    drawn = page.locator(OVERLAY).evaluate("el => el.tercetProbe.highlighted()")
    assert sorted(int(i) for i in drawn) == sorted(expected.example_id.tolist())
    assert page.locator(tid("scatter-density-points")).inner_text() == f"{len(expected):,}"

    # hover and click on a drawn point answer its example id
    at = isolated_point(page, set(expected.example_id.tolist()))
    page.mouse.move(at["x"], at["y"])
    tip = page.locator(tid("scatter-tip"))
    tip.wait_for()
    assert int(tip.locator("b.mono").inner_text()) == int(at["id"])
    page.mouse.click(at["x"], at["y"])
    page.wait_for_function(
        "id => document.querySelector('[data-testid=\"table-view\"]').dataset.focus === String(id)",
        arg=int(at["id"]),
    )
    # colour by label: the legend names the labels of the points drawn
    page.locator(tid("scatter-color")).select_option("label")
    legend = page.locator(tid("scatter-legend"))
    legend.wait_for()
    for name in ("cat", "dog", "fox"):
        assert name in legend.inner_text()

    # a lasso around the plot filters to the points drawn: the density is then of those rows only
    page.locator(tid("lasso-toggle")).click()
    b = page.locator(OVERLAY).bounding_box()
    x0, y0, x1, y1 = b["x"] + 2, b["y"] + 2, b["x"] + b["width"] - 2, b["y"] + b["height"] - 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 4)):
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    page.locator(tid("filter-chip", key="lasso")).wait_for()
    caught = settled_count(page)  # the rows of the lasso's ids, counted by the service
    assert 0 < caught <= len(expected)
    lassoed = wait_state(page, lambda s: s["total"] == caught, "the lasso's rows")
    # few rows now: the view fits them and every one is drawn as a point, and only they are
    assert lassoed["points"] == caught
    drawn = page.locator(OVERLAY).evaluate("el => el.tercetProbe.highlighted()")
    assert len(drawn) == caught and {int(i) for i in drawn} <= set(expected.example_id.tolist())
    assert note.get_attribute("data-total") == str(caught)
