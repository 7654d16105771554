"""A view's first load: its scatter's points are asked once, in the compact form, and the code of
what the first frame does not show (other chart tabs, the gallery, the project pages) is fetched
after that frame, from chunks of its own, and still works when it is opened."""

from __future__ import annotations

import json
from typing import Any

from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import tid

# Chunks the first frame of a view must not wait for (Vite names a chunk after its module).
LATER = ("Gallery-", "Histogram-", "LineChart-", "Confusion-", "IssuesPanel-", "ProjectPage-")


def test_table_view_points_once_compact_and_other_parts_after_the_first_frame(
    dash: Dash,
) -> None:
    page = dash.page
    bodies: list[dict[str, Any]] = []
    # the points are fetched by a worker: its requests are the context's, not the page's
    page.context.on(
        "request",
        lambda r: (
            bodies.append(json.loads(r.post_data or "{}")) if r.url.endswith("/api/rows") else None
        ),
    )
    table = str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    page.goto(dash.url(project=DEMO_PROJECT, table=table, chart="scatter2d"))
    page.locator('[data-testid="scatter-2d-canvas"][data-drawn="true"]').wait_for()
    page.locator(tid("grid-row")).first.wait_for()

    points = [b for b in bodies if b.get("compact")]
    assert len(points) == 1, points  # asked before the view mounted, taken by it: not twice
    assert points[0]["source"] == {"table": table} and points[0]["limit"] >= 1_000_000
    assert not any(
        b.get("compact") for b in bodies if b is not points[0]
    )  # grid pages: exact types

    early = page.evaluate(
        """() => {
          const frame = performance.getEntriesByName('tercet:scatter2d:first-frame')[0].startTime;
          return performance.getEntriesByType('resource')
            .filter((e) => e.startTime < frame && e.name.endsWith('.js'))
            .map((e) => e.name.split('/').pop());
        }"""
    )
    assert early and not [f for f in early if f.startswith(LATER)], early

    # the parts in chunks of their own still open: a histogram, the gallery
    page.locator(tid("chart-tab-histogram")).click()
    page.locator(tid("histogram-chart")).wait_for()
    page.locator(tid("mode-gallery")).click()
    page.locator(tid("gallery-tile")).first.wait_for()
    # … each from a chunk of its own (one bundled into the first would never be fetched), all of
    # them fetched by now: the page asks for the rest once the first frame is up
    page.wait_for_function(
        """(later) => {
          const names = performance.getEntriesByType('resource')
            .map((e) => e.name.split('/').pop());
          return later.every((p) => names.some((n) => n.startsWith(p) && n.endsWith('.js')));
        }""",
        arg=list(LATER),
    )
