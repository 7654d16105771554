"""The same script under ``torchrun --nproc_per_node=2`` (gloo, CPU): both ranks attach to one
run, each collects its share, and an epoch's parts hold every example_id exactly once — on local
disk (ranks meeting through torchrun's variables) and on the S3 server (meeting by broadcast),
where a rank killed outright leaves the run failed with the other rank's files readable. Each
launch costs three interpreters importing torch, so one launch runs both cases in turn
(``ddp_train.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tercet
from tercet import Table, storage
from tercet.runs import metrics as metrics_mod

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ddp_train.py")


def make_tables(root: str) -> dict[str, Table]:
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (("train", 13), ("val", 7)):  # odd: DistributedSampler would pad them
        labels = rng.integers(0, 3, n)
        x = rng.normal(size=(n, 4)).astype(np.float32) + labels[:, None]
        out[split] = Table.create(
            {"features": [r.tolist() for r in x], "label": labels.astype(np.int64)},
            "ddp", "points", split, value_maps={"label": ["a", "b", "c"]}, root=root,
        )  # fmt: skip
    return out


def torchrun(phases: Mapping[str, Any],
             timeout: float = 240) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        WANDB_DISABLED="true",
        PYTHONPATH=str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", ""),
        DDP_PHASES=json.dumps(phases),
        OMP_NUM_THREADS="1",
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(SCRIPT)]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)  # fmt: skip


def only_run(root: str) -> tercet.Run:
    runs = tercet.list_runs("ddp", root=root)
    assert [r.name for r in runs] == ["ddp"], "both ranks attach to one run"
    return runs[0]


def parts(run: tercet.Run, split: str, epoch: int) -> list[dict[str, object]]:
    return [metrics_mod.read_header(f["url"])["part"] for f in run.metric_files(split, epoch)]


def check_exactly_once(run: tercet.Run, tables: dict[str, Table], epochs: list[int]) -> None:
    for split, table in tables.items():
        for epoch in epochs:
            assert sorted(map(str, parts(run, split, epoch))) == [
                str({"rank": 0, "ranks": 2}),
                str({"rank": 1, "ranks": 2}),
            ]
            ids = np.concatenate([
                storage.read_parquet(f["url"]).column("example_id").to_numpy()
                for f in run.metric_files(split, epoch)
            ])  # fmt: skip
            assert sorted(ids.tolist()) == sorted(table.example_ids().tolist())  # once each
            assert run.metrics(split, epoch=epoch).num_rows == table.num_rows


@pytest.mark.s3
def test_two_ranks_write_one_run_with_every_example_once_and_a_killed_rank_fails_it(
    root: Path, s3_root: str
) -> None:
    local = make_tables(str(root))
    remote = make_tables(s3_root)
    phases = {
        "local": {"root": str(root), "tables": {k: t.url for k, t in local.items()}},
        "s3": {"root": s3_root, "tables": {k: t.url for k, t in remote.items()}},
    }
    done = torchrun(phases)
    assert done.returncode != 0, "rank 1 was killed in the second phase"

    # Phase 1, local disk: the whole run, both epochs, each example once.
    run = only_run(str(root))
    assert run.status == "completed", (run.state(), done.stderr[-3000:])
    assert run.parameters == {"lr": 0.1, "ranks": 2}
    check_exactly_once(run, local, [0, 1])
    scalars = run.aggregates()
    names, values = scalars.column("name").to_pylist(), scalars.column("value").to_pylist()
    ranks_logged = {v for n, v in zip(names, values, strict=True) if n == "rank"}
    assert ranks_logged == {0.0}, "scalars come from rank 0 only"
    assert {"train/loss", "train/accuracy", "val/loss"} <= set(names)
    assert set(run.metrics("train", epoch=0).column("lr").to_pylist()) == {0.1}
    assert [i["split"] for i in run.inputs] == ["train", "val"]  # recorded once, by rank 0
    projected = run.projections("val", method="pca", dims=2, epoch=1)
    assert sorted(projected.column("example_id").to_pylist()) == sorted(
        local["val"].example_ids().tolist()
    )

    # Phase 2, the Hugging Face Trainer with its callback: one run, each split's parts hold every
    # example once, though the Trainer's own sampler pads the odd tables.
    [hf] = tercet.list_runs("hf-ddp", root=str(root))
    assert hf.name == "hf" and hf.status == "completed", hf.state()
    assert hf.parameters["per_device_train_batch_size"] == 4
    check_exactly_once(hf, local, [0])
    names = set(hf.aggregates().column("name").to_pylist())
    assert {"loss", "eval_loss", "val/loss", "train/loss"} <= names
    projected = hf.projections("val", method="pca", dims=2, epoch=0)
    assert sorted(projected.column("example_id").to_pylist()) == sorted(
        local["val"].example_ids().tolist()
    )

    # Phase 3, S3: rank 1 died in the val pass; the run failed, what was written stays readable.
    killed = only_run(s3_root)
    assert killed.url.startswith("s3://")
    assert killed.status in ("failed", "stale"), killed.state()
    assert killed.parameters == {"lr": 0.1, "ranks": 2}
    check_exactly_once(killed, {"train": remote["train"]}, [0])
    # Rank 0 finished its share of the val pass rank 1 died in: readable on its own.
    assert parts(killed, "val", 0) == [{"rank": 0, "ranks": 2}]
    share = killed.metrics("val", epoch=0)
    assert 0 < share.num_rows < remote["val"].num_rows
    assert set(share.column("example_id").to_pylist()) <= set(remote["val"].example_ids().tolist())
