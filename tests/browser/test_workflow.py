"""The label-error workflow end to end, checked by ids and values against Python: the project
page's revision diff ("2 relabels · 1 deletion", thumbnails of exactly the touched rows);
`tercet demo`'s view (the run as a gallery, highest loss first); the pinned sample's loss by
epoch; the Issues tab on key 8; a confusion cell's images on hover (its highest-loss samples);
curves by epoch as the epoch mean with a readable y-axis; a projection switch from 3D to 2D while
the 3D tab is open."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
import pytest

import tercet
from tercet.runs import folder as run_folder
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import tid

pytest.importorskip("PIL.Image")

DECODED = (
    "sel => { const im = [...document.querySelectorAll(sel)];"
    " return im.length > 0 && im.every(i => i.complete && i.naturalWidth > 0); }"
)


def attr(page: Any, selector: str, name: str) -> str:
    value = page.locator(selector).first.get_attribute(name)
    assert value is not None, f"{selector} has no {name}"
    return str(value)


def demo_view(run_url: str) -> dict[str, str]:
    from tercet.demo import DemoProject

    demo = DemoProject("", DEMO_PROJECT, "", "", "", "", run_url, ())
    return dict(parse_qsl(demo.dashboard_view()))


def test_the_label_error_workflow_by_ids(dash: Dash) -> None:
    page = dash.page
    page.set_viewport_size({"width": 1280, "height": 720})
    run = tercet.list_runs(DEMO_PROJECT, str(dash.root))[0]
    train = tercet.Table.open(
        str(dash.root / DEMO_PROJECT / "datasets" / "digits" / "tables" / "train")
    )
    rows = train.to_pandas().set_index("example_id").sort_index()

    # -- a revision made in Python: the project page says what it changed and shows those rows
    a, b, gone = (int(i) for i in rows.index[:3])
    relabel = {a: (int(rows.label[a]) + 1) % 10, b: (int(rows.label[b]) + 2) % 10}
    edits = {"set": [{"column": "label", "example_id": i, "value": v} for i, v in relabel.items()]}
    child = train.apply_edits({**edits, "delete": [gone]}, message="two relabels, one deletion")
    page.goto(dash.url(project=DEMO_PROJECT))
    diff = page.locator(f'{tid("revision-diff")}[data-url="{child.url}"]')
    diff.locator(tid("revision-diff-summary"), has_text="2 relabels · 1 deletion").wait_for()
    diff.locator(tid("revision-diff-toggle")).click()
    touched = diff.locator(tid("revision-diff-row"))
    touched.nth(2).wait_for()
    shown = {
        int(touched.nth(i).get_attribute("data-example-id") or -1): touched.nth(i).get_attribute(
            "data-deleted"
        )
        for i in range(touched.count())
    }
    assert shown == {a: "false", b: "false", gone: "true"}
    page.wait_for_function(DECODED, arg='[data-testid="revision-diff-row"] img')
    dash.shot("40-revision-diff")

    # -- the demo's view: the run's training split as a gallery, highest loss first
    view = demo_view(run.url)
    page.goto(dash.url(**view))
    epoch = int(run.metrics("train").column("epoch").to_numpy().max())
    metrics = run.metrics("train", epoch=epoch).to_pandas().set_index("example_id")
    by_loss = metrics.sort_values("loss", ascending=False)
    tiles = page.locator(tid("gallery-tile"))
    tiles.nth(7).wait_for()
    first = [int(tiles.nth(i).get_attribute("data-example-id") or -1) for i in range(8)]
    assert first == [int(i) for i in by_loss.index[:8]]

    # -- the pinned sample: its loss at every epoch, under its image
    tiles.first.click()
    page.locator(tid("chart-tab-image")).click()
    spark = page.locator(f'{tid("inspector-loss")}[data-example-id="{first[0]}"]')
    page.wait_for_function(
        "sel => (document.querySelector(sel)?.dataset.values ?? '') !== ''",
        arg=f'[data-testid="inspector-loss"][data-example-id="{first[0]}"]',
    )
    history = run.metrics("train").to_pandas()
    mine = history[history.example_id == first[0]].sort_values("epoch")
    assert spark.get_attribute("data-epochs") == ",".join(str(e) for e in mine.epoch)
    values = [float(v) for v in (spark.get_attribute("data-values") or "").split(",")]
    assert values == pytest.approx(mine.loss.tolist(), rel=1e-5)

    # -- the Issues tab has a key, like every other tab
    page.keyboard.press("Escape")
    page.locator(tid("count-selected"), has_text="0").wait_for()
    page.keyboard.press("8")
    page.locator(f'{tid("chart-tab-issues")}[aria-selected="true"]').wait_for()

    # -- a confusion cell's images on hover: the cell's highest-loss samples
    page.locator(tid("chart-tab-confusion")).click()
    joined = metrics.join(rows[["label"]].rename(columns={"label": "truth"}), how="inner")
    off = joined[joined.truth != joined.prediction]
    truth, predicted = (int(v) for v in off.groupby(["truth", "prediction"]).size().idxmax())
    cell = off[(off.truth == truth) & (off.prediction == predicted)]
    expected = {int(i) for i in cell.sort_values("loss", ascending=False).index[:8]}
    page.locator(
        f'{tid("confusion-cell")}[data-truth="{truth}"][data-predicted="{predicted}"]'
    ).hover()
    pics = f'{tid("confusion-images")}[data-truth="{truth}"][data-predicted="{predicted}"]'
    page.locator(pics).wait_for()
    assert {int(i) for i in attr(page, pics, "data-ids").split(",")} == expected
    page.wait_for_function(DECODED, arg='[data-testid="confusion-images"] img')
    dash.shot("41-confusion-cell-images")

    # -- curves by epoch: the mean of the steps logged in each epoch, on a y-axis with ticks
    page.locator(tid("chart-tab-curves")).click()
    logged = pd.concat(pd.read_parquet(f) for f in run_folder.aggregate_files(run.url))
    losses = logged[logged.name == "loss"]
    means = losses.groupby("epoch").value.mean()
    page.locator(tid("curves-x")).select_option("epoch")
    curve = f'{tid("curve")}[data-name="loss"][data-x-axis="epoch"]'
    page.locator(curve).wait_for()
    (series,) = json.loads(attr(page, curve, "data-points"))
    assert series["x"] == [int(e) for e in means.index]
    assert series["y"] == pytest.approx(means.tolist(), rel=1e-6)
    assert not np.allclose(series["y"], losses.groupby("epoch").value.last().tolist())
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"line-chart\"]')]"
        ".every(c => Number(c.dataset.yTicks) >= 4)"
    )

    # shortcuts live while a select has focus (the x-axis select was just used)
    page.locator(tid("curves-x")).focus()
    page.keyboard.press("3")
    page.locator(f'{tid("chart-tab-histogram")}[aria-selected="true"]').wait_for()

    # -- a second (2-D) projection; switching to it while on the 3D tab is no error
    run.reduce_embeddings(method="pca", dims=2, progress=False).wait(timeout=120)
    page.locator(tid("chart-tab-scatter3d")).click()
    page.locator('[data-testid="scatter-3d-canvas"][data-drawn="true"]').wait_for()
    select = page.locator(tid("projection-select"))
    select.wait_for()
    two_d = next(o for o in select.locator("option").all_inner_texts() if o.endswith("2d"))
    select.select_option(two_d)
    # a 2-D projection has no proj_z: the 3D tab asks for a third axis instead of failing
    page.locator(tid("chart-body"), has_text="Pick the axes").wait_for()
    assert page.locator(f'{tid("toast")}[data-kind="error"]').count() == 0
    assert "unknown" not in page.locator(tid("chart-body")).inner_text().lower()
    three_d = next(o for o in select.locator("option").all_inner_texts() if o.endswith("3d"))
    select.select_option(three_d)
    page.locator('[data-testid="scatter-3d-canvas"][data-drawn="true"]').wait_for()


def test_gallery_tiles_draw_every_annotation_kind(dash: Dash) -> None:
    """Boxes, oriented boxes, keypoints (visible filled, hidden hollow, absent not drawn) and
    polygon masks, each at the coordinates the table holds."""
    import pyarrow as pa

    f32 = pa.float32()
    box_t = pa.list_(
        pa.struct([(k, f32) for k in ("x0", "y0", "x1", "y1")] + [("label", pa.int32())])
    )
    corners = [(f"{a}{i}", f32) for i in range(4) for a in "xy"]
    obb_t = pa.list_(pa.struct([*corners, ("label", pa.int32())]))
    polygons = ("polygons", pa.list_(pa.list_(f32)))
    mask_t = pa.list_(
        pa.struct([("size", pa.list_(pa.int32())), ("counts", pa.string()), polygons])
    )
    png = str(next((dash.root / "demo-data").rglob("*.png")))
    obb = {"x0": 1, "y0": 2, "x1": 6, "y1": 1, "x2": 7, "y2": 5, "x3": 2, "y3": 6, "label": 0}
    mask = {"size": None, "counts": None, "polygons": [[1, 1, 6, 1, 6, 6, 1, 6]]}
    data = pa.table(
        {
            "image": [png],
            "boxes": pa.array([[{"x0": 1, "y0": 1, "x1": 5, "y1": 6, "label": 0}]], box_t),
            "obb": pa.array([[obb]], obb_t),
            "kpts": pa.array([[[2, 2, 2, 4, 4, 1, 6, 6, 0]]], pa.list_(pa.list_(f32))),
            "masks": pa.array([[mask]], mask_t),
        }
    )
    roles = {"boxes": "boxes", "obb": "oriented_boxes", "kpts": "keypoints"}
    table = tercet.Table.create(
        data, DEMO_PROJECT, "shapes", "train", root=str(dash.root),
        roles={"image": "image", **roles, "masks": "instance_masks"},
    )  # fmt: skip
    page = dash.page
    page.goto(dash.url(project=DEMO_PROJECT, table=table.url, mode="gallery"))
    svg = page.locator(f"{tid('gallery-tile')} svg")
    svg.locator("circle").first.wait_for()
    rect = svg.locator("rect")
    assert [rect.get_attribute(k) for k in ("x", "y", "width", "height")] == ["1", "1", "4", "5"]
    assert svg.locator('polygon[data-role="oriented_boxes"]').get_attribute("points") == (
        "1,2 6,1 7,5 2,6"
    )
    assert svg.locator('polygon[data-role="instance_masks"]').get_attribute("points") == (
        "1,1 6,1 6,6 1,6"
    )
    points = svg.locator("circle")
    drawn = [
        (points.nth(i).get_attribute("cx"), points.nth(i).get_attribute("cy"))
        for i in range(points.count())
    ]
    assert drawn == [("2", "2"), ("4", "4")]  # v=0 is absent: not drawn
    assert "hidden" in (points.nth(1).get_attribute("class") or "")
    dash.shot("42-gallery-overlays")
