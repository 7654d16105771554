"""What metrics collection costs: epoch time on the digits demo, and metrics write throughput.

    .venv/bin/python bench/bench_collect.py [--epochs 4] [--rows 100000]

1. Epoch time, in one process, epochs interleaved so machine load hits every loop alike:
   - ``plain``: PyTorch only. A dataset reading the PNG files with PIL, one training epoch, then an
     evaluation pass over train and val computing the same per-sample loss, prediction and
     64-d embedding (kept in memory, as a script without Tercet would for its own statistics).
   - ``tercet``: the same loop through Tercet: ``table.map`` + ``dataset.sampler()`` for training,
     ``tercet.log`` every step, and ``tercet.collect_metrics`` on train and val, writing the
     metrics files (classification + embedding collectors).
   - ``train only``: the training epoch alone, no evaluation pass (what any per-sample
     evaluation costs, with or without Tercet).
   Target: ``tercet`` within 10% of ``plain``. Each loop's best epoch is compared: on a shared
   machine the slowest epochs measure the neighbours, not the loop.
2. Writing one epoch's metrics for N samples (loss, predicted label, 64-d embedding) with
   ``run.write_metrics`` against ``pyarrow.parquet.write_table`` of the same columns.
   Target: ≥ 200,000 rows/s.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

import tercet
from targets import Targets
from tercet import demo
from tercet.runs.collectors import ClassificationCollector, EmbeddingCollector

BATCH = 64


class PlainDigits(Dataset[tuple[torch.Tensor, int]]):
    """The same samples as ``table.map(demo.to_sample)``, read straight from the files."""

    def __init__(self, paths: list[str], labels: list[int]) -> None:
        self.paths, self.labels = paths, labels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.paths[i]) as image:
            pixels = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(pixels).unsqueeze(0), self.labels[i]


def plain_dataset(table: tercet.Table) -> PlainDigits:
    rows = table.to_arrow(["image", "label"])
    paths = [table.resolve_url(u) for u in rows.column("image").to_pylist()]
    return PlainDigits(paths, rows.column("label").to_pylist())


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader[Any],
                log: Callable[[float], None] | None) -> None:  # fmt: skip
    model.train()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if log is not None:
            log(loss.item())


def plain_eval(model: demo.DigitsCNN, data: PlainDigits) -> dict[str, np.ndarray]:
    """Per-sample loss, prediction and embedding without Tercet, kept in memory."""
    captured: list[torch.Tensor] = []
    hook = model.embed.register_forward_hook(lambda m, i, o: captured.append(o.detach()))
    losses, predictions = [], []
    model.eval()
    try:
        with torch.no_grad():
            for x, y in DataLoader(data, batch_size=256):
                logits = model(x)
                losses.append(F.cross_entropy(logits, y, reduction="none").numpy())
                predictions.append(logits.argmax(1).numpy())
    finally:
        hook.remove()
    return {
        "loss": np.concatenate(losses),
        "prediction": np.concatenate(predictions),
        "embedding": torch.cat(captured).numpy(),
    }


def bench_epochs(root: str, epochs: int) -> dict[str, list[float]]:
    data_dir = os.path.join(root, "demo-data", "digits")
    _, labels = demo.write_images(data_dir)
    project_url = tercet.project_url("bench", root)
    demo.write_project_alias(project_url, data_dir)
    train, val, _ = demo.create_tables("bench", root, data_dir, labels)
    plain_train, plain_val = plain_dataset(train), plain_dataset(val)
    train_data, val_data = train.map(demo.to_sample), val.map(demo.to_sample)

    torch.manual_seed(0)
    models = {name: demo.DigitsCNN() for name in ("plain", "tercet", "train only")}
    for m in models.values():
        m.load_state_dict(models["plain"].state_dict())
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=3e-3) for k, m in models.items()}
    run = tercet.init(project="bench", root=root, parameters={"bench": True})
    tercet_loader = DataLoader(train_data, batch_size=BATCH, sampler=train_data.sampler(seed=0))
    plain_loader = DataLoader(plain_train, batch_size=BATCH, shuffle=True)

    def plain_epoch() -> None:
        train_epoch(models["plain"], optimizers["plain"], plain_loader, None)
        for data in (plain_train, plain_val):
            plain_eval(models["plain"], data)

    def tercet_epoch(epoch: int) -> None:
        train_epoch(models["tercet"], optimizers["tercet"], tercet_loader,
                    lambda loss: tercet.log({"loss": loss}, epoch=epoch))  # fmt: skip
        for data in (train_data, val_data):
            collectors = [ClassificationCollector(label="label"), EmbeddingCollector("embed")]
            tercet.collect_metrics(data, collectors, models["tercet"], epoch=epoch)

    def train_only() -> None:
        train_epoch(models["train only"], optimizers["train only"], plain_loader, None)

    # One warm-up round: first-call costs (imports, allocator, file cache) are not per epoch.
    plain_epoch()
    tercet_epoch(0)
    train_only()
    times: dict[str, list[float]] = {k: [] for k in models}
    for epoch in range(1, epochs + 1):
        loops: list[tuple[str, Callable[[], None]]] = [
            ("plain", plain_epoch),
            ("tercet", functools.partial(tercet_epoch, epoch)),
            ("train only", train_only),
        ]
        for name, step in loops if epoch % 2 else loops[::-1]:  # neither loop always goes first
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    run.close()
    return times


def bench_write(root: str, rows: int, repeats: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(0)
    ids = np.arange(rows, dtype=np.int64)
    table = tercet.Table.create({"example_id": ids}, "bench", "big", f"t{rows}", root=root)
    loss = rng.random(rows, dtype=np.float32)
    prediction = rng.integers(0, 10, rows).astype(np.int32)
    embedding = rng.normal(size=(rows, 64)).astype(np.float32)
    run = tercet.init(project="bench", root=root, heartbeat=False)
    times: dict[str, list[float]] = {"pyarrow": [], "tercet": []}
    for i in range(repeats):
        start = time.perf_counter()
        arrow = pa.table(
            {"example_id": ids, "loss": loss, "prediction": prediction,
             "embedding": pa.FixedSizeListArray.from_arrays(pa.array(embedding.ravel()), 64)}
        )  # fmt: skip
        pq.write_table(arrow, os.path.join(root, f"raw-{i}.parquet"))
        times["pyarrow"].append(time.perf_counter() - start)
        start = time.perf_counter()
        run.write_metrics(
            table, {"example_id": ids, "loss": loss, "prediction": prediction,
                    "embedding": embedding},
            roles={"loss": "loss", "prediction": "prediction"}, epoch=i, split="bench",
        )  # fmt: skip
        times["tercet"].append(time.perf_counter() - start)
    run.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads; one keeps a shared 2-core machine from stalling the loops",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="tercet-bench-") as root:
        os.environ["TERCET_CONFIG"] = str(Path(root) / "config.yaml")  # keep the user's out
        epochs = bench_epochs(root, args.epochs)
        writes = bench_write(root, args.rows, args.repeats)

    med = {k: min(v) for k, v in epochs.items()}
    overhead = med["tercet"] / med["plain"] - 1
    print(
        f"\nEpoch time on the digits demo (best of {args.epochs} interleaved epochs; "
        f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads)"
    )
    print(f"{'loop':<44}{'s/epoch':>10}{'vs plain':>12}")
    rows = [
        ("train only (no per-sample evaluation)", "train only"),
        ("plain PyTorch: train + eval train/val", "plain"),
        ("Tercet: train + collect_metrics train/val", "tercet"),
    ]
    for label, key in rows:
        print(f"{label:<44}{med[key]:>10.3f}{med[key] / med['plain'] - 1:>+12.1%}")
    targets = Targets("collection targets")
    targets.ratio("epoch with collect_metrics", med["tercet"], med["plain"], 1.10,
                  baseline_is="plain PyTorch, same loop")  # fmt: skip
    verdict = "meets" if overhead <= 0.10 else "misses"
    print(f"Tercet overhead over the same loop without Tercet: {overhead:+.1%} ({verdict} ≤ 10%)")

    rate = {k: args.rows / statistics.median(v) for k, v in writes.items()}
    print(
        f"\nWriting one epoch of metrics: {args.rows:,} rows × (loss, prediction, 64-d embedding),"
        f" median of {args.repeats}"
    )
    print(f"{'writer':<44}{'s':>10}{'rows/s':>12}")
    print(
        f"{'pyarrow.parquet.write_table (defaults)':<44}"
        f"{statistics.median(writes['pyarrow']):>10.3f}{rate['pyarrow']:>12,.0f}"
    )
    print(
        f"{'run.write_metrics (zstd, atomic + fsync)':<44}"
        f"{statistics.median(writes['tercet']):>10.3f}{rate['tercet']:>12,.0f}"
    )
    verdict = "meets" if rate["tercet"] >= 200_000 else "misses"
    print(f"Tercet write throughput: {rate['tercet']:,.0f} rows/s ({verdict} ≥ 200,000 rows/s)")
    targets.at_least(
        "metrics write throughput", rate["tercet"], 200_000, unit="rows/s",
        baseline=rate["pyarrow"], baseline_is="pyarrow.parquet.write_table",
    )  # fmt: skip
    sys.stdout.flush()
    return targets.report()


if __name__ == "__main__":
    sys.exit(main())
