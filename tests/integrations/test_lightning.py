"""A real one-epoch PyTorch Lightning run through TercetCallback: hyperparameters, the scalars
logged with self.log, per-sample metrics of each split with every example_id once, reduced
embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tercet
from tercet import Table, storage

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

    def validation_step(self, batch: Any, index: int) -> Any:
        x, y = batch
        logits = self(x)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, y))
        return logits

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
    # (x, y) batches of a loader reading val in order: the validation loop's logits are read,
    # each row matched by its place; the same values as the callback's own pass gives.
    assert callback.reused == [0] and callback.own_pass_reasons == []
    module = trainer.lightning_module
    tercet.collect_metrics(val, tercet.ClassificationCollector(), module, split="own", run=run)
    got, own = (run.metrics(s, epoch=0).to_pandas().set_index("example_id").sort_index()
                for s in ("val", "own"))  # fmt: skip
    assert (got["prediction"] == own["prediction"]).all()
    np.testing.assert_allclose(got["loss"], own["loss"], rtol=1e-5)


def test_a_validation_loader_out_of_order_without_example_ids_gets_the_own_pass(
    tmp_path: Path,
) -> None:
    from torch.utils.data import DataLoader

    tables = make_tables(n_train=8, n_val=13)
    val = tables["val"].map(to_pair)
    callback = TercetCallback(val=val, project="pl", train_every=None, reduce=None)
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
        default_root_dir=str(tmp_path), num_sanity_val_steps=0,
    )  # fmt: skip
    torch.manual_seed(0)
    train = tables["train"].map(to_pair)
    trainer.fit(Classifier(), DataLoader(train, batch_size=8),
                DataLoader(val, batch_size=4, sampler=range(12, -1, -1)))  # fmt: skip
    assert callback.reused == []
    assert callback.own_pass_reasons == ["the batches carry no 'example_id'"]
    assert callback.run is not None
    got = callback.run.metrics("val", epoch=0)
    assert sorted(got.column("example_id").to_pylist()) == sorted(
        tables["val"].example_ids().tolist()
    )


class DictClassifier(Classifier):
    """Batches are dicts carrying example_id, and validation_step returns the logits: the
    callback reads the validation loop's outputs instead of running the model again."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: Any) -> Any:
        self.calls += 1
        return self.net(x)

    def training_step(self, batch: Any, index: int) -> Any:
        return torch.nn.functional.cross_entropy(self(batch["features"]), batch["label"])

    def validation_step(self, batch: Any, index: int) -> Any:
        return {"logits": self(batch["features"])}


def to_dict(row: dict[str, Any]) -> dict[str, Any]:
    features = torch.tensor(row["features"], dtype=torch.float32)
    return {"features": features, "label": row["label"], "example_id": row["example_id"]}


def fit_dict(tmp_path: Path, tables: dict[str, Table], **trainer_options: Any) -> Any:
    from torch.utils.data import DataLoader

    train, val = tables["train"].map(to_dict), tables["val"].map(to_dict)
    callback = TercetCallback(val=val, embedding_layer="net.1", project="pl", train_every=None,
                              reduce=None, inputs=lambda batch: batch["features"])  # fmt: skip
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
        default_root_dir=str(tmp_path), num_sanity_val_steps=0, **trainer_options,
    )  # fmt: skip
    torch.manual_seed(0)
    module = DictClassifier()
    # Rows 0 and 1 come twice, as a DistributedSampler pads its last shares.
    order = [*range(len(val)), 0, 1]
    trainer.fit(module, DataLoader(train, batch_size=8),
                DataLoader(val, batch_size=8, sampler=order))  # fmt: skip
    return callback, module, val


def test_validation_outputs_are_collected_without_a_second_pass(tmp_path: Path) -> None:
    tables = make_tables()
    callback, module, val = fit_dict(tmp_path, tables)
    run = callback.run
    assert callback.reused == [0] and callback.own_pass_reasons == []
    assert module.calls == 3 + 2, "3 training and 2 validation batches, no collection pass"
    [file] = run.metric_files("val", 0)
    written = storage.read_parquet(file["url"]).column("example_id").to_pylist()
    assert sorted(written) == sorted(tables["val"].example_ids().tolist())  # each once
    got = run.metrics("val", epoch=0).to_pandas().set_index("example_id").sort_index()
    # The same model, collected by its own pass: the same values for every example_id.
    collectors = [tercet.ClassificationCollector(probabilities=True),
                  tercet.EmbeddingCollector("net.1")]  # fmt: skip
    tercet.collect_metrics(val, collectors, module, split="own", run=run,
                           inputs=lambda batch: batch["features"])  # fmt: skip
    own = run.metrics("own", epoch=0).to_pandas().set_index("example_id").sort_index()
    assert (got["prediction"] == own["prediction"]).all()
    np.testing.assert_allclose(got["loss"], own["loss"], rtol=1e-5)
    for column in ("probabilities", "embedding"):
        np.testing.assert_allclose(np.stack(got[column]), np.stack(own[column]), rtol=1e-5)
    assert got["train_epoch"].tolist() == [0] * len(got)
    names = run.aggregates().column("name").to_pylist()
    assert {"val/loss", "val/accuracy"} <= set(names)


def test_a_validation_loop_that_skips_rows_falls_back_to_the_own_pass(tmp_path: Path) -> None:
    tables = make_tables()
    callback, module, _ = fit_dict(tmp_path, tables, limit_val_batches=1)
    assert callback.reused == []
    assert callback.own_pass_reasons == [f"the loop saw 8 of the 13 rows of {tables['val'].name}"]
    assert module.calls == 3 + 1 + 1  # the own pass: one batch of 256
    got = callback.run.metrics("val", epoch=0)
    assert sorted(got.column("example_id").to_pylist()) == sorted(
        tables["val"].example_ids().tolist()
    )


@pytest.mark.filterwarnings("ignore:.*no `val_dataloader`.*")
def test_the_train_split_is_collected_every_train_every_epochs(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    tables = make_tables(n_train=8, n_val=4)
    train = tables["train"].map(to_pair)
    callback = TercetCallback(train=train, project="pl", train_every=2, reduce=None)
    trainer = L.Trainer(
        max_epochs=3, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
        default_root_dir=str(tmp_path),
    )  # fmt: skip
    trainer.fit(Classifier(), DataLoader(train, batch_size=8))
    assert callback.run is not None
    assert [(f["split"], f["epoch"]) for f in callback.run.metric_files()] == [("train", 0)]
    assert set(callback.run.metrics("train", epoch=0).column("train_epoch").to_pylist()) == {1}
