"""Runs: one training run's parameters, status, inputs, logged scalars and per-sample metrics.

A run is a folder of immutable objects: ``object.json`` written once by :func:`init`, one JSON file
per event (status, parameters, inputs, heartbeats), and Parquet files for metrics. Nothing is ever
rewritten, so a process killed at any instant leaves a run that opens and reads as ``failed`` or
``stale``, never a corrupt one.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import PurePath
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from tercet import layout, storage, urls
from tercet.errors import ObjectExistsError, ObjectNotFoundError, RunError, StorageError
from tercet.runs import metrics as metrics_mod
from tercet.runs import names, state
from tercet.runs.metrics import MetricsFile, MetricSpec
from tercet.runs.state import RunInput, RunState
from tercet.schema import ID_COLUMN

if TYPE_CHECKING:
    from tercet.runs.collect import CollectResult
    from tercet.runs.collectors import Collector
    from tercet.runs.reduce import ReductionJob
    from tercet.table import Table

FORMAT = "tercet.run"
FORMAT_VERSION = 1
HEARTBEAT_SECONDS = 120.0
LOG_FLUSH_SECONDS = 10.0
LOG_FLUSH_ROWS = 10_000

AGGREGATE_SCHEMA = pa.schema(
    [
        ("step", pa.int64()),
        ("epoch", pa.int64()),
        ("name", pa.string()),
        ("value", pa.float64()),
        ("time", pa.timestamp("us", tz="UTC")),
    ]
)

_LogRow = tuple[int, int | None, str, float, datetime]


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
        self._closed = False
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._log_rows: list[_LogRow] = []
        self._last_flush = time.monotonic()
        self._step = -1
        self._recorded_inputs: set[tuple[str, str | None]] = set()
        self._epochs: dict[str, int] = {}
        self._heartbeat: _Heartbeat | None = None
        self._writes: dict[str, Future[Any]] = {}
        self._writer: ThreadPoolExecutor | None = None
        self.reducers: dict[tuple[Any, ...], Any] = {}  # fitted reducers, reused by later calls

    # -- creating and opening ------------------------------------------------------------------
    @classmethod
    def open(cls, url: str) -> Run:
        """Open the run at ``url`` (its folder or its ``object.json``; aliases allowed)."""
        folder = urls.expand(url)
        if storage.basename(folder) == "object.json":
            folder = storage.parent(folder)
        object_url = storage.join(folder, "object.json")
        try:
            descriptor = storage.read_json(object_url)
        except ObjectNotFoundError:
            raise ObjectNotFoundError(
                f"No run at {folder}: {object_url} does not exist. List runs with `tercet run ls "
                "<project>`."
            ) from None
        checked = layout.check_format(
            descriptor, object_url, "run", FORMAT, FORMAT_VERSION, error=RunError
        )
        return cls(folder, checked)

    @classmethod
    def create(
        cls,
        project: str,
        name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        root: str | None = None,
    ) -> Run:
        """Create a run folder and mark it running; ``name-2``, ``name-3`` … when ``name`` is taken.

        Most scripts call :func:`tercet.init` instead, which also makes the run active.
        """
        if name is not None:
            layout.check_name(name, "run name")
        runs = layout.runs_url(project, root)
        params = _jsonable(dict(parameters or {}))
        for candidate in names.candidates(name):
            if not layout.NAME.match(candidate):
                break
            folder = storage.join(runs, candidate)
            object_url = storage.join(folder, "object.json")
            if storage.exists(object_url):
                continue
            descriptor = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "id": _uuid(),
                "name": candidate,
                "project": project,
                "created": layout.now().isoformat(),
                "parameters": params,
            }
            try:
                # Immutable write: of two processes racing for one name, exactly one gets it.
                storage.write_json(object_url, descriptor)
            except ObjectExistsError:
                continue
            run = cls(folder, descriptor)
            run._owner = True
            run._event("status", status="running", **state.process_identity())
            return run
        raise RunError(f"Could not find a free run name in {runs} starting from {name!r}.")

    # -- identity ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._d["name"])

    @property
    def id(self) -> str:
        return str(self._d.get("id") or self.name)

    @property
    def project(self) -> str:
        return str(self._d.get("project", ""))

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self._d["created"])

    @property
    def project_url(self) -> str:
        return layout.project_of(self.url, 2)  # <project>/runs/<run>

    @property
    def descriptor(self) -> dict[str, Any]:
        """A copy of the run's ``object.json``."""
        return dict(self._d)

    @property
    def closed(self) -> bool:
        return self._closed

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
        name, when = state.event_name()
        event = {"type": kind, "time": when.isoformat(), **fields}
        storage.write_json(storage.join(self.url, state.EVENTS, name), event)

    def set_parameters(self, parameters: Mapping[str, Any]) -> None:
        """Add or change parameters (hyperparameters, config); later values win."""
        self._event("parameters", parameters=_jsonable(dict(parameters)))

    def stored_url(self, url: str) -> str:
        """``url`` as this run stores it: relative to the run folder inside the project, else
        through an alias when one applies."""
        absolute = storage.normalize(url)
        project = self.project_url
        inside = absolute == project or absolute.startswith(project.rstrip("/") + "/")
        if inside and storage.protocol(absolute) == storage.protocol(self.url):
            return urls.relative_to(absolute, self.url).replace("\\", "/")
        return urls.contract(absolute, project_url=project)

    def add_input(self, table: Table | str, split: str | None = None) -> None:
        """Record that this run read ``table`` (a revision) as ``split``; repeats are ignored."""
        from tercet.table import Table

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
        """
        self._log(values, step, epoch, advance=True)

    def _log(self, values: Mapping[str, Any], step: int | None, epoch: int | None,
             advance: bool) -> None:  # fmt: skip
        values = dict(values)
        if epoch is None and "epoch" in values:
            epoch = int(_scalar("epoch", values.pop("epoch")))
        if step is None and "step" in values:
            step = int(_scalar("step", values.pop("step")))
        rows = [(name, _scalar(name, v)) for name, v in values.items()]
        now = datetime.now(UTC)
        with self._lock:
            if step is None:
                step = self._step + 1 if advance else max(self._step, 0)
            self._step = max(self._step, step)
            for name, value in rows:
                self._log_rows.append((step, epoch, str(name), value, now))
            due = (
                len(self._log_rows) >= LOG_FLUSH_ROWS
                or time.monotonic() - self._last_flush >= LOG_FLUSH_SECONDS
            )
        if due:
            self.flush()

    def flush(self) -> None:
        """Write logged scalars that are still buffered (done every few seconds and on close)."""
        with self._lock:
            rows, self._log_rows = self._log_rows, []
            self._last_flush = time.monotonic()
        if not rows:
            return
        steps, epochs, keys, values, times = zip(*rows, strict=True)
        table = pa.table(
            [
                pa.array(steps, pa.int64()),
                pa.array(epochs, pa.int64()),
                pa.array(keys, pa.string()),
                pa.array(values, pa.float64()),
                pa.array(times, pa.timestamp("us", tz="UTC")),
            ],
            schema=AGGREGATE_SCHEMA,
        )
        url = storage.join(
            self.url,
            metrics_mod.METRICS,
            metrics_mod.AGGREGATE,
            f"{layout.unique_suffix()}.parquet",
        )
        try:
            storage.write_parquet(url, table)
        except BaseException:
            with self._lock:
                self._log_rows[:0] = rows  # keep them for the next attempt
            raise

    def aggregates(self) -> pa.Table:
        """Every logged scalar in long form: ``step``, ``epoch``, ``name``, ``value``, ``time``."""
        if self._owner and not self._closed:
            self.flush()
        folder = storage.join(self.url, metrics_mod.METRICS, metrics_mod.AGGREGATE)
        files = [storage.join(folder, n) for n in storage.ls(folder) if n.endswith(".parquet")]
        if not files:
            return AGGREGATE_SCHEMA.empty_table()
        table = storage.read_parquet(files).cast(AGGREGATE_SCHEMA)
        return table.sort_by([("step", "ascending"), ("time", "ascending")])

    # -- per-sample metrics --------------------------------------------------------------------
    def metric_files(self, split: str | None = None, epoch: int | None = None) -> list[MetricsFile]:
        """Metrics files, sorted by split, epoch and time (a listing; no file is opened)."""
        self.wait()
        files = metrics_mod.list_files(self.url, split)
        return [f for f in files if epoch is None or f["epoch"] == epoch]

    def metrics(self, split: str, epoch: int | None = None,
                columns: Sequence[str] | None = None) -> pa.Table:  # fmt: skip
        """Per-sample metrics of ``split``: one epoch, or all epochs with an ``epoch`` column.

        When an epoch was collected more than once, its newest file is used.
        """
        newest: dict[int, MetricsFile] = {}
        for f in self.metric_files(split, epoch):
            newest[f["epoch"]] = f  # sorted by time within an epoch: the last one wins
        if not newest:
            where = f" for epoch {epoch}" if epoch is not None else ""
            raise RunError(f"Run {self.name} has no metrics for split {split!r}{where}.")
        wanted = None if columns is None else list(dict.fromkeys([ID_COLUMN, *columns]))
        if epoch is not None:
            return storage.read_parquet(newest[epoch]["url"], columns=wanted)
        parts = []
        for e, f in sorted(newest.items()):
            t = storage.read_parquet(f["url"], columns=wanted)
            parts.append(t.append_column("epoch", pa.array(np.full(t.num_rows, e, np.int64))))
        return pa.concat_tables(parts, promote_options="default")

    def write_in_background(self, key: str, task: Callable[[], Any]) -> None:
        """Run ``task`` (publishing a file) on the run's writer thread, after the previous task
        with the same ``key`` finished; :meth:`wait` re-raises its error."""
        self.wait(key)
        with self._lock:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(
                    1, thread_name_prefix=f"tercet-writer-{self.name}"
                )
            self._writes[key] = self._writer.submit(task)

    def wait(self, key: str | None = None) -> None:
        """Block until metrics files still being written in the background are written (all, or
        those of one split); raises the error of a write that failed."""
        with self._lock:
            keys = list(self._writes) if key is None else [key]
            pending = [self._writes.pop(k) for k in keys if k in self._writes]
        errors = []
        for future in pending:
            try:
                future.result()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def next_epoch(self, split: str) -> int:
        """The epoch number ``collect_metrics`` uses when none is given: one past the last."""
        with self._lock:
            if split in self._epochs:
                return self._epochs[split] + 1
        files = self.metric_files(split)
        return max((f["epoch"] for f in files), default=-1) + 1

    def metrics_url(self, split: str, epoch: int) -> str:
        """A fresh, unique URL for a metrics file of ``split`` and ``epoch``."""
        with self._lock:
            self._epochs[split] = max(self._epochs.get(split, -1), epoch)
        return storage.join(metrics_mod.split_url(self.url, split), metrics_mod.file_name(epoch))

    def metrics_header(self, table: Table, split: str, epoch: int) -> dict[str, Any]:
        return {
            "format": metrics_mod.FORMAT,
            "format_version": metrics_mod.FORMAT_VERSION,
            "run": self.name,
            "table": self.stored_url(table.url),
            "table_id": table.id,
            "table_name": table.table_name,
            "dataset": table.dataset,
            "split": split,
            "epoch": epoch,
            "created": layout.now().isoformat(),
        }

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
        from tercet import writer

        split = metrics_mod.check_split(split or table.table_name)
        epoch = self.next_epoch(split) if epoch is None else int(epoch)
        columns = _as_columns(data, writer.to_arrow)
        if ID_COLUMN not in columns:
            raise RunError(f"Metrics need an {ID_COLUMN!r} column naming the rows they describe.")
        specs = {
            k: v if isinstance(v, MetricSpec) else MetricSpec(v) for k, v in (roles or {}).items()
        }
        url = self.metrics_url(split, epoch)
        out = metrics_mod.MetricsWriter(url, self.metrics_header(table, split, epoch), specs)
        try:
            out.write(columns)
            out.close()
        except BaseException:
            out.abort()
            raise
        self.add_input(table, split)
        return url

    def collect_metrics(self, data: Any, collectors: Collector | Sequence[Collector], model: Any,
                        **kwargs: Any) -> CollectResult:  # fmt: skip
        """:func:`tercet.collect_metrics` into this run."""
        from tercet.runs.collect import collect_metrics

        return collect_metrics(data, collectors, model, run=self, **kwargs)

    # -- projections ---------------------------------------------------------------------------
    def reduce_embeddings(self, method: str = "pca", dims: int = 3, **kwargs: Any) -> ReductionJob:
        """Project embeddings to 2-D or 3-D with one fit shared by every epoch.

        See :func:`tercet.runs.reduce.reduce_embeddings` for the options.
        """
        from tercet.runs.reduce import reduce_embeddings

        return reduce_embeddings(self, method=method, dims=dims, **kwargs)

    def projections(self, split: str, method: str = "pca", dims: int = 3,
                    epoch: int | None = None) -> pa.Table:  # fmt: skip
        """Projected points (``example_id``, ``proj_x``, ``proj_y``[, ``proj_z``]) of one split;
        all epochs with an ``epoch`` column unless ``epoch`` is given."""
        parts = []
        for f in self.metric_files(split, epoch):  # waits for files still being written
            url = metrics_mod.projection_url(f["url"], method, dims)
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
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        write_error: BaseException | None = None
        try:
            self.wait()
        except BaseException as exc:
            write_error = exc
            status, error = "failed", f"writing metrics failed: {type(exc).__name__}: {exc}"
        if self._writer is not None:
            self._writer.shutdown(wait=False)
            self._writer = None
        try:
            self.flush()
        finally:
            fields: dict[str, Any] = {"status": status}
            if error is not None:
                fields["error"] = error
            self._event("status", **fields)
            global _active
            if _active is self:
                _active = None
        if write_error is not None:
            raise write_error

    def start_heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> None:
        """Write a heartbeat event every ``interval`` seconds from a daemon thread, so readers can
        tell a live run from one whose process died (started by :func:`tercet.init`)."""
        if self._heartbeat is None:
            self._heartbeat = _Heartbeat(self, interval)
            self._heartbeat.start()

    def _tick(self, heartbeat: bool) -> None:
        if self._closed or os.getpid() != self._pid:
            return
        if heartbeat:
            self._event("heartbeat")
        with self._lock:
            pending = bool(self._log_rows)
        if pending:
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
            self.close("failed", error=_describe(exc_type, exc))


class _Heartbeat(threading.Thread):
    def __init__(self, run: Run, interval: float) -> None:
        super().__init__(name=f"tercet-heartbeat-{run.name}", daemon=True)
        self._run = run
        self._interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        tick = min(LOG_FLUSH_SECONDS, self._interval)
        last_beat = time.monotonic()
        while not self._stop_event.wait(tick):
            beat = time.monotonic() - last_beat >= self._interval
            try:
                self._run._tick(heartbeat=beat)
            except Exception:
                continue  # a storage hiccup must not kill the thread: the next tick tries again
            if beat:
                last_beat = time.monotonic()

    def stop(self) -> None:
        self._stop_event.set()


# -- the active run --------------------------------------------------------------------------------
_active: Run | None = None
_hooks_installed = False
_previous_excepthook: Callable[..., Any] | None = None


def init(
    project: str = "default",
    run: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    root: str | None = None,
    heartbeat: bool = True,
) -> Run:
    """Start a run and make it the active one.

    Parameters
    ----------
    project
        Project folder under the root (created when missing).
    run
        Run name; ``name-2``, ``name-3`` … when taken, a readable generated name when omitted.
    parameters
        Hyperparameters and settings to record (JSON-able values).
    root
        Project root URL; defaults to the configured ``root``.
    heartbeat
        Write a heartbeat event every two minutes, so a killed process reads as ``stale``.

    Returns
    -------
    Run
        The new run. An uncaught exception marks it ``failed``; interpreter exit marks it
        ``completed`` unless it was closed before. A previous active run is closed as completed.
    """
    global _active
    previous = _active
    if previous is not None and not previous.closed and previous._pid == os.getpid():
        previous.close("completed")
    new = Run.create(project, run, parameters, root)
    if heartbeat:
        new.start_heartbeat()
    _install_hooks()
    _active = new
    return new


def active_run() -> Run | None:
    """The run started last by :func:`init` in this process, unless it was closed."""
    run = _active
    if run is None or run.closed or run._pid != os.getpid():
        return None
    return run


def require_run(run: Run | None = None) -> Run:
    found = run or active_run()
    if found is None:
        raise RunError("No active run: call tercet.init(project=...) first, or pass run=.")
    return found


def log(values: Mapping[str, Any], step: int | None = None, epoch: int | None = None) -> None:
    """Log scalars on the active run (see :meth:`Run.log`)."""
    require_run().log(values, step=step, epoch=epoch)


def list_runs(project: str, root: str | None = None) -> list[Run]:
    """Every readable run of a project, oldest first."""
    folder = layout.runs_url(project, root)
    out = []
    for name in storage.ls(folder):
        if not layout.NAME.match(name):
            continue
        try:
            out.append(Run.open(storage.join(folder, name)))
        except (RunError, StorageError):
            continue  # a folder without object.json yet, or a damaged one
    return sorted(out, key=lambda r: (r._d.get("created", ""), r.name))


def _install_hooks() -> None:
    global _hooks_installed, _previous_excepthook
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            pass  # not allowed here (embedded interpreters); the heartbeat still reveals the death


def _own_open_run() -> Run | None:
    run = _active
    if run is None or run.closed or not run._owner or run._pid != os.getpid():
        return None  # forked DataLoader workers inherit _active but do not own it
    return run


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    run = _own_open_run()
    if run is not None:
        with contextlib.suppress(Exception):  # reporting the original error matters more
            run.close("failed", error=_describe(exc_type, exc, tb))
    hook = _previous_excepthook or sys.__excepthook__
    hook(exc_type, exc, tb)


def _at_exit() -> None:
    run = _own_open_run()
    if run is not None:
        with contextlib.suppress(Exception):
            run.close("completed")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    run = _own_open_run()
    if run is not None:
        with contextlib.suppress(Exception):
            run.close("failed", error="terminated by SIGTERM")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


# -- helpers ---------------------------------------------------------------------------------------
def _describe(exc_type: type[BaseException], exc: BaseException | None,
              tb: TracebackType | None = None) -> str:  # fmt: skip
    if exc_type is KeyboardInterrupt:
        return "interrupted (KeyboardInterrupt)"
    head = f"{exc_type.__name__}: {exc}" if exc is not None else exc_type.__name__
    if tb is None:
        return head
    trace = "".join(traceback.format_tb(tb)[-5:])
    return f"{head}\n{trace}"[:8000]


def _scalar(name: str, value: Any) -> float:
    if isinstance(value, bool | int | float | np.number | np.bool_):
        return float(value)
    item = getattr(value, "item", None)
    size = getattr(value, "size", None)
    numel = getattr(value, "numel", None)
    count = numel() if callable(numel) else size
    if callable(item) and count in (1, None):
        try:
            return float(item())
        except (TypeError, ValueError):
            pass
    raise RunError(
        f"tercet.log: {name!r} must be a number (int, float, NumPy scalar or one-element tensor); "
        f"received {type(value).__name__}."
    )


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


def _uuid() -> str:
    import uuid

    return uuid.uuid4().hex


def _as_columns(data: Any, to_arrow: Callable[[Any], pa.Table]) -> dict[str, Any]:
    if isinstance(data, Mapping):
        return dict(data)
    table = to_arrow(data)
    return {name: table.column(name) for name in table.column_names}
