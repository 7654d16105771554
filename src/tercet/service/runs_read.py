"""Reading run folders as written by ``tercet.init()``/``collect_metrics()`` (``docs/format.md``).

A run is immutable files only: ``object.json``, ``events/*.json`` folded in name order into the
run's state, and Parquet metrics files named ``metrics/<split>/epoch-<EEEE>-….parquet``.

Reading is shaped by what an object store charges for, the number of requests:

- the files of a run come from a listing the caller made (:func:`group_runs` sorts one recursive
  listing of a ``runs/`` folder by run), never from listing each folder of each run;
- JSON objects not read before are fetched together, concurrently (:func:`read_json_many`), and
  kept by URL: objects are immutable, so nothing is ever read twice;
- a metrics file's split and epoch come from its path; its footer (the input table and the column
  roles) is read only when a client asks for that file's rows (:meth:`RunReader.load`), or, for a
  split no input event names a table for, once for the newest file so the run's stream has a
  table.

An unreadable object becomes an error string on its run, naming the object and the reason; it
never hides the rest of the run or other runs.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tercet import storage, urls
from tercet.errors import ObjectNotFoundError, TercetError
from tercet.runs.metrics import AGGREGATE, METRICS, PROJECTIONS
from tercet.runs.metrics import FILE_NAME as EPOCH_FILE
from tercet.runs.state import fold

READ_WORKERS = 32
"""Small objects read at once. A real store's latency is hidden by requests in flight; moto on
loopback served about 400 requests/s with anything from 4 to 64 (two cores)."""
FOOTER_WORKERS = 8
FINISHED = ("completed", "failed")


# -- listings ------------------------------------------------------------------------------------
def relative_parts(folder: str, files: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
    """``(url, path segments below folder)`` for each URL of :func:`tercet.storage.walk_files`
    (which returns them under the normalised form of ``folder``)."""
    base = storage.normalize(folder).rstrip("/" + os.sep)
    local = storage.is_local(folder)
    for url in files:
        if not url.startswith(base) or len(url) <= len(base) + 1:
            continue
        rel = url[len(base) + 1 :]
        if local and os.sep != "/":
            rel = rel.replace(os.sep, "/")
        yield url, rel.split("/")


@dataclass
class RunFiles:
    """The files of one run folder, sorted by what they are."""

    url: str
    object: str | None = None
    events: list[str] = field(default_factory=list)
    metrics: dict[str, list[str]] = field(default_factory=dict)  # split -> file URLs
    projections: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> m -> URLs
    aggregates: list[str] = field(default_factory=list)
    count: int = 0  # every file listed, recognised or not

    @classmethod
    def from_listing(cls, run_url: str, files: Iterable[str]) -> RunFiles:
        """The files of the run at ``run_url`` from ``storage.walk_files(run_url)``."""
        out = cls(run_url)
        for _, parts in relative_parts(run_url, files):
            out.add(parts)
        return out.sorted()

    def add(self, parts: list[str]) -> None:
        """Place one file, given by its path segments below the run folder."""
        self.count += 1
        url = storage.join(self.url, *parts)
        n = len(parts)
        if parts == ["object.json"]:
            self.object = url
        elif n == 2 and parts[0] == "events" and parts[1].endswith(".json"):
            self.events.append(url)
        elif n < 2 or parts[0] != METRICS:
            return
        elif n == 2 and parts[1] == AGGREGATE + ".parquet":
            self.aggregates.append(url)
        elif n == 3 and parts[1] == AGGREGATE:
            if parts[2].endswith(".parquet"):
                self.aggregates.append(url)
        elif n == 3 and EPOCH_FILE.match(parts[2]):
            self.metrics.setdefault(parts[1], []).append(url)
        elif n == 5 and parts[2] == PROJECTIONS and parts[4].endswith(".parquet"):
            self.projections.setdefault(parts[1], {}).setdefault(parts[3], []).append(url)

    def sorted(self) -> RunFiles:
        """The same files in name order (events fold in that order; epochs sort by name)."""
        self.events.sort()
        self.aggregates.sort()
        self.metrics = {s: sorted(us) for s, us in sorted(self.metrics.items())}
        self.projections = {
            s: {m: sorted(us) for m, us in sorted(by.items())}
            for s, by in sorted(self.projections.items())
        }
        return self

    @property
    def json_urls(self) -> list[str]:
        return ([self.object] if self.object else []) + self.events

    def signature(self) -> tuple[str, ...]:
        """Every recognised file: equal signatures mean nothing new in the folder."""
        metrics = [u for us in self.metrics.values() for u in us]
        projections = [u for by in self.projections.values() for us in by.values() for u in us]
        return (*self.json_urls, *metrics, *projections, *self.aggregates)


def group_runs(runs_url: str, files: Iterable[str]) -> dict[str, RunFiles]:
    """Sort one recursive listing of a ``runs/`` folder (``storage.walk_files``) by run name.
    A run appears when at least one file in its folder does."""
    out: dict[str, RunFiles] = {}
    for _, parts in relative_parts(runs_url, files):
        if len(parts) < 2:
            continue  # a file directly in runs/
        run = out.get(parts[0])
        if run is None:
            run = out[parts[0]] = RunFiles(storage.join(runs_url, parts[0]))
        run.add(parts[1:])
    return {name: run.sorted() for name, run in out.items()}


def read_json_many(urls: Sequence[str], workers: int = READ_WORKERS) -> dict[str, Any]:
    """Each URL's parsed JSON, the objects read concurrently with :func:`storage.read_many`.

    An object that cannot be read or parsed maps to the :class:`~tercet.errors.TercetError`
    that says why, naming it; the others are unaffected.
    """
    if not urls:
        return {}
    raw: dict[str, bytes | TercetError]
    try:
        raw = dict(storage.read_many(urls, workers=workers))
    except TercetError:
        # One object failed for a reason other than being gone: read each on its own so the
        # failure is reported against that object only.
        raw = dict(_read_each(urls, workers))
    out: dict[str, Any] = {}
    for url in urls:
        data = raw.get(url)
        if data is None:
            out[url] = ObjectNotFoundError(f"No object at {url}: it does not exist or was removed.")
        elif isinstance(data, TercetError):
            out[url] = data
        else:
            try:
                out[url] = json.loads(data)
            except ValueError:
                try:  # the storage layer's own message says what is damaged and what to do
                    out[url] = storage.read_json(url)
                except TercetError as exc:
                    out[url] = exc
    return out


def _read_each(urls: Sequence[str], workers: int) -> Iterator[tuple[str, bytes | TercetError]]:
    def one(url: str) -> tuple[str, bytes | TercetError]:
        try:
            return url, storage.read_bytes(url)
        except TercetError as exc:
            return url, exc

    with ThreadPoolExecutor(max(1, min(workers, len(urls)))) as pool:
        yield from pool.map(one, urls)


# -- state ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricsFile:
    """One per-sample metrics file: split and epoch from its path, the rest from its footer
    once that has been read (``loaded``)."""

    url: str
    split: str
    epoch: int
    table: str | None = None  # absolute URL of the input revision
    table_id: str | None = None
    columns: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    loaded: bool = False

    @classmethod
    def from_name(cls, url: str, split: str) -> MetricsFile:
        """What the path says; the footer is not read."""
        match = EPOCH_FILE.match(storage.basename(url))
        return cls(url, split, int(match.group(1)) if match else -1)

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
    signature: tuple[str, ...] = ()  # the files it was built from (RunFiles.signature)
    listed: int = 0  # files in its folder when it was listed

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) if self.errors else None

    def epochs(self, split: str) -> list[int]:
        """Epochs of ``split`` with a metrics file not known to be unreadable."""
        return sorted({f.epoch for f in self.metrics.get(split, []) if f.error is None})

    def files_for(self, split: str, epoch: int) -> list[MetricsFile]:
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
    """One metrics file with its footer read (one ranged read of the file's end)."""
    named = MetricsFile.from_name(url, split)
    try:
        meta = storage.read_parquet_metadata(url).metadata or {}
        raw = meta.get(b"tercet")
        info = json.loads(raw) if raw else {}
        if not isinstance(info, dict):
            raise ValueError("the 'tercet' metadata is not a JSON object")
    except (TercetError, OSError, ValueError) as exc:
        return replace(named, error=f"{url}: {exc}", loaded=True)
    epoch = int(info["epoch"]) if isinstance(info.get("epoch"), int) else named.epoch
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
        loaded=True,
    )


# -- the reader ----------------------------------------------------------------------------------
class RunReader:
    """Builds run states from listings; every object it reads is kept by URL."""

    def __init__(self, workers: int = READ_WORKERS) -> None:
        self.workers = workers
        self._json: dict[str, Any] = {}  # URL -> parsed JSON (readable objects only)
        self._footers: dict[str, MetricsFile] = {}  # URL -> a readable footer
        self._bad_footers: dict[str, MetricsFile] = {}  # URL -> why its footer is unreadable
        self._lock = threading.Lock()

    def states(
        self, project: str, runs: Sequence[RunFiles], now: datetime | None = None
    ) -> dict[str, RunState]:
        """The state of each run (by URL): the JSON objects not read before are fetched in one
        concurrent batch; footers only for splits whose table no input event names."""
        with self._lock:
            todo = [u for r in runs for u in r.json_urls if u not in self._json]
        failed: dict[str, TercetError] = {}
        for url, value in read_json_many(todo, self.workers).items():
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
    ) -> RunState:
        state = RunState(
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
            obj = values[files.object]
            if isinstance(obj, dict) and obj.get("format") == "tercet.run":
                descriptor = obj
                state.is_run = True
                state.created = str(obj.get("created") or "")
            else:
                state.errors.append(f"{files.url}/object.json is not a Tercet run descriptor")
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
            entries = [footers.get(u) or MetricsFile.from_name(u, split) for u in file_urls]
            state.errors.extend(f.error for f in entries if f.error)
            state.metrics[split] = entries
        state.projections = {
            split: {method: list(us) for method, us in by.items()}
            for split, by in files.projections.items()
        }
        state.aggregates = list(files.aggregates)
        return state

    def _find_stream_tables(self, states: list[RunState]) -> None:
        """For splits without an input event, read the newest readable footer (one per split)."""
        while True:
            wanted: list[tuple[RunState, MetricsFile]] = []
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

    def load(self, state: RunState, files: Sequence[MetricsFile]) -> list[MetricsFile]:
        """``files`` (of ``state``) with their footers read, leaving out the unreadable ones,
        whose reasons join the run's errors. Footers already read are not read again; ones that
        failed are tried again (the object may have been restored)."""
        todo = [(state.url, f) for f in files if not f.loaded or f.error is not None]
        read = self._read_footers(todo)
        if read:
            self._apply(state, read)
        out = [read.get(f.url, f) for f in files]
        return [f for f in out if f.error is None]

    def _read_footers(self, files: Sequence[tuple[str, MetricsFile]]) -> dict[str, MetricsFile]:
        if not files:
            return {}

        def one(item: tuple[str, MetricsFile]) -> MetricsFile:
            run_url, f = item
            return read_metrics_file(f.url, f.split, run_url)

        with ThreadPoolExecutor(max(1, min(FOOTER_WORKERS, len(files)))) as pool:
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
    def _apply(state: RunState, read: dict[str, MetricsFile]) -> None:
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
