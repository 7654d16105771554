"""collect_metrics killed midway: every earlier epoch stays readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import tercet
from tercet import storage

CRASH_SCRIPT = """
    import sys, time
    import numpy as np
    import torch
    from torch import nn
    import tercet
    from tercet.runs import metrics

    metrics.ROW_GROUP = 16  # so the file being written is already on disk when we are killed
    marker = sys.argv[1]
    table = tercet.Table.create(
        {"features": np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32),
         "label": np.arange(64, dtype=np.int32) % 3},
        "p", "d", "train", value_maps={"label": ["a", "b", "c"]},
    )

    def to_sample(row):
        return torch.as_tensor(row["features"]), row["label"]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)
            self.calls = 0
            self.armed = False

        def forward(self, x):
            self.calls += 1
            if self.armed and self.calls == 3:
                open(marker, "w").close()
                time.sleep(120)
            return self.lin(x)

    run = tercet.init(project="p", run="crashy")
    print(run.url, flush=True)
    model = Model()
    data = table.map(to_sample)
    collectors = [tercet.ClassificationCollector(), tercet.EmbeddingCollector("lin")]
    tercet.collect_metrics(data, collectors, model, epoch=0, batch_size=8)
    tercet.log({"loss": 0.5}, epoch=0)
    model.armed, model.calls = True, 0
    tercet.collect_metrics(data, collectors, model, epoch=1, batch_size=8)
"""


def test_sigkill_during_collect_leaves_earlier_metrics_readable(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(CRASH_SCRIPT))
    marker = tmp_path / "collecting"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(marker)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the training script never reached epoch 1"
            time.sleep(0.05)
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        # Batches are written on collect_metrics' own thread: wait for the first row group of
        # epoch 1 to reach the disk, so the kill lands in the middle of writing the file.
        folder = storage.join(url, "metrics", "train")
        while not [n for n in os.listdir(folder) if n.startswith(storage.TMP_PREFIX)]:
            assert time.monotonic() < deadline, "epoch 1 never started its file"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = tercet.Run.open(url)
    assert run.status in ("failed", "stale")
    assert [(f["split"], f["epoch"]) for f in run.metric_files()] == [("train", 0)]
    epoch0 = run.metrics("train", epoch=0)
    assert epoch0.num_rows == 64
    assert sorted(epoch0.column("example_id").to_pylist()) == list(range(64))
    # The half-written epoch-1 file exists only as a hidden temp file, which listings skip.
    hidden = [n for n in os.listdir(folder) if n.startswith(storage.TMP_PREFIX)]
    assert hidden and all("epoch-0001" in n for n in hidden)
    # Scalars still buffered at the kill are lost (at most the last 10 s); the rest reads fine.
    assert set(run.aggregates().column("name").to_pylist()) <= {"train/loss", "train/accuracy",
                                                                "loss"}  # fmt: skip
    assert run.inputs[0]["split"] == "train"
