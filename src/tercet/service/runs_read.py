"""Reading run folders as written by ``tercet.init()``/``collect_metrics()`` (``docs/format.md``).

A run is immutable files only: ``object.json``, ``events/*.json`` folded in name order into the
run's state, and Parquet metrics files whose footer carries the ``tercet`` key-value metadata.
:class:`RunReader` keeps what it has read keyed by URL and re-lists folders on every
:meth:`RunReader.refresh`, so a re-scan reads only the files that are new.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tercet import storage, urls
from tercet.errors import TercetError
from tercet.runs.state import fold

EPOCH_FILE = re.compile(r"^epoch-(\d+)-.*\.parquet$")
AGGREGATE = "aggregate"
PROJECTIONS = "projections"


@dataclass(frozen=True)
class MetricsFile:
    """One per-sample metrics file and what its footer says."""

    url: str
    split: str
    epoch: int
    table: str | None  # absolute URL of the input revision
    table_id: str | None
    columns: tuple[dict[str, Any], ...]
    error: str | None = None

    @property
    def name(self) -> str:
        return storage.basename(self.url)


@dataclass
class RunState:
    """Everything the index and the API need to know about one run."""

    url: str
    name: str
    project: str
    created: str = ""
    is_run: bool = False  # object.json is a readable run descriptor
    status: str = "running"
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, str | None]] = field(default_factory=list)
    failure: str | None = None
    last_seen: str | None = None
    metrics: dict[str, list[MetricsFile]] = field(default_factory=dict)  # split -> files
    projections: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> m -> urls
    aggregates: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) if self.errors else None

    def epochs(self, split: str) -> list[int]:
        """Epochs of ``split`` with at least one readable metrics file."""
        return sorted({f.epoch for f in self.metrics.get(split, []) if f.error is None})

    def files_for(self, split: str, epoch: int) -> list[MetricsFile]:
        """The readable metrics files of one epoch, oldest first."""
        return [f for f in self.metrics.get(split, []) if f.epoch == epoch and f.error is None]

    def projection_names(self) -> list[str]:
        """Projection folders (``pca-2d`` …) found in any split."""
        return sorted({m for by_method in self.projections.values() for m in by_method})

    def fingerprint(self) -> tuple[Any, ...]:
        """Changes whenever the run gains a file or changes status (drives index events)."""
        files = tuple(sorted(f.url for fs in self.metrics.values() for f in fs))
        proj = tuple(
            sorted(u for by in self.projections.values() for us in by.values() for u in us)
        )
        return (self.status, files, proj, tuple(self.aggregates))


def _time_from_name(name: str) -> str | None:
    # Event files are named <YYYYmmddTHHMMSSffffff>-<uid>.json; events without "time" use it.
    try:
        return datetime.strptime(name[:22], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC).isoformat()
    except ValueError:
        return None


def fold_events(
    state: RunState,
    descriptor: dict[str, Any],
    events: list[tuple[str, Any]],
    now: datetime | None = None,
) -> None:
    """Fold ``(file name, event)`` pairs into ``state`` with the runs module's own fold."""
    good: list[dict[str, Any]] = []
    for name, event in sorted(events, key=lambda e: e[0]):
        if not isinstance(event, dict):
            state.errors.append(f"event {name} is not a JSON object")
            continue
        good.append({"time": _time_from_name(name), **event})
    try:
        folded = fold(descriptor, good, run_url=state.url, now=now)
    except TercetError as exc:  # an input URL with an alias that is not set here
        state.errors.append(str(exc))
        folded = fold(descriptor, [e for e in good if e.get("type") != "input"], now=now)
    state.status = folded["status"]
    state.parameters = dict(folded["parameters"])
    state.inputs = [{"table": i["table"], "split": i["split"]} for i in folded["inputs"]]
    state.failure = folded["error"]
    state.last_seen = folded["last_seen"]


def resolve(url: str, run_url: str) -> str:
    """Absolute URL of a URL stored in a run (relative ones are relative to the run folder)."""
    try:
        return urls.expand(url, base=run_url, project_url=storage.parent(storage.parent(run_url)))
    except TercetError:
        return url


def read_metrics_file(url: str, split: str, run_url: str) -> MetricsFile:
    """The footer of one metrics file (the only part the index reads)."""
    match = EPOCH_FILE.match(storage.basename(url))
    epoch = int(match.group(1)) if match else -1
    try:
        meta = storage.read_parquet_metadata(url).metadata or {}
        raw = meta.get(b"tercet")
        info = json.loads(raw) if raw else {}
        if not isinstance(info, dict):
            raise ValueError("the 'tercet' metadata is not a JSON object")
    except (TercetError, OSError, ValueError) as exc:
        return MetricsFile(url, split, epoch, None, None, (), error=f"{url}: {exc}")
    if isinstance(info.get("epoch"), int):
        epoch = int(info["epoch"])
    table = info.get("table")
    raw_columns = info.get("columns")
    columns: list[Any] = raw_columns if isinstance(raw_columns, list) else []
    return MetricsFile(
        url=url,
        split=split,
        epoch=epoch,
        table=resolve(table, run_url) if isinstance(table, str) else None,
        table_id=str(info["table_id"]) if info.get("table_id") else None,
        columns=tuple(c for c in columns if isinstance(c, dict) and "name" in c),
        error=None if isinstance(table, str) else f"{url}: no input table in its metadata",
    )


class RunReader:
    """Reads runs incrementally: immutable files are read once and remembered by URL."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[str, Any]] = {}
        self._events: dict[str, Any] = {}
        self._files: dict[str, MetricsFile] = {}
        self._lock = threading.Lock()

    def _json(self, url: str, cache: dict[str, Any]) -> Any:
        with self._lock:
            if url in cache:
                return cache[url]
        data = storage.read_json(url)
        with self._lock:
            cache[url] = data
        return data

    def read(self, run_url: str, project: str, now: datetime | None = None) -> RunState:
        """The current state of the run folder at ``run_url``."""
        state = RunState(url=run_url, name=storage.basename(run_url), project=project)
        descriptor: dict[str, Any] = {}
        try:
            obj = self._json(storage.join(run_url, "object.json"), self._objects)
            if not isinstance(obj, dict) or obj.get("format") != "tercet.run":
                raise TercetError(f"{run_url}/object.json is not a Tercet run descriptor")
            descriptor = obj
            state.is_run = True
            state.created = str(obj.get("created") or "")
        except TercetError as exc:
            state.errors.append(str(exc))
        events: list[tuple[str, Any]] = []
        events_url = storage.join(run_url, "events")
        try:
            for name in storage.ls(events_url):
                if not name.endswith(".json"):
                    continue
                try:
                    events.append((name, self._json(storage.join(events_url, name), self._events)))
                except TercetError as exc:
                    state.errors.append(str(exc))
        except TercetError as exc:
            state.errors.append(str(exc))
        fold_events(state, descriptor, events, now)
        try:
            self._read_metrics(state)
        except TercetError as exc:
            state.errors.append(str(exc))
        return state

    def _metrics_file(self, url: str, split: str, run_url: str) -> MetricsFile:
        with self._lock:
            cached = self._files.get(url)
        if cached is not None:
            return cached
        info = read_metrics_file(url, split, run_url)
        if info.error is None:
            # Only good reads are kept: a file that failed may be fixed by a later copy.
            with self._lock:
                self._files[url] = info
        return info

    def _read_metrics(self, state: RunState) -> None:
        metrics_url = storage.join(state.url, "metrics")
        for split in storage.ls(metrics_url):
            split_url = storage.join(metrics_url, split)
            if split == AGGREGATE:
                state.aggregates = [
                    storage.join(split_url, n)
                    for n in storage.ls(split_url)
                    if n.endswith(".parquet")
                ]
                continue
            if split == AGGREGATE + ".parquet":
                state.aggregates.append(split_url)
                continue
            files: list[MetricsFile] = []
            for name in storage.ls(split_url):
                if name == PROJECTIONS:
                    self._read_projections(state, split, storage.join(split_url, name))
                elif EPOCH_FILE.match(name):
                    info = self._metrics_file(storage.join(split_url, name), split, state.url)
                    if info.error:
                        state.errors.append(info.error)
                    files.append(info)
            if files:
                state.metrics[split] = files

    def _read_projections(self, state: RunState, split: str, url: str) -> None:
        by_method: dict[str, list[str]] = {}
        for method in storage.ls(url):
            names = [n for n in storage.ls(storage.join(url, method)) if n.endswith(".parquet")]
            if names:
                by_method[method] = [storage.join(url, method, n) for n in names]
        if by_method:
            state.projections[split] = by_method
