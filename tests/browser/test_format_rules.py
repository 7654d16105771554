"""The dashboard asks the service for the format's rules and computes none of its own."""

from __future__ import annotations

import pytest

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import bulk_set, select_rows, tid, wait_text


def _pending_base(dash: Dash, run_url: str) -> str:
    """The revision the dashboard would commit against, in a run view joined to the latest."""
    page = dash.page
    page.goto("about:blank")  # a fresh load: nothing kept from a previous look
    page.goto(dash.url(project=DEMO_PROJECT, run=run_url, split="train", join="latest"))
    page.locator(tid("grid-row")).first.wait_for()
    select_rows(page, [0])
    bulk_set(page, "weight", "0")
    wait_text(page, "pending-count", "1")
    if not page.locator(tid("pending-list")).is_visible():
        page.locator(tid("pending-button")).click()
    base = page.locator(tid("pending-list")).locator(".mono").first.inner_text().strip()
    page.locator(tid("discard-button")).click()
    page.locator(tid("discard-button")).click()
    return str(base)


def test_the_dashboards_latest_is_the_services(dash: Dash, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard computes no "latest" of its own: change the rule in tercet.format, and the
    revision it edits against follows the service."""
    run_url = tercet.list_runs(DEMO_PROJECT, root=str(dash.root))[-1].url
    train = tercet.Table.open(str(dash.root / DEMO_PROJECT / "datasets/digits/tables/train"))
    ids = train.example_ids()
    older = train.delete_rows([int(ids[0])], message="older leaf")
    newer = train.delete_rows([int(ids[1])], message="newer leaf")
    dash.service.scan()
    assert _pending_base(dash, run_url) == newer.name

    oldest = lambda revisions: min(revisions, key=lambda r: (r.created, r.id))  # noqa: E731
    monkeypatch.setattr(tercet.format, "newest", oldest)
    dash.service.scan()
    assert _pending_base(dash, run_url) == older.name
