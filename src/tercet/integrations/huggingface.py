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
from tercet.runs.collect import CollectResult
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
        self.run: Run | None = None
        self.results: list[CollectResult] = []

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

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
               **kwargs: Any) -> None:  # fmt: skip
        if self.run is None or not logs:
            return
        values = hooks.numbers(logs)
        values.pop("epoch", None)
        if values:
            self.run.log(values, step=int(state.global_step), epoch=_epoch_index(state))

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._collect("eval", kwargs.get("model"), args, state)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.train_every is None:
            return
        done = round(state.epoch or 0)
        if done >= 1 and done % self.train_every == 0:
            self._collect("train", kwargs.get("model"), args, state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.run is not None and hooks.has_embeddings(self.collectors):
            hooks.finish(self.run, self.reduce, self.dims)

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
        result = hooks.collect(
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
            constants={"step": int(state.global_step), "train_epoch": float(state.epoch or 0.0)},
        )
        self.results.append(result)


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


def _epoch_index(state: Any) -> int:
    """The zero-based epoch a Trainer is in (``state.epoch`` counts up from 0.0 in fractions)."""
    done = float(state.epoch or 0.0)
    return max(0, int(done - 1e-9)) if done > 0 else 0


def _eval_split(table: Table, tables: Mapping[str, Table | None]) -> str:
    train = tables.get("train")
    return "val" if train is not None and train.table_name == table.table_name else table.table_name
