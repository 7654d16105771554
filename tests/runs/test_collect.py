"""collect_metrics and the collectors: files, joins, roles and aggregates."""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import tercet
from tercet import storage
from tercet.errors import RunError
from tercet.runs import metrics as metrics_mod
from tercet.runs.collectors import Batch


def _table(name: str = "train", n: int = 50, seed: int = 0) -> tercet.Table:
    rng = np.random.default_rng(seed)
    return tercet.Table.create(
        {"features": rng.normal(size=(n, 4)).astype(np.float32),
         "label": rng.integers(0, 3, n).astype(np.int32)},
        "p", "d", name, value_maps={"label": ["cat", "dog", "eel"]},
    )  # fmt: skip


def to_sample(row: dict[str, Any]) -> tuple[torch.Tensor, int]:
    return torch.as_tensor(row["features"]), row["label"]


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(hidden=nn.Linear(4, 8), act=nn.ReLU(), out=nn.Linear(8, 3)))


def _collectors() -> list[tercet.Collector]:
    return [tercet.ClassificationCollector(), tercet.EmbeddingCollector("act")]


def test_one_file_per_call_joins_to_the_table_by_example_id() -> None:
    train, val = _table("train"), _table("val", n=20, seed=1)
    run = tercet.init(project="p")
    model = _model()
    for epoch in range(2):
        for table in (train, val):
            tercet.collect_metrics(table.map(to_sample), _collectors(), model, epoch=epoch)
    files = run.metric_files()
    assert [(f["split"], f["epoch"]) for f in files] == [
        ("train", 0), ("train", 1), ("val", 0), ("val", 1)
    ]  # fmt: skip
    assert all(
        f["url"].startswith(os.path.join(run.url, "metrics", f["split"], "epoch-000"))
        for f in files
    )
    metrics = run.metrics("train", epoch=1)
    # (Arrow's join keeps no list columns on either side; DuckDB, as the service uses, does.)
    joined = train.to_arrow(["example_id", "label"]).join(
        metrics.drop_columns(["embedding"]), "example_id"
    )
    assert joined.num_rows == train.num_rows == 50
    assert set(metrics.column_names) == {
        "example_id", "loss", "prediction", "confidence", "label_probability", "margin",
        "embedding",
    }  # fmt: skip
    assert metrics.schema.field("embedding").type == pa.list_(pa.float32(), 8)
    assert run.metrics("val").column("epoch").unique().to_pylist() == [0, 1]


def test_metrics_file_header_names_the_revision_and_the_roles() -> None:
    train = _table()
    run = tercet.init(project="p")
    result = tercet.collect_metrics(train.map(to_sample), _collectors(), _model(), epoch=3)
    run.wait()  # the file's last part is written in the background
    header = metrics_mod.read_header(result["url"])
    assert header["table"] == "../../datasets/d/tables/train"  # relative to the run folder
    assert header["table_id"] == train.id
    assert (header["epoch"], header["split"]) == (3, "train")
    roles = {c["name"]: c for c in header["columns"]}
    assert roles["example_id"]["role"] == "id"
    assert roles["loss"]["role"] == "loss"
    assert roles["confidence"]["role"] == "confidence"
    assert roles["prediction"]["role"] == "prediction"
    assert roles["prediction"]["value_map"] == train.schema["label"].to_json()["value_map"]
    assert roles["prediction"]["target"] == "label"
    assert roles["embedding"]["role"] == "embedding" and roles["embedding"]["layer"] == "act"
    assert roles["embedding"]["dims"] == 8
    assert run.inputs == [{"table": train.url, "table_id": train.id, "split": "train"}]


def test_aggregates_are_logged_per_epoch() -> None:
    train = _table()
    run = tercet.init(project="p")
    model = _model()
    result = tercet.collect_metrics(train.map(to_sample), _collectors(), model, epoch=0)
    # The expected values come from the logits, computed here apart from the collector: the
    # prediction is their argmax, the loss their cross-entropy, the confidence the top softmax.
    data = train.to_arrow(["example_id", "features", "label"])
    features = np.stack(data.column("features").to_numpy(zero_copy_only=False)).astype(np.float32)
    labels = data.column("label").to_numpy()
    with torch.no_grad():
        logits = model(torch.as_tensor(features))
    expected_pred = logits.argmax(dim=1).numpy()
    targets = torch.tensor(labels, dtype=torch.long)
    expected_loss_each = F.cross_entropy(logits, targets, reduction="none")
    expected_conf = F.softmax(logits, dim=1).max(dim=1).values.numpy()
    assert len(set(expected_pred.tolist())) > 1  # a model that predicts one class proves little
    metrics = run.metrics("train", epoch=0)
    written_ids = metrics.column("example_id").to_pylist()
    by_id = {i: k for k, i in enumerate(written_ids)}
    order = [by_id[i] for i in data.column("example_id").to_pylist()]
    written = metrics.take(order)
    np.testing.assert_array_equal(written.column("prediction").to_numpy(), expected_pred)
    np.testing.assert_allclose(written.column("confidence").to_numpy(), expected_conf, rtol=1e-5)
    np.testing.assert_allclose(
        written.column("loss").to_numpy(), expected_loss_each.numpy(), rtol=1e-5
    )
    expected_accuracy = float((expected_pred == labels).mean())
    expected_loss = float(expected_loss_each.mean())
    assert 0 < expected_accuracy < 1
    assert result["aggregates"]["accuracy"] == pytest.approx(expected_accuracy)
    assert result["aggregates"]["loss"] == pytest.approx(expected_loss, rel=1e-5)
    logged = {r["name"]: r for r in run.aggregates().to_pylist()}
    assert logged["train/accuracy"]["value"] == pytest.approx(expected_accuracy)
    assert logged["train/loss"]["epoch"] == 0


def test_loss_and_confidence_match_torch() -> None:
    train = _table()
    tercet.init(project="p")
    model = _model()
    collector = tercet.ClassificationCollector(probabilities=True)
    result = tercet.collect_metrics(train.map(to_sample), [collector], model, wait=True)
    metrics = storage.read_parquet(result["url"])
    x = torch.as_tensor(np.stack(train.to_arrow().column("features").to_numpy(False)))
    y = torch.tensor(train.to_arrow().column("label").to_numpy(), dtype=torch.long)
    with torch.no_grad():
        logits = model(x)
    expected = F.cross_entropy(logits, y, reduction="none").numpy()
    np.testing.assert_allclose(metrics.column("loss").to_numpy(), expected, rtol=1e-5)
    probs = np.array(metrics.column("probabilities").to_pylist())
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(metrics.column("confidence").to_numpy(), probs.max(1), rtol=1e-6)
    assert metrics.schema.field("probabilities").type == pa.list_(pa.float32())


def test_model_mode_is_restored_and_hooks_removed() -> None:
    train = _table()
    tercet.init(project="p")
    model = _model()
    model.train()
    seen_modes = []
    model.register_forward_pre_hook(lambda m, i: seen_modes.append(m.training))
    tercet.collect_metrics(train.map(to_sample), _collectors(), model, batch_size=16)
    assert seen_modes and not any(seen_modes)  # evaluated in eval mode …
    assert model.training  # … and handed back in train mode
    assert not model.get_submodule("act")._forward_hooks
    model.eval()
    tercet.collect_metrics(train.map(to_sample), _collectors(), model)
    assert not model.training


def test_epoch_defaults_to_one_past_the_last() -> None:
    train = _table()
    run = tercet.init(project="p")
    for _ in range(3):
        tercet.collect_metrics(train.map(to_sample), [tercet.ClassificationCollector()], _model())
    assert [f["epoch"] for f in run.metric_files("train")] == [0, 1, 2]


def test_function_collectors_and_plain_functions() -> None:
    train = _table()
    run = tercet.init(project="p")

    def margin(batch: Batch, outputs: torch.Tensor) -> dict[str, Any]:
        top2 = outputs.topk(2, dim=1).values
        return {"margin": top2[:, 0] - top2[:, 1], "label_copy": batch.column("label")}

    collector = tercet.FunctionCollector(
        margin, roles={"label_copy": "number"}, aggregate=["margin"]
    )
    result = tercet.collect_metrics(train.map(to_sample), [collector], _model(), split="custom")
    metrics = run.metrics("custom", epoch=0)
    assert metrics.column("label_copy").to_pylist() == train.to_arrow().column("label").to_pylist()
    assert result["aggregates"]["margin"] == pytest.approx(
        float(np.mean(metrics.column("margin").to_numpy())), rel=1e-5
    )

    def plain(batch: Batch, outputs: torch.Tensor) -> dict[str, Any]:
        return {"first_logit": outputs[:, 0]}

    tercet.collect_metrics(train.map(to_sample), plain, _model(), split="custom")
    assert "first_logit" in run.metrics("custom", epoch=1).column_names


def test_embedding_pooling_of_feature_maps() -> None:
    images = tercet.Table.create(
        {"pixels": np.random.default_rng(0).random((6, 16)).astype(np.float32)}, "p", "d", "img"
    )
    run = tercet.init(project="p")

    def to_image(row: dict[str, Any]) -> torch.Tensor:
        return torch.as_tensor(row["pixels"]).reshape(1, 4, 4)

    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 5, 3, padding=1), pool=nn.Flatten()))
    collectors = [
        tercet.EmbeddingCollector("conv", name="mean"),
        tercet.EmbeddingCollector(model.conv, name="flat", pool="flatten"),
    ]
    tercet.collect_metrics(images.map(to_image), collectors, model)
    metrics = run.metrics("img", epoch=0)
    mean = np.stack(metrics.column("mean").to_numpy(False))
    flat = np.stack(metrics.column("flat").to_numpy(False))
    assert mean.shape == (6, 5) and flat.shape == (6, 80)
    np.testing.assert_allclose(mean, flat.reshape(6, 5, 16).mean(2), rtol=1e-5)


def test_unknown_layer_lists_the_layers_there_are() -> None:
    train = _table()
    tercet.init(project="p")
    with pytest.raises(RunError, match=r"no layer 'fc'\. Layers: hidden, act, out"):
        tercet.collect_metrics(train.map(to_sample), [tercet.EmbeddingCollector("fc")], _model())


def test_two_collectors_writing_one_column_are_rejected() -> None:
    train = _table()
    tercet.init(project="p")
    twice = [tercet.ClassificationCollector(), tercet.ClassificationCollector()]
    with pytest.raises(RunError, match="prefix"):
        tercet.collect_metrics(train.map(to_sample), twice, _model())
    prefixed = [tercet.ClassificationCollector(), tercet.ClassificationCollector(prefix="b_")]
    result = tercet.collect_metrics(train.map(to_sample), prefixed, _model())
    assert {"loss", "b_loss", "accuracy", "b_accuracy"} <= set(result["aggregates"])


def test_a_failing_model_leaves_no_metrics_file() -> None:
    train = _table()
    run = tercet.init(project="p")

    class Breaks(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 3)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("out of memory")
            out: torch.Tensor = self.lin(x)
            return out

    with pytest.raises(RuntimeError, match="out of memory"):
        tercet.collect_metrics(train.map(to_sample), [tercet.ClassificationCollector()], Breaks(),
                               batch_size=8)  # fmt: skip
    assert run.metric_files() == []


def test_metrics_stream_in_row_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_mod, "ROW_GROUP", 16)
    train = _table(n=50)
    tercet.init(project="p")
    result = tercet.collect_metrics(
        train.map(to_sample), [tercet.ClassificationCollector()], _model(), batch_size=8, wait=True
    )
    meta = storage.read_parquet_metadata(result["url"])
    assert meta.num_rows == 50 and meta.num_row_groups >= 3


def test_background_write_failure_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    train = _table()
    run = tercet.init(project="p")

    def full_disk(self: metrics_mod.MetricsWriter) -> int:
        raise OSError("No space left on device")

    monkeypatch.setattr(metrics_mod.MetricsWriter, "close", full_disk)
    tercet.collect_metrics(train.map(to_sample), [tercet.ClassificationCollector()], _model())
    with pytest.raises(OSError, match="No space left"):
        run.close()
    state = run.state()
    assert state["status"] == "failed"
    assert state["error"] is not None and "No space left" in state["error"]
    assert run.metric_files() == []


def test_write_metrics_from_arrays() -> None:
    train = _table()
    run = tercet.init(project="p")
    ids = train.example_ids()
    url = run.write_metrics(
        train,
        {"example_id": ids, "score": np.linspace(0, 1, len(ids)), "vec": np.ones((len(ids), 3))},
        roles={"score": "confidence"},
        split="offline",
    )
    header = metrics_mod.read_header(url)
    roles = {c["name"]: c["role"] for c in header["columns"]}
    assert roles == {"example_id": "id", "score": "confidence", "vec": "embedding"}
    assert run.metrics("offline").num_rows == len(ids)


def test_aggregate_is_not_a_split_name() -> None:
    train = _table()
    tercet.init(project="p")
    with pytest.raises(RunError, match="reserved"):
        tercet.collect_metrics(train.map(to_sample), [tercet.ClassificationCollector()], _model(),
                               split="aggregate")  # fmt: skip


def test_collect_without_a_run_says_to_call_init() -> None:
    with pytest.raises(RunError, match="tercet.init"):
        tercet.collect_metrics(
            _table().map(to_sample), [tercet.ClassificationCollector()], _model()
        )


def test_a_collected_file_appears_only_after_its_input_is_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.runs.test_run import _inputs_at_publish

    seen = _inputs_at_publish(monkeypatch)
    train = _table()
    run = tercet.init(project="p")
    tercet.collect_metrics(train.map(to_sample), _collectors(), _model(), epoch=0, wait=True)
    run.close()
    assert seen == [["train"]]


def test_later_passes_over_one_table_read_no_column_again(monkeypatch: pytest.MonkeyPatch) -> None:
    table = _table()
    run = tercet.init(project="p")
    data = table.map(to_sample)
    tercet.collect_metrics(data, _collectors(), _model())
    reads: list[object] = []
    read = tercet.Table.to_arrow

    def counted(t: tercet.Table, columns: Any = None) -> Any:
        reads.append(columns)
        return read(t, columns)

    monkeypatch.setattr(tercet.Table, "to_arrow", counted)
    tercet.collect_metrics(data, _collectors(), _model())
    assert reads == [], "ids and labels of a table revision are read once, not every epoch"
    edited = table.set_values("label", table.example_ids()[:1], [2])
    tercet.collect_metrics(edited.map(to_sample), _collectors(), _model())
    assert ["label"] in reads, "a new revision is read afresh"
    assert run.metrics("train", epoch=2).column("example_id").to_pylist() == (
        edited.example_ids().tolist()
    )


def test_a_batch_the_writer_refuses_fails_the_pass_and_writes_nothing() -> None:
    import threading

    train = _table()
    run = tercet.init(project="p")
    calls = [0]

    def ragged(batch: Batch, outputs: Any) -> dict[str, Any]:
        calls[0] += 1
        n = len(batch) - (calls[0] == 3)  # one value short in the third batch
        return {"score": np.zeros(n, dtype=np.float32)}

    with pytest.raises(RunError, match="differ in length"):
        tercet.collect_metrics(train.map(to_sample), [tercet.ClassificationCollector(), ragged],
                               _model(), batch_size=8)  # fmt: skip
    run.wait()
    assert run.metric_files() == []
    assert not [t for t in threading.enumerate() if t.name.startswith("tercet-encode")]
