"""A large scatter as the CPU draws it (``render/splat.ts``, the path of a 1M-point cloud without
a GPU), its points served again from the service's answer cache after a reload: hover answers
the example id under the pointer, colour by label paints every id its label's colour, and a
lasso keeps exactly the ids drawn inside it — before and after the reload, checked by id."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pytest

from tercet import Table
from tercet.service import answers
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import settled_count, tid
from tests.browser.test_identity import isolated_point

pytest.importorskip("PIL.Image")

OVERLAY = tid("scatter-2d-overlay")


def probe(page: Any, call: str, arg: Any = None) -> Any:
    return page.locator(OVERLAY).evaluate(f"(el, arg) => el.tercetProbe.{call}", arg)


def drawn(page: Any) -> None:
    page.locator('[data-testid="scatter-2d-canvas"][data-drawn="true"]').wait_for()
    assert probe(page, "splatting()") is True  # the CPU path, as for a million points


def colour_by(page: Any, column: str, values: dict[int, Any], distinct: bool = True) -> None:
    """Every drawn id is painted the colour of its own value of ``column`` (one colour a value;
    ``distinct``: a colour a value too), once the page has redrawn with that column."""
    page.locator(tid("scatter-color")).select_option(column)
    ids = [int(p["id"]) for p in probe(page, "positions()")]
    deadline = time.monotonic() + 20
    while True:
        colours: list[str | None] = page.locator(OVERLAY).evaluate(
            "(el, ids) => ids.map((id) => el.tercetProbe.colorOf(id))", ids
        )
        by_value: dict[Any, set[str | None]] = {}
        for i, c in zip(ids, colours, strict=True):
            by_value.setdefault(values[i], set()).add(c)
        one = all(len(c) == 1 and None not in c for c in by_value.values())
        apart = len({next(iter(c)) for c in by_value.values()}) == len(by_value)
        if one and (apart or not distinct):
            return
        if time.monotonic() > deadline:
            shown = dict(list(by_value.items())[:12])
            raise AssertionError(f"colours by {column} are not one a value: {shown} …")
        time.sleep(0.2)


def hover(page: Any, among: set[int]) -> None:
    at = isolated_point(page, among)
    page.mouse.move(at["x"], at["y"])
    tip = page.locator(tid("scatter-tip"))
    tip.wait_for()
    assert int(tip.locator("b.mono").inner_text()) == int(at["id"])
    page.mouse.move(1, 1)


def test_hover_colour_and_lasso_answer_the_right_ids_after_a_colour_change_and_a_reload(
    dash: Dash, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers, "CACHED_FROM", 1)  # the demo's 1,797 rows stand for a million
    page = dash.page
    page.context.add_init_script("window.tercetSplatFrom = 1;")
    table = str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    frame = Table.open(table).to_arrow()
    page.goto(dash.url(project=DEMO_PROJECT, table=table, chart="scatter2d"))
    drawn(page)
    page_options = page.locator(f"{tid('scatter-color')} option").evaluate_all(
        "os => os.map((o) => o.value)"
    )
    options = [  # a column of few values (a legend of categories), not a colour scale
        o
        for o in page_options
        if o
        and o not in ("label", "example_id")
        and o in frame.column_names
        and not pa.types.is_floating(frame.schema.field(o).type)
    ]
    assert options, page_options

    def values(name: str) -> dict[int, Any]:
        return dict(zip(frame["example_id"].to_pylist(), frame[name].to_pylist(), strict=True))

    # the demo's original_label: the labels before the flips, ten categories
    labels, other = values("label"), "original_label" if "original_label" in options else options[0]
    # a colour change asks for other points (another column), then back
    colour_by(page, other, values(other))
    colour_by(page, "label", labels)
    hover(page, set(labels))

    # a lasso over the middle of the plot: the ids drawn inside it, and only those, pass
    page.locator(tid("lasso-toggle")).click()
    b = page.locator(OVERLAY).bounding_box()
    x0, y0 = b["x"] + 0.3 * b["width"], b["y"] + 0.3 * b["height"]
    x1, y1 = b["x"] + 0.7 * b["width"], b["y"] + 0.7 * b["height"]
    points = probe(page, "positions()")

    def within(margin: float) -> set[int]:
        return {
            int(p["id"])
            for p in points
            if x0 + margin < p["x"] < x1 - margin and y0 + margin < p["y"] < y1 - margin
        }

    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0)):
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    page.locator(tid("filter-chip", key="lasso")).wait_for()
    caught = settled_count(page)
    kept = {int(i) for i in probe(page, "highlighted()")}
    assert within(2) <= kept <= within(-2) and len(kept) == caught > 20

    # reloaded: the same points, now from the service's cache, the lasso from the URL
    page.reload()
    drawn(page)
    assert settled_count(page) == caught
    page.wait_for_function(
        "(n) => document.querySelector('[data-testid=\"scatter-2d-overlay\"]')"
        ".tercetProbe.highlighted().length === n",
        arg=caught,
    )
    assert {int(i) for i in probe(page, "highlighted()")} == kept
    colour_by(page, "label", labels)
    hover(page, kept)
    cache = dash.service.app.state.ctx.sources.cache
    assert any(key[1][0] == "rows-answer" for key in cache._entries)
