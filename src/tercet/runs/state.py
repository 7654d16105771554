"""A run's state is the fold of its immutable event files; nothing about a run is ever rewritten.

Each event is one small JSON file in ``runs/<run>/events/``, named ``<time>-<uid>.json`` so that a
listing sorts by time. Folding them in name order gives the status, parameters and inputs. A writer
that dies leaves its last status at ``running``; readers turn that into ``stale`` once its newest
event is older than :data:`STALE_AFTER`, or at once when the run's process is known to be gone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from tercet import format, storage
from tercet.errors import StorageError
from tercet.runs import eventlog, folder

STALE_AFTER = timedelta(minutes=10)
STATUSES = ("running", "completed", "failed", "stale")


class RunInput(TypedDict):
    """A table revision a run read, with the split it was used as."""

    table: str
    table_id: str | None
    split: str | None


class RunState(TypedDict):
    """What the events of a run add up to."""

    status: str
    parameters: dict[str, Any]
    inputs: list[RunInput]
    started: str | None
    ended: str | None
    error: str | None
    last_seen: str | None
    host: str | None
    pid: int | None


def process_identity() -> dict[str, Any]:
    """Host, pid and (on Linux) the pid's start tick, so a reader can tell a reused pid apart."""
    out: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    start = _pid_start(os.getpid())
    if start is not None:
        out["pid_start"] = start
    return out


def _pid_start(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 of proc(5), counted from field 3
    except (IndexError, ValueError):
        return None


def process_gone(event: Mapping[str, Any]) -> bool:
    """True when ``event`` was written by a process on this host that no longer runs."""
    if event.get("host") != socket.gethostname() or not isinstance(event.get("pid"), int):
        return False
    pid = int(event["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    except OSError:
        return False
    recorded = event.get("pid_start")
    if isinstance(recorded, int):
        current = _pid_start(pid)
        if current is not None and current != recorded:
            return True  # the pid was reused by another process
        if current is not None and _is_zombie(pid):
            return True
    return False


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().decode("ascii", "replace").rsplit(")", 1)[-1].split()
    except OSError:
        return False
    return bool(fields) and fields[0] == "Z"


def read_events(run_url: str) -> list[dict[str, Any]]:
    """Every readable event of a run, in name (= time) order. Events whose names or whose run's
    final summary tell what they hold are not fetched (:mod:`tercet.runs.eventlog`)."""
    events = folder.events_folder(run_url)
    names = sorted(n for n in storage.ls(events) if n.endswith(".json"))
    file_urls = [storage.join(events, n) for n in names]

    def fetch(urls: list[str]) -> dict[str, Any]:
        if storage.is_local(run_url) or len(urls) < 8:
            return {u: _load(u) for u in urls}
        # Object stores answer each GET in tens of milliseconds: fetch together.
        return storage.read_json_many(urls, workers=16)

    values = eventlog.read_runs([(None, file_urls)], fetch, {})
    out = []
    for url in file_urls:
        data = values.get(url)
        if isinstance(data, dict):  # removed under us, or damaged by hand: one event cannot spoil
            out.append(with_time(storage.basename(url), data))
    return out


def _load(url: str) -> Any:
    try:
        return storage.read_json(url)
    except StorageError as exc:
        return exc


def with_time(name: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """``event`` (read from the file ``name``) with a ``time``: its own, else its name's."""
    return {"time": format.time_of_name(name), **event}


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def fold(
    descriptor: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    run_url: str | None = None,
    now: datetime | None = None,
    stale_after: timedelta = STALE_AFTER,
    check_process: bool = True,
) -> RunState:
    """Fold a run's ``object.json`` and its events (in name order) into a :class:`RunState`.

    Table URLs in input events are stored relative to the run folder; with ``run_url`` they are
    returned absolute.
    """
    state: RunState = {
        "status": "running",
        "parameters": dict(descriptor.get("parameters") or {}),
        "inputs": [],
        "started": descriptor.get("created"),
        "ended": None,
        "error": None,
        "last_seen": descriptor.get("created"),
        "host": descriptor.get("host"),
        "pid": descriptor.get("pid"),
    }
    running_event: Mapping[str, Any] = descriptor
    seen_inputs: set[tuple[str, str | None]] = set()
    for event in events:
        kind = event.get("type")
        if isinstance(event.get("time"), str):
            state["last_seen"] = event["time"]
        if kind == "status":
            status = event.get("status")
            if status not in ("running", "completed", "failed"):
                continue
            state["status"] = str(status)
            if status == "running":
                running_event = event
                state["ended"], state["error"] = None, None
                state["host"], state["pid"] = event.get("host"), event.get("pid")
            else:
                state["ended"] = event.get("time")
                error = event.get("error")
                state["error"] = str(error) if error is not None else None
        elif kind == "parameters" and isinstance(event.get("parameters"), Mapping):
            state["parameters"].update(event["parameters"])
        elif kind == "input" and isinstance(event.get("table"), str):
            split = event.get("split")
            key = (str(event["table"]), split if isinstance(split, str) else None)
            if key in seen_inputs:
                continue
            seen_inputs.add(key)
            table = key[0]
            if run_url is not None:
                table = folder.expand_url(table, run_url)
            table_id = event.get("table_id")
            state["inputs"].append(
                {
                    "table": table,
                    "table_id": str(table_id) if table_id is not None else None,
                    "split": key[1],
                }
            )
    if state["status"] == "running":
        last = parse_time(state["last_seen"])
        current = now or format.now()
        silent = last is not None and current - last > stale_after
        if silent or (check_process and process_gone(running_event)):
            state["status"] = "stale"
    return state
