"""Tercet in a training script, top to bottom: the digits demo.

    python examples/digits_demo.py [--root /tmp/tercet-demo] [--epochs 5]
    tercet ui            # then look at the run in the dashboard

What it does:

1. writes scikit-learn's 1,797 real 8×8 digit images as PNG files, under a folder reached through
   the alias <DIGITS_DATA>, so the tables store location-independent URLs;
2. records them as two Tercet tables, ``train`` and ``val``, after flipping 3% of the training
   labels on purpose (the column ``injected_noise`` says which): these are the mistakes the
   dashboard should help you find;
3. trains a small CNN for a few epochs. The Tercet part is three calls: ``tercet.init``,
   ``tercet.log`` and ``tercet.collect_metrics`` (per-sample loss, prediction, confidence and a
   64-d embedding, on both tables, every epoch);
4. reduces the embeddings to 3-D with one PCA fit shared by all epochs.

Edit the table in the dashboard (fix a label, set a weight to 0) and run this script again: the
training reads the table's latest revision and skips zero-weight samples.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from rich.console import Console
from rich.progress import Progress
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader

import tercet
from tercet import storage

PROJECT = "digits-example"
CLASSES = [str(d) for d in range(10)]
console = Console()


# -- 1. The data: real images as files, reached through an alias ----------------------------------
def write_digit_images(data_dir: str) -> np.ndarray:
    """Write every digit as <data_dir>/<index>.png and return the labels."""
    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)  # pixel values are 0..16
    present = set(storage.ls(data_dir))
    for index, image in enumerate(images):
        if f"{index:04d}.png" not in present:
            buf = io.BytesIO()
            Image.fromarray(image, mode="L").save(buf, format="PNG")
            storage.write_bytes(storage.join(data_dir, f"{index:04d}.png"), buf.getvalue())
    labels: np.ndarray = digits.target.astype(np.int32)
    return labels


# -- 2. The tables, with a few labels flipped on purpose -------------------------------------------
def make_tables(root: str, data_dir: str, labels: np.ndarray) -> tuple[tercet.Table, tercet.Table]:
    tables = storage.join(root, PROJECT, "datasets", "digits", "tables")
    if storage.exists(storage.join(tables, "train", "object.json")):
        return tercet.Table.open(storage.join(tables, "train")), tercet.Table.open(
            storage.join(tables, "val")
        )
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    val_ids, train_ids = np.sort(order[:360]), np.sort(order[360:])
    given = labels[train_ids].copy()
    flipped = rng.choice(len(train_ids), int(0.03 * len(train_ids)), replace=False)
    given[flipped] = (given[flipped] + rng.integers(1, 10, len(flipped))) % 10
    noise = np.zeros(len(train_ids), bool)
    noise[flipped] = True

    def rows(ids: np.ndarray, label: np.ndarray, injected: np.ndarray) -> dict[str, object]:
        return {
            "example_id": ids,
            "image": [storage.join(data_dir, f"{i:04d}.png") for i in ids],
            "label": label,
            "original_label": labels[ids],
            "injected_noise": injected,
        }

    options: dict[str, object] = {
        "roles": {"image": "image"},
        "value_maps": {"label": CLASSES, "original_label": CLASSES},
        "root": root,
    }
    train = tercet.Table.create(
        rows(train_ids, given, noise), PROJECT, "digits", "train", **options
    )
    val = tercet.Table.create(
        rows(val_ids, labels[val_ids], np.zeros(len(val_ids), bool)), PROJECT, "digits", "val",
        **options,
    )  # fmt: skip
    return train, val


# -- 3. The model and how a table row becomes a tensor ---------------------------------------------
class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU())
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.embed(self.features(x)))
        return logits


def to_sample(row: dict[str, Any]) -> tuple[torch.Tensor, int]:
    """Row dict (the image column arrives as a PIL image) → (tensor, label)."""
    pixels = np.asarray(row["image"], dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(pixels).unsqueeze(0), int(row["label"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None, help="project root (default: from tercet config)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-batches", type=int, default=None, help="cap batches per epoch")
    args = parser.parse_args()

    root = args.root or tercet.config.current().root
    data_dir = storage.join(root, "demo-data", "digits")
    labels = write_digit_images(data_dir)
    # An alias in the project's aliases.yaml travels with the project: stored image URLs become
    # <DIGITS_DATA>/0001.png, and the service and other machines resolve them from there.
    storage.write_bytes(
        storage.join(root, PROJECT, "aliases.yaml"), f"DIGITS_DATA: {data_dir}\n".encode(),
        overwrite=True,
    )  # fmt: skip
    train, val = make_tables(root, data_dir, labels)
    console.print(f"tables: {train.url} ({len(train)} rows), {val.url} ({len(val)} rows)")

    # -- 4. Training, with Tercet's three calls ----------------------------------------------------
    torch.manual_seed(0)
    run = tercet.init(project=PROJECT, root=root, parameters={"lr": 3e-3, "epochs": args.epochs})
    train_data = train.map(to_sample)  # the latest revision of the table, as a torch Dataset
    val_data = val.map(to_sample)
    # The sampler skips rows whose weight was set to 0 in the dashboard.
    loader = DataLoader(train_data, batch_size=64, sampler=train_data.sampler(seed=0))
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("training", total=args.epochs * len(loader))
        for epoch in range(args.epochs):
            model.train()
            for i, (x, y) in enumerate(loader):
                if args.max_batches is not None and i >= args.max_batches:
                    break
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                tercet.log({"loss": loss.item()}, epoch=epoch)
                progress.advance(task)
            for data in (train_data, val_data):
                collectors = [
                    tercet.ClassificationCollector(label="label"),  # loss, prediction, confidence
                    tercet.EmbeddingCollector("embed"),  # the 64-d output of model.embed
                ]
                result = tercet.collect_metrics(data, collectors, model, epoch=epoch)
                console.print(f"epoch {epoch}: {result['split']} {result['aggregates']}")

    # -- 5. One 3-D projection for every epoch, then done ------------------------------------------
    run.reduce_embeddings(method="pca", dims=3)
    run.close()
    console.print(f"run {run.name} {run.status}: {run.url}")
    console.print(f"look at it: tercet ui   (root {Path(root)})")


if __name__ == "__main__":
    main()
