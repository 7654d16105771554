"""The histogram and the confusion matrix show the counts Python computes from the table and the
run's metrics file (values the user reads, not screenshots)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import open_run, tid

pytest.importorskip("PIL.Image")


def test_charts_show_what_python_counts(dash: Dash) -> None:
    page = dash.page
    open_run(dash)
    view = parse_qs(urlsplit(page.url).fragment)
    run = tercet.Run.open(view["run"][0])
    epoch = int(view["epoch"][0])
    assert view.get("split", ["train"])[0] == "train"
    train = tercet.Table.open(
        str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    )
    table = train.to_pandas()[["example_id", "label"]]
    names = {int(k): v["name"] for k, v in train.schema["label"].to_json()["value_map"].items()}

    # histogram of the label column: one row per label, with its count
    page.locator(tid("chart-tab-histogram")).click()
    page.locator(tid("histogram-column")).select_option("label")
    rows = page.locator('[data-testid="histogram-chart"] .catrow')
    rows.first.wait_for()
    shown = {
        r.locator(".cname").inner_text().strip(): int(
            r.locator(".cnt").inner_text().replace(",", "").strip()
        )
        for r in rows.all()
    }
    counts = table.label.value_counts()
    expected = {names[int(k)]: int(counts[k]) for k in counts.index}
    assert shown == expected

    # the confusion matrix: each cell's count is that of (label, prediction) in the metrics file
    metrics = run.metrics("train", epoch=epoch, columns=["prediction"]).to_pandas()
    joined = table.merge(metrics, on="example_id")
    assert len(joined) == len(table)
    pairs = zip(joined.label.tolist(), joined.prediction.tolist(), strict=True)
    expected_cells: dict[tuple[str, str], int] = {}
    for t, p in pairs:
        key = (names[int(t)], names[int(p)])
        expected_cells[key] = expected_cells.get(key, 0) + 1
    page.locator(tid("chart-tab-confusion")).click()
    cells = page.locator(tid("confusion-cell"))
    cells.first.wait_for()
    pattern = re.compile(r"truth (.+), predicted (.+): ([\d,]+) — click to filter")
    seen: dict[tuple[str, str], int] = {}
    for title in cells.evaluate_all("cells => cells.map(c => c.getAttribute('title'))"):
        m = pattern.fullmatch(title)
        assert m, title
        count = int(m.group(3).replace(",", ""))
        if count:
            seen[(m.group(1), m.group(2))] = count
    assert seen == expected_cells
    assert sum(seen.values()) == len(table)


def y_ticks(page: Any) -> list[int]:
    texts = page.locator(tid("histogram-ytick")).evaluate_all("ts => ts.map(t => t.textContent)")
    return [int(t.replace(",", "")) for t in texts]


def test_histogram_axis_log_and_stacks_count_what_python_bins(dash: Dash) -> None:
    import numpy as np

    page = dash.page
    open_run(dash)
    view = parse_qs(urlsplit(page.url).fragment)
    run = tercet.Run.open(view["run"][0])
    epoch = int(view["epoch"][0])
    train = tercet.Table.open(
        str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    )
    table = train.to_pandas()[["example_id", "label"]]
    metrics = run.metrics("train", epoch=epoch, columns=["loss"]).to_pandas()
    joined = table.merge(metrics, on="example_id")
    loss = joined.loss.to_numpy(dtype=np.float64)
    # The service's bins: 40 equal bins from the smallest to the largest value, the last closed.
    expected, edges = np.histogram(loss, bins=40, range=(loss.min(), loss.max()))

    page.locator(tid("chart-tab-histogram")).click()
    page.locator(tid("histogram-column")).select_option("loss")
    bins = page.locator(tid("histogram-bin"))
    bins.first.wait_for()
    shown = [int(c) for c in bins.evaluate_all("bs => bs.map(b => b.dataset.count)")]
    assert shown == expected.tolist()
    # A y-axis whose ticks reach the tallest bar, linear then logarithmic.
    ticks = y_ticks(page)
    assert ticks[0] == 0 and ticks[-1] <= expected.max() < 2 * ticks[-1] and len(ticks) >= 3
    page.locator(tid("histogram-log")).check()
    page.locator('[data-testid="histogram-svg"][data-log="true"]').wait_for()
    ticks = y_ticks(page)
    assert ticks[:3] == [0, 1, 10]

    # Coloured by label: per bin, one stack per label holding that label's rows of the bin.
    page.locator(tid("histogram-by")).select_option("label")
    page.locator(tid("histogram-stack")).first.wait_for()
    stacks = page.locator(tid("histogram-bin")).evaluate_all(
        "bs => bs.map(b => Object.fromEntries([...b.querySelectorAll("
        "'[data-testid=histogram-stack]')].map(s => [s.dataset.value, Number(s.dataset.count)])))"
    )
    which = np.minimum(np.searchsorted(edges, loss, side="right") - 1, 39)
    for i, shown_stack in enumerate(stacks):
        labels = joined.label.to_numpy()[which == i]
        values, counts = np.unique(labels, return_counts=True)
        assert shown_stack == {str(int(v)): int(n) for v, n in zip(values, counts, strict=True)}
    dash.shot("histogram-stacked")

    # The confusion matrix fills its panel and its colour scale ends at the largest cell.
    page.locator(tid("chart-tab-confusion")).click()
    cells = page.locator(tid("confusion-cell"))
    cells.first.wait_for()
    cell_counts = [int(c) for c in cells.evaluate_all("cs => cs.map(c => c.dataset.count)")]
    top = page.locator(tid("confusion-scale-max")).inner_text().replace(",", "")
    assert int(top) == max(cell_counts)
    panel = page.locator(tid("confusion")).bounding_box()
    grid = page.locator('[data-testid="confusion"] table').bounding_box()
    assert panel and grid and grid["width"] > 0.85 * panel["width"]
    assert grid["height"] > 0.6 * panel["height"]
    dash.shot("confusion-sized")
