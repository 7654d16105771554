"""The label-error workflow in the gallery, checked through the Python API by example id:
filter to "prediction ≠ label", select tiles (click, shift-click), relabel with a number key,
accept a prediction with `a`, weight 0 with `w`, undo one, commit — and the new revision holds
exactly those edits. Also: the scatter's hover card shows the sample's image, and at 1280×720 no
control is clipped (bounding boxes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import number, open_run, settled_count, tid, toast_text, wait_text
from tests.browser.test_identity import isolated_point

pytest.importorskip("PIL.Image")

# Every visible control whose box is clipped (see clipped.js).
CLIPPED = "\n".join(
    line
    for line in (Path(__file__).parent / "clipped.js").read_text().splitlines()
    if not line.startswith("//")  # Playwright must see a function, not a comment, first
)


def tile_ids(page: Any, n: int) -> list[int]:
    tiles = page.locator(tid("gallery-tile"))
    tiles.nth(n - 1).wait_for()
    return [int(tiles.nth(i).get_attribute("data-example-id") or -1) for i in range(n)]


def test_gallery_relabel_accept_weight_commit_reach_the_table(dash: Dash) -> None:
    page = dash.page
    page.set_viewport_size({"width": 1280, "height": 720})
    open_run(dash)
    view = parse_qs(urlsplit(page.url).fragment)
    run = tercet.Run.open(view["run"][0])
    epoch = int(view["epoch"][0])
    train_url = str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    base = tercet.Table.open(train_url).to_pandas().set_index("example_id").sort_index()
    metrics = run.metrics("train", epoch=epoch).to_pandas().set_index("example_id")
    joined = base.join(metrics[["prediction", "loss"]])
    assert page.evaluate(CLIPPED) == []
    dash.shot("30-layout-1280x720")

    # scatter hover: the card shows that sample's image, label and prediction
    target = isolated_point(page, set(base.index.tolist()))
    frames = (
        "() => document.querySelector('[data-testid=\"scatter-2d-overlay\"]').tercetProbe.frames()"
    )
    drawn = page.evaluate(frames)
    assert isinstance(drawn, int) and drawn > 0
    page.mouse.move(target["x"], target["y"])
    card = page.locator(f'{tid("hover-card")}[data-example-id="{int(target["id"])}"]')
    card.wait_for()
    page.wait_for_function(
        "() => { const im = document.querySelector('[data-testid=\"hover-card\"] img');"
        " return !!im && im.complete && im.naturalWidth > 0; }"
    )
    labels = dict(zip(base.index.tolist(), base["label"].tolist(), strict=True))
    assert card.locator(tid("hover-label")).inner_text().strip() == str(labels[int(target["id"])])
    # the hover ring is drawn on the overlay: hovering redraws none of the points
    assert page.evaluate(frames) == drawn
    dash.shot("31-scatter-hover-image")

    # one click: prediction ≠ label, as many rows as Python finds
    wrong = joined[joined.prediction != joined.label].sort_values("loss", ascending=False)
    assert len(wrong) >= 6
    page.locator(tid("mismatch-toggle")).click()
    assert settled_count(page) == len(wrong)

    # the gallery lists them by loss, highest first
    page.locator(tid("mode-gallery")).click()
    shown = tile_ids(page, 6)
    assert shown == wrong.index[:6].tolist()
    assert page.evaluate(CLIPPED) == []

    # tiles 0–2 (click, shift-click) → label d with its number key
    tiles = page.locator(tid("gallery-tile"))
    tiles.nth(0).click()
    tiles.nth(2).click(modifiers=["Shift"])
    assert number(page, "count-selected") == 3
    relabelled = shown[:3]
    d = next(k for k in range(10) if all(base.loc[i, "label"] != k for i in relabelled))
    page.keyboard.press(str(d))
    wait_text(page, "pending-count", "3")
    for i in range(3):
        assert tiles.nth(i).get_attribute("data-label") == str(d)
        assert tiles.nth(i).get_attribute("data-pending") == "true"

    # tile 3: accept its prediction (`a`)
    tiles.nth(3).click()
    page.keyboard.press("a")
    wait_text(page, "pending-count", "4")
    accepted = shown[3]

    # tile 4: weight 0 (`w`); a relabel of it, undone with Ctrl+Z
    tiles.nth(4).click()
    page.keyboard.press("w")
    wait_text(page, "pending-count", "5")
    weighted = shown[4]
    page.keyboard.press(str(d))
    wait_text(page, "pending-count", "6")
    page.keyboard.press("Control+z")
    wait_text(page, "pending-count", "5")
    dash.shot("32-gallery-pending")

    page.locator(tid("commit-button")).click()
    page.locator(tid("commit-message")).fill("gallery fixes")
    page.locator(tid("commit-confirm")).click()
    toast_text(page, "success", "Committed 5 edit(s)")

    [child] = tercet.Table.open(train_url).children()
    new = tercet.Table.open(child.url).to_pandas().set_index("example_id").sort_index()
    assert list(new.index) == list(base.index)
    label_changed = set(base.index[base.label != new.label])
    assert label_changed == {*relabelled, accepted}
    new_labels = dict(zip(new.index.tolist(), new["label"].tolist(), strict=True))
    predictions = dict(zip(joined.index.tolist(), joined["prediction"].tolist(), strict=True))
    assert [new_labels[i] for i in relabelled] == [d] * 3
    assert new_labels[accepted] == predictions[accepted]
    assert set(base.index[base.weight != new.weight]) == {weighted}
    assert new.loc[weighted, "weight"] == 0
    dash.shot("33-gallery-committed")
