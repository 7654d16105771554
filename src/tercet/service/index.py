# Over 400 lines: the scan economy (listings, reads kept, diffs) reads well only in one piece.
"""The service's index of projects, table revisions and runs: a cache rebuilt by scanning storage.

A scan costs a number of requests that does not grow with the number of objects already
indexed. Per project it sends:

- one recursive listing of ``datasets/`` (paginated: one request per 1,000 files); only the
  ``object.json`` of revision folders not seen before is read, concurrently;
- one recursive listing of ``runs/`` on the first scan (and every
  :data:`FINISHED_RECHECK_EVERY` scans, when finished runs are looked at again). In between, one
  listing of the run names, plus one recursive listing per run that is still running (or of all
  of ``runs/`` when that takes fewer requests). Only the JSON objects not read before are read,
  concurrently; metrics files are known by name and their footers are read when a client asks
  for their rows (:mod:`tercet.service.runs_read`).

Objects are immutable, so whatever was read is kept by URL. Each scan is compared with the
previous one and the differences become :class:`IndexEvent` s for the event stream. An unreadable
object becomes an entry with ``error`` set; it never hides the others, and a listing that fails
keeps the project's previous entries (with the project's ``error`` set) instead of dropping them.

Every read runs inside the service's fence (:mod:`tercet.storage.fence`), whichever thread
scans: a symlink or a stored reference cannot lead a scan out of the roots.

Scans never overlap. The background task of the app scans every ``scan_interval``; requests
only wait for the very first scan, and otherwise at most start one in the background when the
index is older than their ``max_age`` (:meth:`Index.current`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tercet import format, storage
from tercet.errors import TercetError
from tercet.runs.folder import RunFiles, group_runs
from tercet.runs.metrics import MetricsFileInfo
from tercet.service.models import DerivedFrom, IndexEvent, TableRevision
from tercet.service.runs_read import FINISHED, RunEntry, RunReader
from tercet.storage.sweep import sweep
from tercet.tables.table import Table

log = logging.getLogger("tercet.service")

FINISHED_RECHECK_EVERY = 20  # scans between looks at completed/failed runs
SWEEP_EVERY = 3600.0  # seconds between sweeps of killed writers' temp files (one more listing)
LIST_PAGE = 1000  # keys per page of an object store listing (S3 ListObjectsV2)
LIST_WORKERS = 8  # concurrent listings of single run folders


@dataclass
class Project:
    name: str
    url: str
    tables: dict[str, TableRevision] = field(default_factory=dict)
    runs: dict[str, RunEntry] = field(default_factory=dict)
    error: str | None = None


# -- table revisions -----------------------------------------------------------------------------
def _revision(t: Table, project: str, dataset: str) -> TableRevision:
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
        latest=t.url,
        error=None,
        display_name=t.display_name if t.display_name != t.table_name else None,
        derived_from=DerivedFrom(**derived) if (derived := t.derived_from) else None,
    )


def _table_entry(folder: str, project: str, dataset: str, value: Any) -> TableRevision:
    """The index entry of the revision folder whose ``object.json`` held ``value`` (or could not
    be read: ``value`` is the error, ``None`` when the folder has no ``object.json``)."""
    if value is None:
        error = f"{folder} has no object.json: a write in progress, or an interrupted one."
    elif isinstance(value, TercetError):
        error = str(value)
    else:
        try:
            url = format.descriptor_url(folder)
            # Descriptors read here in a batch get the same checks ``Table.open`` makes.
            t = Table(storage.normalize(folder), format.check_descriptor("table", value, url))
            return _revision(t, project, dataset)
        except (TercetError, ValueError, TypeError, KeyError) as exc:
            error = str(exc)
    name = storage.basename(folder)
    return TableRevision(
        url=folder,
        id="",
        project=project,
        dataset=dataset,
        table=format.table_of(name),
        name=name,
        parent=None,
        created="",
        num_rows=0,
        message="",
        is_latest=False,
        latest=folder,
        error=error,
    )


def _mark_latest(tables: dict[str, TableRevision], stored: Mapping[str, float | None]) -> None:
    """Each revision's ``latest`` (its newest leaf descendant, as ``Table.latest()``), and per
    table the revision that is the latest of all (``is_latest``): :mod:`tercet.format`'s rule,
    given when the storage recorded each descriptor (``stored``, by revision URL)."""
    good = [t for t in tables.values() if t.error is None]
    revisions = [format.Revision(t.url, t.parent, t.created, t.id, stored.get(t.url)) for t in good]
    latest = format.latest_of_each(revisions)
    groups: dict[tuple[str, str], list[format.Revision]] = {}
    for t, r in zip(good, revisions, strict=True):
        groups.setdefault((t.dataset, t.table), []).append(r)
    newest = {leaf.url for leaf in map(format.newest_leaf, groups.values()) if leaf is not None}
    for t in tables.values():
        t.latest = latest.get(t.url, t.url)
        t.is_latest = t.url in newest


# -- the index -----------------------------------------------------------------------------------
class Index:
    """Projects, table revisions and runs found under the scan roots."""

    def __init__(
        self,
        roots: list[str],
        on_events: Callable[[Sequence[IndexEvent]], None],
        fence: storage.Fence | None = None,
        tmp_sweep_age: float = 0.0,
    ) -> None:
        self.roots = roots
        self.fence = fence
        self.tmp_sweep_age = tmp_sweep_age  # 0: never sweep
        self.last_sweep = -math.inf
        self.sweeper: threading.Thread | None = None  # the sweep under way or last run
        self._on_events = on_events
        self._reader = RunReader()
        self._tables: dict[str, TableRevision] = {}  # readable descriptors, by folder URL
        self._stored: dict[str, float | None] = {}  # when the storage recorded each, by URL
        self._projects: dict[str, Project] = {}
        self._scan_lock = threading.Lock()
        self._background_lock = threading.Lock()
        self._background = False  # a scan started by a request is under way
        self._scans = 0  # scans started
        self.scans_done = 0
        self.last_scan = 0.0  # time.monotonic() when the last finished scan started
        self.root_errors: list[str] = []
        self.failed_roots: dict[str, str] = {}  # root -> why the last scan could not list it

    # -- reading the snapshot ------------------------------------------------------------------
    def projects(self) -> list[Project]:
        """Every project of the last scan."""
        return list(self._projects.values())

    def project(self, name: str) -> Project | None:
        """The project called ``name`` in the last scan."""
        return self._projects.get(name)

    def run(self, url: str) -> RunEntry | None:
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
        url = storage.normalize(url)
        for p in self._projects.values():
            base = storage.normalize(p.url)
            if url == base or url.startswith(base.rstrip("/") + "/"):
                return p
        return None

    def read_run(self, url: str) -> RunEntry:
        """A fresh look at one run folder (for runs the last scan did not see yet): one listing,
        then only the objects not read before."""
        project = self.project_of(url)
        with storage.fenced(self.fence):
            files = RunFiles.from_listing(url, storage.walk_files(url))
            return self._reader.states(project.name if project else "", [files])[url]

    def load_metrics(
        self, state: RunEntry, files: Sequence[MetricsFileInfo]
    ) -> list[MetricsFileInfo]:
        """The readable ones of ``files`` with their footers read (see :meth:`RunReader.load`)."""
        with storage.fenced(self.fence):
            return self._reader.load(state, files)

    # -- keeping it fresh ----------------------------------------------------------------------
    def refresh(self, max_age: float) -> None:
        """Make the index at most ``max_age`` seconds old (counted from the start of the scan
        that built it): return at once when it is, else wait for the scan under way or run one.
        Scans never overlap; callers that find the index stale together share one scan."""
        asked = time.monotonic()
        if self.scans_done and asked - self.last_scan < max_age:
            return
        with self._scan_lock:
            if self.scans_done and self.last_scan >= asked - max_age:
                return  # a scan that started recently enough finished while this one waited
            self._scan_locked()

    def current(self, max_age: float) -> None:
        """For requests: wait only for the first scan. After that, serve what is indexed, and
        when it is older than ``max_age`` start a scan in the background, unless one is under
        way; so requests never cause more than one scan at a time, nor more than one per
        ``max_age`` seconds."""
        if not self.scans_done:
            self.refresh(math.inf)
            return
        if time.monotonic() - self.last_scan < max_age or self._scan_lock.locked():
            return
        with self._background_lock:
            if self._background:
                return
            self._background = True
        threading.Thread(
            target=storage.carry(self._background_scan),
            args=(max_age,),
            name="tercet-index-scan",
            daemon=True,
        ).start()

    def _background_scan(self, max_age: float) -> None:
        try:
            self.refresh(max_age)
        except Exception:
            log.exception("index scan failed")
        finally:
            with self._background_lock:
                self._background = False

    def scan(self) -> list[IndexEvent]:
        """Scan now; return (and publish) what changed since the previous scan."""
        with self._scan_lock:
            return self._scan_locked()

    def add_revision(self, table: Table) -> None:
        """Index a revision this service has just written and announce it, without a scan
        (with one when its project is new since the last scan)."""
        with self._scan_lock:  # a scan under way would replace the snapshot changed here
            project = self.project_of(table.url)
            if project is None:
                self._scan_locked()  # announces the revision with the rest of the project
                return
            key = next(k for k, p in self._projects.items() if p is project)
            dataset = format.dataset_of(table.url)
            folder = storage.join(format.tables_folder(project.url, dataset), table.name)
            entry = _revision(table, key, dataset)
            if entry.url in project.tables:
                return
            self._tables[folder] = entry
            descriptor = format.descriptor_url(entry.url)
            self._stored[entry.url] = storage.modified_times([descriptor]).get(descriptor)
            tables = {url: t.model_copy() for url, t in project.tables.items()}
            tables[entry.url] = entry.model_copy()
            _mark_latest(tables, self._stored)
            self._projects = {**self._projects, key: replace(project, tables=tables)}
        self._on_events([IndexEvent(kind="revision", project=key, url=entry.url)])

    # -- scanning ------------------------------------------------------------------------------
    def _scan_locked(self) -> list[IndexEvent]:
        with storage.fenced(self.fence):
            return self._scan_fenced()

    def _scan_fenced(self) -> list[IndexEvent]:
        started = time.monotonic()
        first = self._scans == 0
        recheck = self._scans % FINISHED_RECHECK_EVERY == 0
        self._scans += 1
        projects: dict[str, Project] = {}
        root_errors: list[str] = []
        failed_roots: dict[str, str] = {}
        for root in self.roots:
            for name, url, children in self._project_folders(root, root_errors, failed_roots):
                key = name
                n = 2
                while key in projects:
                    key, n = f"{name}~{n}", n + 1
                if isinstance(children, TercetError):
                    # Keep what was known: a store that fails for a moment must not make every
                    # run and revision vanish and then be announced again.
                    before = self._projects.get(key)
                    kept = replace(before) if before and before.url == url else None
                    projects[key] = kept or Project(name=key, url=url)
                    projects[key].error = str(children)
                else:
                    projects[key] = self._scan_project(key, url, children, recheck)
        events = [] if first else self._diff(self._projects, projects)
        self._projects = projects
        self.root_errors = root_errors
        self.failed_roots = failed_roots
        self.last_scan = started
        self.scans_done += 1
        log.debug("scan took %.3f s", time.monotonic() - started)
        if events:
            self._on_events(events)
        self._sweep_if_due()
        return events

    def _sweep_if_due(self) -> None:
        """Sweep killed writers' temp files under the roots once per :data:`SWEEP_EVERY`, on a
        thread of its own: a sweep walks every file, and no request should wait for it."""
        if self.tmp_sweep_age <= 0 or time.monotonic() - self.last_sweep < SWEEP_EVERY:
            return
        self.last_sweep = time.monotonic()
        self.sweeper = threading.Thread(
            target=storage.carry(self._sweep), name="tercet-tmp-sweep", daemon=True
        )
        self.sweeper.start()

    def _sweep(self) -> None:
        """:func:`tercet.storage.sweep.sweep` of each root; a failure is logged, never fatal."""
        for root in self.roots:
            try:
                report = sweep(root, self.tmp_sweep_age)
            except (TercetError, OSError) as exc:
                log.warning("cannot sweep temp files under %s: %s", root, exc)
                continue
            for leftover in report.removed:
                log.info("removed %s, left by a killed writer", leftover.url)

    def _project_folders(
        self, root: str, errors: list[str], failed_roots: dict[str, str]
    ) -> list[tuple[str, str, list[str] | TercetError]]:
        """``(name, url, names in its folder)`` of each project under ``root`` (or ``root``
        itself); the error instead of the names when a project's folder cannot be listed, and
        the projects of the last scan when ``root`` cannot be."""
        try:
            names = storage.ls(root)
        except TercetError as exc:
            log.warning("cannot scan %s: %s", root, exc)
            errors.append(f"{root}: {exc}")
            failed_roots[root] = str(exc)
            under = storage.normalize(root).rstrip("/") + "/"
            return [
                (p.name, p.url, exc)
                for p in self._projects.values()
                if storage.normalize(p.url).startswith(under) or p.url == root
            ]
        if format.DATASETS in names or format.RUNS in names:
            return [(storage.basename(root), root, names)]
        out: list[tuple[str, str, list[str] | TercetError]] = []
        for name in names:
            if format.NAME.match(name):
                url = storage.join(root, name)
                try:
                    children = storage.ls(url)
                except TercetError as exc:
                    if any(p.url == url for p in self._projects.values()):
                        out.append((name, url, exc))
                    else:
                        log.warning("cannot scan %s: %s", url, exc)
                        errors.append(f"{url}: {exc}")
                    continue
                if format.DATASETS in children or format.RUNS in children:
                    out.append((name, url, children))
        return out

    def _scan_project(self, name: str, url: str, children: list[str], recheck: bool) -> Project:
        project = Project(name=name, url=url)
        previous = self._projects.get(name)
        if previous is not None and previous.url != url:
            previous = None
        errors: list[str] = []
        if format.DATASETS in children:
            try:
                project.tables = self._scan_tables(name, storage.join(url, format.DATASETS))
            except TercetError as exc:
                errors.append(str(exc))
                project.tables = dict(previous.tables) if previous else {}
        if format.RUNS in children:
            try:
                project.runs = self._scan_runs(name, format.runs_folder(url), previous, recheck)
            except TercetError as exc:
                errors.append(str(exc))
                project.runs = dict(previous.runs) if previous else {}
        project.error = "; ".join(errors) or None
        return project

    def _scan_tables(self, project: str, datasets_url: str) -> dict[str, TableRevision]:
        """Every revision folder from one recursive listing; new descriptors read together."""
        folders: dict[str, tuple[str, bool]] = {}  # folder -> (dataset, has object.json)
        for _, parts in storage.relative_parts(datasets_url, storage.walk_files(datasets_url)):
            if len(parts) < 4 or parts[1] != format.TABLES:
                continue
            folder = storage.join(datasets_url, parts[0], format.TABLES, parts[2])
            seen = folders.get(folder, (parts[0], False))[1]
            folders[folder] = (parts[0], seen or parts[3:] == [format.OBJECT_JSON])
        new = [f for f, (_, has) in folders.items() if has and f not in self._tables]
        values = storage.read_json_many([format.descriptor_url(f) for f in new])
        # When the storage recorded each new descriptor (immutable, so asked once): the latest
        # rule checks every claimed time against it.
        times = storage.modified_times([format.descriptor_url(f) for f in new])
        for f in new:
            self._stored[storage.normalize(f)] = times.get(format.descriptor_url(f))
        tables: dict[str, TableRevision] = {}
        for folder, (dataset, has) in folders.items():
            entry = self._tables.get(folder)
            if entry is None:
                value = values.get(format.descriptor_url(folder)) if has else None
                entry = _table_entry(folder, project, dataset, value)
                if entry.error is None:
                    self._tables[folder] = entry  # only readable ones: a broken one may be fixed
            tables[entry.url] = entry.model_copy()
        _mark_latest(tables, self._stored)
        return tables

    def _scan_runs(
        self, project: str, runs_url: str, previous: Project | None, recheck: bool
    ) -> dict[str, RunEntry]:
        before = previous.runs if previous else {}
        runs: dict[str, RunEntry] = {}
        listed: list[RunFiles]
        if previous is None or recheck:
            listed = list(group_runs(runs_url, storage.walk_files(runs_url)).values())
        else:
            urls = [storage.join(runs_url, n) for n in storage.ls(runs_url)]
            todo = [u for u in urls if u not in before or before[u].status not in FINISHED]
            runs = {u: before[u] for u in urls if u in before and u not in todo}
            pages = sum(s.listed for s in before.values()) // LIST_PAGE + 1
            if len(todo) >= pages:
                # Fewer requests to list all of runs/ at once than each of these on its own.
                listed = list(group_runs(runs_url, storage.walk_files(runs_url)).values())
            else:
                listed, failed = self._list_runs(todo)
                runs.update({u: before[u] for u in failed if u in before})
        build: list[RunFiles] = []
        for files in listed:
            old = before.get(files.url)
            if old is not None and old.status in FINISHED and old.signature == files.signature():
                runs[files.url] = old  # finished and nothing new: no need to fold it again
            else:
                build.append(files)
        runs.update(self._reader.states(project, build))
        return runs

    @staticmethod
    def _list_runs(urls: list[str]) -> tuple[list[RunFiles], list[str]]:
        """One recursive listing per run folder, a few at a time; also the URLs that failed."""
        if not urls:
            return [], []

        def one(url: str) -> RunFiles | TercetError:
            try:
                return RunFiles.from_listing(url, storage.walk_files(url))
            except TercetError as exc:
                return exc

        listed: list[RunFiles] = []
        failed: list[str] = []
        with storage.FencedExecutor(min(LIST_WORKERS, len(urls))) as pool:
            for url, files in zip(urls, pool.map(one, urls), strict=True):
                if isinstance(files, TercetError):
                    log.warning("cannot list %s: %s", url, files)  # the next scan tries again
                    failed.append(url)
                elif files.count:  # an empty folder (local disk) is not a run yet
                    listed.append(files)
        return listed, failed

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
                    # A run is first seen with whatever it has written by then (a fast writer's
                    # first epoch, an imported run's every epoch): announce those too.
                    events.append(IndexEvent(kind="run", project=name, url=url))
                    events.extend(_metrics_events(name, None, run))
                    continue
                if prev.status != run.status:
                    events.append(IndexEvent(kind="status", project=name, url=url))
                if prev.fingerprint()[1:] != run.fingerprint()[1:]:
                    events.extend(_metrics_events(name, prev, run))
        return events


def _metrics_events(project: str, prev: RunEntry | None, run: RunEntry) -> list[IndexEvent]:
    """One event per (split, epoch) with a file ``prev`` did not have; without such a file, one
    event without split and epoch (a projection or scalars appeared), except for a new run."""
    old_files = {f.url for fs in prev.metrics.values() for f in fs} if prev else set()
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
    if not out and prev is not None:  # a projection or aggregate scalars appeared
        out.append(IndexEvent(kind="metrics", project=project, url=run.url))
    return out
