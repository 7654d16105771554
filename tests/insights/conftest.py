"""A tiny world with planted problems, written without a training loop.

60 samples in 3 classes with 40×40 PNG images and per-epoch metrics as a classifier would record
them: three flipped labels (their given label learnt only late, their embedding among their true
class), an exact copy of one file, a resized JPEG copy of another, two samples with the same
embedding, one embedding far from everything, a blurred and a dark image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import tercet
from tercet import Run, Table

N = 60
CLASSES = 3
EPOCHS = 4
FLIPPED = (7, 22, 41)
EXACT = (5, 10)  # 10's file is a byte copy of 5's
NEAR = (6, 11)  # 11's file is 6's, resized and re-encoded as JPEG
SAME_EMBEDDING = (12, 13)
OUTLIER = 20
BLURRED = 30
DARK = 31


@dataclass
class World:
    root: Path
    table: Table
    run: Run
    true_labels: np.ndarray
    given: np.ndarray


def texture(seed: int) -> Image.Image:
    """A sharp random texture: blocks of 4×4 pixels in random colours."""
    rng = np.random.default_rng(1000 + seed)
    small = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((40, 40), Image.Resampling.NEAREST)


def write_images(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(N):
        path = folder / f"{i:03d}.png"
        image = texture(i)
        if i == BLURRED:
            image = image.filter(ImageFilter.GaussianBlur(3))
        if i == DARK:
            image = Image.fromarray((np.asarray(image) * 0.08).astype(np.uint8))
        if i == EXACT[1]:
            path.write_bytes((folder / f"{EXACT[0]:03d}.png").read_bytes())
        elif i == NEAR[1]:
            path = folder / f"{i:03d}.jpg"
            buf = io.BytesIO()
            texture(NEAR[0]).resize((56, 56), Image.Resampling.BILINEAR).save(
                buf, "JPEG", quality=90
            )
            path.write_bytes(buf.getvalue())
        else:
            image.save(path)
        paths.append(str(path))
    return paths


def embeddings(true_labels: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(7)
    centres = np.eye(CLASSES, 8, dtype=np.float32) * 4
    x = centres[true_labels] + rng.normal(0, 0.6, (N, 8)).astype(np.float32)
    x[SAME_EMBEDDING[1]] = x[SAME_EMBEDDING[0]]
    x[OUTLIER] = -6.0 * np.ones(8, np.float32)
    out: np.ndarray = x
    return out


def write_world(root: Path, *, with_embeddings: bool = True, with_images: bool = True,
                epochs: int = EPOCHS, name: str = "planted") -> World:  # fmt: skip
    true_labels = (np.arange(N) % CLASSES).astype(np.int32)
    given = true_labels.copy()
    for i in FLIPPED:
        given[i] = (true_labels[i] + 1) % CLASSES
    data: dict[str, object] = {"label": given}
    roles = {}
    if with_images:
        data["image"] = write_images(root / "images")
        roles["image"] = "image"
    table = Table.create(
        data, project="p", dataset="d", name="train", roles=roles,
        value_maps={"label": ["cat", "dog", "eel"]},
    )  # fmt: skip
    ids = table.example_ids()
    run = tercet.init(project="p", run=name, heartbeat=False)
    rng = np.random.default_rng(3)
    emb = embeddings(true_labels)
    for epoch in range(epochs):
        # Clean samples are learnt over the epochs; flipped ones stay on their true class until
        # the network memorises them in the last epoch.
        p_given = np.clip(0.55 + 0.12 * epoch + rng.normal(0, 0.03, N), 0.01, 0.99)
        prediction = given.copy()
        memorised = epoch == epochs - 1
        for i in FLIPPED:
            p_given[i] = 0.7 if memorised else 0.1 + 0.05 * epoch
            prediction[i] = given[i] if memorised else true_labels[i]
        p_other = np.where(prediction == given, (1 - p_given) * 0.8, 1 - p_given - 0.05)
        columns: dict[str, object] = {
            "example_id": ids,
            "loss": (-np.log(p_given)).astype(np.float32),
            "prediction": prediction,
            "label_probability": p_given.astype(np.float32),
            "margin": (p_given - p_other).astype(np.float32),
        }
        if with_embeddings:
            columns["embedding"] = emb + rng.normal(0, 0.01, emb.shape).astype(np.float32)
            columns["embedding"][SAME_EMBEDDING[1]] = columns["embedding"][SAME_EMBEDDING[0]]  # type: ignore[index]
        run.write_metrics(
            table, columns, epoch=epoch, split="train",
            roles={"loss": "loss", "prediction": "prediction", "label_probability": "confidence"},
        )  # fmt: skip
    run.close()
    return World(root, table, run, true_labels, given)


@pytest.fixture
def world(root: Path) -> World:
    return write_world(root)
