"""The run-folder grammar, for writing and reading alike (``docs/format.md``)::

    runs/<run>/object.json                                   written once (tercet.format)
              /events/<time>-<uid>.<kind>.json               status, parameters, inputs, heartbeats
              /metrics/<split>/epoch-<EEEE>-<time>-<uid>.parquet       one per collection pass
              /metrics/<split>/projections/<method>-<dims>d/<same name as the metrics file>
              /metrics/aggregate/<time>-<uid>.parquet        logged scalars, immutable parts
              /insights/<split>/<time>-<uid>.parquet         per-sample scores; the newest wins

URLs stored inside a run (input tables) are relative to the run folder when the table is in the
same project, else aliased or absolute: :func:`store_url` writes them, :func:`expand_url` reads.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict

from tercet import aliases, format, storage
from tercet.errors import RunError
from tercet.runs import eventlog

EVENTS = "events"
METRICS = "metrics"
AGGREGATE = "aggregate"
PROJECTIONS = "projections"
INSIGHTS = "insights"
METRICS_FILE = re.compile(r"^epoch-(\d{4,})-(\d{8}T\d{12})-([0-9a-f]+)\.parquet$")


def project_of(run_url: str) -> str:
    return format.project_of(run_url, "run")


def check_split(split: str) -> str:
    """``split`` if it can name a metrics folder, else an error that says why."""
    format.check_name(split, "split")
    if split == AGGREGATE:
        raise RunError(f"{AGGREGATE!r} is reserved for logged scalars; name the split otherwise.")
    return split


# -- names of new files --------------------------------------------------------------------------
_stamp_lock = threading.Lock()
_last_stamp: datetime | None = None


def event_name(kind: str | None = None) -> tuple[str, datetime]:
    """A file name (and its time) that sorts after every event this process wrote before.

    Two events in the same microsecond would otherwise be ordered by their random suffix, and a
    ``completed`` status could sort before the heartbeat written just ahead of it. ``kind``
    goes into the name (``<time>-<uid>.<kind>.json``, :mod:`tercet.runs.eventlog`) so readers
    can skip fetching it.
    """
    global _last_stamp
    with _stamp_lock:
        when = format.now()
        if _last_stamp is not None and when <= _last_stamp:
            when = _last_stamp + timedelta(microseconds=1)
        _last_stamp = when
    if kind is None:
        return event_file_name(when), when
    return eventlog.file_name(kind, when), when


def event_file_name(when: datetime) -> str:
    """The name of an event written at ``when`` (events fold in name order)."""
    return f"{format.unique_suffix(when)}.json"


def events_folder(run_url: str) -> str:
    return storage.join(run_url, EVENTS)


def metrics_folder(run_url: str, split: str) -> str:
    return storage.join(run_url, METRICS, check_split(split))


def metrics_file_name(epoch: int, when: datetime | None = None) -> str:
    """The name of a new metrics file of ``epoch`` (written now, or at ``when``)."""
    if epoch < 0:
        raise RunError(f"epoch must be ≥ 0; received {epoch}.")
    return f"epoch-{epoch:04d}-{format.unique_suffix(when)}.parquet"


def aggregate_folder(run_url: str) -> str:
    return storage.join(run_url, METRICS, AGGREGATE)


def aggregate_file_name(when: datetime | None = None) -> str:
    """The name of a new part of logged scalars (written now, or at ``when``)."""
    return f"{format.unique_suffix(when)}.parquet"


def projection_url(metrics_url: str, method: str, dims: int) -> str:
    """Where the ``method``-``dims``d projection of a metrics file lives."""
    folder = storage.parent(metrics_url)
    return storage.join(folder, PROJECTIONS, f"{method}-{dims}d", storage.basename(metrics_url))


def insights_folder(run_url: str, split: str) -> str:
    return storage.join(run_url, INSIGHTS, check_split(split))


def insights_file_name(when: datetime | None = None) -> str:
    """The name of a new insights file (computed now, or at ``when``); names sort by time."""
    return f"{format.unique_suffix(when)}.parquet"


def is_insights_file(file_name: str) -> bool:
    return file_name.endswith(".parquet") and format.time_of_name(file_name[:-8]) is not None


def latest_insights(run_url: str, split: str) -> str | None:
    """The newest insights file of ``split`` (immutable files; the latest is derived by name)."""
    folder = insights_folder(run_url, split)
    names = sorted(n for n in storage.ls(folder) if is_insights_file(n))
    return storage.join(folder, names[-1]) if names else None


def epoch_of(file_name: str) -> int | None:
    """The epoch of a metrics file name, None for any other name."""
    match = METRICS_FILE.match(file_name)
    return int(match.group(1)) if match else None


# -- stored URLs ---------------------------------------------------------------------------------
def store_url(url: str, run_url: str) -> str:
    """``url`` as a run stores it: relative to the run folder inside the run's project, else
    through an alias when one applies."""
    absolute = storage.normalize(url)
    project = project_of(run_url)
    inside = storage.is_under(absolute, project)
    if inside and storage.protocol(absolute) == storage.protocol(run_url):
        return storage.relative_to(absolute, run_url).replace("\\", "/")
    return aliases.contract(absolute, project_url=project)


def expand_url(stored: str, run_url: str, where: str | None = None) -> str:
    """The absolute URL of an input table stored in the run at ``run_url`` (in an input event or
    a metrics file's footer, ``where``): a relative one must stay inside the run's project
    (:func:`tercet.format.check_reference`), else :class:`~tercet.errors.CorruptObjectError`."""
    checked = format.check_reference(stored, run_url, "run", "table", where)
    return aliases.expand(checked, base=run_url, project_url=project_of(run_url))


# -- finding files -------------------------------------------------------------------------------
class MetricsFile(TypedDict):
    """One metrics file of a run, as found by listing (no file is opened)."""

    url: str
    name: str
    split: str
    epoch: int


def list_metrics_files(run_url: str, split: str | None = None) -> list[MetricsFile]:
    """Metrics files of a run, by split, then epoch, then creation time."""
    base = storage.join(run_url, METRICS)
    splits = [split] if split is not None else storage.ls(base)
    out: list[MetricsFile] = []
    for s in splits:
        if s == AGGREGATE or not format.NAME.match(s):
            continue
        folder = storage.join(base, s)
        for name in storage.ls(folder):
            epoch = epoch_of(name)
            if epoch is not None:
                out.append({"url": storage.join(folder, name), "name": name, "split": s,
                            "epoch": epoch})  # fmt: skip
    out.sort(key=lambda f: (f["split"], f["epoch"], f["name"]))
    return out


def aggregate_files(run_url: str) -> list[str]:
    """The Parquet parts of a run's logged scalars."""
    folder = aggregate_folder(run_url)
    return [storage.join(folder, n) for n in storage.ls(folder) if n.endswith(".parquet")]


@dataclass
class RunFiles:
    """The files of one run folder, sorted by what they are (from one listing, no reads)."""

    url: str
    object: str | None = None
    events: list[str] = field(default_factory=list)
    metrics: dict[str, list[str]] = field(default_factory=dict)  # split -> file URLs
    projections: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> m -> URLs
    aggregates: list[str] = field(default_factory=list)
    insights: dict[str, list[str]] = field(default_factory=dict)  # split -> file URLs
    count: int = 0  # every file listed, recognised or not

    @classmethod
    def from_listing(cls, run_url: str, files: Iterable[str]) -> RunFiles:
        """The files of the run at ``run_url`` from ``storage.walk_files(run_url)``."""
        out = cls(run_url)
        for _, parts in storage.relative_parts(run_url, list(files)):
            out.add(parts)
        return out.sorted()

    def add(self, parts: list[str]) -> None:
        """Place one file, given by its path segments below the run folder."""
        self.count += 1
        url = storage.join(self.url, *parts)
        n = len(parts)
        if parts == [format.OBJECT_JSON]:
            self.object = url
        elif n == 2 and parts[0] == EVENTS and parts[1].endswith(".json"):
            self.events.append(url)
        elif n == 3 and parts[0] == INSIGHTS and is_insights_file(parts[2]):
            self.insights.setdefault(parts[1], []).append(url)
        elif n < 2 or parts[0] != METRICS:
            return
        elif n == 2 and parts[1] == AGGREGATE + ".parquet":
            self.aggregates.append(url)
        elif n == 3 and parts[1] == AGGREGATE:
            if parts[2].endswith(".parquet"):
                self.aggregates.append(url)
        elif n == 3 and epoch_of(parts[2]) is not None:
            self.metrics.setdefault(parts[1], []).append(url)
        elif n == 5 and parts[2] == PROJECTIONS and parts[4].endswith(".parquet"):
            self.projections.setdefault(parts[1], {}).setdefault(parts[3], []).append(url)

    def sorted(self) -> RunFiles:
        """The same files in name order (events fold in that order; epochs sort by name)."""
        self.events.sort()
        self.aggregates.sort()
        self.metrics = {s: sorted(us) for s, us in sorted(self.metrics.items())}
        self.insights = {s: sorted(us) for s, us in sorted(self.insights.items())}
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
        insights = [u for us in self.insights.values() for u in us]
        return (*self.json_urls, *metrics, *projections, *self.aggregates, *insights)


def group_runs(runs_url: str, files: Iterable[str]) -> dict[str, RunFiles]:
    """Sort one recursive listing of a ``runs/`` folder (``storage.walk_files``) by run name.
    A run appears when at least one file in its folder does."""
    out: dict[str, RunFiles] = {}
    for _, parts in storage.relative_parts(runs_url, list(files)):
        if len(parts) < 2:
            continue  # a file directly in runs/
        run = out.get(parts[0])
        if run is None:
            run = out[parts[0]] = RunFiles(storage.join(runs_url, parts[0]))
        run.add(parts[1:])
    return {name: run.sorted() for name, run in out.items()}
