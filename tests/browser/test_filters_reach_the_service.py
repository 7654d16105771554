"""What the dashboard's filters send to the service, and which example ids the grid then shows,
compared with ids computed in Python from the table (not with counts or pixel colours)."""

from __future__ import annotations

from typing import Any

import pytest

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import number, open_filter, open_run, settled_count, tid

pytest.importorskip("PIL.Image")


def record_queries(page: Any) -> list[dict[str, Any]]:
    """Every JSON body the page posts to /api/rows and /api/count, in order."""
    bodies: list[dict[str, Any]] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.split("?")[0].endswith(("/rows", "/count")):
            bodies.append({"url": request.url, **request.post_data_json})

    page.on("request", on_request)
    return bodies


def leaves(flt: Any) -> list[dict[str, Any]]:
    """The column filters of a filter tree (its and/or/not nodes flattened)."""
    if flt is None:
        return []
    if "and" in flt or "or" in flt:
        return [leaf for part in flt.get("and", flt.get("or", [])) for leaf in leaves(part)]
    if "not" in flt:
        return leaves(flt["not"])
    return [flt]


def grid_ids(page: Any) -> list[int]:
    rows = page.locator(tid("grid-row"))
    rows.first.wait_for()
    return [int(r.get_attribute("data-example-id")) for r in rows.all()]


def test_chosen_labels_and_a_lasso_reach_the_service_and_leave_those_rows(dash: Dash) -> None:
    page = dash.page
    bodies = record_queries(page)
    open_run(dash)
    assert "split=train" in page.url
    train = tercet.Table.open(
        str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    )
    frame = train.to_pandas()[["example_id", "label"]]
    total = number(page, "count-total")
    assert total == len(frame)

    # three labels chosen: all three travel, and exactly their rows remain
    box = open_filter(page, "label")
    options = box.locator(tid("category-option")).all()[:3]
    chosen = {int(o.get_attribute("data-value")) for o in options}
    for option in options:
        option.locator("input").check()
    n = settled_count(page)
    expected = sorted(frame.example_id[frame.label.isin(chosen)].tolist())
    assert n == len(expected) < total
    sent = [leaf for leaf in leaves(bodies[-1].get("filter")) if leaf.get("column") == "label"]
    assert len(sent) == 1 and sorted(sent[0]["values"]) == sorted(chosen), bodies[-1]
    for body in bodies[-2:]:  # the count and the grid's page ask with the same filter
        assert body.get("filter") == bodies[-1].get("filter")
    shown = grid_ids(page)
    assert shown and set(shown) <= set(expected)
    assert shown == expected[: len(shown)]  # the grid lists rows in table order

    # a lasso around the whole 2D plot: every point it caught travels, no row is lost
    before = len(bodies)
    page.locator(tid("lasso-toggle")).click()
    b = page.locator(tid("scatter-2d-overlay")).bounding_box()
    x0, y0, x1, y1 = b["x"] + 2, b["y"] + 2, b["x"] + b["width"] - 2, b["y"] + b["height"] - 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 4)):
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    page.locator(tid("filter-chip", key="lasso")).wait_for()
    n_lasso = settled_count(page)
    ids_sent = [
        leaf["values"]
        for leaf in leaves(bodies[-1].get("filter"))
        if leaf.get("column") == "example_id"
    ]
    assert len(bodies) > before and len(ids_sent) == 1, bodies[-1]
    # The plot draws every row of the split; the lasso caught them all and sent them all.
    assert sorted(ids_sent[0]) == sorted(frame.example_id.tolist())
    assert n_lasso == len(expected)
    shown = grid_ids(page)
    assert shown == expected[: len(shown)]
