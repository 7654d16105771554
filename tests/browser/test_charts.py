"""The histogram and the confusion matrix show the counts Python computes from the table and the
run's metrics file (values the user reads, not screenshots)."""

from __future__ import annotations

import re
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
