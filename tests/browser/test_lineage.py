"""The project page shows where a split or subset came from: the source revision (a link that
opens it) and the rule, and tables and runs by the display names they were given, not folder
slugs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import tid


def test_split_and_subset_show_their_source_revision_and_rule(dash: Dash) -> None:
    page = dash.page
    source = tercet.Table.open(project=DEMO_PROJECT, dataset="digits", name="train").latest()
    parts = source.split({"Train Part": 0.75, "Hold out": 0.25}, by="random", seed=7)
    few = source.subset(source.example_ids()[:5], name="Five Picked")
    held = parts["Hold out"]
    assert held.table_name != "Hold out"  # a slug: the page must show the display name instead

    page.goto(dash.url(project=DEMO_PROJECT))
    heading = page.locator(tid("table-group", table=held.table_name))
    heading.wait_for()
    assert heading.inner_text().startswith("digits / Hold out")
    group = page.locator(".group", has=heading)
    derived = group.locator(tid("derived-from"))
    assert derived.get_attribute("data-op") == "split"
    link = derived.locator(tid("derived-source"))
    assert link.inner_text() == f"digits / train @ {source.name}"
    assert link.get_attribute("data-url") == source.url
    rule = derived.locator(tid("derived-rule")).inner_text()
    assert rule == "part “Hold out” of split random (Train Part 75%, Hold out 25%), seed 7"

    subset_group = page.locator(
        ".group", has=page.locator(tid("table-group", table=few.table_name))
    )
    subset_rule = subset_group.locator(tid("derived-rule")).inner_text()
    assert subset_rule == "subset of 5 rows"
    # The source's own group lists no derived rows: split tables are not its revisions.
    train_group = page.locator(".group", has=page.locator(tid("table-group", table="train")))
    assert train_group.locator(tid("derived-from")).count() == 0
    dash.shot("lineage-derived-from")

    link.click()
    page.locator(tid("table-view")).wait_for()
    opened = parse_qs(urlsplit(page.url).fragment)["table"]
    assert opened == [source.url]


def test_runs_are_listed_by_the_names_they_were_given(dash: Dash) -> None:
    page = dash.page
    run = tercet.Run.create(DEMO_PROJECT, "baseline (lr 0.1)")
    run.close("completed")
    page.goto(dash.url(project=DEMO_PROJECT))
    row = page.locator(tid("run-row", name="baseline-lr-0.1"))
    row.wait_for()
    link = row.locator(tid("run-link"))
    assert link.inner_text() == "baseline (lr 0.1)"
    assert link.get_attribute("title") == "baseline-lr-0.1"  # the folder, on hover
