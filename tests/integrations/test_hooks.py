"""The framework-free part of the integrations: which run a callback records into, what it
keeps of a log dict, and the error for a Hugging Face dataset that lost its example_id."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tercet
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
