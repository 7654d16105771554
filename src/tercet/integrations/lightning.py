"""PyTorch Lightning: per-sample metrics at the end of every validation and training epoch.

::

    callback = TercetCallback(train=train.map(to_tensor), val=val.map(to_tensor),
                              embedding_layer="backbone.2")
    L.Trainer(max_epochs=10, callbacks=[callback]).fit(module, train_loader, val_loader)

Importing this module imports ``lightning``; ``import tercet`` does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tercet.dependencies import require
from tercet.errors import RunError
from tercet.integrations import hooks
from tercet.runs.collect import CollectResult, table_example_ids
from tercet.runs.harvest import Harvest, batch_example_ids, score_rows
from tercet.runs.run import Run
from tercet.tables.table import Table

require("lightning", "tercet.integrations.lightning")  # the install hint when missing
from lightning.pytorch import Callback  # noqa: E402


class TercetCallback(Callback):  # type: ignore[misc]
    """Records a Lightning run in Tercet: hyperparameters, the scalars logged with
    ``self.log``, and per-sample metrics of each split at the end of its epochs.

    Parameters
    ----------
    train, val
        What to collect on: a Tercet table or ``table.map(transform)`` giving the module's
        input; a split left ``None`` is not collected. Under DDP each rank collects its share.
    collectors
        Default: :class:`~tercet.ClassificationCollector` with probabilities, and an
        :class:`~tercet.EmbeddingCollector` on ``embedding_layer`` when one is given.
    embedding_layer, pool
        Layer name or leaf-layer index whose output is the embedding, and how it is pooled.
    train_every
        Collect the train split every this many epochs (``None``: never).
    project, run_name, root
        For the run started when none is active (:func:`tercet.init`).
    reduce, dims
        Project embeddings when training ends (``None``: do not).
    batch_size, inputs, collate_fn
        For the collection passes, as in :func:`tercet.collect_metrics`.
    reuse_outputs
        Collect the val split from the validation loop's own outputs when it can:
        ``validation_step`` returns the logits (or a dict with ``logits``), and the batches
        carry ``example_id`` or come from a loader reading ``val``'s table in order (no
        shuffle, one process). No second inference pass. Otherwise, and with ``False``, the
        callback runs its own pass over ``val`` (:attr:`own_pass_reasons` says why).
    """

    def __init__(
        self,
        train: Any = None,
        val: Any = None,
        *,
        collectors: hooks.CollectorsArg | None = None,
        embedding_layer: str | int | Any | None = None,
        pool: str | Callable[[Any], Any] = "mean",
        train_every: int | None = 1,
        project: str = "default",
        run_name: str | None = None,
        root: str | None = None,
        reduce: str | None = "pca",
        dims: int = 3,
        batch_size: int = 256,
        inputs: Callable[[Any], Any] | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        reuse_outputs: bool = True,
    ) -> None:
        if train_every is not None and train_every < 1:
            raise RunError(f"train_every must be ≥ 1 or None; received {train_every}.")
        self.data = {"train": train, "val": val}
        self.collectors = (
            collectors
            if collectors is not None
            else hooks.default_collectors(embedding_layer, pool)
        )
        self.train_every = train_every
        self.project, self.run_name, self.root = project, run_name, root
        self.reduce, self.dims = reduce, dims
        self.options: dict[str, Any] = {
            "batch_size": batch_size, "inputs": inputs, "collate_fn": collate_fn,
        }  # fmt: skip
        self.reuse_outputs = reuse_outputs
        self.run: Run | None = None
        self.results: list[CollectResult] = []
        self.reused: list[int] = []
        """Epochs of the val split collected from the validation loop's outputs."""
        self.own_pass_reasons: list[str] = []
        """Why a val epoch needed the callback's own pass."""
        self._harvest: Harvest | None = None
        self._in_order: np.ndarray | None = None  # example_id of the val loader's rows, in order
        self._seen = 0

    # -- Lightning events ----------------------------------------------------------------------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        parameters: dict[str, Any] = {
            k: v for k, v in dict(getattr(pl_module, "hparams", {}) or {}).items()
        }
        parameters.update(
            max_epochs=trainer.max_epochs,
            precision=str(trainer.precision),
            strategy=type(trainer.strategy).__name__,
            world_size=int(trainer.world_size),
            model_class=type(pl_module).__name__,
        )
        self.run = hooks.start_run(self.project, self.run_name, parameters, self.root)

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._drop_harvest()
        if trainer.sanity_checking or not self.reuse_outputs or self.run is None:
            return
        if self.data["val"] is None:
            return
        table = self._table("val")
        self._in_order, self._seen = _ids_in_order(trainer, table), 0
        self._harvest = Harvest(self.run, table, "val", self.collectors, pl_module)

    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
        harvest = self._harvest
        if harvest is None:
            return
        if dataloader_idx:
            harvest.reason = harvest.reason or "there are several validation dataloaders"
            return
        ids = None
        if self._in_order is not None and batch_example_ids(batch, outputs) is None:
            # (inputs, target) batches of a loader reading the table in order: the rows are
            # the next ones of the table.
            n = score_rows(outputs) or 0
            ids, self._seen = self._in_order[self._seen : self._seen + n], self._seen + n
        harvest.add(batch, outputs, ids)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        self._log(trainer)
        harvest, self._harvest = self._harvest, None
        if harvest is not None:
            result = harvest.finish(_constants(trainer))
            if result is not None:
                self.results.append(result)
                self.reused.append(result["epoch"])
                return
            self.own_pass_reasons.append(str(harvest.reason))
        self._collect("val", trainer, pl_module)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._drop_harvest()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._log(trainer)
        if self.train_every is not None and (trainer.current_epoch + 1) % self.train_every == 0:
            self._collect("train", trainer, pl_module)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.run is not None and hooks.has_embeddings(self.collectors):
            hooks.finish(self.run, self.reduce, self.dims)

    # -- helpers -------------------------------------------------------------------------------
    def _log(self, trainer: Any) -> None:
        if self.run is None:
            return
        values = hooks.numbers(trainer.callback_metrics)
        if values:
            self.run.log(values, step=int(trainer.global_step), epoch=int(trainer.current_epoch))

    def _drop_harvest(self) -> None:
        if self._harvest is not None:
            self._harvest.close()
            self._harvest = None

    def _table(self, split: str) -> Table:
        data = self.data[split]
        table = data if isinstance(data, Table) else getattr(data, "table", None)
        if not isinstance(table, Table):
            raise RunError(
                f"TercetCallback({split}=...) takes a Tercet table or table.map(transform); "
                f"received {type(data).__name__}."
            )
        return table

    def _collect(self, split: str, trainer: Any, pl_module: Any) -> None:
        data = self.data[split]
        if data is None or self.run is None:
            return
        table = self._table(split)
        result = hooks.collect(
            self.run, data, table, self.collectors, pl_module, split=split,
            constants=_constants(trainer), **self.options,
        )  # fmt: skip
        self.results.append(result)


def _ids_in_order(trainer: Any, table: Table) -> np.ndarray | None:
    """The ``example_id`` of each row the validation loader yields, when it reads ``table``
    (or ``table.map(...)``) front to back in one process; None otherwise (shuffled, sharded by
    a ``DistributedSampler``, another dataset)."""
    from torch.utils.data import DataLoader, SequentialSampler

    loader = getattr(trainer, "val_dataloaders", None)
    if not isinstance(loader, DataLoader) or not isinstance(loader.sampler, SequentialSampler):
        return None
    dataset: Any = loader.dataset
    if getattr(dataset, "table", None) is not table and dataset is not table:
        return None
    if int(getattr(trainer, "world_size", 1)) != 1:
        return None
    return table_example_ids(table)


def _constants(trainer: Any) -> Mapping[str, Any]:
    out: dict[str, Any] = {"step": int(trainer.global_step), "train_epoch": trainer.current_epoch}
    optimizers = getattr(trainer, "optimizers", None) or []
    if optimizers and optimizers[0].param_groups:
        out["lr"] = float(optimizers[0].param_groups[0]["lr"])
    return out
