"""Tables as training data: the Dataset, transforms, and the sampler that closes the loop."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import tercet
from tercet.errors import RunError
from tercet.torch import TableDataset, TableSampler


def _table(n: int = 20) -> tercet.Table:
    return tercet.Table.create(
        {"x": np.arange(n, dtype=np.float32), "label": np.arange(n, dtype=np.int32) % 3},
        "p", "d", "t", value_maps={"label": ["a", "b", "c"]},
    )  # fmt: skip


def double_x(row: dict[str, Any]) -> tuple[float, int]:
    return row["x"] * 2, row["label"]


def add_one(sample: tuple[float, int]) -> tuple[float, int]:
    return sample[0] + 1, sample[1]


def test_dataset_rows_are_dicts_with_images_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (4, 4), color=i * 50).save(folder / f"{i}.png")
    tercet.aliases.set("IMAGES", str(folder))
    table = tercet.Table.create(
        {"image": [str(folder / f"{i}.png") for i in range(3)]}, "p", "d", "img",
        roles={"image": "image"},
    )  # fmt: skip
    assert table.to_arrow(["image"]).column("image")[0].as_py() == "<IMAGES>/0.png"
    ds = table.as_dataset()
    assert len(ds) == 3
    row = ds[2]
    assert set(row) == {"example_id", "image", "weight"}
    assert isinstance(row["image"], Image.Image) and row["image"].getpixel((0, 0)) == 100
    assert isinstance(row["example_id"], int)
    assert isinstance(ds, torch.utils.data.Dataset)


def test_map_chains_transforms_and_survives_pickling() -> None:
    ds = _table().map(double_x).map(add_one)
    assert ds[3] == (7.0, 0)
    blob = pickle.dumps(ds)
    assert len(blob) < 20_000  # the descriptor travels, not the rows
    assert pickle.loads(blob)[4] == (9.0, 1)


def test_dataloader_workers_read_the_table(tmp_path: Path) -> None:
    ds = _table(12).map(double_x)
    loader = DataLoader(ds, batch_size=4, num_workers=2)
    xs = torch.cat([x for x, _ in loader])
    assert xs.tolist() == [float(2 * i) for i in range(12)]


def test_python_aliases_travel_to_spawned_workers(tmp_path: Path) -> None:
    tercet.aliases.set("SOMEWHERE", str(tmp_path))
    blob = pickle.dumps(_table().as_dataset())
    tercet.aliases.clear()
    pickle.loads(blob)
    assert tercet.aliases.get("SOMEWHERE") == str(tmp_path)


def test_dataset_reads_the_latest_revision_by_default() -> None:
    source = _table(5)
    edited = source.set_values("x", [0], [100.0])
    assert source.as_dataset().table == edited
    assert source.as_dataset()[0]["x"] == 100.0
    assert source.as_dataset(latest=False)[0]["x"] == 0.0


def test_loop_closes_deleted_and_zero_weight_rows_are_never_sampled() -> None:
    source = _table(40)
    with source.edit(message="cleaned in the dashboard") as e:
        e.delete_rows([3, 17])
        e.set_weights([5, 6, 30], 0.0)
    assert tercet.Table.open(source.url).latest() == e.result
    ds = source.map(double_x)  # what the next run does: the latest revision, transformed
    ids = ds.example_ids()
    removed = {3, 17, 5, 6, 30}
    for weighted in (True, False):
        sampler = ds.sampler(weighted=weighted, seed=1)
        for _ in range(3):  # several epochs
            drawn = {int(ids[i]) for i in sampler}
            assert drawn.isdisjoint(removed)
            assert drawn == set(range(40)) - removed
    loader = DataLoader(ds, batch_size=8, sampler=source.sampler(seed=2))
    seen = {x // 2 for xs, _ in loader for x in xs.tolist()}
    assert seen.isdisjoint({float(i) for i in removed})


def test_weighted_sampler_draws_in_proportion_to_weight() -> None:
    sampler = TableSampler(np.array([1.0, 3.0, 0.0]), num_samples=20_000, seed=0)
    counts = Counter(sampler)
    assert counts[2] == 0
    assert counts[1] / counts[0] == pytest.approx(3.0, rel=0.1)


def test_equal_weights_give_each_row_once_per_epoch() -> None:
    sampler = TableSampler(np.ones(10, np.float32), seed=0)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second  # reshuffled each epoch
    assert list(TableSampler(np.ones(10), seed=0)) == first  # and reproducible


def test_unweighted_sampler_can_keep_zero_weight_rows() -> None:
    sampler = TableSampler(np.array([0.0, 1.0, 2.0]), weighted=False, exclude_zero_weight=False)
    assert sorted(sampler) == [0, 1, 2]


def test_all_zero_weights_are_an_error() -> None:
    with pytest.raises(RunError, match="nothing to train on"):
        TableSampler(np.zeros(3))


def test_using_a_table_during_a_run_records_it_as_an_input() -> None:
    table = _table()
    run = tercet.init(project="p")
    table.as_dataset()
    assert run.inputs == [{"table": table.url, "table_id": table.id, "split": "t"}]
    run.close()


def test_dataset_of_selected_columns() -> None:
    ds: TableDataset[dict[str, Any]] = TableDataset(_table(), columns=["label"])
    assert ds[4] == {"label": 1}
