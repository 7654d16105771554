"""Defect 1 of the label-error workflow: after a commit, a Trained on / Latest toggle and an epoch
change, the scatter highlights exactly the rows that pass the filters — checked by example id
against ids computed in Python from the table, never by pixels — and a click on a highlighted
point selects that very id."""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import (
    number,
    open_filter,
    open_run,
    select_rows,
    settled_count,
    tid,
    toast_text,
    wait_text,
)

pytest.importorskip("PIL.Image")

PROBE = '[data-testid="scatter-2d-overlay"]'


def highlighted(page: Any) -> set[int]:
    return {int(i) for i in page.locator(PROBE).evaluate("el => el.tercetProbe.highlighted()")}


def wait_highlighted(page: Any, expected: set[int], timeout: float = 20.0) -> None:
    """Polls what the scatter draws until it settles on ``expected`` (then asserts it)."""
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    while time.monotonic() < deadline:
        seen = highlighted(page)
        if seen == expected:
            return
        time.sleep(0.1)
    extra, missing = sorted(seen - expected)[:10], sorted(expected - seen)[:10]
    raise AssertionError(f"highlighted points differ: extra ids {extra}, missing ids {missing}")


def isolated_point(page: Any, ids: set[int]) -> dict[str, float]:
    """A highlighted point with no other point within 12 px, so a click on it is unambiguous."""
    points = page.locator(PROBE).evaluate("el => el.tercetProbe.positions()")
    box = page.locator(PROBE).bounding_box()
    inside = [
        p
        for p in points
        if box["x"] + 10 < p["x"] < box["x"] + box["width"] - 10
        and box["y"] + 10 < p["y"] < box["y"] + box["height"] - 10
    ]
    for p in inside:
        if int(p["id"]) not in ids:
            continue
        near = min(
            (math.hypot(p["x"] - q["x"], p["y"] - q["y"]) for q in points if q is not p),
            default=99.0,
        )
        if near > 12:
            return dict(p)
    raise AssertionError("no isolated highlighted point to click")


def check_view(page: Any, expected: set[int]) -> None:
    """Chart, grid and counts agree with ``expected``, and a click selects the id clicked."""
    assert settled_count(page) == len(expected)
    wait_highlighted(page, expected)
    page.wait_for_function(
        "n => document.querySelector('[data-testid=\"scatter-passing\"]')?.textContent"
        ".replace(/,/g, '') === String(n)",
        arg=len(expected),
    )
    shown = [int(r.get_attribute("data-example-id")) for r in page.locator(tid("grid-row")).all()]
    assert shown and set(shown) <= expected
    target = isolated_point(page, expected)
    page.mouse.click(target["x"], target["y"])
    page.wait_for_function(
        "id => document.querySelector('[data-testid=\"run-view\"]').dataset.focus === String(id)",
        arg=int(target["id"]),
    )
    assert number(page, "count-selected") == 1


def test_highlighted_points_are_the_filtered_ids_after_commit_toggle_and_epoch(dash: Dash) -> None:
    page = dash.page
    open_run(dash)
    view = parse_qs(urlsplit(page.url).fragment)
    epoch = int(view["epoch"][0])
    train_url = str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    base = tercet.Table.open(train_url).to_pandas()[["example_id", "label"]]
    sixes = set(base.example_id[base.label == 6].tolist())

    box = open_filter(page, "label")
    box.locator(tid("category-option", value="6")).locator("input").check()
    check_view(page, sixes)

    # delete two of the sixes and commit: the view follows the new revision (Latest)
    deleted = set(select_rows(page, [0, 1]))
    assert deleted <= sixes
    page.locator(tid("bulk-delete")).click()
    wait_text(page, "pending-count", "2")
    page.locator(tid("commit-button")).click()
    page.locator(tid("commit-confirm")).click()
    toast_text(page, "success", "Committed 2 edit(s)")
    page.wait_for_function("() => location.hash.includes('join=latest')")
    [child] = tercet.Table.open(train_url).children()
    latest = tercet.Table.open(child.url).to_pandas()[["example_id", "label"]]
    latest_sixes = set(latest.example_id[latest.label == 6].tolist())
    assert latest_sixes == sixes - deleted
    check_view(page, latest_sixes)

    # back to the revision the run was trained on: the deleted rows are there again
    page.locator(tid("join-collected")).click()
    check_view(page, sixes)

    # another epoch: other positions, the same ids
    page.locator(tid("join-latest")).click()
    check_view(page, latest_sixes)
    page.locator(tid("view-title")).click()
    page.keyboard.press("[" if epoch > 0 else "]")
    page.wait_for_function(
        "e => document.querySelector('[data-testid=\"epoch-value\"]').textContent.trim() !== e",
        arg=str(epoch),
    )
    check_view(page, latest_sixes)
    page.locator(tid("join-collected")).click()
    check_view(page, sixes)
    dash.shot("20-identity-after-commit")
