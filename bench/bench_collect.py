# Over 400 lines: one script times every way metrics are collected (loop, frameworks, DDP).
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
   - ``eval plain`` / ``eval collect``: the evaluation alone, like for like — the same model over
     the same ``table.map`` datasets, by hand (kept in memory) and through ``collect_metrics``
     (written): what collection itself costs, without the data path.
   Target: ``tercet`` within 5% of ``plain``, and ``eval collect`` within 5% of ``eval plain``.
   Medians of the interleaved epochs after a warm-up round; the load average is printed, since
   on a shared machine the neighbours move every figure. Each ratio is checked twice: on wall
   time, and on the CPU seconds the process spent (every thread, background writes included),
   which a loaded machine moves far less.
2. Writing one epoch's metrics for N samples (loss, predicted label, 64-d embedding) with
   ``run.write_metrics`` against ``pyarrow.parquet.write_table`` of the same columns.
   Target: ≥ 200,000 rows/s.
3. Framework epochs (``--frameworks``): a Hugging Face Trainer (tiny BERT from a config) and a
   Lightning module, one epoch with evaluation, without and with Tercet's callback (collecting
   the eval split, and the train split too). The fair baseline computes the same per-sample
   numbers by hand and keeps them in memory, as a user without Tercet would: for the eval/val
   split the loop's own outputs turned into loss, prediction and probabilities, and the
   embedding layer's output caught by a hook (HF: ``compute_metrics`` + a hook on the pooler;
   Lightning: a callback's ``on_validation_batch_end``); for the train split the pass a user
   would run (``trainer.predict`` / an eval loop keeping the same numbers). ``--rounds``
   rounds after a warm-up round, every loop once per round, the order reversed every other
   round; each overhead is the median of the per-round ratios (loop / its baseline in the same
   round), printed with their quartiles and range: a figure whose quartiles straddle 1.05 is
   not decided by that run. Target: ≤ 5% over that baseline.
   The bare loops (no per-sample numbers at all) are printed beside it, with no target.
   Then the same over fits of ``--fit-epochs`` epochs (default 5; the HF Trainer with the eval
   split only): what a training pays, the run's creation and closing spread over its epochs,
   beside the one-epoch figure that pays them in full. Same target.
4. Collection on several processes (``--ddp``): ``collect_metrics`` over one table under
   ``torchrun --nproc_per_node=1`` and ``=2`` (gloo, CPU), ``--ddp-rounds`` pairs of launches
   (which goes first alternating); throughput is rows over the slowest rank's time. Target:
   ≥ 1.6× on 2 processes, the median of the per-pair ratios, on wall time (needs 2 free cores:
   at a load average of 1 a neighbour holds one of them) and on the slowest rank's CPU seconds
   (how evenly the work splits, which load moves far less).
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


def plain_eval(model: demo.DigitsCNN, data: Dataset[Any]) -> dict[str, np.ndarray]:
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

    def eval_plain() -> None:  # the evaluation alone, over the very datasets collect_metrics reads
        for data in (train_data, val_data):
            plain_eval(models["tercet"], data)

    def eval_collect(epoch: int) -> None:
        for data, split in ((train_data, "eval-train"), (val_data, "eval-val")):
            collectors = [ClassificationCollector(label="label"), EmbeddingCollector("embed")]
            tercet.collect_metrics(data, collectors, models["tercet"], epoch=epoch, split=split)

    # One warm-up round: first-call costs (imports, allocator, file cache) are not per epoch.
    plain_epoch()
    tercet_epoch(0)
    train_only()
    eval_plain()
    eval_collect(0)
    times: dict[str, list[float]] = {k: [] for k in [*models, "eval plain", "eval collect"]}
    used: dict[str, list[float]] = {k: [] for k in times}  # CPU seconds of every thread
    for epoch in range(1, epochs + 1):
        loops: list[tuple[str, Callable[[], None]]] = [
            ("plain", plain_epoch),
            ("tercet", functools.partial(tercet_epoch, epoch)),
            ("train only", train_only),
            ("eval plain", eval_plain),
            ("eval collect", functools.partial(eval_collect, epoch)),
        ]
        for name, step in loops if epoch % 2 else loops[::-1]:  # neither loop always goes first
            start, cpu = time.perf_counter(), time.process_time()
            step()
            times[name].append(time.perf_counter() - start)
            used[name].append(time.process_time() - cpu)
    run.close()
    return {**times, **{f"{k} cpu": v for k, v in used.items()}}


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


def _median(times: list[float]) -> float:
    return statistics.median(times) if times else float("nan")


def bench_huggingface(root: str, repeats: int, rows: int = 1024, epochs: int = 1,
                      only: tuple[str, ...] = ()) -> dict[str, list[float]]:  # fmt: skip
    """A Trainer fit of ``epochs`` epochs (train + eval each), without and with TercetCallback
    (the loops named in ``only``, or all)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets  # type: ignore[import-untyped]
    import transformers

    from tercet.integrations.huggingface import TercetCallback

    rng = np.random.default_rng(0)
    tables, hf = {}, {}
    for split, n in (("train", rows), ("val", rows // 4)):
        ids = rng.integers(2, 200, size=(n, 24))
        labels = (ids[:, 0] > 100).astype(np.int64)
        tables[split] = tercet.Table.create(
            {"tokens": [r.tolist() for r in ids], "label": labels}, f"bench-hf-{epochs}", "d",
            split, root=root, value_maps={"label": ["a", "b"]},
        )  # fmt: skip
        cols = tables[split].to_arrow(["example_id", "tokens", "label"]).to_pydict()
        hf[split] = datasets.Dataset.from_dict(
            {"example_id": cols["example_id"], "input_ids": cols["tokens"],
             "attention_mask": [[1] * 24 for _ in range(n)], "label": cols["label"]}
        )  # fmt: skip
    config = transformers.BertConfig(  # type: ignore[call-arg]
        vocab_size=256,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        num_labels=2,
    )
    times: dict[str, list[float]] = {
        "trainer": [],
        "trainer, eval kept": [],
        "trainer + predict(train)": [],
        "callback (eval)": [],
        "callback (eval + train)": [],
    }
    times = {k: v for k, v in times.items() if not only or k in only}
    used: dict[str, list[float]] = {k: [] for k in times}
    for i in range(repeats + 1):  # the first round warms up
        for name in list(times) if i % 2 else list(times)[::-1]:
            transformers.set_seed(0)
            args = transformers.TrainingArguments(
                output_dir=os.path.join(root, "hf-out"), num_train_epochs=epochs,
                per_device_train_batch_size=32, per_device_eval_batch_size=128,
                eval_strategy="epoch", save_strategy="no", logging_steps=10, report_to=[],
                use_cpu=True, disable_tqdm=True,
            )  # fmt: skip
            model = transformers.BertForSequenceClassification(config)
            by_hand = name in ("trainer, eval kept", "trainer + predict(train)")
            trainer = transformers.Trainer(
                model=model, args=args, train_dataset=hf["train"], eval_dataset=hf["val"],
                compute_metrics=keep_by_hand(model) if by_hand else None,
            )  # fmt: skip
            if name.startswith("callback"):
                tercet.init(project=f"bench-hf-{epochs}", root=root, heartbeat=False)
                TercetCallback.attach(
                    trainer, train_table=tables["train"], eval_table=tables["val"],
                    embedding_layer="bert.pooler", reduce=None, batch_size=128,
                    train_every=1 if "train" in name else None,
                )  # fmt: skip
            start, cpu = time.perf_counter(), time.process_time()
            trainer.train()
            if name == "trainer + predict(train)":
                trainer.predict(hf["train"])
            active = tercet.active_run()
            if active is not None:
                active.close()
            if i:
                times[name].append(time.perf_counter() - start)
                used[name].append(time.process_time() - cpu)
    return {**times, **{f"{k} cpu": v for k, v in used.items()}}


def keep_by_hand(model: Any) -> Callable[[Any], dict[str, float]]:
    """What a user writes for the callback's per-sample numbers without Tercet: the Trainer's
    gathered logits (``compute_metrics`` makes ``evaluate``/``predict`` keep them) turned into
    loss, prediction and probabilities, and the pooler's output of every evaluation forward,
    all kept in memory."""
    kept: list[Any] = []

    def embed(module: Any, inputs: Any, output: Any) -> None:
        if not module.training:
            kept.append(output.detach())

    model.bert.pooler.register_forward_hook(embed)

    def compute_metrics(prediction: Any) -> dict[str, float]:
        logits = torch.as_tensor(prediction.predictions)
        labels = torch.as_tensor(prediction.label_ids)
        kept.extend([F.cross_entropy(logits, labels, reduction="none").numpy(),
                     logits.argmax(1).numpy(), logits.softmax(1).numpy()])  # fmt: skip
        return {}

    return compute_metrics


def bench_lightning(root: str, repeats: int, rows: int = 4096,
                    epochs: int = 1) -> dict[str, list[float]]:  # fmt: skip
    """A Lightning fit of ``epochs`` epochs (train + validation each), without and with
    TercetCallback."""
    import warnings

    warnings.filterwarnings("ignore")
    import lightning as L

    from tercet.integrations.lightning import TercetCallback

    class Module(L.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.ReLU(),
                                           torch.nn.Linear(128, 10))  # fmt: skip

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)  # type: ignore[no-any-return]

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            loss = F.cross_entropy(self(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            logits = self(x)
            self.log("val_loss", F.cross_entropy(logits, y))
            return logits  # read by the callback: the val loader reads its table in order

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05)

    rng = np.random.default_rng(0)
    data = {}
    for split, n in (("train", rows), ("val", rows // 4)):
        x = rng.normal(size=(n, 32)).astype(np.float32)
        table = tercet.Table.create(
            {"x": list(x), "label": rng.integers(0, 10, n)},
            f"bench-pl-{epochs}",
            "d",
            split,
            root=root,
        )
        data[split] = table.map(lambda r: (torch.as_tensor(r["x"]), int(r["label"])))
    loaders = {k: DataLoader(v, batch_size=64, shuffle=k == "train") for k, v in data.items()}

    class KeepVal(L.Callback):  # type: ignore[misc]
        """What a user writes for val's per-sample numbers without Tercet: loss, prediction,
        probabilities and the hidden layer's output, kept in memory."""

        def on_validation_epoch_start(self, trainer: Any, module: Any) -> None:
            self.kept: list[Any] = []
            self.hook = module.net[1].register_forward_hook(
                lambda m, i, o: self.kept.append(o.detach())
            )

        def on_validation_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any,
                                    batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
            y = batch[1]
            self.kept += [F.cross_entropy(outputs, y, reduction="none").numpy(),
                          outputs.argmax(1).numpy(), outputs.softmax(1).numpy()]  # fmt: skip

        def on_validation_epoch_end(self, trainer: Any, module: Any) -> None:
            self.hook.remove()

    def plain_eval(module: Any) -> None:
        """What the callback stores for train, by hand and kept in memory: loss, prediction,
        probabilities and the hidden layer's output per sample."""
        kept: list[Any] = []
        hook = module.net[1].register_forward_hook(lambda m, i, o: kept.append(o.detach()))
        module.eval()
        try:
            with torch.no_grad():
                for x, y in DataLoader(data["train"], batch_size=256):
                    logits = module(x)
                    kept += [F.cross_entropy(logits, y, reduction="none").numpy(),
                             logits.argmax(1).numpy(), logits.softmax(1).numpy()]  # fmt: skip
        finally:
            hook.remove()

    class EvalTrain(L.Callback):  # type: ignore[misc]
        """The train split's numbers by hand after every epoch of a longer fit."""

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            plain_eval(module)
            module.train()

    times: dict[str, list[float]] = {
        "fit": [], "fit, val kept": [], "callback (val)": [], "fit + eval(train)": [],
        "callback (val + train)": [],
    }  # fmt: skip
    used: dict[str, list[float]] = {k: [] for k in times}
    for i in range(repeats + 1):
        for name in list(times) if i % 2 else list(times)[::-1]:
            torch.manual_seed(0)
            callbacks: list[Any] = []
            if name.startswith("callback"):
                tercet.init(project=f"bench-pl-{epochs}", root=root, heartbeat=False)
                every = 1 if "train" in name else None
                callbacks = [TercetCallback(train=data["train"], val=data["val"],
                                            embedding_layer="net.1", reduce=None,
                                            train_every=every)]  # fmt: skip
            elif name != "fit":  # the same numbers by hand: val's kept, and train's after fit
                callbacks = [KeepVal()]
                if name == "fit + eval(train)" and epochs > 1:
                    callbacks.append(EvalTrain())  # after every epoch, as the callback does
            trainer = L.Trainer(
                max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
                num_sanity_val_steps=0,
            )  # fmt: skip
            module = Module()
            start, cpu = time.perf_counter(), time.process_time()
            trainer.fit(module, loaders["train"], loaders["val"])
            if name == "fit + eval(train)" and epochs == 1:
                plain_eval(module)
            active = tercet.active_run()
            if active is not None:
                active.close()
            if i:
                times[name].append(time.perf_counter() - start)
                used[name].append(time.process_time() - cpu)
            if callbacks and getattr(callbacks[0], "own_pass_reasons", None):
                print(f"note: own val pass ({callbacks[0].own_pass_reasons})")
    return {**times, **{f"{k} cpu": v for k, v in used.items()}}


DDP_ROWS = 40_000


def ddp_worker(root: str) -> None:
    """Run by torchrun: one timed collection pass over the bench table."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    run = tercet.init(project="bench-ddp", root=root, heartbeat=False)
    table = tercet.Table.open(os.environ["BENCH_TABLE"])
    data = table.map(lambda r: torch.as_tensor(r["x"]))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    collect = [ClassificationCollector(label="label"), EmbeddingCollector("1")]
    tercet.collect_metrics(data, collect, model, batch_size=512, wait=True)  # warm-up
    dist.barrier()
    start, cpu = time.perf_counter(), time.process_time()
    tercet.collect_metrics(data, collect, model, batch_size=512, wait=True)
    took = (time.perf_counter() - start, time.process_time() - cpu)
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, took)
    if dist.get_rank() == 0:  # the slowest rank's wall and CPU seconds
        print(f"BENCH_SECONDS {max(t[0] for t in everyone):.4f} "
              f"{max(t[1] for t in everyone):.4f}", flush=True)  # fmt: skip
    run.close()
    dist.destroy_process_group()


def bench_ddp(root: str, rounds: int) -> dict[str, list[float]]:
    """``rounds`` pairs of launches, 1 process then 2 (alternating which goes first): the
    slowest rank's wall and CPU seconds of each."""
    import subprocess

    rng = np.random.default_rng(0)
    table = tercet.Table.create(
        {"x": list(rng.normal(size=(DDP_ROWS, 32)).astype(np.float32)),
         "label": rng.integers(0, 10, DDP_ROWS)}, "bench-ddp", "d", "big", root=root,
    )  # fmt: skip
    out: dict[str, list[float]] = {k: [] for k in ("1", "2", "1 cpu", "2 cpu")}
    print(f"DDP launches start at load average {os.getloadavg()[0]:.1f}", flush=True)
    for i in range(rounds):
        for procs in (1, 2) if i % 2 == 0 else (2, 1):
            env = dict(os.environ, BENCH_TABLE=table.url, OMP_NUM_THREADS="1")
            done = subprocess.run(
                [sys.executable, "-m", "torch.distributed.run", "--standalone",
                 f"--nproc_per_node={procs}", __file__, "--ddp-worker", root],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            line = next(ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_SECONDS"))
            wall, cpu = (float(v) for v in line.split()[1:3])
            out[str(procs)].append(wall)
            out[f"{procs} cpu"].append(cpu)
    return out


def report_ddp(targets: Targets, ddp: dict[str, list[float]]) -> None:
    """Throughput of 2 processes against 1: per launch pair, on wall time (needs 2 free cores)
    and on the slowest rank's CPU seconds (how evenly the work splits; a loaded machine moves it
    far less)."""
    print(f"\nCollection over {DDP_ROWS:,} rows (classification + 256-d embedding), gloo, CPU")
    for procs in ("1", "2"):
        wall, cpu = _median(ddp[procs]), _median(ddp[f"{procs} cpu"])
        print(f"{procs} process(es){'':<28}{wall:>8.3f} s wall{DDP_ROWS / wall:>12,.0f} rows/s"
              f"{cpu:>8.3f} s CPU (slowest rank)")  # fmt: skip
    for suffix, label in (("", ""), (" cpu", ", CPU time of the slowest rank")):
        scale = [a / b for a, b in zip(ddp["1" + suffix], ddp["2" + suffix], strict=True)]
        ratio = _median(scale)
        print(f"2 processes vs 1{label}: {ratio:.2f}× ({spread_text(scale)}; "
              f"{'meets' if ratio >= 1.6 else 'misses'} ≥ 1.6×)")  # fmt: skip
        targets.at_least(f"DDP collection, 2 processes vs 1{label}", ratio, 1.6, unit="×",
                         baseline_is=f"1 process; {spread_text(scale)}")  # fmt: skip


def report_frameworks(hf: dict[str, list[float]], pl: dict[str, list[float]]) -> None:
    print("\nFramework epochs (median of the timed rounds; train + evaluation)")
    print(f"{'loop':<52}{'s/epoch':>10}{'vs base':>10}")
    _print_loops(hf, pl, hf_train=True)
    for label, times, base in (
        ("HF Trainer + TercetCallback (eval split)", hf["callback (eval)"], hf["trainer"]),
        ("Lightning + TercetCallback (val)", pl["callback (val)"], pl["fit"]),
    ):  # fmt: skip
        print(f"{label + ' vs the bare loop':<52}{_median(times):>10.3f}"
              f"{_median(times) / _median(base) - 1:>+10.1%}")  # fmt: skip


def _print_loops(hf: dict[str, list[float]], pl: dict[str, list[float]], hf_train: bool) -> None:
    """One line per framework loop: its median and its overhead over the loop it adds to (the HF
    train-split loops only where they were timed)."""
    rows = [
        ("HF Trainer", hf["trainer"], hf["trainer"]),
        ("HF Trainer, eval numbers kept by hand", hf["trainer, eval kept"], hf["trainer"]),
        ("HF Trainer + TercetCallback (eval split)", hf["callback (eval)"],
         hf["trainer, eval kept"]),
    ]  # fmt: skip
    if hf_train:
        rows += [
            ("HF Trainer, eval kept + predict(train) kept", hf["trainer + predict(train)"],
             hf["trainer"]),
            ("HF Trainer + TercetCallback (eval + train)", hf["callback (eval + train)"],
             hf["trainer + predict(train)"]),
        ]  # fmt: skip
    rows += [
        ("Lightning fit", pl["fit"], pl["fit"]),
        ("Lightning fit, val numbers kept by hand", pl["fit, val kept"], pl["fit"]),
        ("Lightning + TercetCallback (val, outputs reused)", pl["callback (val)"],
         pl["fit, val kept"]),
        ("Lightning fit, val kept + plain eval of train", pl["fit + eval(train)"], pl["fit"]),
        ("Lightning + TercetCallback (val + train)", pl["callback (val + train)"],
         pl["fit + eval(train)"]),
    ]  # fmt: skip
    for label, times, base in rows:
        print(f"{label:<52}{_median(times):>10.3f}{_median(times) / _median(base) - 1:>+10.1%}")


HF_LONG = ("trainer", "trainer, eval kept", "callback (eval)")
"""The HF loops timed over a longer fit (the train split by hand has no per-epoch form that
is the same work as the callback's)."""


def report_long_fits(epochs: int, hf: dict[str, list[float]],
                     pl: dict[str, list[float]]) -> None:  # fmt: skip
    print(f"\nFits of {epochs} epochs (median of the timed rounds; train + evaluation each epoch)")
    print(f"{'loop':<52}{'s/fit':>10}{'vs base':>10}")
    _print_loops(hf, pl, hf_train=False)


def paired(times: dict[str, list[float]], key: str, base: str) -> list[float]:
    """The ratio ``key / base`` of every timed round: the two loops of a round ran back to back
    (their order alternating between rounds), so a neighbour's burst moves both alike and the
    per-round ratio is far steadier than the ratio of two medians."""
    return [a / b for a, b in zip(times[key], times[base], strict=True) if b > 0]


def spread_text(ratios: list[float]) -> str:
    if not ratios:
        return "no rounds"
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return (f"median of {len(ratios)} per-round ratios, quartiles {quartiles[0]:.3f}–"
            f"{quartiles[2]:.3f}, range {min(ratios):.3f}–{max(ratios):.3f}")  # fmt: skip


def overhead(targets: Targets, name: str, times: dict[str, list[float]], key: str, base: str,
             baseline_is: str) -> None:  # fmt: skip
    """``key`` against ``base`` within 5%, twice: on wall time, and on the CPU seconds the
    process spent (every thread: background writes count), which a loaded machine moves far
    less. Each is the median of the per-round ratios (:func:`paired`), printed with its
    quartiles and range: a figure whose quartiles straddle the target is not decided."""
    for suffix, label in (("", ""), (" cpu", ", CPU time")):
        ratios = paired(times, key + suffix, base + suffix)
        ratio = _median(ratios)
        print(f"{name + label}: {ratio:.3f}× ({spread_text(ratios)}) vs {baseline_is}")
        targets.at_most(f"{name}{label}", ratio, 1.05, unit="×",
                        baseline_is=f"{baseline_is}; {spread_text(ratios)}")  # fmt: skip


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--ddp-worker":
        ddp_worker(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds per framework loop")
    parser.add_argument(
        "--ddp-rounds", type=int, default=5, help="pairs of 1- and 2-process launches"
    )
    parser.add_argument("--frameworks", action="store_true", help="also bench HF and Lightning")
    parser.add_argument("--ddp", action="store_true", help="also bench 2 processes against 1")
    parser.add_argument(
        "--fit-epochs", type=int, default=5,
        help="with --frameworks, also time fits this long (the callback's fixed costs per fit, "
        "creating and closing the run, spread over them); 0 skips them",
    )  # fmt: skip
    parser.add_argument("--only-new", action="store_true", help="skip the digits and write benches")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads; one keeps a shared 2-core machine from stalling the loops",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} cores)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tercet-bench-") as root:
        os.environ["TERCET_CONFIG"] = str(Path(root) / "config.yaml")  # keep the user's out
        hf = bench_huggingface(root, args.rounds) if args.frameworks else None
        pl = bench_lightning(root, args.rounds) if args.frameworks else None
        long_fits = args.frameworks and args.fit_epochs > 1
        hf_long = (
            bench_huggingface(root, args.rounds, epochs=args.fit_epochs, only=HF_LONG)
            if long_fits else None
        )  # fmt: skip
        pl_long = bench_lightning(root, args.rounds, epochs=args.fit_epochs) if long_fits else None
        ddp = bench_ddp(root, args.ddp_rounds) if args.ddp else None
        if args.only_new:
            epochs, writes = {}, {}
        else:
            epochs = bench_epochs(root, args.epochs)
            writes = bench_write(root, args.rows, args.repeats)
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    targets = Targets("collection targets")
    if hf is not None and pl is not None:
        report_frameworks(hf, pl)
        overhead(targets, "HF Trainer epoch with TercetCallback (eval)", hf, "callback (eval)",
                 "trainer, eval kept", "the same Trainer, eval numbers kept by hand")  # fmt: skip
        overhead(targets, "HF Trainer epoch with TercetCallback (eval + train)", hf,
                 "callback (eval + train)", "trainer + predict(train)",
                 "the same + trainer.predict(train), numbers kept by hand")  # fmt: skip
        overhead(targets, "Lightning epoch with TercetCallback (val)", pl, "callback (val)",
                 "fit, val kept", "the same fit keeping val's numbers by hand")  # fmt: skip
        overhead(targets, "Lightning epoch with TercetCallback (val + train)", pl,
                 "callback (val + train)", "fit + eval(train)",
                 "the same + evaluation of train by hand")  # fmt: skip
        # The bare loops computing no per-sample numbers at all, for reference (no target).
        for name, times, key, base in (
            ("HF Trainer epoch with TercetCallback (eval)", hf, "callback (eval)", "trainer"),
            ("Lightning epoch with TercetCallback (val)", pl, "callback (val)", "fit"),
        ):  # fmt: skip
            for suffix in ("", " cpu"):
                targets.info(f"{name}{', CPU time' if suffix else ''}",
                             _median(times[key + suffix]), baseline=_median(times[base + suffix]),
                             baseline_is="the bare loop, no per-sample numbers")  # fmt: skip
    if hf_long is not None and pl_long is not None:
        n = args.fit_epochs
        report_long_fits(n, hf_long, pl_long)
        overhead(targets, f"HF Trainer {n}-epoch fit with TercetCallback (eval)", hf_long,
                 "callback (eval)", "trainer, eval kept",
                 "the same Trainer, eval numbers kept by hand")  # fmt: skip
        overhead(targets, f"Lightning {n}-epoch fit with TercetCallback (val)", pl_long,
                 "callback (val)", "fit, val kept",
                 "the same fit keeping val's numbers by hand")  # fmt: skip
        overhead(targets, f"Lightning {n}-epoch fit with TercetCallback (val + train)", pl_long,
                 "callback (val + train)", "fit + eval(train)",
                 "the same + evaluation of train by hand after every epoch")  # fmt: skip
    if ddp is not None:
        report_ddp(targets, ddp)
    if args.only_new:
        return targets.report()

    med = {k: statistics.median(v) for k, v in epochs.items()}
    extra = med["tercet"] / med["plain"] - 1
    print(
        f"\nEpoch time on the digits demo (median of {args.epochs} interleaved epochs; "
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
    print(f"{'evaluation alone, plain (same datasets)':<44}{med['eval plain']:>10.3f}")
    print(f"{'evaluation alone, collect_metrics':<44}{med['eval collect']:>10.3f}"
          f"{med['eval collect'] / med['eval plain'] - 1:>+12.1%}")  # fmt: skip
    overhead(targets, "epoch with collect_metrics", epochs, "tercet", "plain",
             "plain PyTorch, same loop")  # fmt: skip
    overhead(targets, "collect_metrics alone (train + val)", epochs, "eval collect", "eval plain",
             "the same evaluation by hand, same datasets")  # fmt: skip
    verdict = "meets" if extra <= 0.05 else "misses"
    print(f"Tercet overhead over the same loop without Tercet: {extra:+.1%} ({verdict} ≤ 5%)")

    rate = {k: args.rows / statistics.median(v) for k, v in writes.items()}  # rows/s
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
