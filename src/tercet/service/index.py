"""The service's index of projects, table revisions and runs: a cache rebuilt by scanning storage.

Objects are immutable, so a readable table descriptor is read once and kept by URL; a re-scan
lists folders and reads only what is new. Runs grow (events, metrics files), so their folders are
listed on every scan, except finished runs, which are re-listed only every few scans. Each scan is
compared with the previous one and the differences become :class:`IndexEvent` s for the event
stream. An unreadable object becomes an entry with ``error`` set; it never hides the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tercet import storage
from tercet.errors import ObjectNotFoundError, TercetError
from tercet.layout import NAME
from tercet.service.models import IndexEvent, TableRevision
from tercet.service.runs_read import RunReader, RunState
from tercet.table import Table

log = logging.getLogger("tercet.service")

FINISHED_RECHECK_EVERY = 20  # scans between re-listings of completed/failed runs


@dataclass
class Project:
    name: str
    url: str
    tables: dict[str, TableRevision] = field(default_factory=dict)
    runs: dict[str, RunState] = field(default_factory=dict)
    error: str | None = None


def _table_entry(folder: str, project: str, dataset: str) -> TableRevision:
    try:
        t = Table.open(folder)
        return TableRevision(
            url=t.url,
            id=t.id,
            project=project,
            dataset=dataset,
            table=t.table_name,
            name=t.name,
            parent=t.parent_url,
            created=str(t.descriptor["created"]),
            num_rows=t.num_rows,
            message=t.message,
            is_latest=False,
            error=None,
        )
    except ObjectNotFoundError:
        error = f"{folder} has no object.json: a write in progress, or an interrupted one."
    except TercetError as exc:
        error = str(exc)
    name = storage.basename(folder)
    return TableRevision(
        url=folder,
        id="",
        project=project,
        dataset=dataset,
        table=name.split(".", 1)[0],
        name=name,
        parent=None,
        created="",
        num_rows=0,
        message="",
        is_latest=False,
        error=error,
    )


def _mark_latest(tables: dict[str, TableRevision]) -> None:
    """Per table, the newest revision without children is the latest (as ``Table.latest()``)."""
    good = [t for t in tables.values() if t.error is None]
    parents = {t.parent for t in good if t.parent}
    groups: dict[tuple[str, str], list[TableRevision]] = {}
    for t in good:
        if t.url not in parents:
            groups.setdefault((t.dataset, t.table), []).append(t)
    for t in tables.values():
        t.is_latest = False
    for leaves in groups.values():
        max(leaves, key=lambda t: (t.created, t.id)).is_latest = True


class Index:
    """Projects, table revisions and runs found under the scan roots."""

    def __init__(self, roots: list[str], on_events: Callable[[Sequence[IndexEvent]], None]) -> None:
        self.roots = roots
        self._on_events = on_events
        self._reader = RunReader()
        self._tables: dict[str, TableRevision] = {}  # good descriptors, by folder URL
        self._projects: dict[str, Project] = {}
        self._scan_lock = threading.Lock()
        self._scans = 0
        self.last_scan = 0.0
        self.root_errors: list[str] = []

    # -- reading the snapshot ------------------------------------------------------------------
    def projects(self) -> list[Project]:
        """Every project of the last scan."""
        return list(self._projects.values())

    def project(self, name: str) -> Project | None:
        """The project called ``name`` in the last scan."""
        return self._projects.get(name)

    def run(self, url: str) -> RunState | None:
        """The state of the run at ``url`` as of the last scan."""
        for p in self._projects.values():
            if url in p.runs:
                return p.runs[url]
        return None

    def table(self, url: str) -> TableRevision | None:
        """The revision at ``url`` as of the last scan."""
        for p in self._projects.values():
            if url in p.tables:
                return p.tables[url]
        return None

    def project_of(self, url: str) -> Project | None:
        """The project whose folder holds ``url``."""
        for p in self._projects.values():
            if url == p.url or url.startswith(p.url.rstrip("/") + "/"):
                return p
        return None

    def read_run(self, url: str) -> RunState:
        """A fresh read of one run folder (for runs the last scan did not see yet)."""
        project = self.project_of(url)
        return self._reader.read(url, project.name if project else "")

    # -- scanning ------------------------------------------------------------------------------
    def refresh(self, max_age: float = 1.0) -> None:
        """Scan unless the last scan is younger than ``max_age`` seconds."""
        if time.monotonic() - self.last_scan < max_age:
            return
        with self._scan_lock:
            if time.monotonic() - self.last_scan < max_age:
                return  # another thread scanned while this one waited
            self._scan_locked()

    def scan(self) -> list[IndexEvent]:
        """Scan now; return (and publish) what changed since the previous scan."""
        with self._scan_lock:
            return self._scan_locked()

    def _scan_locked(self) -> list[IndexEvent]:
        started = time.monotonic()
        first = self._scans == 0
        self._scans += 1
        projects: dict[str, Project] = {}
        self.root_errors = []
        for root in self.roots:
            for name, url in self._project_folders(root):
                key = name
                n = 2
                while key in projects:
                    key, n = f"{name}~{n}", n + 1
                projects[key] = self._scan_project(key, url)
        events = [] if first else self._diff(self._projects, projects)
        self._projects = projects
        self.last_scan = time.monotonic()
        log.debug("scan took %.3f s", self.last_scan - started)
        if events:
            self._on_events(events)
        return events

    def _project_folders(self, root: str) -> list[tuple[str, str]]:
        try:
            names = storage.ls(root)
            if "datasets" in names or "runs" in names:
                return [(storage.basename(root), root)]
            out = []
            for name in names:
                if NAME.match(name):
                    url = storage.join(root, name)
                    children = storage.ls(url)
                    if "datasets" in children or "runs" in children:
                        out.append((name, url))
            return out
        except TercetError as exc:
            log.warning("cannot scan %s: %s", root, exc)
            self.root_errors.append(f"{root}: {exc}")
            return []

    def _scan_project(self, name: str, url: str) -> Project:
        project = Project(name=name, url=url)
        previous = self._projects.get(name)
        try:
            datasets_url = storage.join(url, "datasets")
            for dataset in storage.ls(datasets_url):
                tables_url = storage.join(datasets_url, dataset, "tables")
                for rev in storage.ls(tables_url):
                    folder = storage.join(tables_url, rev)
                    entry = self._tables.get(folder)
                    if entry is None:
                        entry = _table_entry(folder, name, dataset)
                        if entry.error is None:
                            self._tables[folder] = entry
                    project.tables[entry.url] = entry.model_copy()
            _mark_latest(project.tables)
            runs_url = storage.join(url, "runs")
            for run in storage.ls(runs_url):
                run_url = storage.join(runs_url, run)
                old = previous.runs.get(run_url) if previous else None
                recheck = self._scans % FINISHED_RECHECK_EVERY == 0
                if old is not None and old.status in ("completed", "failed") and not recheck:
                    project.runs[run_url] = old
                else:
                    project.runs[run_url] = self._reader.read(run_url, name)
        except TercetError as exc:
            project.error = str(exc)
        return project

    @staticmethod
    def _diff(old: dict[str, Project], new: dict[str, Project]) -> list[IndexEvent]:
        events: list[IndexEvent] = []
        for name, project in new.items():
            before = old.get(name)
            for url, t in project.tables.items():
                seen = before.tables.get(url) if before else None
                if t.error is None and (seen is None or seen.error is not None):
                    events.append(IndexEvent(kind="revision", project=name, url=url))
            for url, run in project.runs.items():
                prev = before.runs.get(url) if before else None
                if prev is None:
                    events.append(IndexEvent(kind="run", project=name, url=url))
                    continue
                if prev.status != run.status:
                    events.append(IndexEvent(kind="status", project=name, url=url))
                if prev.fingerprint()[1:] != run.fingerprint()[1:]:
                    events.extend(_metrics_events(name, prev, run))
        return events


def _metrics_events(project: str, prev: RunState, run: RunState) -> list[IndexEvent]:
    old_files = {f.url for fs in prev.metrics.values() for f in fs}
    out: list[IndexEvent] = []
    seen: set[tuple[str, int]] = set()
    for split, files in run.metrics.items():
        for f in files:
            if f.url not in old_files and f.error is None and (split, f.epoch) not in seen:
                seen.add((split, f.epoch))
                out.append(
                    IndexEvent(
                        kind="metrics", project=project, url=run.url, split=split, epoch=f.epoch
                    )
                )
    if not out:  # a projection or aggregate scalars appeared
        out.append(IndexEvent(kind="metrics", project=project, url=run.url))
    return out
