"""Each image-quality check flags the image planted for it, and no other (measured from bytes)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tercet.insights import quality
from tests.insights.conftest import texture


def encoded(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_each_quality_check_flags_its_planted_image() -> None:
    rng = np.random.default_rng(0)
    images = [texture(i).resize((64, 64)) for i in range(12)]  # the normal ones set the medians
    planted = {
        "bright": Image.fromarray((np.asarray(texture(20)) * 0.1 + 225).astype(np.uint8)),
        "low_information": Image.fromarray(
            (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)  # two grey levels
        ),
        "near_constant": Image.fromarray(
            (128 + rng.normal(0, 0.6, (64, 64))).clip(0, 255).astype(np.uint8)
        ),
        "odd_size": texture(21).resize((640, 640), Image.Resampling.NEAREST),
        "odd_aspect_ratio": texture(22).resize((128, 24)),
    }
    rows = {name: len(images) + i for i, name in enumerate(planted)}
    measured = [quality.measure(encoded(im)) for im in [*images, *planted.values()]]
    stats = quality.ImageStats.empty(len(measured))
    for i, m in enumerate(measured):
        for values, value in zip(stats.floats(), m.stats, strict=True):
            values[i] = value
    flags = quality.flags(quality.scores(stats))
    expected = {
        "blurry": set(),
        "dark": set(),
        "bright": {rows["bright"]},
        # Two grey levels are little information; a near-constant image is even less.
        "low_information": {rows["low_information"], rows["near_constant"]},
        "near_constant": {rows["near_constant"]},
        "odd_size": {rows["odd_size"]},
        "odd_aspect_ratio": {rows["odd_aspect_ratio"]},
    }
    assert {check: set(np.flatnonzero(f).tolist()) for check, f in flags.items()} == expected
