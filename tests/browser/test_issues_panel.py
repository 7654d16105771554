"""The Issues panel: insights computed in Python show up with Python's counts, a click leaves
exactly the flagged example ids in the grid, worst score first, and "similar samples" of a
clicked row are the neighbours `tercet.insights.similar` finds — all checked by example id."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import open_run, settled_count, tid

pytest.importorskip("PIL.Image")


def demo_run(root: Path) -> tercet.Run:
    runs = sorted(p for p in (root / DEMO_PROJECT / "runs").iterdir() if p.is_dir())
    return tercet.Run.open(str(runs[0]))


SCROLL_TO_ROW = "(el, i) => { el.scrollTop = i * el.scrollHeight / Math.max(1, el.dataset.total) }"


def all_grid_ids(page: Any, n: int) -> list[int]:
    """Every example id of the (virtualised) grid, in row order, scrolling it page by page."""
    grid = page.locator(tid("grid"))
    found: dict[int, int] = {}
    for _ in range(n + 2):
        missing = next((i for i in range(n) if i not in found), None)
        if missing is None:
            break
        page.locator(tid("grid-row", row_index=str(missing))).wait_for()
        for row in page.locator(tid("grid-row")).all():
            found[int(row.get_attribute("data-row-index"))] = int(
                row.get_attribute("data-example-id")
            )
        grid.evaluate(
            "(el, i) => { el.scrollTop = i * el.scrollHeight / Math.max(1, el.dataset.total) }",
            missing + 5,
        )
    return [found[i] for i in range(n)]


def test_issue_counts_filter_sort_and_similar_samples(dash: Dash) -> None:
    page = dash.page
    run = demo_run(dash.root)
    scores = tercet.insights.compute(run, split="train", checks=["label", "outliers"])
    frame = scores.to_pandas()
    flagged = frame[frame.is_label_issue.fillna(False).astype(bool)]
    expected = flagged.sort_values(["label_issue_score", "example_id"], ascending=[False, True])
    assert 0 < len(expected) < len(frame)

    open_run(dash)
    page.locator(tid("chart-tab-issues")).click()
    panel = page.locator(f'{tid("issues-panel")}[data-ready="true"]')
    panel.wait_for()
    issue = panel.locator(tid("issue", type="label_issue"))
    assert int(issue.get_attribute("data-count")) == len(expected)
    assert issue.locator(tid("issue-count")).inner_text().replace(",", "") == str(len(expected))
    outliers = int(frame.is_outlier.fillna(False).astype(bool).sum())
    assert int(panel.locator(tid("issue", type="outlier")).get_attribute("data-count")) == outliers

    issue.click()
    assert issue.get_attribute("aria-pressed") == "true"
    assert settled_count(page) == len(expected)
    shown = all_grid_ids(page, len(expected))
    assert shown == expected.example_id.tolist()
    dash.shot("60-issues-label")

    # a second click takes the filter away again
    issue.click()
    assert settled_count(page) == len(frame)
    issue.click()
    assert settled_count(page) == len(expected)

    # similar samples of the top row: the same neighbours Python finds, nearest first
    top = int(expected.example_id.iloc[0])
    page.locator(tid("grid-row", row_index="0")).locator(
        tid("grid-cell", column="example_id")
    ).click()
    similar = page.locator(f'{tid("similar-samples")}[data-focus="{top}"][data-ready="true"]')
    similar.wait_for()
    epoch = int(parse_qs(urlsplit(page.url).fragment)["epoch"][0])
    near = tercet.insights.similar(run, example_id=top, k=12, split="train", epoch=epoch)
    want = near.column("example_id").to_pylist()
    assert top not in want and len(want) == 12
    got = [
        int(b.get_attribute("data-example-id"))
        for b in similar.locator(tid("similar-sample")).all()
    ]
    assert got == want
    similar.locator(tid("similar-show")).click()
    assert settled_count(page) == len(({top} | set(want)) & set(expected.example_id))
    dash.shot("61-issues-similar")
