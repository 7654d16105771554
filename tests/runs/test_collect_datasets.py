"""collect_metrics beyond Tercet datasets: any dataset whose samples carry example_id (in any
order), model outputs of every shape, constants, MetricSpec, layers by index; and the errors,
which write nothing."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import tercet
from tercet.errors import RunError, UnknownExampleError
from tercet.runs import metrics as metrics_mod
from tercet.runs.metrics import MetricSpec


def _table(n: int = 12) -> tercet.Table:
    rng = np.random.default_rng(0)
    return tercet.Table.create(
        {"features": rng.normal(size=(n, 4)).astype(np.float32),
         "label": rng.integers(0, 3, n).astype(np.int32)},
        "p", "d", "train", value_maps={"label": ["cat", "dog", "eel"]},
    )  # fmt: skip


class Rows(torch.utils.data.Dataset[dict[str, Any]]):
    """A dataset made outside Tercet, in its own order, whose samples carry example_id."""

    def __init__(self, table: tercet.Table, order: np.ndarray) -> None:
        data = table.to_arrow(["example_id", "features"]).to_pydict()
        self.ids = np.asarray(data["example_id"])[order]
        self.x = np.asarray(data["features"], dtype=np.float32)[order]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"example_id": int(self.ids[i]), "x": torch.as_tensor(self.x[i])}

    def example_ids(self) -> np.ndarray:
        return np.asarray(self.ids)


class DictModel(nn.Module):
    """Answers like a Hugging Face model: a mapping with ``logits``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(OrderedDict(hidden=nn.Linear(4, 8), act=nn.ReLU()))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.body(x)), "hidden": self.body(x)}


def _files(run: tercet.Run) -> list[str]:
    run.wait()
    return [f["url"] for f in run.metric_files()]


def test_a_dataset_in_its_own_order_is_matched_to_the_table_by_example_id() -> None:
    table = _table()
    run = tercet.init(project="p")
    order = np.random.default_rng(1).permutation(table.num_rows)
    model = DictModel()
    tercet.collect_metrics(
        Rows(table, order), [tercet.ClassificationCollector(probabilities=True)], model,
        table=table, inputs=lambda b: b["x"], batch_size=5, wait=True,
    )  # fmt: skip
    got = run.metrics("train", epoch=0).to_pydict()
    labels = dict(zip(*table.to_arrow(["example_id", "label"]).to_pydict().values(), strict=True))
    for eid, loss, probs in zip(got["example_id"], got["loss"], got["probabilities"], strict=True):
        # The loss is that of the table's label for this very id, not of the row in its place.
        assert loss == pytest.approx(-np.log(probs[labels[eid]]), rel=1e-4)
    assert sorted(got["example_id"]) == sorted(table.example_ids().tolist())


def test_a_sample_the_table_does_not_hold_is_an_error_and_writes_nothing() -> None:
    table = _table()
    run = tercet.init(project="p")
    rows = Rows(table, np.arange(table.num_rows))
    rows.ids = rows.ids.copy()
    rows.ids[3] = 999_999
    with pytest.raises(UnknownExampleError, match="999999"):
        tercet.collect_metrics(rows, tercet.ClassificationCollector(), DictModel(),
                               table=table, inputs=lambda b: b["x"])  # fmt: skip
    assert _files(run) == []


def test_a_dataset_without_example_ids_is_an_error_naming_the_fix() -> None:
    table = _table()
    tercet.init(project="p")
    with pytest.raises(RunError, match="table=<the Table"):
        tercet.collect_metrics([1, 2], tercet.ClassificationCollector(), DictModel())
    with pytest.raises(RunError, match="example_id"):
        tercet.collect_metrics([1, 2], tercet.ClassificationCollector(), DictModel(), table=table)


def test_an_output_without_class_scores_names_the_key_expected_and_what_came() -> None:
    table = _table()
    run = tercet.init(project="p")

    def features(batch: Any) -> Any:
        return batch[0]

    class NoLogits(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"hidden": x, "loss": x.sum()}

    with pytest.raises(RunError, match=r"'logits'.*dict with keys \['hidden', 'loss'\]"):
        tercet.collect_metrics(
            table.map(lambda r: (torch.as_tensor(r["features"]), r["label"])),
            tercet.ClassificationCollector(), NoLogits(), inputs=features,
        )  # fmt: skip
    assert _files(run) == []


def test_constants_are_columns_and_named_in_the_header() -> None:
    table = _table()
    run = tercet.init(project="p")
    result = tercet.collect_metrics(
        table.map(lambda r: torch.as_tensor(r["features"])), tercet.ClassificationCollector(),
        DictModel(), constants={"lr": np.float32(0.5), "phase": "warmup"}, wait=True,
    )  # fmt: skip
    got = run.metrics("train", epoch=0)
    assert set(got.column("lr").to_pylist()) == {0.5}
    assert set(got.column("phase").to_pylist()) == {"warmup"}
    assert metrics_mod.read_header(result["url"])["constants"] == {"lr": 0.5, "phase": "warmup"}


def test_a_constant_that_is_not_one_value_is_an_error_and_writes_nothing() -> None:
    table = _table()
    run = tercet.init(project="p")
    with pytest.raises(RunError, match="Constant 'lr' is a list"):
        tercet.collect_metrics(table.map(lambda r: torch.as_tensor(r["features"])),
                               tercet.ClassificationCollector(), DictModel(),
                               constants={"lr": [0.1, 0.2]})  # fmt: skip
    with pytest.raises(RunError, match="column"):
        tercet.collect_metrics(table.map(lambda r: torch.as_tensor(r["features"])),
                               tercet.ClassificationCollector(), DictModel(),
                               constants={"loss": 1.0})  # fmt: skip
    assert _files(run) == []


def test_metric_spec_names_describes_hides_and_maps_a_function_collectors_column() -> None:
    table = _table()
    run = tercet.init(project="p")

    def second_choice(batch: Any, outputs: Any) -> dict[str, Any]:
        return {"runner_up": outputs["logits"].argsort(1)[:, -2].int()}

    spec = tercet.MetricSpec("prediction", value_map="label", display_name="Runner-up",
                             description="The second most likely class.", hidden=True)  # fmt: skip
    collector = tercet.FunctionCollector(second_choice, roles={"runner_up": spec})
    result = tercet.collect_metrics(table.map(lambda r: torch.as_tensor(r["features"])),
                                    collector, DictModel(), wait=True)  # fmt: skip
    column = next(c for c in metrics_mod.read_header(result["url"])["columns"]
                  if c["name"] == "runner_up")  # fmt: skip
    assert column["role"] == "prediction"
    assert [column["value_map"][k]["name"] for k in ("0", "1", "2")] == ["cat", "dog", "eel"]
    assert column["display_name"] == "Runner-up" and column["hidden"] is True
    assert column["description"] == "The second most likely class."
    assert run.metrics("train", epoch=0).num_rows == table.num_rows


def test_a_value_map_named_after_a_missing_column_is_an_error() -> None:
    table = _table()
    run = tercet.init(project="p")
    collector = tercet.FunctionCollector(
        lambda b, o: {"p": o["logits"].argmax(1).int()},
        roles={"p": MetricSpec("prediction", value_map="species")},
    )
    with pytest.raises(RunError, match="value_map='species'.*label"):
        tercet.collect_metrics(table.map(lambda r: torch.as_tensor(r["features"])), collector,
                               DictModel())  # fmt: skip
    assert _files(run) == []


def test_embeddings_from_a_layer_given_by_index() -> None:
    table = _table()
    run = tercet.init(project="p")
    model = DictModel()  # leaf layers: body.hidden, body.act, head
    result = tercet.collect_metrics(
        table.map(lambda r: torch.as_tensor(r["features"])),
        [tercet.ClassificationCollector(), tercet.EmbeddingCollector(-2)], model, wait=True,
    )  # fmt: skip
    header = metrics_mod.read_header(result["url"])
    column = next(c for c in header["columns"] if c["name"] == "embedding")
    assert column["layer"] == "body.act" and column["dims"] == 8
    with torch.no_grad():
        x = torch.as_tensor(table.to_arrow(["features"]).column(0).to_pylist()[:1])
        expected = model.body(x)[0].numpy()
    first = run.metrics("train", epoch=0).column("embedding")[0].as_py()
    assert np.allclose(first, expected, atol=1e-6)
    with pytest.raises(RunError, match="out of range: the model has 3 leaf layers"):
        tercet.collect_metrics(table.map(lambda r: torch.as_tensor(r["features"])),
                               tercet.EmbeddingCollector(5), model)  # fmt: skip
