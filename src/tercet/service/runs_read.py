"""The index's view of runs: their states built from listings, with what was read kept by URL.

What a run folder holds and how it is read is :mod:`tercet.runs` (``folder`` sorts a listing,
``state`` folds the events, ``metrics`` reads a footer); this module only decides *when* to read,
shaped by what an object store charges for, the number of requests:

- the files of a run come from a listing the caller made
  (:func:`tercet.runs.folder.group_runs` sorts one recursive listing of a ``runs/`` folder by
  run), never from listing each folder of each run;
- JSON objects not read before are fetched together, concurrently
  (:func:`tercet.storage.read_json_many`), and kept by URL: objects are immutable, so nothing is
  ever read twice; heartbeats are not fetched at all (their name says what they are), and a
  finished run costs one GET, its final event, which copies ``object.json`` and the other
  events (:mod:`tercet.runs.eventlog`);
- a metrics file's split and epoch come from its path; its footer (the input table and the column
  roles) is read only when a client asks for that file's rows (:meth:`RunReader.load`), or, for a
  split no input event names a table for, once for the newest file so the run's stream has a
  table.

An unreadable object becomes an error string on its run, naming the object and the reason; it
never hides the rest of the run or other runs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tercet import format, storage
from tercet.errors import TercetError
from tercet.runs import eventlog
from tercet.runs.folder import RunFiles
from tercet.runs.metrics import MetricsFileInfo, read_info
from tercet.runs.state import fold, with_time

READ_WORKERS = 32
"""Small objects read at once. A real store's latency is hidden by requests in flight; moto on
loopback served about 400 requests/s with anything from 4 to 64 (two cores)."""
FOOTER_WORKERS = 8
FINISHED = ("completed", "failed")


# -- state ---------------------------------------------------------------------------------------
@dataclass
class RunEntry:
    """Everything the index and the API need to know about one run: its folded state (the runs
    module's own fold), the files it has, and why any of them could not be read."""

    url: str
    name: str
    project: str
    created: str = ""
    display_name: str | None = None  # the given name, when it is not the folder name
    is_run: bool = False  # object.json is a readable run descriptor
    status: str = "running"
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, str | None]] = field(default_factory=list)
    failure: str | None = None
    last_seen: str | None = None
    metrics: dict[str, list[MetricsFileInfo]] = field(default_factory=dict)  # split -> files
    projections: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> m -> urls
    aggregates: list[str] = field(default_factory=list)
    insights: dict[str, list[str]] = field(default_factory=dict)  # split -> urls, oldest first
    errors: list[str] = field(default_factory=list)
    signature: tuple[str, ...] = ()  # the files it was built from (RunFiles.signature)
    listed: int = 0  # files in its folder when it was listed

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) if self.errors else None

    def epochs(self, split: str) -> list[int]:
        """Epochs of ``split`` with a metrics file not known to be unreadable."""
        return sorted({f.epoch for f in self.metrics.get(split, []) if f.error is None})

    def files_for(self, split: str, epoch: int) -> list[MetricsFileInfo]:
        """Every metrics file of one epoch, oldest first (footers not necessarily read)."""
        return [f for f in self.metrics.get(split, []) if f.epoch == epoch]

    def stream_table(self, split: str) -> str | None:
        """The input revision of ``split``: the table of the split's latest input event, else
        that of the newest metrics file whose footer has been read."""
        for item in reversed(self.inputs):
            if item.get("split") == split and item.get("table"):
                return str(item["table"])
        good = [f for f in self.metrics.get(split, []) if f.error is None and f.table]
        return str(good[-1].table) if good else None

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


def fold_events(
    state: RunEntry,
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
        good.append(with_time(name, event))
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


# -- the reader ----------------------------------------------------------------------------------
class RunReader:
    """Builds run states from listings; every object it reads is kept by URL."""

    def __init__(self, workers: int = READ_WORKERS) -> None:
        self.workers = workers
        self._json: dict[str, Any] = {}  # URL -> parsed JSON (readable objects only)
        self._footers: dict[str, MetricsFileInfo] = {}  # URL -> a readable footer
        self._bad_footers: dict[str, MetricsFileInfo] = {}  # URL -> why its footer is unreadable
        self._lock = threading.Lock()

    def states(
        self, project: str, runs: Sequence[RunFiles], now: datetime | None = None
    ) -> dict[str, RunEntry]:
        """The state of each run (by URL): the JSON objects not read before are fetched in one
        concurrent batch; footers only for splits whose table no input event names."""
        with self._lock:
            known = dict(self._json)
        failed: dict[str, TercetError] = {}
        # Heartbeats are known by name, and a finished run's final event copies the rest.
        values = eventlog.read_runs(
            ((r.object, r.events) for r in runs),
            lambda urls: storage.read_json_many(urls, self.workers),
            known,
        )
        for url, value in values.items():
            if isinstance(value, TercetError):
                failed[url] = value  # not kept: the next listing tries again
            else:
                with self._lock:
                    self._json[url] = value
        states = {r.url: self._build(r, project, failed, now) for r in runs}
        self._find_stream_tables(list(states.values()))
        return states

    def _build(
        self,
        files: RunFiles,
        project: str,
        failed: dict[str, TercetError],
        now: datetime | None,
    ) -> RunEntry:
        state = RunEntry(
            url=files.url,
            name=storage.basename(files.url),
            project=project,
            signature=files.signature(),
            listed=files.count,
        )
        metric_urls = [u for us in files.metrics.values() for u in us]
        with self._lock:
            values = {u: self._json[u] for u in files.json_urls if u in self._json}
            footers = {u: self._footers.get(u) or self._bad_footers.get(u) for u in metric_urls}
        descriptor: dict[str, Any] = {}
        if files.object is None:
            state.errors.append(
                f"{files.url} has no object.json: a run being created, or not a Tercet run."
            )
        elif files.object in values:
            try:
                descriptor = format.check_descriptor("run", values[files.object], files.object)
                state.is_run = True
                state.created = str(descriptor.get("created") or "")
                shown = (descriptor.get("display_names") or {}).get("run")
                state.display_name = str(shown) if shown and shown != state.name else None
            except TercetError as exc:
                state.errors.append(str(exc))
        else:
            state.errors.append(str(failed.get(files.object, "object.json was not read")))
        events: list[tuple[str, Any]] = []
        for url in files.events:
            if url in values:
                events.append((storage.basename(url), values[url]))
            elif url in failed:
                state.errors.append(str(failed[url]))
        fold_events(state, descriptor, events, now)
        for split, file_urls in files.metrics.items():
            entries = [footers.get(u) or MetricsFileInfo.from_name(u, split) for u in file_urls]
            state.errors.extend(f.error for f in entries if f.error)
            state.metrics[split] = entries
        state.projections = {
            split: {method: list(us) for method, us in by.items()}
            for split, by in files.projections.items()
        }
        state.aggregates = list(files.aggregates)
        state.insights = {split: list(us) for split, us in files.insights.items()}
        return state

    def _find_stream_tables(self, states: list[RunEntry]) -> None:
        """For splits without an input event, read the newest readable footer (one per split)."""
        while True:
            wanted: list[tuple[RunEntry, MetricsFileInfo]] = []
            for state in states:
                for split, files in state.metrics.items():
                    if state.stream_table(split) is not None:
                        continue
                    unread = [f for f in files if not f.loaded and f.error is None]
                    if unread:
                        wanted.append((state, unread[-1]))
            if not wanted:
                return
            read = self._read_footers([(s.url, f) for s, f in wanted])
            for state in {s.url: s for s, _ in wanted}.values():
                self._apply(state, read)

    def load(self, state: RunEntry, files: Sequence[MetricsFileInfo]) -> list[MetricsFileInfo]:
        """``files`` (of ``state``) with their footers read, leaving out the unreadable ones,
        whose reasons join the run's errors. Footers already read are not read again; ones that
        failed are tried again (the object may have been restored)."""
        todo = [(state.url, f) for f in files if not f.loaded or f.error is not None]
        read = self._read_footers(todo)
        if read:
            self._apply(state, read)
        out = [read.get(f.url, f) for f in files]
        return [f for f in out if f.error is None]

    def _read_footers(
        self, files: Sequence[tuple[str, MetricsFileInfo]]
    ) -> dict[str, MetricsFileInfo]:
        if not files:
            return {}

        def one(item: tuple[str, MetricsFileInfo]) -> MetricsFileInfo:
            run_url, f = item
            return read_info(f.url, f.split, run_url)

        with storage.FencedExecutor(max(1, min(FOOTER_WORKERS, len(files)))) as pool:
            read = {f.url: f for f in pool.map(one, files)}
        with self._lock:
            for url, f in read.items():
                if f.error is None:
                    self._footers[url] = f
                    self._bad_footers.pop(url, None)
                else:
                    self._bad_footers[url] = f
        return read

    @staticmethod
    def _apply(state: RunEntry, read: dict[str, MetricsFileInfo]) -> None:
        """Put freshly read footers into ``state``: new lists, swapped in whole, so a request
        reading the state meanwhile never sees a list change under it."""
        mine = [f for fs in state.metrics.values() for f in fs if f.url in read]
        old_errors = {f.error for f in mine}
        errors = [e for e in state.errors if e not in old_errors]
        for f in mine:
            error = read[f.url].error
            if error and error not in errors:
                errors.append(error)
        metrics = {s: [read.get(f.url, f) for f in fs] for s, fs in state.metrics.items()}
        state.metrics = metrics
        state.errors = errors
