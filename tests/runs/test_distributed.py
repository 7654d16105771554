"""Many processes, one run: shares, the launch key, joining, what a joined rank records, and an
epoch read as all its parts. (Real torchrun launches: tests/integrations/test_ddp.py.)"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import tercet
from tercet.errors import RunError
from tercet.runs import distributed, state
from tercet.runs.distributed import World
from tests.fixtures.service import RunningService


def _table(n: int = 10) -> tercet.Table:
    return tercet.Table.create({"x": np.arange(n, dtype=np.float32)}, "p", "d", "train")


@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("count", [0, 1, 2, 7, 13])
def test_shares_cover_every_row_exactly_once(count: int, size: int) -> None:
    rows = [i for rank in range(size) for i in range(*distributed.shard(count, World(rank, size)))]
    assert rows == list(range(count))
    sizes = [len(range(*distributed.shard(count, World(r, size)))) for r in range(size)]
    assert max(sizes) - min(sizes) <= 1  # no padding, and no rank gets much more than another


def test_aggregates_of_the_shares_are_weighted_by_their_rows() -> None:
    combined = distributed.combine_aggregates([(3, {"loss": 1.0, "acc": 1.0}), (1, {"loss": 5.0})])
    assert combined == {"loss": 2.0, "acc": 1.0}


def _torchrun_env(monkeypatch: pytest.MonkeyPatch, rank: int, port: str = "29500") -> None:
    for name, value in {"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
                        "TORCHELASTIC_RUN_ID": "none"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)


def test_the_launch_key_is_the_same_on_every_rank_and_differs_between_launches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert distributed.launch_key() is None  # not launched
    _torchrun_env(monkeypatch, 0)
    key = distributed.launch_key()
    _torchrun_env(monkeypatch, 1)
    assert distributed.launch_key() == key
    _torchrun_env(monkeypatch, 1, port="29501")
    assert distributed.launch_key() != key
    monkeypatch.setenv(distributed.KEY_VARIABLE, "job-42")
    assert distributed.launch_key() != key and distributed.launch_key() is not None


def test_a_rank_that_does_not_fit_the_world_size_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RunError, match="RANK=2 does not fit WORLD_SIZE=2"):
        distributed.world()


def test_every_rank_of_a_launch_attaches_to_the_run_rank_0_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tercet.Run.create("p", "train")  # an earlier run holds the name: rank 0 gets train-2
    _torchrun_env(monkeypatch, 0)
    first = tercet.init(project="p", run="train", parameters={"lr": 0.1})
    assert first.name == "train-2" and first.rank == 0
    _torchrun_env(monkeypatch, 1)
    second = tercet.init(project="p", run="train", parameters={"lr": 99})
    assert second.url == first.url and second.rank == 1
    assert tercet.active_run() is second
    assert second.parameters == {"lr": 0.1}  # rank 0's
    assert [r.name for r in tercet.list_runs("p")] == ["train", "train-2"]


def test_a_rank_waiting_for_a_run_that_never_comes_says_how_to_fix_it(root: object) -> None:
    with pytest.raises(RunError, match="waited 0 s for rank 0.*TERCET_RUN_KEY"):
        distributed.find_run(str(root), ["nothing"], "0" * 32, timeout=0)


def test_a_joined_rank_writes_its_parts_and_failures_but_no_scalars_inputs_or_completion() -> None:
    table = _table()
    created = tercet.Run.create("p", "ddp")
    created.set_world(0, 2)
    joined = tercet.Run.open(created.url)
    joined.join(1, 2)
    joined.log({"loss": 1.0}, step=0)
    joined.flush()
    joined.set_parameters({"lr": 5})
    joined.add_input(table, "train")
    url = joined.write_metrics(table, {"example_id": table.example_ids()[5:], "m": np.ones(5)})
    header = tercet.runs.metrics.read_header(url)
    assert header["part"] == {"rank": 1, "ranks": 2}
    joined.close("completed")
    folded = created.state()
    assert folded["status"] == "running" and folded["parameters"] == {}
    assert folded["inputs"] == []
    assert created.aggregates().num_rows == 0
    again = tercet.Run.open(created.url)
    again.join(1, 2)
    again.close("failed", error="CUDA out of memory")
    folded = created.state()
    assert folded["status"] == "failed" and folded["error"] == "rank 1: CUDA out of memory"
    events = [e for e in state.read_events(created.url) if e["type"] == "rank"]
    assert [e["rank"] for e in events] == [1, 1] and all("pid" in e for e in events)


def test_an_epoch_is_all_its_parts_and_a_later_file_wins_for_repeated_ids() -> None:
    table = _table()
    run = tercet.Run.create("p", "parts")
    ids = table.example_ids()
    run.write_metrics(table, {"example_id": ids[:4], "m": np.zeros(4)}, epoch=0)
    run.write_metrics(table, {"example_id": ids[4:], "m": np.ones(6)}, epoch=0)
    got = run.metrics("train", epoch=0)
    assert sorted(got.column("example_id").to_pylist()) == sorted(ids.tolist())
    run.write_metrics(table, {"example_id": ids[:2], "m": np.full(2, 7.0)}, epoch=0)
    by_id = dict(zip(*run.metrics("train", epoch=0).to_pydict().values(), strict=True))
    assert len(by_id) == 10 and by_id[ids[0]] == 7.0 and by_id[ids[3]] == 0.0
    assert by_id[ids[9]] == 1.0
    assert run.metrics("train").num_rows == 10  # all epochs: the same rule per epoch


def test_the_service_serves_an_epoch_as_all_its_parts(service: RunningService) -> None:
    table = _table()
    ids = table.example_ids()
    created = tercet.Run.create("p", "ddp")
    created.set_world(0, 2)
    joined = tercet.Run.open(created.url)
    joined.join(1, 2)
    created.write_metrics(table, {"example_id": ids[:5], "m": np.zeros(5)}, epoch=0)
    joined.write_metrics(table, {"example_id": ids[5:], "m": np.ones(5)}, epoch=0)
    source = {"run": created.url, "split": "train", "epoch": 0}
    response = service.client.post("/api/rows", json={"source": source, "columns": ["m"]})
    assert response.status_code == 200, response.text
    got = pa.ipc.open_stream(response.content).read_all()
    assert got.column("example_id").to_pylist() == ids.tolist()
    assert got.column("m").to_pylist() == [0.0] * 5 + [1.0] * 5
