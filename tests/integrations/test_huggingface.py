"""A real one-epoch Hugging Face Trainer run, image and text classification, through
TercetCallback: the run holds the Trainer's parameters and scalars, per-sample metrics of each
split with every example_id once, and reduced embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tercet
from tercet import Table

datasets = pytest.importorskip("datasets")
transformers = pytest.importorskip("transformers")

from tercet.integrations.huggingface import TercetCallback  # noqa: E402

WORDS = ["good", "great", "fine", "bad", "awful", "poor", "movie", "plot", "the", "a"]


def _args(tmp_path: Path, **extra: Any) -> Any:
    return transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=1, per_device_train_batch_size=8,
        per_device_eval_batch_size=16, eval_strategy="epoch", save_strategy="no",
        logging_steps=1, report_to=[], use_cpu=True, disable_tqdm=True, seed=0,
        learning_rate=5e-3, **extra,
    )  # fmt: skip


def _hf(table: Table, columns: list[str]) -> Any:
    rows = table.to_arrow(["example_id", *columns]).to_pydict()
    return datasets.Dataset.from_dict(rows)


def _check_run(run: tercet.Run, tables: dict[str, Table], embedding: bool) -> None:
    params = run.parameters
    assert params["learning_rate"] == 5e-3 and params["num_train_epochs"] == 1
    names = set(run.aggregates().column("name").to_pylist())
    assert {"loss", "eval_loss", "learning_rate"} <= names
    assert {"val/loss", "val/accuracy", "train/loss"} <= names
    files = run.metric_files()
    assert sorted((f["split"], f["epoch"]) for f in files) == [("train", 0), ("val", 0)]
    for split, table in tables.items():
        got = run.metrics(split, epoch=0)
        ids = got.column("example_id").to_numpy()
        assert sorted(ids.tolist()) == sorted(table.example_ids().tolist())  # each once
        assert {"loss", "prediction", "probabilities", "step", "train_epoch"} <= set(
            got.column_names
        )
        assert set(got.column("step").to_pylist()) == {2}  # 16 training rows, batches of 8
        if embedding:
            assert "embedding" in got.column_names
    if embedding:
        projected = run.projections("val", dims=3, epoch=0)
        assert sorted(projected.column("example_id").to_pylist()) == sorted(
            tables["val"].example_ids().tolist()
        )


def test_text_classification_trains_one_epoch_and_records_the_run(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]"
    )
    rng = np.random.default_rng(0)
    tables = {}
    for split, n in (("train", 16), ("val", 12)):
        labels = rng.integers(0, 2, n)
        texts = [
            " ".join(rng.choice(WORDS[:3] if y else WORDS[3:6], 2)) + " the movie" for y in labels
        ]
        tables[split] = Table.create(
            {"text": texts, "label": labels.astype(np.int64)}, "hf", "reviews", split,
            value_maps={"label": ["neg", "pos"]},
        )  # fmt: skip

    def tokenize(batch: dict[str, Any]) -> Any:
        return tokenizer(batch["text"], truncation=True, max_length=16)

    # example_id survives .map: only the raw text is removed.
    train_ds = _hf(tables["train"], ["text", "label"]).map(tokenize, batched=True,
                                                           remove_columns=["text"])  # fmt: skip
    val_ds = _hf(tables["val"], ["text", "label"]).map(tokenize, batched=True,
                                                       remove_columns=["text"])  # fmt: skip
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, num_labels=2,
    )  # fmt: skip
    transformers.set_seed(0)
    model = transformers.BertForSequenceClassification(config)
    trainer = transformers.Trainer(
        model=model, args=_args(tmp_path), train_dataset=train_ds, eval_dataset=val_ds,
        data_collator=transformers.DataCollatorWithPadding(tokenizer),
    )  # fmt: skip
    callback = TercetCallback.attach(
        trainer, train_table=tables["train"], eval_table=tables["val"],
        embedding_layer="bert.pooler", project="hf", run_name="bert-tiny",
    )  # fmt: skip
    trainer.train()
    run = callback.run
    assert run is not None and run.name == "bert-tiny"
    _check_run(run, tables, embedding=True)
    assert callback.reused == [0], callback.own_pass_reasons
    val = run.metrics("val", epoch=0)
    assert val.schema.field("embedding").type.list_size == 16


def test_image_classification_trains_one_epoch_and_records_the_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tables = {}
    for split, n in (("train", 16), ("val", 12)):
        labels = rng.integers(0, 3, n)
        pixels = rng.normal(size=(n, 1, 8, 8)).astype(np.float32) + labels[:, None, None, None]
        tables[split] = Table.create(
            {"pixel_values": [p.tolist() for p in pixels], "label": labels.astype(np.int64)},
            "hf", "shapes", split, value_maps={"label": ["a", "b", "c"]},
        )  # fmt: skip
    train_ds = _hf(tables["train"], ["pixel_values", "label"])
    val_ds = _hf(tables["val"], ["pixel_values", "label"])
    config = transformers.ViTConfig(
        image_size=8, patch_size=4, num_channels=1, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, num_labels=3,
    )  # fmt: skip
    transformers.set_seed(0)
    model = transformers.ViTForImageClassification(config)
    trainer = transformers.Trainer(
        model=model, args=_args(tmp_path), train_dataset=train_ds, eval_dataset=val_ds
    )
    callback = TercetCallback.attach(
        trainer, train_table=tables["train"], eval_table=tables["val"],
        embedding_layer="vit.layernorm", pool=lambda x: x[:, 0], project="hf",
    )  # fmt: skip
    trainer.train()
    run = callback.run
    assert run is not None
    _check_run(run, tables, embedding=True)
    # The eval split came from the Trainer's evaluation, not a second pass: the same values as
    # the own pass over the same model gives, for every example_id.
    assert callback.reused == [0] and callback.own_pass_reasons == []
    collectors = [tercet.ClassificationCollector(probabilities=True),
                  tercet.EmbeddingCollector("vit.layernorm", pool=lambda x: x[:, 0])]  # fmt: skip
    tercet.collect_metrics(val_ds.with_format("torch"), collectors, model, split="own", run=run,
                           table=tables["val"], forward=lambda m, b: m(**b),
                           inputs=lambda b: {"pixel_values": b["pixel_values"]})  # fmt: skip
    got, own = (run.metrics(s, epoch=0).to_pandas().set_index("example_id").sort_index()
                for s in ("val", "own"))  # fmt: skip
    assert (got["prediction"] == own["prediction"]).all()
    np.testing.assert_allclose(got["loss"], own["loss"], rtol=1e-4, atol=1e-6)
    for column in ("probabilities", "embedding"):
        np.testing.assert_allclose(np.stack(got[column]), np.stack(own[column]), rtol=1e-4,
                                   atol=1e-6)  # fmt: skip
