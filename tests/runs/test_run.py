"""Runs: creation and naming, parameters, logged scalars, status life cycle and crash handling."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import tercet
from tercet import storage
from tercet.errors import InvalidNameError, RunError
from tercet.runs import lifecycle, scalars
from tercet.runs import state as state_mod


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body))
    return path


def _run_script(path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, timeout=timeout
    )


def test_init_creates_a_running_run_and_makes_it_active(root: Path) -> None:
    run = tercet.init(project="p", run="baseline", parameters={"lr": 0.1, "layers": [2, 3]})
    assert tercet.active_run() is run
    assert run.url == str(root / "p" / "runs" / "baseline")
    assert run.status == "running"
    assert run.parameters == {"lr": 0.1, "layers": [2, 3]}
    descriptor = storage.read_json(storage.join(run.url, "object.json"))
    assert descriptor["format"] == "tercet.run"
    assert descriptor["format_version"] == 1
    assert {"name", "project", "created", "parameters"} <= set(descriptor)
    run.close()
    assert tercet.active_run() is None
    assert tercet.Run.open(run.url).status == "completed"


def test_taken_run_name_gets_a_numbered_suffix() -> None:
    first = tercet.init(project="p", run="baseline")
    second = tercet.init(project="p", run="baseline")
    third = tercet.init(project="p", run="baseline")
    assert [first.name, second.name, third.name] == ["baseline", "baseline-2", "baseline-3"]
    assert first.status == "completed"  # starting a new run closed the previous active one


def test_run_without_a_name_gets_a_readable_one() -> None:
    run = tercet.init(project="p")
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d\d", run.name)


def test_invalid_run_name_is_rejected() -> None:
    with pytest.raises(InvalidNameError, match="Run name"):
        tercet.init(project="p", run="../escape")


def test_parameters_fold_later_values_win() -> None:
    run = tercet.init(project="p", parameters={"lr": 0.1, "seed": 1})
    run.set_parameters({"lr": 0.01, "path": Path("/data"), "n": np.int64(3)})
    assert run.parameters == {"lr": 0.01, "seed": 1, "path": "/data", "n": 3}


def test_log_writes_long_format_scalars_with_steps_and_epochs() -> None:
    run = tercet.init(project="p")
    tercet.log({"loss": 1.0, "lr": np.float32(0.5)})
    tercet.log({"loss": 0.5}, epoch=0)
    tercet.log({"epoch": 1, "loss": 0.25})
    tercet.log({"acc": 0.9}, step=10)
    table = run.aggregates()
    assert table.schema == scalars.SCHEMA
    rows = [(r["step"], r["epoch"], r["name"], r["value"]) for r in table.to_pylist()]
    assert rows == [
        (0, None, "loss", 1.0),
        (0, None, "lr", 0.5),
        (1, 0, "loss", 0.5),
        (2, 1, "loss", 0.25),
        (10, None, "acc", 0.9),
    ]
    run.close()
    folder = storage.join(run.url, "metrics", "aggregate")
    assert all(n.endswith(".parquet") for n in storage.ls(folder))
    assert tercet.Run.open(run.url).aggregates().num_rows == 5


def test_log_rejects_what_is_not_a_number() -> None:
    tercet.init(project="p")
    with pytest.raises(RunError, match="'loss' must be a number"):
        tercet.log({"loss": "low"})
    with pytest.raises(RunError, match="must be a number"):
        tercet.log({"v": np.zeros(3)})


def test_log_without_an_active_run_says_to_call_init() -> None:
    with pytest.raises(RunError, match=r"tercet.init"):
        tercet.log({"loss": 1.0})


def test_context_manager_marks_failure_with_the_error() -> None:
    with pytest.raises(ValueError), tercet.init(project="p", run="r"):
        raise ValueError("boom")
    state = tercet.Run.open(tercet.list_runs("p")[0].url).state()
    assert state["status"] == "failed"
    assert state["error"] is not None and state["error"].startswith("ValueError: boom")


def test_a_run_silent_for_ten_minutes_reads_stale() -> None:
    run = tercet.init(project="p", heartbeat=False)
    descriptor = run.descriptor
    events = state_mod.read_events(run.url)
    now = state_mod.parse_time(events[-1]["time"])
    assert now is not None
    fresh = state_mod.fold(descriptor, events, now=now + timedelta(minutes=9))
    old = state_mod.fold(descriptor, events, now=now + timedelta(minutes=11))
    assert (fresh["status"], old["status"]) == ("running", "stale")


def test_heartbeats_are_written_and_logs_flushed_in_the_background(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scalars, "FLUSH_SECONDS", 0.05)
    run = tercet.init(project="p", heartbeat=False)
    run.log({"loss": 1.0})
    run.start_heartbeat(interval=0.05)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kinds = [e["type"] for e in state_mod.read_events(run.url)]
        flushed = storage.ls(storage.join(run.url, "metrics", "aggregate"))
        if "heartbeat" in kinds and flushed:
            break
        time.sleep(0.05)
    assert "heartbeat" in kinds and flushed


def test_event_files_sort_in_the_order_they_were_written() -> None:
    run = tercet.init(project="p", heartbeat=False)
    for i in range(50):
        run.set_parameters({"i": i})
    assert run.parameters["i"] == 49
    folder = storage.join(run.url, "events")
    names = storage.ls(folder)
    assert len(names) == 51
    # Read in name order, the events come back in the order they were written.
    events = [storage.read_json(storage.join(folder, n)) for n in sorted(names)]
    assert events[0]["type"] == "status"
    assert [e["parameters"]["i"] for e in events[1:]] == list(range(50))
    times = [e["time"] for e in events]
    assert times == sorted(times)


def test_inputs_are_stored_relative_to_the_run_and_read_absolute() -> None:
    table = tercet.Table.create({"x": [1, 2, 3]}, "p", "d", "t")
    run = tercet.init(project="p")
    run.add_input(table, "train")
    run.add_input(table, "train")  # recorded once
    events = [e for e in state_mod.read_events(run.url) if e["type"] == "input"]
    assert len(events) == 1
    assert events[0]["table"] == "../../datasets/d/tables/t"
    assert events[0]["table_id"] == table.id
    assert run.inputs == [{"table": table.url, "table_id": table.id, "split": "train"}]


def test_open_accepts_the_object_json_url_and_rejects_other_objects(root: Path) -> None:
    run = tercet.init(project="p", run="r")
    assert tercet.Run.open(run.url + "/object.json") == run
    table = tercet.Table.create({"x": [1]}, "p", "d", "t")
    with pytest.raises(RunError, match="not a Tercet run"):
        tercet.Run.open(table.url)
    with pytest.raises(FileNotFoundError, match="No run at"):
        tercet.Run.open(str(root / "p" / "runs" / "missing"))


def test_list_runs_oldest_first() -> None:
    names = [tercet.init(project="p", run=f"r{i}").name for i in range(3)]
    assert [r.name for r in tercet.list_runs("p")] == names


SCRIPT_HEAD = """
    import os, signal, sys, time
    import tercet
    run = tercet.init(project="p", run="r", parameters={"lr": 0.1})
    print(run.url, flush=True)
"""


def test_uncaught_exception_marks_the_run_failed(tmp_path: Path) -> None:
    script = _script(tmp_path, SCRIPT_HEAD + "    raise ValueError('boom')\n")
    done = _run_script(script)
    assert done.returncode == 1 and "ValueError: boom" in done.stderr
    state = tercet.Run.open(done.stdout.strip()).state()
    assert state["status"] == "failed"
    assert state["error"] is not None and "ValueError: boom" in state["error"]


def test_script_ending_without_close_is_completed(tmp_path: Path) -> None:
    script = _script(tmp_path, SCRIPT_HEAD + "    tercet.log({'loss': 1.0})\n")
    done = _run_script(script)
    assert done.returncode == 0, done.stderr
    run = tercet.Run.open(done.stdout.strip())
    assert run.status == "completed"
    assert run.aggregates().num_rows == 1  # the buffered scalar was flushed at exit


def test_sigterm_marks_the_run_failed(tmp_path: Path) -> None:
    script = _script(tmp_path, SCRIPT_HEAD + "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    state = tercet.Run.open(url).state()
    assert (state["status"], state["error"]) == ("failed", "terminated by SIGTERM")


def test_killed_process_leaves_a_stale_run_that_opens(tmp_path: Path) -> None:
    script = _script(tmp_path, SCRIPT_HEAD + "    os.kill(os.getpid(), signal.SIGKILL)\n")
    done = _run_script(script)
    assert done.returncode == -signal.SIGKILL
    run = tercet.Run.open(done.stdout.strip())
    assert run.status == "stale"  # its process is gone, though its last heartbeat is recent
    assert run.parameters == {"lr": 0.1}


def test_process_check_ignores_other_hosts_and_live_processes() -> None:
    me = state_mod.process_identity()
    assert not state_mod.process_gone(me)
    assert not state_mod.process_gone({**me, "host": "elsewhere"})
    assert state_mod.process_gone({**me, "pid_start": me.get("pid_start", 0) + 1}) == (
        "pid_start" in me
    )


def test_aggregate_table_is_empty_but_typed_before_any_log() -> None:
    run = tercet.init(project="p")
    assert run.aggregates().schema == scalars.SCHEMA
    assert run.aggregates().num_rows == 0
    assert isinstance(run.aggregates(), pa.Table)


def test_forked_children_do_not_close_the_parents_run() -> None:
    run = tercet.init(project="p")
    pid = os.fork()
    if pid == 0:  # the child exits through atexit-free os._exit, like DataLoader workers
        try:
            lifecycle._at_exit()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert run.status == "running"


def _inputs_at_publish(monkeypatch: pytest.MonkeyPatch) -> list[list[str | None]]:
    """The splits a run has recorded as inputs at the moment each metrics file is published."""
    from tercet.runs import metrics as metrics_mod

    seen: list[list[str | None]] = []
    close = metrics_mod.MetricsWriter.close

    def spying_close(self: metrics_mod.MetricsWriter) -> int:
        run = tercet.Run.open(str(Path(self.url).parents[2]))
        seen.append([i["split"] for i in run.state()["inputs"]])
        return close(self)

    monkeypatch.setattr(metrics_mod.MetricsWriter, "close", spying_close)
    return seen


def test_a_metrics_file_appears_only_after_its_input_is_recorded(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader woken by a new metrics file (the service's event stream) must find the run's input
    already recorded, or it shows the run without the table it trained on."""
    seen = _inputs_at_publish(monkeypatch)
    table = tercet.Table.create({"x": np.arange(6)}, "p", "d", "train")
    run = tercet.Run.create("p", "r")
    run.write_metrics(table, {"example_id": table.example_ids(), "loss": np.zeros(6)}, epoch=0)
    run.close("completed")
    assert seen == [["train"]]


def test_a_part_due_while_logging_is_written_on_the_writer_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A training step that logs never writes (and syncs) a scalars part itself."""
    monkeypatch.setattr(scalars, "FLUSH_SECONDS", 0.0)
    run = tercet.init(project="p", heartbeat=False)
    busy = threading.Event()
    run.write_in_background("busy", busy.wait)  # the one writer thread is busy
    aggregate = storage.join(run.url, "metrics", "aggregate")
    run.log({"loss": 1.0})
    run.log({"loss": 0.5})
    assert not storage.exists(aggregate) or not storage.ls(aggregate)
    busy.set()
    run.wait()
    assert storage.ls(aggregate)
    values = run.aggregates().column("value").to_pylist()
    assert values == [1.0, 0.5]
    run.close()
