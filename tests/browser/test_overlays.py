"""Masks over the image, in the gallery and in the inspector, checked by values against Python: an
instance mask stored as COCO RLE covers exactly the pixels pycocotools decodes, a polygon mask
beside it keeps its points, a semantic mask is its label image drawn over the picture. In the
inspector, the label palette and the number keys relabel the sample shown (not the gallery's
selection), and the commit holds exactly that edit. A ticked checkbox keeps the view's keys."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tercet
from tests.browser.conftest import DEMO_PROJECT, Dash
from tests.browser.pages import number, open_filter, tid, toast_text, wait_text
from tests.test_dashboard_rle import pixels

Image = pytest.importorskip("PIL.Image")
mask_utils = pytest.importorskip("pycocotools.mask")


def make_table(dash: Dash) -> tuple[Any, np.ndarray, str]:
    import pyarrow as pa

    f32 = pa.float32()
    mask_t = pa.list_(
        pa.struct(
            [
                ("size", pa.list_(pa.int32())),
                ("counts", pa.string()),
                ("polygons", pa.list_(pa.list_(f32))),
            ]
        )
    )
    pngs = sorted(str(p) for p in (dash.root / "demo-data").rglob("*.png"))[:2]
    mask = np.zeros((8, 8), np.uint8)
    mask[1:6, 2:4] = 1
    mask[6, 5] = 1
    counts = mask_utils.encode(np.asfortranarray(mask))["counts"].decode()
    rle = {"size": [8, 8], "counts": counts, "polygons": None}
    poly = {"size": None, "counts": None, "polygons": [[0, 0, 3, 0, 3, 3]]}
    seg = Image.fromarray(np.kron(np.array([[0, 1], [2, 0]], np.uint8), np.ones((4, 4), np.uint8)))
    seg_path = dash.root / "demo-data" / "seg-0.png"
    seg.save(seg_path)
    data = pa.table(
        {
            "image": pngs,
            "label": pa.array([0, 1], pa.int64()),
            "masks": pa.array([[rle, poly], []], mask_t),
            "seg": [str(seg_path), None],
        }
    )
    roles = {"image": "image", "label": "label", "masks": "instance_masks", "seg": "semantic_mask"}
    table = tercet.Table.create(
        data, DEMO_PROJECT, "masks", "train", root=str(dash.root), roles=roles,
        value_maps={"label": ["cat", "dog", "bird"]},
    )  # fmt: skip
    return table, mask, str(seg_path)


def test_masks_drawn_in_gallery_and_inspector_and_the_inspector_relabels_its_sample(
    dash: Dash,
) -> None:
    table, mask, _ = make_table(dash)
    rows = table.to_pandas()
    ids, seg_url = rows.example_id.tolist(), rows.seg[0]  # as stored (through an alias, if any)
    page = dash.page
    page.goto(dash.url(project=DEMO_PROJECT, table=table.url, mode="gallery"))

    # the gallery: the RLE mask's pixels, the polygon, the semantic mask's image
    tile = page.locator(tid("gallery-tile", example_id=str(ids[0])))
    path = tile.locator('svg path[data-role="instance_masks"]')
    path.wait_for()
    assert int(path.get_attribute("data-area")) == int(mask.sum())
    assert np.array_equal(pixels(path.get_attribute("d"), 8, 8), mask)
    assert tile.locator('polygon[data-role="instance_masks"]').get_attribute("points") == (
        "0,0 3,0 3,3"
    )
    semantic = tile.locator('image[data-role="semantic_mask"]')
    assert semantic.get_attribute("data-url") == seg_url
    assert "/api/file" in (semantic.get_attribute("href") or "")
    dash.shot("60-gallery-masks")

    # select both tiles, focus the first, open the inspector: the same masks over the image
    page.locator(tid("gallery-tile", example_id=str(ids[1]))).click()
    tile.click(modifiers=["Control"])
    assert number(page, "count-selected") == 2
    page.wait_for_function(
        "id => document.querySelector('[data-testid=\"table-view\"]').dataset.focus === String(id)",
        arg=ids[0],
    )
    page.locator(tid("chart-tab-image")).click()
    shown = page.locator(f'{tid("image-boxes")} path[data-role="instance_masks"]')
    shown.wait_for()
    assert np.array_equal(pixels(shown.get_attribute("d"), 8, 8), mask)
    assert page.locator(f'{tid("image-boxes")} image[data-role="semantic_mask"]').count() == 1
    current = page.locator(f"{tid('inspector-label')}.on")
    assert current.get_attribute("data-value") == "0"

    # a click on the inspector gives it the keys: "2" relabels the sample shown, only that one
    page.locator(tid("image-full")).click()
    page.keyboard.press("2")
    wait_text(page, "pending-count", "1")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"inspector-label\"].on')"
        "?.dataset.value === '2'"
    )
    assert page.locator(tid("chart-body")).get_attribute("data-chart") == "image"  # not a chart key
    # the palette does the same: "dog", then back to "bird" is one more edit of the same sample
    page.locator(tid("inspector-label", value="1")).click()
    wait_text(page, "pending-count", "1")
    page.locator(tid("inspector-label", value="2")).click()
    dash.shot("61-inspector-masks-relabel")

    page.locator(tid("commit-button")).click()
    page.locator(tid("commit-confirm")).click()
    toast_text(page, "success", "Committed")
    [child] = table.children()
    after = tercet.Table.open(child.url).to_pandas().set_index("example_id")
    assert after.loc[ids[0], "label"] == 2
    assert after.loc[ids[1], "label"] == 1  # selected, but not the sample shown: untouched

    # a ticked checkbox keeps the view's keys: `x` still clears the filters
    box = open_filter(page, "label")
    box.locator(tid("category-option", value="2")).locator("input").check()
    page.locator(tid("filter-chip", key="label")).wait_for()
    box.locator(tid("category-option", value="2")).locator("input").focus()
    page.keyboard.press("x")
    page.locator(tid("filter-chip", key="label")).wait_for(state="detached")
