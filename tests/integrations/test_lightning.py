"""A real one-epoch PyTorch Lightning run through TercetCallback: hyperparameters, the scalars
logged with self.log, per-sample metrics of each split with every example_id once, reduced
embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tercet
from tercet import Table

L = pytest.importorskip("lightning")
torch = pytest.importorskip("torch")

from lightning.pytorch import LightningModule  # noqa: E402

from tercet.integrations.lightning import TercetCallback  # noqa: E402

# Lightning 2.6 still uses torch's LeafSpec, deprecated by torch 2.13: their warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")


class Classifier(LightningModule):  # type: ignore[misc]
    def __init__(self, lr: float = 0.05, hidden: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 3)
        )

    def forward(self, x: Any) -> Any:
        return self.net(x)

    def training_step(self, batch: Any, index: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"])


def to_pair(row: dict[str, Any]) -> tuple[Any, Any]:
    return torch.tensor(row["features"], dtype=torch.float32), row["label"]


def make_tables(n_train: int = 24, n_val: int = 13) -> dict[str, Table]:
    rng = np.random.default_rng(0)
    tables = {}
    for split, n in (("train", n_train), ("val", n_val)):
        labels = rng.integers(0, 3, n)
        x = rng.normal(size=(n, 4)).astype(np.float32) + labels[:, None]
        tables[split] = Table.create(
            {"features": [r.tolist() for r in x], "label": labels.astype(np.int64)},
            "pl", "points", split, value_maps={"label": ["a", "b", "c"]},
        )  # fmt: skip
    return tables


def test_lightning_trains_one_epoch_and_records_the_run(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    tables = make_tables()
    train, val = tables["train"].map(to_pair), tables["val"].map(to_pair)
    callback = TercetCallback(train=train, val=val, embedding_layer="net.1", project="pl",
                              run_name="mlp", batch_size=8)  # fmt: skip
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
        default_root_dir=str(tmp_path), num_sanity_val_steps=1,
    )  # fmt: skip
    torch.manual_seed(0)
    trainer.fit(Classifier(), DataLoader(train, batch_size=8), DataLoader(val, batch_size=8))
    run = callback.run
    assert run is not None and run.name == "mlp"
    assert run.parameters["lr"] == 0.05 and run.parameters["max_epochs"] == 1
    names = set(run.aggregates().column("name").to_pylist())
    assert {"train_loss_epoch", "val_loss", "val/loss", "val/accuracy", "train/loss"} <= names
    # The sanity check's validation pass is not an epoch: one file per split, epoch 0.
    files = sorted((f["split"], f["epoch"]) for f in run.metric_files())
    assert files == [("train", 0), ("val", 0)]
    for split, table in tables.items():
        got = run.metrics(split, epoch=0)
        assert sorted(got.column("example_id").to_pylist()) == sorted(table.example_ids().tolist())
        assert got.column("lr").to_pylist()[0] == pytest.approx(0.05)
        assert got.schema.field("embedding").type.list_size == 8
    projected = run.projections("train", dims=3, epoch=0)
    assert projected.num_rows == tables["train"].num_rows
    assert tercet.active_run() is run
