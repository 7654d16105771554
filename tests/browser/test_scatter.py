"""The scatter by example id: a lasso drawn on the 3D view selects exactly the points whose
projection with the current camera falls inside it (computed here from the positions the page
exposes) and the grid keeps exactly those rows; the hover tooltip goes on zoom and rotation;
colours follow pending relabels (read per id from the arrays drawn); the legend and the toasts
stay off the data; the example_id filter finds rows by id; a run view's first load asks the
service for nothing twice, and for the project's revisions and runs beside the health check."""

from __future__ import annotations

from typing import Any

import pytest

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import open_filter, open_run, settled_count, tid, toast_text
from tests.browser.test_identity import isolated_point, wait_highlighted

pytest.importorskip("PIL.Image")


def inside(x: float, y: float, poly: list[tuple[float, float]]) -> bool:
    """Even-odd rule, as the dashboard's lasso applies it."""
    hit = False
    for a in range(len(poly)):
        ax, ay = poly[a]
        bx, by = poly[a - 1]
        if (ay > y) != (by > y) and x < (bx - ax) * (y - ay) / (by - ay) + ax:
            hit = not hit
    return hit


def probe(page: Any, mode: str, call: str, arg: Any = None) -> Any:
    return page.locator(tid(f"scatter-{mode}-overlay")).evaluate(
        f"(el, arg) => el.tercetProbe.{call}", arg
    )


def grid_ids(page: Any) -> list[int]:
    return [int(r.get_attribute("data-example-id")) for r in page.locator(tid("grid-row")).all()]


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def hover_until_tip(page: Any, mode: str, ids: set[int]) -> int:
    target = isolated_point(page, ids) if mode == "2d" else None
    if target is None:
        points = probe(page, mode, "positions()")
        box = page.locator(tid(f"scatter-{mode}-overlay")).bounding_box()
        target = next(
            p
            for p in points
            if int(p["id"]) in ids
            and box["x"] + 20 < p["x"] < box["x"] + box["width"] - 20
            and box["y"] + 20 < p["y"] < box["y"] + box["height"] - 20
        )
    page.mouse.move(target["x"] - 3, target["y"])
    page.mouse.move(target["x"], target["y"])
    page.locator(tid("scatter-tip")).wait_for()
    return int(target["id"])


def test_a_3d_lasso_keeps_exactly_the_points_projected_inside_it(dash: Dash) -> None:
    page = dash.page
    open_run(dash)
    train_url = str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    all_ids = set(tercet.Table.open(train_url).to_pandas().example_id.tolist())
    page.locator(tid("chart-tab-scatter3d")).click()
    page.locator('[data-testid="scatter-3d-canvas"][data-drawn="true"]').wait_for()
    page.keyboard.press("ArrowRight")  # another camera than the default one

    # rotate away: the hover tooltip of the point under the pointer goes with it
    hover_until_tip(page, "3d", all_ids)
    box = page.locator(tid("scatter-3d-overlay")).bounding_box()
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=6)
    page.mouse.up()
    assert page.locator(tid("scatter-tip")).count() == 0
    # … and so does zooming
    hover_until_tip(page, "3d", all_ids)
    page.mouse.wheel(0, -240)
    page.locator(tid("scatter-tip")).wait_for(state="detached")

    # a lasso around the middle of the view, in the page's pixels (integers: no rounding doubt)
    points = probe(page, "3d", "positions()")
    assert {int(p["id"]) for p in points} == all_ids
    cx, cy = round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)
    r = round(min(box["width"], box["height"]) / 5)
    poly = [(cx - r, cy - r), (cx + r, cy - r // 2), (cx + r // 2, cy + r), (cx - r, cy + r)]
    expected = {int(p["id"]) for p in points if inside(p["x"], p["y"], poly)}
    assert 0 < len(expected) < len(all_ids) / 2
    page.locator(tid("lasso-toggle")).click()
    page.mouse.move(*poly[0])
    page.mouse.down()
    for x, y in [*poly[1:], (poly[0][0], poly[0][1] + 2)]:
        page.mouse.move(x, y, steps=6)
    page.mouse.up()
    page.locator(tid("filter-chip", key="lasso")).wait_for()
    assert "3D" in page.locator(tid("filter-chip", key="lasso")).inner_text()
    assert settled_count(page) == len(expected)
    wait_highlighted_3d(page, expected)
    shown = grid_ids(page)
    assert shown == sorted(expected)[: len(shown)]  # the grid lists rows in table order
    dash.shot("50-lasso-3d")


def wait_highlighted_3d(page: Any, expected: set[int]) -> None:
    import time

    deadline = time.monotonic() + 20
    seen: set[int] = set()
    while time.monotonic() < deadline:
        seen = {int(i) for i in probe(page, "3d", "highlighted()")}
        if seen == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"3D highlights differ: {sorted(seen ^ expected)[:10]}")


def test_scatter_colours_follow_pending_relabels_and_nothing_covers_the_points(
    dash: Dash,
) -> None:
    page = dash.page
    # straight to the run view, every service call recorded
    calls: list[tuple[str, str, str]] = []
    page.on(
        "request",
        lambda r: (
            calls.append((r.method, r.url.split("/api/", 1)[1], r.post_data or ""))
            if "/api/" in r.url and "/api/file?" not in r.url and "/api/events" not in r.url
            else None
        ),
    )
    run_url = tercet.list_runs(DEMO_PROJECT, root=str(dash.root))[-1].url
    page.goto(dash.url(project=DEMO_PROJECT, run=run_url, split="train"))
    page.locator(tid("grid-row")).first.wait_for()
    page.locator('[data-testid="scatter-2d-canvas"][data-drawn="true"]').wait_for()
    paths = [c[1] for c in calls]
    # the project's revisions and runs go out with the health check, not after it …
    assert paths.index(f"projects/{DEMO_PROJECT}/tables") < paths.index("health")
    assert paths.index(f"projects/{DEMO_PROJECT}/runs") < paths.index("health")
    # … and nothing is asked twice on the way to the first frame
    assert [c for c in set(calls) if calls.count(c) > 1] == []
    assert sum(p == "rows" for p in paths) >= 2  # the points and the grid's first page

    train_url = str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    frame = tercet.Table.open(train_url).to_pandas()
    labels = dict(zip(frame.example_id.tolist(), frame.label.tolist(), strict=True))

    # zoom: the tooltip of the hovered point goes
    hover_until_tip(page, "2d", set(labels))
    page.mouse.wheel(0, -120)
    page.locator(tid("scatter-tip")).wait_for(state="detached")
    page.locator(tid("reset-view")).click()

    # a point, and another of a different label as the colour to expect after a relabel
    target = isolated_point(page, set(labels))
    x = int(target["id"])
    new = next(v for v in sorted(set(labels.values())) if v != labels[x])
    other = next(i for i, v in labels.items() if v == new)
    same = next(i for i, v in labels.items() if v == labels[x] and i != x)
    before = probe(page, "2d", "colorOf(arg)", x)
    assert before == probe(page, "2d", "colorOf(arg)", same)
    assert before != probe(page, "2d", "colorOf(arg)", other)

    page.mouse.click(target["x"], target["y"])
    page.wait_for_function(
        "id => document.querySelector('[data-testid=\"run-view\"]').dataset.focus === String(id)",
        arg=x,
    )
    page.locator(tid("palette-label", value=str(new))).click()
    toast_text(page, "success", "(pending")
    want = probe(page, "2d", "colorOf(arg)", other)
    page.wait_for_function(
        "([id, want]) => document.querySelector('[data-testid=\"scatter-2d-overlay\"]')"
        ".tercetProbe.colorOf(id) === want",
        arg=[x, want],
    )
    assert probe(page, "2d", "colorOf(arg)", same) == before  # only that point changed

    # the legend and the toast sit beside the data area, never over it
    data_area = page.locator(tid("scatter-2d-overlay")).bounding_box()
    covering = [
        el
        for el in (*page.locator(tid("toast")).all(), page.locator(tid("scatter-legend")))
        if el.is_visible() and boxes_overlap(el.bounding_box(), data_area)
    ]
    assert covering == []
    assert page.locator(tid("toast")).count() > 0
    dash.shot("51-scatter-pending-colour")

    page.keyboard.press("Control+z")
    page.wait_for_function(
        "([id, want]) => document.querySelector('[data-testid=\"scatter-2d-overlay\"]')"
        ".tercetProbe.colorOf(id) === want",
        arg=[x, before],
    )

    # the example_id filter finds rows by id: it does not say "No values."
    box = open_filter(page, "example_id")
    assert "No values." not in box.inner_text()
    wanted = sorted(labels)[3:8:2]
    box.locator(tid("ids-search")).fill(", ".join(map(str, wanted)))
    box.locator(tid("ids-search")).press("Enter")
    page.locator(tid("filter-chip", key="lasso")).wait_for()
    assert settled_count(page) == len(wanted)
    assert grid_ids(page) == wanted
    wait_highlighted(page, set(wanted))
