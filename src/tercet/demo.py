"""The digits demo behind ``tercet demo``: real images, a small CNN, metrics every epoch.

scikit-learn ships 1,797 real 8×8 handwritten digits. The demo writes them as PNG files under an
aliased data folder (``<DIGITS_DATA>`` → ``<root>/demo-data/digits``), records them as ``train``
and ``val`` tables, flips 3% of the training labels on purpose (marked in ``injected_noise``),
trains a small CNN for a few epochs on the CPU, collects per-sample loss, predictions and
embeddings on both tables every epoch, and reduces the embeddings to 3-D. The flipped labels are
what the dashboard should help you find: high loss, confident disagreement, points inside another
cluster.

``examples/digits_demo.py`` is the same training as a script to read top to bottom.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from tercet import aliases, format, layout, storage
from tercet.runs import ClassificationCollector, EmbeddingCollector, Run, init
from tercet.tables.table import Table

DEFAULT_PROJECT = "digits-demo"
DATASET = "digits"
ALIAS = "DIGITS_DATA"
NOISE_FRACTION = 0.03
VAL_FRACTION = 0.2
CLASSES = [str(d) for d in range(10)]


@dataclass(frozen=True)
class DemoProject:
    """Where the demo wrote everything."""

    root: str
    project: str
    project_url: str
    data_dir: str
    train_url: str
    val_url: str
    run_url: str
    injected: tuple[int, ...]  # example ids whose training label was flipped

    def dashboard_view(self) -> str:
        """The dashboard fragment that opens the run's training split as a gallery, highest
        loss first: where the flipped labels are."""
        from urllib.parse import quote, urlencode

        view = {"project": self.project, "run": self.run_url, "split": "train"}
        return urlencode({**view, "mode": "gallery", "gsort": "loss:desc"}, quote_via=quote)


class DigitsCNN(nn.Module):
    """Two convolutions, a 64-d embedding layer (``embed``) and a linear head."""

    def __init__(self, classes: int = 10, embedding: int = 64) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, embedding), nn.ReLU())
        self.head = nn.Linear(embedding, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.embed(self.features(x)))
        return out


def to_sample(row: dict[str, Any]) -> tuple[torch.Tensor, int]:
    """A table row → (1×8×8 tensor in [-1, 1], label). Module-level, so DataLoader workers can
    pickle it."""
    pixels = np.asarray(row["image"], dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(pixels).unsqueeze(0), int(row["label"])


def write_images(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """Write the digits as ``<data_dir>/<index>.png``; return (images, labels).

    Files already there are kept, so the demo can run again on the same root.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Pixel values are 0..16 in the bundled data; spread them over the 8-bit range.
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(np.int32)
    present = set(storage.ls(data_dir))

    def write(index: int) -> None:
        name = f"{index:04d}.png"
        if name in present:
            return
        buf = io.BytesIO()
        Image.fromarray(images[index], mode="L").save(buf, format="PNG")
        storage.write_bytes(storage.join(data_dir, name), buf.getvalue())

    # Each write waits for its fsync; in parallel the waits overlap.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(len(images))))
    return images, labels


def write_project_alias(project_url: str, data_dir: str) -> None:
    """Record ``<DIGITS_DATA>`` in the project's ``aliases.yaml`` (it travels with the project)."""
    aliases.set_project_alias(project_url, ALIAS, data_dir)


def create_tables(
    project: str, root: str, data_dir: str, labels: np.ndarray, seed: int = 0
) -> tuple[Table, Table, tuple[int, ...]]:
    """The ``train`` and ``val`` tables, with 3% of training labels flipped; reused if present."""
    tables = layout.dataset_tables_url(project, DATASET, root)
    train_url, val_url = storage.join(tables, "train"), storage.join(tables, "val")
    if storage.exists(format.descriptor_url(train_url)) and storage.exists(
        format.descriptor_url(val_url)
    ):
        train = Table.open(train_url)
        flags = train.to_arrow(["example_id", "injected_noise"])
        ids = flags.column("example_id").to_numpy()
        noisy = ids[flags.column("injected_noise").to_numpy(zero_copy_only=False)]
        return train, Table.open(val_url), tuple(int(i) for i in noisy)
    rng = np.random.default_rng(seed)
    ids = np.arange(len(labels), dtype=np.int64)
    order = rng.permutation(len(ids))
    n_val = round(len(ids) * VAL_FRACTION)
    val_ids, train_ids = np.sort(order[:n_val]), np.sort(order[n_val:])
    n_noisy = round(len(train_ids) * NOISE_FRACTION)
    noisy_rows = np.sort(rng.choice(len(train_ids), n_noisy, replace=False))
    train_labels = labels[train_ids].copy()
    shift = rng.integers(1, 10, len(noisy_rows))  # never flips a label onto itself
    train_labels[noisy_rows] = (train_labels[noisy_rows] + shift) % 10
    injected = np.zeros(len(train_ids), bool)
    injected[noisy_rows] = True

    def columns(ids: np.ndarray, given: np.ndarray, noise: np.ndarray) -> dict[str, Any]:
        return {
            "example_id": ids,
            "image": [storage.join(data_dir, f"{i:04d}.png") for i in ids],
            "label": given.astype(np.int32),
            "original_label": labels[ids].astype(np.int32),
            "injected_noise": noise,
        }

    options: dict[str, Any] = {
        "roles": {"image": "image"},
        "value_maps": {"label": CLASSES, "original_label": CLASSES},
        "root": root,
    }
    train = Table.create(
        columns(train_ids, train_labels, injected), project, DATASET, "train",
        message=f"digits, {len(noisy_rows)} training labels flipped on purpose", **options,
    )  # fmt: skip
    val = Table.create(
        columns(val_ids, labels[val_ids], np.zeros(len(val_ids), bool)), project, DATASET, "val",
        message="digits, held out", **options,
    )  # fmt: skip
    return train, val, tuple(int(i) for i in train_ids[noisy_rows])


def train(
    train_table: Table,
    val_table: Table,
    project: str,
    root: str,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 3e-3,
    max_batches: int | None = None,
    seed: int = 0,
    run_name: str | None = None,
    reduce: str | None = "pca",
    report: Callable[[str], None] | None = None,
    progress: bool = True,
) -> Run:
    """Train the CNN, collecting metrics and embeddings on both tables after every epoch."""
    torch.manual_seed(seed)
    parameters = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                  "model": "DigitsCNN", "max_batches": max_batches}  # fmt: skip
    run = init(project=project, run=run_name, parameters=parameters, root=root)
    try:
        train_data = train_table.map(to_sample)
        val_data = val_table.map(to_sample)
        loader = DataLoader(
            train_data, batch_size=batch_size, sampler=train_data.sampler(seed=seed)
        )
        model = DigitsCNN()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        steps = len(loader) if max_batches is None else min(max_batches, len(loader))
        bar = _progress(progress, epochs * steps)
        for epoch in range(epochs):
            model.train()
            for i, (x, y) in enumerate(loader):
                if max_batches is not None and i >= max_batches:
                    break
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                run.log({"loss": loss.item()}, epoch=epoch)
                if bar is not None:
                    bar[0].advance(bar[1])
            results = {}
            for data in (train_data, val_data):
                collectors = [ClassificationCollector(label="label"), EmbeddingCollector("embed")]
                result = run.collect_metrics(data, collectors, model, epoch=epoch)
                results[result["split"]] = result["aggregates"]
            if report is not None:
                report(
                    f"epoch {epoch + 1}/{epochs}: train loss {results['train'].get('loss', 0):.3f}"
                    f", val accuracy {results['val'].get('accuracy', 0):.1%}"
                )
        if bar is not None:
            bar[0].stop()
        if reduce:
            run.reduce_embeddings(method=reduce, dims=3, progress=progress)
    except BaseException as exc:
        run.close("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    run.close()
    return run


def _progress(enabled: bool, total: int) -> tuple[Any, Any] | None:
    if not enabled:
        return None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task("training", total=total)
    bar.start()
    return bar, task


def build(
    root: str | None = None,
    project: str = DEFAULT_PROJECT,
    epochs: int = 5,
    max_batches: int | None = None,
    seed: int = 0,
    reduce: str | None = "pca",
    data_dir: str | None = None,
    report: Callable[[str], None] | None = None,
    progress: bool = True,
) -> DemoProject:
    """Write the data, create the tables, train, and return where everything is.

    Parameters
    ----------
    root
        Project root URL (default: the configured ``root``).
    project
        Project name.
    epochs, max_batches
        Training length; ``max_batches`` caps the batches per epoch (tests use a few).
    reduce
        ``"pca"``, ``"umap"``, ``"pacmap"`` or ``None`` to skip the 3-D projection.
    data_dir
        Where the PNG files go (default ``<root>/demo-data/digits``).
    report
        Called with a line of text after each step (``print``, or a rich console's ``print``).
    """
    say = report or (lambda _line: None)
    root_url = layout.root_url(root)
    project_url = layout.project_url(project, root_url)
    data = data_dir or storage.join(root_url, "demo-data", "digits")
    _, labels = write_images(data)
    say(f"{len(labels)} digit images (8×8 PNG) in {data}, reached as <{ALIAS}>")
    write_project_alias(project_url, data)
    train_table, val_table, injected = create_tables(project, root_url, data, labels, seed)
    say(
        f"tables: train ({train_table.num_rows} rows, {len(injected)} labels flipped on purpose), "
        f"val ({val_table.num_rows} rows)"
    )
    run = train(
        train_table, val_table, project, root_url, epochs=epochs, max_batches=max_batches,
        seed=seed, reduce=reduce, report=report, progress=progress,
    )  # fmt: skip
    say(f"run {run.name}: {run.status}")
    return DemoProject(
        root=root_url,
        project=project,
        project_url=project_url,
        data_dir=data,
        train_url=train_table.url,
        val_url=val_table.url,
        run_url=run.url,
        injected=injected,
    )
