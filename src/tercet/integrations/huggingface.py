"""Hugging Face Trainer: per-sample metrics at every evaluation, without writing a loop.

::

    trainer = Trainer(model, args, train_dataset=train_ds, eval_dataset=val_ds, ...)
    TercetCallback.attach(trainer, train_table=train, eval_table=val, embedding_layer="bert.pooler")
    trainer.train()

The datasets the Trainer gets are made from Tercet tables (``Dataset.from_dict`` of the rows,
then ``.map(tokenize)``) and keep their ``example_id`` column; the callback hands the model only
the columns its ``forward`` accepts, batched by the Trainer's own collator.

Importing this module imports ``transformers``; ``import tercet`` does not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from tercet.dependencies import require
from tercet.errors import RunError
from tercet.integrations import hooks
from tercet.runs import distributed
from tercet.runs.collect import CollectResult, dataset_example_ids
from tercet.runs.harvest import Harvest
from tercet.runs.run import Run
from tercet.tables.table import Table

require("transformers", "tercet.integrations.huggingface")  # the install hint when missing
from transformers import TrainerCallback  # noqa: E402

LABEL_KEYS = ("label", "labels", "label_ids")
"""Batch keys the model is not given: the collectors read ground truth from the table."""


class TercetCallback(TrainerCallback):  # type: ignore[misc]
    """Records a Trainer's run in Tercet: parameters from ``TrainingArguments``, every logged
    scalar, and per-sample metrics of the eval split at each evaluation and of the train split
    every ``train_every`` epochs.

    Parameters
    ----------
    trainer
        The Trainer whose datasets, collator and model are used (:meth:`attach` sets it).
    train_table, eval_table
        The Tercet tables behind ``trainer.train_dataset`` / ``trainer.eval_dataset``; a split
        without a table is not collected.
    collectors
        Default: :class:`~tercet.ClassificationCollector` with probabilities, and an
        :class:`~tercet.EmbeddingCollector` on ``embedding_layer`` when one is given.
    embedding_layer
        Layer name (``"bert.pooler"``) or leaf-layer index whose output is the embedding.
    pool
        How the embedding layer's output becomes one vector (see :class:`EmbeddingCollector`).
    train_every
        Collect the train split every this many epochs (``None``: never).
    project, run_name, root
        For the run started when none is active (:func:`tercet.init`).
    reduce, dims
        Project embeddings when training ends (``None``: do not).
    batch_size
        Of the collection passes; default ``per_device_eval_batch_size``.
    reuse_outputs
        Collect the eval split from the Trainer's own evaluation forward passes (one process;
        the Trainer feeds the eval dataset in order): no second inference pass. Under several
        processes, or when the evaluation did not see every row once, the callback runs its
        own pass (:attr:`own_pass_reasons` says why).
    """

    def __init__(
        self,
        trainer: Any = None,
        *,
        train_table: Table | None = None,
        eval_table: Table | None = None,
        collectors: hooks.CollectorsArg | None = None,
        embedding_layer: str | int | Any | None = None,
        pool: str | Callable[[Any], Any] = "mean",
        train_every: int | None = 1,
        project: str = "default",
        run_name: str | None = None,
        root: str | None = None,
        reduce: str | None = "pca",
        dims: int = 3,
        batch_size: int | None = None,
        reuse_outputs: bool = True,
    ) -> None:
        if train_every is not None and train_every < 1:
            raise RunError(f"train_every must be ≥ 1 or None; received {train_every}.")
        self.trainer = trainer
        self.tables = {"train": train_table, "eval": eval_table}
        self.collectors = (
            collectors
            if collectors is not None
            else hooks.default_collectors(embedding_layer, pool)
        )
        self.train_every = train_every
        self.project, self.run_name, self.root = project, run_name, root
        self.reduce, self.dims = reduce, dims
        self.batch_size = batch_size
        self.reuse_outputs = reuse_outputs
        self.run: Run | None = None
        self.results: list[CollectResult] = []
        self.reused: list[int] = []
        """Epochs of the eval split collected from the Trainer's evaluation outputs."""
        self.own_pass_reasons: list[str] = []
        """Why an evaluation needed the callback's own pass."""
        self._harvest: Harvest | None = None
        self._eval_ids: Any = None
        self._seen = 0
        self._listening = False
        self._hook: Any = None

    @classmethod
    def attach(cls, trainer: Any, **options: Any) -> TercetCallback:
        """A callback bound to ``trainer`` and added to it; ``options`` as for the class."""
        callback = cls(trainer, **options)
        trainer.add_callback(callback)
        return callback

    # -- Trainer events ------------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model = kwargs.get("model")
        parameters: dict[str, Any] = dict(args.to_sanitized_dict())
        if model is not None:
            parameters["model_class"] = type(model).__name__
        self.run = hooks.start_run(self.project, self.run_name, parameters, self.root)
        self._arm(model)

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
               **kwargs: Any) -> None:  # fmt: skip
        if self.run is None or not logs:
            return
        values = hooks.numbers(logs)
        values.pop("epoch", None)
        if values:
            self.run.log(values, step=int(state.global_step), epoch=_epoch_index(state))

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        harvest, self._harvest = self._harvest, None
        if harvest is not None:
            if self._seen != len(self._eval_ids):
                harvest.reason = harvest.reason or (
                    f"the evaluation saw {self._seen} of {len(self._eval_ids)} rows"
                )
            result = harvest.finish(_constants(state))
            if result is not None:
                self.results.append(result)
                self.reused.append(result["epoch"])
            else:
                self.own_pass_reasons.append(str(harvest.reason))
                self._collect("eval", kwargs.get("model"), args, state)
        else:
            self._collect("eval", kwargs.get("model"), args, state)
        if self._hook is None:  # trainer.evaluate() before training: listen from now on
            self._arm(kwargs.get("model"))

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.train_every is None:
            return
        done = round(state.epoch or 0)
        if done >= 1 and done % self.train_every == 0:
            self._collect("train", kwargs.get("model"), args, state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._disarm()
        if self.run is not None and hooks.has_embeddings(self.collectors):
            hooks.finish(self.run, self.reduce, self.dims)

    # -- reading the evaluation's own outputs ------------------------------------------------
    def _arm(self, model: Any) -> None:
        """Listen to the evaluations' forward passes, when they can be told apart. The pass
        starts at the first forward in eval mode (a pre-hook, so the collectors' layer hooks
        see that forward too) and ends at ``on_evaluate``."""
        self._disarm()
        table, dataset = self.tables["eval"], getattr(self.trainer, "eval_dataset", None)
        if not self.reuse_outputs or self.run is None or model is None or table is None:
            return
        if dataset is None or distributed.world().distributed:
            return  # several processes: each sees an interleaved share; the own pass shards
        try:
            self._eval_ids = dataset_example_ids(dataset)
        except RunError:
            return  # the own pass reports it
        self._seen, self._listening = 0, True
        self._hook = (
            model.register_forward_pre_hook(self._before_forward),
            model.register_forward_hook(self._after_forward),
        )

    def _disarm(self) -> None:
        for handle in self._hook or ():
            handle.remove()
        self._hook = None
        if self._harvest is not None:
            self._harvest.close()
            self._harvest = None

    def _before_forward(self, module: Any, args: Any) -> None:
        if self._harvest is not None or not self._listening or module.training:
            return
        if self.run is not None and self.tables["eval"] is not None:
            table = self.tables["eval"]
            self._seen = 0
            self._harvest = Harvest(self.run, table, _eval_split(table, self.tables),
                                    self.collectors, module)  # fmt: skip

    def _after_forward(self, module: Any, args: Any, output: Any) -> None:
        harvest = self._harvest
        if harvest is None or not self._listening or module.training:
            return  # a training step, or the callback's own pass
        logits = output.get("logits") if isinstance(output, Mapping) else output
        shape = getattr(logits, "shape", None)
        n = int(shape[0]) if shape else 0
        ids = self._eval_ids[self._seen : self._seen + n]
        self._seen += n
        if len(ids) != n:
            harvest.reason = harvest.reason or "the evaluation ran more samples than the eval set"
            return
        harvest.add({"example_id": ids}, output)

    # -- collection ----------------------------------------------------------------------------
    def _collect(self, which: str, model: Any, args: Any, state: Any) -> None:
        table = self.tables[which]
        if table is None or model is None:
            return
        if self.trainer is None:
            raise RunError(
                "TercetCallback needs the Trainer for its datasets and collator: add it with "
                "TercetCallback.attach(trainer, ...)."
            )
        dataset = getattr(self.trainer, f"{which}_dataset", None)
        if dataset is None:
            raise RunError(f"The Trainer has no {which}_dataset to collect metrics on.")
        if self.run is None:  # trainer.evaluate() without training first
            self.on_train_begin(args, state, None, model=model)
        assert self.run is not None
        accepted = model_inputs(model)
        self._listening = False  # this pass is not the Trainer's evaluation
        try:
            result = self._own_pass(which, model, args, state, dataset, table, accepted)
        finally:
            self._listening = True
        self.results.append(result)

    def _own_pass(self, which: str, model: Any, args: Any, state: Any, dataset: Any,
                  table: Table, accepted: set[str]) -> CollectResult:  # fmt: skip
        assert self.run is not None
        return hooks.collect(
            self.run,
            _feedable(dataset, accepted),
            table,
            self.collectors,
            model,
            split=table.table_name if which == "train" else _eval_split(table, self.tables),
            batch_size=self.batch_size or int(args.per_device_eval_batch_size),
            collate_fn=self.trainer.data_collator,
            inputs=lambda batch: {k: v for k, v in batch.items() if k in accepted},
            forward=lambda m, batch: m(**batch),
            constants=_constants(state),
        )


def model_inputs(model: Any) -> set[str]:
    """Keyword arguments of ``model.forward`` a batch may fill (labels left out)."""
    names = set(inspect.signature(model.forward).parameters)
    return names - set(LABEL_KEYS) - {"self", "kwargs", "return_dict"}


def _feedable(dataset: Any, accepted: set[str]) -> Any:
    """``dataset`` without the columns a collator cannot batch (raw text, file paths …): what
    the model accepts, and ``example_id``, which tells the rows apart."""
    names = getattr(dataset, "column_names", None)
    if not isinstance(names, list) or "example_id" not in names:
        return dataset
    unused = [c for c in names if c not in accepted and c != "example_id"]
    return dataset.remove_columns(unused) if unused else dataset


def _constants(state: Any) -> dict[str, Any]:
    return {"step": int(state.global_step), "train_epoch": float(state.epoch or 0.0)}


def _epoch_index(state: Any) -> int:
    """The zero-based epoch a Trainer is in (``state.epoch`` counts up from 0.0 in fractions)."""
    done = float(state.epoch or 0.0)
    return max(0, int(done - 1e-9)) if done > 0 else 0


def _eval_split(table: Table, tables: Mapping[str, Table | None]) -> str:
    train = tables.get("train")
    return "val" if train is not None and train.table_name == table.table_name else table.table_name
