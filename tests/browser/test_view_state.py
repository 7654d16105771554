"""A view is the same however it is reached: chart defaults are a pure function of the schema
(first open, reopen and reload show the same axes), and the URL keeps what the person chose —
axes, colour, size, sort, gallery mode and the lasso. After the service restarts on the same
port, every visible resource loads again (the grid's rows included), and an image behind an alias
that is not set where the service runs says so, with the fix, instead of a broken icon."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tercet import aliases as tercet_aliases
from tercet import config
from tercet.service import create_app
from tercet.service.server import ThreadedServer
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import number, open_run, settled_count, tid, toast_text

pytest.importorskip("PIL.Image")


def axes(page: Any) -> dict[str, str]:
    page.locator('[data-testid="scatter-2d-canvas"][data-drawn="true"]').wait_for()
    return {k: page.locator(tid(f"scatter-{k}")).input_value() for k in ("x", "y", "color", "size")}


def reopen(dash: Dash) -> None:
    page = dash.page
    page.locator(tid("crumb-project")).click()
    page.locator(tid("run-link")).first.click()
    page.locator(tid("grid-row")).first.wait_for()


def test_defaults_and_choices_survive_reopen_and_reload(dash: Dash) -> None:
    page = dash.page
    open_run(dash)
    first = axes(page)
    assert first == {"x": "proj_x", "y": "proj_y", "color": "label", "size": "loss"}
    reopen(dash)
    assert axes(page) == first
    page.reload()
    assert axes(page) == first
    page.locator(tid("chart-tab-scatter3d")).click()
    page.locator('[data-testid="scatter-3d-canvas"][data-drawn="true"]').wait_for()
    assert page.locator(tid("scatter-z")).input_value() == "proj_z"

    # the person's choices travel in the URL
    page.locator(tid("chart-tab-scatter2d")).click()
    page.locator(tid("scatter-x")).select_option("loss")
    page.locator(tid("scatter-color")).select_option("prediction")
    page.locator(tid("scatter-size")).select_option("")
    page.locator(tid("column-header", column="loss")).click()  # sort by loss, ascending
    page.locator(tid("lasso-toggle")).click()
    b = page.locator(tid("scatter-2d-overlay")).bounding_box()
    x0, y0 = b["x"] + b["width"] * 0.05, b["y"] + b["height"] * 0.05
    x1, y1 = b["x"] + b["width"] * 0.6, b["y"] + b["height"] * 0.95
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 4)):
        page.mouse.move(x, y, steps=6)
    page.mouse.up()
    page.locator(tid("filter-chip", key="lasso")).wait_for()
    lassoed = settled_count(page)
    chosen = axes(page)
    assert chosen == {"x": "loss", "y": "proj_y", "color": "prediction", "size": ""}
    first_ids = [
        r.get_attribute("data-example-id") for r in page.locator(tid("grid-row")).all()[:5]
    ]
    page.reload()
    assert axes(page) == chosen
    page.locator(tid("filter-chip", key="lasso")).wait_for()
    assert settled_count(page) == lassoed
    assert (
        page.locator(tid("column-header", column="loss"))
        .locator(tid("sort-indicator"))
        .inner_text()
        == "↑"
    )
    assert [
        r.get_attribute("data-example-id") for r in page.locator(tid("grid-row")).all()[:5]
    ] == first_ids
    dash.shot("34-view-state-reloaded")


def test_a_restarted_service_refetches_and_unset_aliases_are_explained(dash: Dash) -> None:
    page = dash.page
    open_run(dash)
    total = number(page, "count-total")
    page.locator(tid("mode-gallery")).click()
    page.locator(tid("gallery-tile")).first.wait_for()

    # the service goes away: the page says so
    old = dash.service
    port = old.server.port
    old.server.stop()
    page.locator(tid("conn-status")).filter(has_text="Reconnecting").wait_for()
    # a filter asked meanwhile fails: the gallery says why, over its own area
    page.locator(tid("mismatch-toggle")).click()
    page.locator(tid("gallery-error")).wait_for()
    box, panel = (page.locator(tid(t)).bounding_box() for t in ("gallery-error", "rows-panel"))
    assert panel["x"] <= box["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"]

    # ... and comes back on the same port with the same token, but without the project's alias:
    # every visible resource loads again, and the images say why they do not load
    aliases = Path(dash.root) / DEMO_PROJECT / "aliases.yaml"
    aliases.unlink()
    tercet_aliases.clear()  # a new service process starts without the old one's alias cache
    cfg = config.load()
    cfg.service.cors_origins = [dash.dashboard_url]
    app = create_app(cfg, token=old.token, scan_interval=0.5)
    server = ThreadedServer(app, port=port)
    server.start()
    try:
        page.locator(tid("conn-status")).filter(has_text="Live").wait_for(timeout=15_000)
        # with no action of the person, what failed loads again
        page.locator(tid("gallery-error")).wait_for(state="detached", timeout=15_000)
        page.locator('[data-testid="counts"][data-ready="true"]').wait_for()
        mismatches = number(page, "count-filtered")
        assert 0 < mismatches < total
        page.wait_for_function(
            "n => document.querySelector('[data-testid=\"gallery\"]').dataset.total === String(n)",
            arg=mismatches,
        )
        page.locator(tid("gallery-tile")).first.wait_for()
        # images not in the browser's cache yet: larger tiles ask for larger thumbnails
        page.locator(tid("tile-size")).fill("200")
        problem = page.locator(f'{tid("image-problem")}[data-problem*="DIGITS_DATA"]').first
        problem.wait_for(timeout=15_000)
        assert "is not set" in (problem.get_attribute("data-problem") or "")
        text = toast_text(page, "error", "DIGITS_DATA")
        assert "tercet alias set DIGITS_DATA" in text
        # one toast for the alias, however many tiles fail
        time.sleep(0.5)
        assert page.locator(tid("toast"), has_text="DIGITS_DATA").count() == 1
        dash.shot("35-alias-not-set")
    finally:
        server.stop()
