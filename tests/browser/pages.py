"""Helpers that drive and read the dashboard page by its ``data-testid`` attributes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, DEMO_PROJECT, Dash

Image = pytest.importorskip("PIL.Image")


def tid(testid: str, **attrs: str) -> str:
    extra = "".join(f'[data-{k.replace("_", "-")}="{v}"]' for k, v in attrs.items())
    return f'[data-testid="{testid}"]{extra}'


def number(page: Any, testid: str) -> int:
    return int(page.locator(tid(testid)).inner_text().replace(",", "").strip())


def wait_text(page: Any, testid: str, text: str) -> None:
    """Wait until the element ``testid`` reads ``text`` (thousands separators ignored).

    The predicate is a function with arguments: Playwright evaluates a bare expression string
    with ``eval`` in the page, which the dashboard's Content-Security-Policy blocks."""
    page.wait_for_function(
        "([sel, want]) => { const el = document.querySelector(sel);"
        " return !!el && el.textContent.replace(/,/g, '').trim() === want; }",
        arg=[tid(testid), text],
    )


def settled_count(page: Any) -> int:
    """The filtered row count once it matches the current filters and the grid has caught up."""
    page.locator('[data-testid="counts"][data-ready="true"]').wait_for()
    n = number(page, "count-filtered")
    page.wait_for_function(
        "n => document.querySelector('[data-testid=\"grid\"]').dataset.total === String(n)", arg=n
    )
    return n


def open_filter(page: Any, column: str) -> Any:
    box = page.locator(tid("filter-column", column=column))
    if box.locator(tid("filter-column-toggle")).get_attribute("aria-expanded") != "true":
        box.locator(tid("filter-column-toggle")).click()
    return box


def pixels(png: bytes) -> Any:
    return Image.open(io.BytesIO(png)).convert("RGB")


def distinct_colours(png: bytes) -> int:
    img = pixels(png).quantize(colors=64)
    return len([c for c in img.getcolors() or [] if c[0] > 20])


def changed_fraction(a: bytes, b: bytes) -> float:
    ia, ib = pixels(a), pixels(b)
    assert ia.size == ib.size
    from PIL import ImageChops

    diff = ImageChops.difference(ia, ib).convert("L").point(lambda v: 255 if v > 24 else 0)
    hist = diff.histogram()
    return float(hist[255] / (ia.size[0] * ia.size[1]))


def toast_text(page: Any, kind: str, containing: str = "") -> str:
    toast = page.locator(f'{tid("toast")}[data-kind="{kind}"]', has_text=containing).last
    toast.wait_for()
    return str(toast.inner_text())


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def open_run(dash: Dash) -> None:
    page = dash.page
    page.goto(dash.url())
    page.locator(tid("project-card", project=DEMO_PROJECT)).click()
    page.locator(tid("run-row")).first.wait_for()
    dash.shot("02-project")
    page.locator(tid("run-link")).first.click()
    page.locator(tid("run-view")).wait_for()
    page.locator(tid("grid-row")).first.wait_for()
    page.locator('[data-testid="scatter-2d-canvas"][data-drawn="true"]').wait_for()
    # Thumbnails are fetched through the alias and really decode (not a broken-image icon).
    page.wait_for_function(
        "() => { const im = [...document.querySelectorAll('img.thumb')];"
        " return im.length > 0 && im.slice(0, 5).every(i => i.complete && i.naturalWidth > 0); }"
    )


def select_rows(page: Any, indices: list[int]) -> list[int]:
    ids = []
    for k, i in enumerate(indices):
        row = page.locator(tid("grid-row", row_index=str(i)))
        row.locator(tid("grid-cell", column="example_id")).click(modifiers=["Control"] if k else [])
        ids.append(int(row.get_attribute("data-example-id")))
    return ids


def bulk_set(page: Any, column: str, value: str) -> None:
    page.locator(tid("bulk-column")).select_option(column)
    page.locator(tid("bulk-value")).fill(value)
    page.locator(tid("bulk-apply")).click()


def stable_screenshot(locator: Any, timeout: float = 10.0) -> bytes:
    """A screenshot of ``locator`` once two in a row are the same: the picture has settled (a
    condition, where a fixed sleep would guess how long drawing takes)."""
    import time

    deadline = time.monotonic() + timeout
    last = locator.screenshot()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        shot = locator.screenshot()
        if shot == last:
            return bytes(shot)
        last = shot
    raise AssertionError(f"the picture of {locator} kept changing for {timeout} s")
