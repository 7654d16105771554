"""The framework-free part of the integrations: which run a callback records into, what it
keeps of a log dict, and the error for a Hugging Face dataset that lost its example_id."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

import tercet
from tercet import storage
from tercet.errors import RunError
from tercet.integrations import hooks


def test_a_run_the_script_started_is_adopted_with_the_parameters_added() -> None:
    mine = tercet.init(project="p", run="mine", parameters={"seed": 1})
    adopted = hooks.start_run("p", None, {"lr": 0.1})
    assert adopted is mine and mine.parameters == {"seed": 1, "lr": 0.1}


def test_training_twice_in_one_process_makes_two_runs() -> None:
    first = hooks.start_run("p", "fit", {"lr": 0.1})
    second = hooks.start_run("p", "fit", {"lr": 0.2})
    assert (first.name, second.name) == ("fit", "fit-2")
    assert first.status == "completed" and second.parameters == {"lr": 0.2}


def test_only_finite_numbers_of_a_log_dict_are_kept() -> None:
    logs = {"loss": torch.tensor(0.5), "lr": 1e-3, "epoch": 1, "flag": True, "name": "x",
            "nan": float("nan"), "np": np.float32(2.0)}  # fmt: skip
    assert hooks.numbers(logs) == {"loss": 0.5, "lr": 1e-3, "epoch": 1.0, "np": 2.0}


def test_a_hugging_face_dataset_that_lost_its_example_id_says_how_to_keep_it() -> None:
    datasets = pytest.importorskip("datasets")
    table = tercet.Table.create({"x": np.arange(4, dtype=np.float32)}, "p", "d", "train")
    run = tercet.init(project="p")
    ids = table.to_arrow(["example_id", "x"]).to_pydict()
    lost = datasets.Dataset.from_dict(ids).remove_columns(["example_id"])
    with pytest.raises(RunError, match=r"no 'example_id' column \(columns: x\).*remove_columns"):
        hooks.collect(run, lost, table, tercet.ClassificationCollector(), torch.nn.Linear(1, 2),
                      split="train")  # fmt: skip
    run.wait()
    assert run.metric_files() == []


@pytest.mark.parametrize("mixed", [False, True])
def test_a_harvested_pass_is_written_once_per_id_with_each_batchs_values(mixed: bool) -> None:
    """The batches a framework ran are joined into one write: every column lines up with its
    example_id, the padding repeat (a DistributedSampler's) is dropped, and a column whose type
    changes from batch to batch (``mixed``: int32, then int64) is still written, batch by
    batch."""
    from tercet.runs.harvest import Harvest

    table = tercet.Table.create({"x": np.arange(5, dtype=np.float32)}, "p", "d", "val")
    run = tercet.init(project="p", heartbeat=False)
    ids = np.asarray(table.example_ids())

    def double(batch: Any, outputs: Any) -> dict[str, Any]:
        kind = pa.int32() if mixed and batch.example_ids[0] == ids[0] else pa.int64()
        return {"twice": pa.array(2 * batch.example_ids, kind), "score": outputs[:, 0] * 1.0,
                "vec": outputs}  # fmt: skip

    harvest = Harvest(run, table, "val", double, torch.nn.Identity())
    # The last batch repeats ids[0] (a DistributedSampler's padding) with other values: the
    # first sight wins.
    repeat, moved = np.array([ids[4], ids[0]]), np.array([ids[4], ids[0] + 1000])
    for part, values in ((ids[:2], ids[:2]), (ids[2:4], ids[2:4]), (repeat, moved)):
        outputs = torch.as_tensor(np.stack([values, values + 1], axis=1), dtype=torch.float32)
        harvest.add({"example_id": part}, outputs)
    result = harvest.finish({"step": 7})
    run.wait()
    assert result is not None and result["rows"] == 5
    assert storage.read_parquet(result["url"]).num_rows == 5  # the repeat not written
    got = run.metrics("val", epoch=result["epoch"]).to_pydict()
    assert got["example_id"] == ids.tolist()
    assert got["twice"] == (2 * ids).tolist()
    assert got["score"] == ids.astype(float).tolist()
    assert got["vec"] == [[float(i), float(i + 1)] for i in ids]
    assert got["step"] == [7] * 5


@pytest.mark.parametrize("mixed", [False, True])
def test_a_harvested_classification_is_computed_once_and_lines_up_with_its_ids(
    mixed: bool,
) -> None:
    """ClassificationCollector holds each batch's scores and computes the pass at the end: its
    columns sit in collector order between the others, each value on its own example_id (also
    when another column's type changes between batches, ``mixed``, and rows are written batch
    by batch), and its aggregates count every sample once."""
    from tercet.runs.harvest import Harvest

    table = tercet.Table.create(
        {"x": np.arange(6, dtype=np.float32), "label": np.array([0, 1, 1, 0, 1, 0])},
        "p", "d", "val", value_maps={"label": ["a", "b"]},
    )  # fmt: skip
    run = tercet.init(project="p", heartbeat=False)
    ids = np.asarray(table.example_ids())

    def before(batch: Any, outputs: Any) -> dict[str, Any]:
        kind = pa.int32() if mixed and batch.example_ids[0] == ids[0] else pa.int64()
        return {"first": pa.array(batch.example_ids, kind)}

    def after(batch: Any, outputs: Any) -> dict[str, Any]:
        return {"last": batch.example_ids * 10}

    classify = tercet.ClassificationCollector(probabilities=True)
    harvest = Harvest(run, table, "val", [before, classify, after], torch.nn.Identity())
    rng = np.random.default_rng(1)
    logits = torch.as_tensor(rng.normal(size=(6, 2)), dtype=torch.float32)
    for at in (0, 2, 4):
        harvest.add({"example_id": ids[at : at + 2]}, logits[at : at + 2])
    result = harvest.finish()
    run.wait()
    assert result is not None and result["rows"] == 6
    got = run.metrics("val", epoch=result["epoch"])
    assert got.column_names[:3] == ["example_id", "first", "loss"]
    assert got.column_names[-1] == "last"
    by_id = got.to_pandas().set_index("example_id").loc[ids]
    probs = torch.softmax(logits, 1).numpy()
    labels = np.array([0, 1, 1, 0, 1, 0])
    np.testing.assert_allclose(np.stack(by_id["probabilities"]), probs, rtol=1e-5)
    np.testing.assert_allclose(by_id["loss"], -np.log(probs[np.arange(6), labels]), rtol=1e-5)
    assert by_id["prediction"].tolist() == probs.argmax(1).tolist()
    assert by_id["last"].tolist() == (ids * 10).tolist()
    accuracy = float((probs.argmax(1) == labels).mean())
    assert result["aggregates"]["accuracy"] == pytest.approx(accuracy)
