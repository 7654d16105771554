"""Without a GPU (the tests' Chromium renders WebGL with SwiftShader) a 2D scatter of many points
is drawn by the CPU (``render/splat.ts``), since per-point primitives cost ~1 s per 1M points
there. Both paths must draw the same picture: read back at the positions of given example ids,
with the CPU path forced on a small run, a passing point is its own colour at the plot's
opacity, a point failing the filters is dimmed, a selected point is drawn opaque — the same bytes
as the WebGL points drew there."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.browser.conftest import Dash
from tests.browser.pages import open_filter, open_run, settled_count, tid
from tests.browser.test_identity import wait_highlighted

pytest.importorskip("PIL.Image")

PROBE = '[data-testid="scatter-2d-overlay"]'
ALPHA = 0.85  # the renderer's point opacity


def probe(page: Any, call: str, arg: Any = None) -> Any:
    return page.locator(PROBE).evaluate(f"(el, arg) => el.tercetProbe.{call}", arg)


def isolated(page: Any, ids: set[int], k: int) -> list[dict[str, float]]:
    """``k`` points among ``ids`` with no other point within 14 px (no overlap to blend)."""
    points = probe(page, "positions()")
    box = page.locator(PROBE).bounding_box()
    found = []
    for p in points:
        if int(p["id"]) not in ids:
            continue
        if not (box["x"] + 10 < p["x"] < box["x"] + box["width"] - 10):
            continue
        if not (box["y"] + 10 < p["y"] < box["y"] + box["height"] - 10):
            continue
        near = min(math.hypot(p["x"] - q["x"], p["y"] - q["y"]) for q in points if q is not p)
        if near > 14:
            found.append(p)
        if len(found) == k:
            return found
    raise AssertionError(f"fewer than {k} isolated points among {len(ids)} ids")


def premultiplied(css: str, alpha: float) -> list[int]:
    rgb = [int(css[i : i + 2], 16) for i in (1, 3, 5)]
    return [round(c * alpha) for c in rgb] + [round(alpha * 255)]


def close(a: list[int], b: list[int], tolerance: int = 3) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def test_cpu_drawn_points_are_the_webgl_points_read_back_by_id(dash: Dash) -> None:
    page = dash.page
    open_run(dash)
    everyone = {int(i) for i in probe(page, "highlighted()")}
    assert probe(page, "splatting()") is False  # a few thousand points: WebGL draws them

    # a filter by id: some points pass, the others are drawn dimmed
    wanted = sorted(everyone)[::7]
    box = open_filter(page, "example_id")
    box.locator(tid("ids-search")).fill(", ".join(map(str, wanted)))
    box.locator(tid("ids-search")).press("Enter")
    page.locator(tid("filter-chip", key="lasso")).wait_for()
    assert settled_count(page) == len(wanted)
    wait_highlighted(page, set(wanted))
    passing = isolated(page, set(wanted), 4)
    dimmed = isolated(page, everyone - set(wanted), 4)
    chosen = passing[0]
    page.mouse.click(chosen["x"], chosen["y"])  # selected: drawn again, opaque, with a ring
    page.wait_for_function(
        "id => document.querySelector('[data-testid=\"run-view\"]').dataset.focus === String(id)",
        arg=int(chosen["id"]),
    )
    page.mouse.move(0, 0)  # no hover ring on the overlay (it is another canvas anyway)
    ids = [int(p["id"]) for p in passing + dimmed]

    def read() -> dict[int, list[int]]:
        return {i: probe(page, "pixelOf(arg)", i) for i in ids}

    webgl = read()
    probe(page, "splatFrom(0)")
    assert probe(page, "splatting()") is True
    cpu = read()

    for p in passing[1:]:
        i = int(p["id"])
        want = premultiplied(probe(page, "colorOf(arg)", i), ALPHA)
        assert close(cpu[i], want), (i, cpu[i], want)
    selected = int(chosen["id"])
    assert close(cpu[selected], premultiplied(probe(page, "colorOf(arg)", selected), 1.0))
    for p in dimmed:
        i = int(p["id"])
        own = premultiplied(probe(page, "colorOf(arg)", i), ALPHA)
        assert 0 < cpu[i][3] < 128 and not close(cpu[i], own), (i, cpu[i])
    differ = {i: (webgl[i], cpu[i]) for i in ids if not close(webgl[i], cpu[i])}
    assert differ == {}
    # the ids under the pointer are still those of the drawn arrays
    target = passing[2]
    page.mouse.move(target["x"], target["y"])
    page.locator(tid("scatter-tip")).wait_for()
    assert str(int(target["id"])) in page.locator(tid("scatter-tip")).inner_text()
