"""The dashboard driven as a person would: demo project → run → filters → lasso → 3D → edits →
commit, checked through the Python API; and bad input that must never lose a pending edit."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import (
    artifact,
    bulk_set,
    changed_fraction,
    distinct_colours,
    number,
    open_filter,
    open_run,
    select_rows,
    settled_count,
    stable_screenshot,
    tid,
    toast_text,
    wait_text,
)

Image = pytest.importorskip("PIL.Image")


# -- the golden path ----------------------------------------------------------------------------
def test_filter_lasso_rotate_edit_and_commit_make_exactly_those_edits(dash: Dash) -> None:
    page = dash.page
    page.goto(dash.url())
    page.locator(tid("project-card")).first.wait_for()
    dash.shot("01-projects")
    open_run(dash)
    assert "run=" in page.url and "epoch=" in page.url  # the hash reflects the open view
    total = number(page, "count-total")
    assert number(page, "count-filtered") == total > 1000
    dash.shot("03-run-view")

    # a category: three labels
    labels = open_filter(page, "label")
    for option in labels.locator(tid("category-option")).all()[:3]:
        option.locator("input").check()
    after_category = settled_count(page)
    assert 0 < after_category < total

    # a numeric range: loss ≤ 5 leaves out the confidently wrong samples
    loss = open_filter(page, "loss")
    loss.locator(tid("range-min")).fill("0")
    loss.locator(tid("range-max")).fill("5")
    loss.locator(tid("range-max")).press("Enter")
    after_range = settled_count(page)
    assert 0 < after_range < after_category
    dash.shot("04-filtered")

    # a lasso over the middle of the 2D plot is one more filter
    page.locator(tid("lasso-toggle")).click()
    overlay = page.locator(tid("scatter-2d-overlay"))
    box = overlay.bounding_box()
    cx, cy, w, h = (
        box["x"] + box["width"] / 2,
        box["y"] + box["height"] / 2,
        box["width"],
        box["height"],
    )
    poly = [
        (cx - 0.4 * w, cy - 0.4 * h),
        (cx + 0.4 * w, cy - 0.4 * h),
        (cx + 0.4 * w, cy + 0.4 * h),
        (cx - 0.4 * w, cy + 0.4 * h),
        (cx - 0.4 * w, cy - 0.38 * h),
    ]
    page.mouse.move(*poly[0])
    page.mouse.down()
    for x, y in poly[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    page.locator(tid("filter-chip", key="lasso")).wait_for()
    after_lasso = settled_count(page)
    assert 4 <= after_lasso < after_range
    png2d = stable_screenshot(page.locator(tid("scatter-2d")))
    assert distinct_colours(png2d) >= 5, "the 2D scatter should show points in several colours"
    dash.shot("05-lasso")

    # rotate the 3D view: the drawn pixels change
    page.locator(tid("chart-tab-scatter3d")).click()
    page.locator('[data-testid="scatter-3d-canvas"][data-drawn="true"]').wait_for()
    stage = page.locator(tid("scatter-3d-overlay"))
    before = stable_screenshot(stage)
    dash.shot("06-3d")
    b = stage.bounding_box()
    page.mouse.move(b["x"] + b["width"] * 0.3, b["y"] + b["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] * 0.7, b["y"] + b["height"] * 0.4, steps=12)
    page.mouse.up()
    after = stable_screenshot(stage)
    assert changed_fraction(before, after) > 0.01, "dragging the 3D view should rotate it"
    dash.shot("07-3d-rotated")

    # the other charts render (their values are checked in test_charts_show_what_python_counts)
    for tab, drawn in [
        ("histogram", '[data-testid="histogram-chart"] :is(.bin, .catrow)'),
        ("curves", tid("line-chart")),
        ("confusion", tid("confusion-cell")),
    ]:
        page.locator(tid(f"chart-tab-{tab}")).click()
        page.locator(drawn).first.wait_for()
        dash.shot(f"08-{tab}")
    page.locator(tid("chart-tab-curves")).click()
    page.locator(tid("line-chart")).first.wait_for()

    # relabel 3 selected samples, set one weight to 0
    rows = page.locator(tid("grid-row"))
    assert rows.count() >= 4
    relabelled = select_rows(page, [0, 1, 2])
    assert number(page, "count-selected") == 3
    current = {
        page.locator(tid("grid-row", row_index=str(i)))
        .locator(tid("grid-cell", column="label"))
        .inner_text()
        .strip()
        for i in range(3)
    }
    new_label = next(str(d) for d in range(10) if str(d) not in current)
    bulk_set(page, "label", new_label)
    wait_text(page, "pending-count", "3")
    [weighted] = select_rows(page, [3])
    bulk_set(page, "weight", "0")
    wait_text(page, "pending-count", "4")

    page.locator(tid("chart-tab-trajectory")).click()
    page.locator(tid("line-chart")).first.wait_for()
    dash.shot("09-trajectory")
    page.locator(tid("chart-tab-image")).click()
    page.locator(tid("image-full")).wait_for()
    dash.shot("10-image")

    page.locator(tid("pending-button")).click()
    assert page.locator(tid("pending-entry")).count() == 4
    dash.shot("11-pending")
    page.keyboard.press("Escape")

    page.locator(tid("commit-button")).click()
    page.locator(tid("commit-message")).fill("relabel 3, drop 1 (browser test)")
    dash.shot("12-commit-dialog")
    page.locator(tid("commit-confirm")).click()
    assert "as revision train." in toast_text(page, "success", "Committed 4 edit(s)")
    wait_text(page, "pending-count", "0")
    page.wait_for_function(
        "() => location.hash.includes('join=latest')"
    )  # follows the new revision
    page.locator(tid("grid-row")).first.wait_for()
    dash.shot("13-committed")

    # the new revision holds exactly those edits
    train_url = str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    base = tercet.Table.open(train_url)
    [child] = base.children()
    new = tercet.Table.open(child.url)
    assert new.message == "relabel 3, drop 1 (browser test)"
    old_df = base.to_pandas().set_index("example_id").sort_index()
    new_df = new.to_pandas().set_index("example_id").sort_index()
    assert list(old_df.index) == list(new_df.index)
    label_changed = set(old_df.index[old_df["label"] != new_df["label"]])
    assert label_changed == set(relabelled)
    assert set(new_df.loc[relabelled, "label"]) == {int(new_label)}
    weight_changed = set(old_df.index[old_df["weight"] != new_df["weight"]])
    assert weight_changed == {weighted}
    assert new_df.loc[weighted, "weight"] == 0
    for column in old_df.columns:
        if column not in ("label", "weight"):
            assert old_df[column].equals(new_df[column]), column


def test_table_view_lineage_shortcuts_and_themes(dash: Dash) -> None:
    page = dash.page
    page.goto(dash.url(project=DEMO_PROJECT))
    page.locator(tid("table-revision", name="train")).click()
    page.locator(tid("table-view")).wait_for()
    page.locator(tid("grid-row")).first.wait_for()
    assert "table=" in page.url
    assert page.locator(tid("chart-body")).get_attribute("data-chart") == "image"
    page.locator(tid("grid-row", row_index="2")).locator(
        tid("grid-cell", column="example_id")
    ).click()
    page.locator(tid("image-full")).wait_for()
    dash.shot("14-table-view")

    # sort by a column, hide one
    page.locator(tid("column-header", column="label")).click()
    page.locator(tid("sort-indicator")).wait_for()
    page.locator(tid("columns-menu")).click()
    page.locator(tid("column-toggle", column="original_label")).locator("input").uncheck()
    assert page.locator(tid("column-header", column="original_label")).count() == 0

    # keyboard: ? opens the cheat sheet, t switches theme, ctrl+a selects every filtered row
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("?")
    page.locator(tid("cheat-sheet")).wait_for()
    dash.shot("15-cheat-sheet")
    page.keyboard.press("Escape")
    assert page.locator(tid("cheat-sheet")).count() == 0
    theme = page.evaluate("document.documentElement.dataset.theme")
    page.keyboard.press("t")
    assert page.evaluate("document.documentElement.dataset.theme") != theme
    page.keyboard.press("Control+a")
    total = number(page, "count-total")
    wait_text(page, "count-selected", str(total))
    dash.shot("16-light-theme")


# -- bad input never loses an edit -------------------------------------------------------------
def test_bad_input_and_a_dead_service_keep_every_pending_edit(dash: Dash) -> None:
    page = dash.page
    open_run(dash)
    [first] = select_rows(page, [0])
    bulk_set(page, "weight", "0.5")
    wait_text(page, "pending-count", "1")

    # a non-numeric weight
    select_rows(page, [1])
    bulk_set(page, "weight", "heavy")
    assert "got “heavy”" in toast_text(page, "error", "Weight must be a number")
    assert page.locator(tid("pending-count")).inner_text().strip() == "1"
    dash.shot("err-weight")

    # a label that is not in the value map, typed into a cell
    cell = page.locator(tid("grid-row", row_index="1")).locator(tid("grid-cell", column="label"))
    cell.dblclick()
    editor = page.locator(tid("cell-editor"))
    editor.fill("banana")
    editor.press("Enter")
    assert re.search(
        r"use one of 0, 1, 2", toast_text(page, "error", "“banana” is not a label of column label")
    )
    assert page.locator(tid("pending-count")).inner_text().strip() == "1"
    dash.shot("err-label")
    editor.press("Escape")

    # a reload loses nothing: pending edits live in localStorage under the base revision
    page.reload()
    page.locator(tid("grid-row")).first.wait_for()
    wait_text(page, "pending-count", "1")

    # commit while the service is down: a clear message, edits kept
    dash.service.server.stop()
    page.locator(tid("commit-button")).click()
    page.locator(tid("commit-confirm")).click()
    error = page.locator(tid("commit-error"))
    error.wait_for()
    text = error.inner_text()
    assert "No service reachable" in text and "tercet service" in text and "kept" in text
    assert page.locator(tid("pending-count")).inner_text().strip() == "1"
    dash.shot("err-commit-service-down")
    stored = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('tercet.pending.'))")
    assert len(stored) == 1 and stored[0].endswith("/tables/train")
    assert first in page.evaluate(
        f"JSON.parse(localStorage.getItem({stored[0]!r})).cells.weight.map(e => e[0])"
    )


def test_connection_problems_say_what_to_do(blank_page: tuple[Any, str]) -> None:
    page, dashboard = blank_page
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    page.goto(f"{dashboard}/#service={dead}&token=x")
    message = page.locator(tid("connect-message"))
    message.wait_for()
    assert f"No service reachable at {dead}" in message.inner_text()
    assert "tercet service" in message.inner_text()
    assert "token=" not in page.url  # the token is moved out of the address bar
    page.screenshot(path=str(artifact("err-no-service")))


def test_a_rejected_token_points_at_tercet_ui(
    blank_page: tuple[Any, str], start_service: Any
) -> None:
    page, dashboard = blank_page
    service = start_service(cors_origins=[dashboard])
    page.goto(f"{dashboard}/#service={service.url}&token=wrong")
    page.locator(tid("connect-error", kind="unauthorized")).wait_for()
    assert (
        "open the URL printed by `tercet ui`" in page.locator(tid("connect-message")).inner_text()
    )
    page.locator(tid("connect-token")).fill(service.token)
    page.locator(tid("connect-retry")).click()
    page.locator(tid("projects-empty")).wait_for()
    page.screenshot(path=str(artifact("empty-projects")))
