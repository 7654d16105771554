# Over 400 lines: Run is the documented face of a run; its parts live in the modules beside it.
"""Runs: one training run's parameters, status, inputs, logged scalars and per-sample metrics.

A run is a folder of immutable objects: ``object.json`` written once by :func:`init`, one JSON file
per event (status, parameters, inputs, heartbeats), and Parquet files for metrics. Nothing is ever
rewritten, so a process killed at any instant leaves a run that opens and reads as ``failed`` or
``stale``, never a corrupt one.
"""

from __future__ import annotations

import json
import os
import threading
import traceback
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import PurePath
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from tercet import aliases, format, layout, storage
from tercet.errors import (
    InsightsError,
    ObjectExistsError,
    ObjectNotFoundError,
    RunError,
    StorageError,
)
from tercet.runs import collect, durable, eventlog, folder, names, reduce, scalars, state
from tercet.runs.background import BackgroundWrites
from tercet.runs.folder import MetricsFile
from tercet.runs.heartbeat import Heartbeat
from tercet.runs.metrics import MetricSpec, MetricsWriter, keep_last
from tercet.runs.metrics import header as metrics_header
from tercet.runs.state import RunInput, RunState
from tercet.schema import ID_COLUMN
from tercet.tables import source
from tercet.tables.table import Table

if TYPE_CHECKING:
    from tercet.runs.collect import CollectResult
    from tercet.runs.collectors import Collector
    from tercet.runs.reduce import ReductionJob

HEARTBEAT_SECONDS = 120.0


class Run:
    """One training run.

    Start one with :func:`tercet.init` (which also makes it the active run for :func:`tercet.log`
    and :func:`tercet.collect_metrics`), or open an existing one with :meth:`Run.open`.

    Examples
    --------
    >>> run = tercet.init(project="digits", parameters={"lr": 0.01})  # doctest: +SKIP
    >>> tercet.log({"loss": 0.42}, epoch=0)  # doctest: +SKIP
    >>> run.close()  # doctest: +SKIP
    """

    def __init__(self, url: str, descriptor: dict[str, Any]) -> None:
        self.url = url
        self._d = descriptor
        self._owner = False
        self._joined = False  # attached as a rank other than 0 of a distributed launch
        self._rank = 0
        self._world_size = 1
        self._closed = False
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._recorded_inputs: set[tuple[str, str | None]] = set()
        self._written: dict[str, dict[str, Any]] = {}  # events written here, but heartbeats
        self._epochs: dict[str, int] = {}
        self._heartbeat: Heartbeat | None = None
        self._writes = BackgroundWrites(descriptor.get("name", "run"))
        self._syncs = durable.PendingSyncs(self._writes)
        self._scalars = scalars.ScalarLog(
            url, on_write=self._sync_soon, submit=lambda task: self._writes.submit("scalars", task)
        )
        self.reducers: dict[tuple[Any, ...], Any] = {}  # fitted reducers, reused by later calls
        # Called by close() once metrics are written, before the final status (insights=True).
        self.on_close: list[Callable[[Run], None]] = []

    # -- creating and opening ------------------------------------------------------------------
    @classmethod
    def open(
        cls, url: str | None = None, *, project: str | None = None, name: str | None = None,
        root: str | None = None,
    ) -> Run:  # fmt: skip
        """Open the run at ``url`` (its folder or its ``object.json``; aliases allowed), or the
        run ``name`` of ``project`` (display name or folder name)."""
        if url is None:
            if not project or not name:
                raise TypeError("Run.open needs a url, or project= and name=.")
            run_folder = storage.join(layout.runs_url(project, root), format.slug(name, "run"))
        elif project is not None or name is not None:
            raise TypeError("Run.open takes a url or project= and name=; not both.")
        else:
            run_folder = format.object_folder(aliases.expand(url))
        object_url = format.descriptor_url(run_folder)
        try:
            descriptor = storage.read_json(object_url)
        except ObjectNotFoundError:
            raise ObjectNotFoundError(
                f"No run at {run_folder}: {object_url} does not exist. List runs with `tercet run "
                "ls <project>`."
            ) from None
        checked = format.check_descriptor("run", descriptor, object_url, error=RunError)
        if url is None and name is not None:
            folder_name = storage.basename(run_folder)
            shown = (checked.get("display_names") or {}).get("run")
            if name != folder_name and shown != name:
                # Another display name with the same folder: not the run asked for.
                raise ObjectNotFoundError(
                    f"No run {name!r} in project {project!r}: its folder {folder_name!r} holds "
                    f"the run {shown or folder_name!r}. Open that one by its name or folder name."
                )
        return cls(run_folder, checked)

    @classmethod
    def create(
        cls,
        project: str,
        name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        root: str | None = None,
        *,
        run_id: str | None = None,
    ) -> Run:
        """Create a run folder and mark it running; ``name-2``, ``name-3`` … when ``name`` is taken.

        Most scripts call :func:`tercet.init` instead, which also makes the run active.
        ``run_id`` (default: random) also seeds generated names, so the ranks of one launch that
        share it find the run (:mod:`tercet.runs.distributed`).
        """
        # Any printable name is the run's display name; its folder is the slug of it.
        folder_name = format.slug(name, "run name") if name is not None else None
        runs = layout.runs_url(project, root)
        params = _jsonable(dict(parameters or {}))
        for candidate in names.candidates(folder_name, seed=run_id):
            if not format.NAME.match(candidate):
                break
            run_folder = storage.join(runs, candidate)
            object_url = format.descriptor_url(run_folder)
            if storage.exists(object_url):
                continue
            descriptor = format.run_descriptor(
                id=run_id or uuid.uuid4().hex,
                name=candidate,
                project=format.slug(project, "project"),
                created=format.now(),
                parameters=params,
            )
            shown = _display_names(project, name, folder_name, candidate)
            if shown:
                descriptor["display_names"] = shown
            try:
                # Immutable write: of two processes racing for one name, exactly one gets it.
                storage.write_json(object_url, descriptor)
            except ObjectExistsError:
                continue
            run = cls(run_folder, dict(descriptor))
            run._owner = True
            run._event("status", status="running", **state.process_identity())
            return run
        raise RunError(f"Could not find a free run name in {runs} starting from {name!r}.")

    # -- identity ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The run's folder name."""
        return str(self._d["name"])

    @property
    def display_name(self) -> str:
        """The name the run was given (any printable text); :attr:`name` is its folder."""
        return str((self._d.get("display_names") or {}).get("run") or self.name)

    @property
    def id(self) -> str:
        """The run's unique id."""
        return str(self._d.get("id") or self.name)

    @property
    def project(self) -> str:
        """The project it belongs to."""
        return str(self._d.get("project", ""))

    @property
    def created(self) -> datetime:
        """When it was created (UTC)."""
        return datetime.fromisoformat(self._d["created"])

    @property
    def project_url(self) -> str:
        """The folder of its project."""
        return folder.project_of(self.url)

    @property
    def descriptor(self) -> dict[str, Any]:
        """A copy of the run's ``object.json``."""
        return dict(self._d)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran in this process."""
        return self._closed

    @property
    def rank(self) -> int:
        """This process's rank in a distributed launch (0 otherwise)."""
        return self._rank

    @property
    def attached(self) -> bool:
        """True in the process that created or joined this run (not in forked workers)."""
        return (self._owner or self._joined) and self._pid == os.getpid()

    def join(self, rank: int, world_size: int) -> None:
        """Attach this process to the run as ``rank`` of ``world_size`` (rank 0 created it):
        it writes its metrics files and, if it fails, a ``failed`` status; scalars, parameters
        and inputs are rank 0's to record."""
        self._joined, self._pid = True, os.getpid()
        self._rank, self._world_size = int(rank), int(world_size)
        self._event("rank", rank=self._rank, world_size=self._world_size,
                    **state.process_identity())  # fmt: skip

    def set_world(self, rank: int, world_size: int) -> None:
        """Record that the creating process is ``rank`` of ``world_size``."""
        self._rank, self._world_size = int(rank), int(world_size)

    @property
    def is_owner(self) -> bool:
        """True in the process that created this run (not in forked DataLoader workers), which
        alone writes its status."""
        return self._owner and self._pid == os.getpid()

    def __repr__(self) -> str:
        return f"Run({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    # -- state (the fold of the events) ----------------------------------------------------------
    def state(self, check_process: bool = True) -> RunState:
        """Status, parameters and inputs as the run's events add up to now."""
        events = state.read_events(self.url)
        return state.fold(self._d, events, run_url=self.url, check_process=check_process)

    @property
    def status(self) -> str:
        """``running``, ``completed``, ``failed`` or ``stale`` (its process is gone)."""
        return self.state()["status"]

    @property
    def parameters(self) -> dict[str, Any]:
        """Parameters as the run's events add up to now."""
        return self.state()["parameters"]

    @property
    def inputs(self) -> list[RunInput]:
        """The table revisions this run read, with the split each was used as."""
        return self.state()["inputs"]

    @property
    def splits(self) -> list[str]:
        """Splits that have metrics files."""
        return sorted({f["split"] for f in self.metric_files()})

    def _event(self, kind: str, **fields: Any) -> None:
        event: dict[str, Any] = {"type": kind, **fields}
        named = eventlog.kind_of_event(event)
        name, when = folder.event_name(named)
        event = {"type": kind, "time": when.isoformat(), **fields}
        if named in eventlog.FINAL:
            # Readers fetch this one event instead of object.json and every event written here.
            with self._lock:
                copies = dict(self._written)
            event[eventlog.SUMMARY] = {"object": self._d, "events": copies}
        url = storage.join(folder.events_folder(self.url), name)
        if named in eventlog.FINAL:
            self._syncs.sync_now()  # every file written before it durable first
            storage.write_json(url, event)
        else:
            # Synced on the writer thread (tercet.runs.durable); a lost heartbeat only makes a
            # crashed machine's run read stale sooner, so heartbeats are not synced at all.
            storage.write_json(url, event, durable=False)
            if named != "heartbeat":
                self._syncs.add(url)
        if named != "heartbeat":
            with self._lock:  # a copy never nests another's summary
                self._written[name] = {k: v for k, v in event.items() if k != eventlog.SUMMARY}

    def _sync_soon(self, url: str) -> None:
        self._syncs.add(url)

    def set_parameters(self, parameters: Mapping[str, Any]) -> None:
        """Add or change parameters (hyperparameters, config); later values win. Recorded by
        rank 0 only in a distributed launch."""
        if self._rank != 0:
            return
        self._event("parameters", parameters=_jsonable(dict(parameters)))

    def stored_url(self, url: str) -> str:
        """``url`` as this run stores it: relative to the run folder inside the project, else
        through an alias when one applies."""
        return folder.store_url(url, self.url)

    def add_input(self, table: Table | str, split: str | None = None) -> None:
        """Record that this run read ``table`` (a revision) as ``split``; repeats are ignored."""
        if self._rank != 0:
            return  # rank 0 reads the same tables and records them once
        revision = table if isinstance(table, Table) else Table.open(table)
        key = (revision.url, split)
        with self._lock:
            if key in self._recorded_inputs:
                return
            self._recorded_inputs.add(key)
        self._event("input", table=self.stored_url(revision.url), table_id=revision.id, split=split)

    # -- scalars -------------------------------------------------------------------------------
    def log(self, values: Mapping[str, Any], step: int | None = None,
            epoch: int | None = None) -> None:  # fmt: skip
        """Record scalars (loss, accuracy, learning rate …) for plotting against step or epoch.

        Parameters
        ----------
        values
            Names to numbers (Python, NumPy or 0-d tensors). An ``"epoch"`` or ``"step"`` key is
            taken as the epoch or step rather than logged.
        step
            X position; by default one more than the last step logged.
        epoch
            The epoch these values belong to, if any.

        In a distributed launch only rank 0's values are recorded (the others' are dropped).
        """
        if self._rank != 0:
            return
        self._scalars.log(values, step, epoch, advance=True)

    def log_summary(self, values: Mapping[str, Any], epoch: int | None) -> None:
        """Record values that sum up an epoch (what :func:`tercet.collect_metrics` computes) at
        the current step, without moving to the next one."""
        if self._rank != 0:
            return
        self._scalars.log(values, None, epoch, advance=False)

    def flush(self) -> None:
        """Write logged scalars that are still buffered (done every few seconds and on close)."""
        self._scalars.flush()

    def aggregates(self) -> pa.Table:
        """Every logged scalar in long form: ``step``, ``epoch``, ``name``, ``value``, ``time``."""
        if self._owner and not self._closed:
            self._writes.wait("scalars")  # a part being written on the writer thread
            self.flush()
        return scalars.read(self.url)

    # -- per-sample metrics --------------------------------------------------------------------
    def metric_files(self, split: str | None = None, epoch: int | None = None) -> list[MetricsFile]:
        """Metrics files, sorted by split, epoch and time (a listing; no file is opened)."""
        self.wait()
        files = folder.list_metrics_files(self.url, split)
        return [f for f in files if epoch is None or f["epoch"] == epoch]

    def metrics(self, split: str, epoch: int | None = None,
                columns: Sequence[str] | None = None) -> pa.Table:  # fmt: skip
        """Per-sample metrics of ``split``: one epoch, or all epochs with an ``epoch`` column.

        An epoch is all its files read together, each ``example_id`` once: the parts the ranks of
        a distributed run wrote add up, and when an epoch was collected again the later file's
        rows win (:func:`tercet.runs.metrics.keep_last`).
        """
        by_epoch: dict[int, list[str]] = {}
        for f in self.metric_files(split, epoch):
            by_epoch.setdefault(f["epoch"], []).append(f["url"])  # oldest first within an epoch
        if not by_epoch:
            where = f" for epoch {epoch}" if epoch is not None else ""
            raise RunError(f"Run {self.name} has no metrics for split {split!r}{where}.")
        wanted = None if columns is None else list(dict.fromkeys([ID_COLUMN, *columns]))
        if epoch is not None:
            return keep_last(_read_epoch(by_epoch[epoch], wanted))
        parts = []
        for e, urls in sorted(by_epoch.items()):
            t = keep_last(_read_epoch(urls, wanted))
            parts.append(t.append_column("epoch", pa.array(np.full(t.num_rows, e, np.int64))))
        return pa.concat_tables(parts, promote_options="default")

    def insights(self, split: str = "train") -> pa.Table:
        """The latest insights of ``split`` (label issues, duplicates, outliers, image quality;
        ``docs/insights.md``), as computed by :func:`tercet.insights.compute`."""
        url = folder.latest_insights(self.url, split)
        if url is None:
            raise InsightsError(
                f"Run {self.name} has no insights for split {split!r}. Compute them with "
                f"tercet.insights.compute(run, split={split!r}) or `tercet insights <run> "
                "--compute`."
            )
        return storage.read_parquet(url)

    def write_in_background(self, key: str, task: Callable[[], Any]) -> None:
        """Run ``task`` (publishing a file) on the run's writer thread, after the previous task
        with the same ``key`` finished; :meth:`wait` re-raises its error."""
        self._writes.submit(key, task)

    def wait(self, key: str | None = None) -> None:
        """Block until metrics files still being written in the background are written (all, or
        those of one split); raises the error of a write that failed."""
        self._writes.wait(key)

    def next_epoch(self, split: str) -> int:
        """The epoch number ``collect_metrics`` uses when none is given: one past the last."""
        with self._lock:
            if split in self._epochs:
                return self._epochs[split] + 1
            if self._world_size > 1:
                # Ranks count their own passes: listing would see other ranks' parts of an epoch
                # this rank has not collected yet (and rank 0 broadcasts its count when it can).
                return 0
        # Only this split's files still being written count: waiting for every split would
        # hold a train pass until the val file just handed to the writer is on disk.
        self.wait(split)
        files = folder.list_metrics_files(self.url, split)
        return max((f["epoch"] for f in files), default=-1) + 1

    def metrics_url(self, split: str, epoch: int) -> str:
        """A fresh, unique URL for a metrics file of ``split`` and ``epoch``."""
        with self._lock:
            self._epochs[split] = max(self._epochs.get(split, -1), epoch)
        return storage.join(folder.metrics_folder(self.url, split), folder.metrics_file_name(epoch))

    def metrics_header(self, table: Table, split: str, epoch: int) -> dict[str, Any]:
        """The metadata of a new metrics file of this run, read from ``table``; in a
        distributed launch it names the rank whose part of the epoch the file is."""
        extra: dict[str, Any] = {}
        if self._world_size > 1:
            extra["part"] = {"rank": self._rank, "ranks": self._world_size}
        return metrics_header(
            run=self.name,
            table=self.stored_url(table.url),
            table_id=table.id,
            table_name=table.table_name,
            dataset=table.dataset,
            split=split,
            epoch=epoch,
            **extra,
        )

    def write_metrics(
        self,
        table: Table,
        data: Any,
        *,
        epoch: int | None = None,
        split: str | None = None,
        roles: Mapping[str, str | MetricSpec] | None = None,
    ) -> str:
        """Write per-sample metrics computed elsewhere (NumPy, JAX, scikit-learn …) as one file.

        Parameters
        ----------
        table
            The revision the samples come from.
        data
            Columns (dict of arrays, DataFrame or Arrow table) including ``example_id``; 2-D float
            arrays become embeddings.
        epoch, split
            As for :func:`tercet.collect_metrics` (defaults: next epoch, the table's name).
        roles
            Column roles (``{"loss": "loss"}``) or full :class:`MetricSpec` values.

        Returns
        -------
        str
            URL of the new metrics file.
        """
        split = folder.check_split(split or table.table_name)
        epoch = self.next_epoch(split) if epoch is None else int(epoch)
        columns = _as_columns(data)
        if ID_COLUMN not in columns:
            raise RunError(f"Metrics need an {ID_COLUMN!r} column naming the rows they describe.")
        specs = {
            k: v if isinstance(v, MetricSpec) else MetricSpec(v) for k, v in (roles or {}).items()
        }
        url = self.metrics_url(split, epoch)
        out = MetricsWriter(url, self.metrics_header(table, split, epoch), specs)
        try:
            out.write(columns)
            # The input is recorded before the file appears: a reader woken by the file finds
            # the run's input with it.
            self.add_input(table, split)
            out.close()
        except BaseException:
            out.abort()
            raise
        return url

    def collect_metrics(self, data: Any, collectors: Collector | Sequence[Collector], model: Any,
                        **kwargs: Any) -> CollectResult:  # fmt: skip
        """:func:`tercet.collect_metrics` into this run."""
        return collect.collect_metrics(data, collectors, model, run=self, **kwargs)

    # -- projections ---------------------------------------------------------------------------
    def reduce_embeddings(self, method: str = "pca", dims: int = 3, **kwargs: Any) -> ReductionJob:
        """Project embeddings to 2-D or 3-D with one fit shared by every epoch.

        See :func:`tercet.runs.reduce.reduce_embeddings` for the options.
        """
        return reduce.reduce_embeddings(self, method=method, dims=dims, **kwargs)

    def projections(self, split: str, method: str = "pca", dims: int = 3,
                    epoch: int | None = None) -> pa.Table:  # fmt: skip
        """Projected points (``example_id``, ``proj_x``, ``proj_y``[, ``proj_z``]) of one split;
        all epochs with an ``epoch`` column unless ``epoch`` is given."""
        parts = []
        for f in self.metric_files(split, epoch):  # waits for files still being written
            url = folder.projection_url(f["url"], method, dims)
            if not storage.exists(url):
                continue
            t = storage.read_parquet(url)
            if epoch is None:
                t = t.append_column("epoch", pa.array(np.full(t.num_rows, f["epoch"], np.int64)))
            parts.append(t)
        if not parts:
            raise RunError(
                f"Run {self.name} has no {method}-{dims}d projections for split {split!r}. Make "
                f"them with run.reduce_embeddings(method={method!r}, dims={dims})."
            )
        return pa.concat_tables(parts)

    # -- life cycle ----------------------------------------------------------------------------
    def close(self, status: str = "completed", error: str | None = None) -> None:
        """Finish metrics files still being written, flush logged scalars, and record the final
        status (``completed`` or ``failed``)."""
        if status not in ("completed", "failed"):
            raise RunError(f"A run closes as 'completed' or 'failed', not {status!r}.")
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._joined:
            self._close_rank(status, error)
            return
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        write_error: BaseException | None = None
        with suppress(Exception):  # kept buffered on failure: the flush below raises it
            self.flush()  # first, so the part is synced by the writer thread with the rest
        try:
            self.wait()
        except BaseException as exc:
            write_error = exc
            status, error = "failed", f"writing metrics failed: {type(exc).__name__}: {exc}"
        if write_error is None and status == "completed":
            for hook in self.on_close:
                try:
                    hook(self)
                except Exception as exc:
                    warnings.warn(f"Run {self.name}: {exc}", RuntimeWarning, stacklevel=2)
        self._writes.shutdown()
        try:
            self.flush()
        finally:
            fields: dict[str, Any] = {"status": status}
            if error is not None:
                fields["error"] = error
            self._event("status", **fields)
        if write_error is not None:
            raise write_error

    def _close_rank(self, status: str, error: str | None) -> None:
        """A joined rank ends: its files written; only a failure is recorded (rank 0 writes the
        run's final status), so the run reads ``failed`` even when rank 0 is killed outright."""
        try:
            self.wait()
        except BaseException as exc:
            status, error = "failed", f"writing metrics failed: {type(exc).__name__}: {exc}"
            raise
        finally:
            self._writes.shutdown()
            if status == "failed":
                self._event("status", status="failed", rank=self._rank,
                            error=f"rank {self._rank}: {error or 'failed'}")  # fmt: skip

    def start_heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> None:
        """Write a heartbeat event every ``interval`` seconds from a daemon thread, so readers can
        tell a live run from one whose process died (started by :func:`tercet.init`)."""
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(
                f"tercet-heartbeat-{self.name}", self._tick, interval, scalars.FLUSH_SECONDS
            )
            self._heartbeat.start()

    def _tick(self, heartbeat: bool) -> None:
        if self._closed or os.getpid() != self._pid:
            return
        if heartbeat:
            self._event("heartbeat")
        if self._scalars.pending:
            self.flush()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close("completed")
        else:
            self.close("failed", error=describe_exception(exc_type, exc))


def list_runs(project: str, root: str | None = None) -> list[Run]:
    """Every readable run of a project, oldest first."""
    runs = layout.runs_url(project, root)
    out = []
    for name in storage.ls(runs):
        if not format.NAME.match(name):
            continue
        try:
            out.append(Run.open(storage.join(runs, name)))
        except (RunError, StorageError):
            continue  # a folder without object.json yet, or a damaged one
    return sorted(out, key=lambda r: (r.descriptor.get("created", ""), r.name))


# -- helpers ---------------------------------------------------------------------------------------
def describe_exception(exc_type: type[BaseException], exc: BaseException | None,
              tb: TracebackType | None = None) -> str:  # fmt: skip
    """The error text a failed run records: type, message and the last frames."""
    if exc_type is KeyboardInterrupt:
        return "interrupted (KeyboardInterrupt)"
    head = f"{exc_type.__name__}: {exc}" if exc is not None else exc_type.__name__
    if tb is None:
        return head
    trace = "".join(traceback.format_tb(tb)[-5:])
    return f"{head}\n{trace}"[:8000]


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    """Parameters as plain JSON (NumPy scalars, paths and odd objects turned into values)."""
    out: dict[str, Any] = json.loads(json.dumps(value, default=_default))
    return out


def _read_epoch(urls: list[str], columns: list[str] | None) -> pa.Table:
    if len(urls) == 1:
        return storage.read_parquet(urls[0], columns=columns)
    return pa.concat_tables(
        [storage.read_parquet(u, columns=columns) for u in urls], promote_options="default"
    )


def _as_columns(data: Any) -> dict[str, Any]:
    if isinstance(data, Mapping):
        return dict(data)
    table = source.to_arrow(data)
    return {name: table.column(name) for name in table.column_names}


def _display_names(
    project: str, name: str | None, folder_name: str | None, candidate: str
) -> dict[str, str]:
    """The descriptor's ``display_names``: the given names that differ from their folders (a
    taken name's ``-2`` suffix is added to the display name too)."""
    out = {}
    if format.slug(project, "project") != project:
        out["project"] = project
    if name is not None and folder_name is not None and name != folder_name:
        out["run"] = name + candidate[len(folder_name) :]
    return out
